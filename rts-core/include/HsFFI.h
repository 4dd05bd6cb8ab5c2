/* HsFFI.h: the Haskell FFI types and hs_* entry points, as rts-core provides them.
 * Written for callin-bench to match GHC's names and x86-64 sizes (not a copy of GHC's file). */
#ifndef RTSCORE_HSFFI_H
#define RTSCORE_HSFFI_H

#include <stdint.h>

#if defined(__cplusplus)
extern "C" {
#endif

typedef int64_t   HsInt;
typedef int8_t    HsInt8;
typedef int16_t   HsInt16;
typedef int32_t   HsInt32;
typedef int64_t   HsInt64;
typedef uint64_t  HsWord;
typedef uint8_t   HsWord8;
typedef uint16_t  HsWord16;
typedef uint32_t  HsWord32;
typedef uint64_t  HsWord64;
typedef uint32_t  HsChar;
typedef uint64_t  HsBool;
typedef double    HsDouble;
typedef float     HsFloat;
typedef void     *HsPtr;
typedef void    (*HsFunPtr)(void);
typedef void     *HsStablePtr;

#define HS_BOOL_FALSE 0
#define HS_BOOL_TRUE  1

void hs_init(int *argc, char **argv[]);
void hs_exit(void);
void hs_thread_done(void);

#if defined(__cplusplus)
}
#endif
#endif /* RTSCORE_HSFFI_H */
