/* Stg.h: the heap-object types C code sees (StgWord, StgClosure), rts-core's layout.
 * A closure is an info pointer followed by its payload, as in GHC. */
#ifndef RTSCORE_STG_H
#define RTSCORE_STG_H

#include <stdint.h>
#include "HsFFI.h"

#if defined(__cplusplus)
extern "C" {
#endif

typedef uintptr_t StgWord;
typedef intptr_t  StgInt;
typedef StgWord  *StgPtr;

/* Info tables are the RTS's own; C only takes their address. */
typedef struct StgInfoTable_ StgInfoTable;

typedef struct {
    const StgInfoTable *info;
} StgHeader;

typedef struct StgClosure_ {
    StgHeader header;
    struct StgClosure_ *payload[];
} StgClosure;

typedef StgClosure *StgClosurePtr;

#if defined(__cplusplus)
}
#endif
#endif /* RTSCORE_STG_H */
