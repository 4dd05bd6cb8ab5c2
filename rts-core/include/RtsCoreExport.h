/* RtsCoreExport.h: model-only helpers (not in GHC). Define the closure of an exported
 * `Int -> IO Int` whose body is a C function, as GHC would compile it from Haskell, and the
 * calls such a body may make. */
#ifndef RTSCORE_EXPORT_H
#define RTSCORE_EXPORT_H

#include "Rts.h"

#if defined(__cplusplus)
extern "C" {
#endif

/* Info table of an `Int -> IO Int` function closure whose payload[0] is `HsInt (*)(HsInt)`. */
extern const StgInfoTable rtscore_fun_io_int_info;

/* Defines `StgClosure closure_symbol`, the closure of `\x -> return (impl x)`. */
#define RTSCORE_DEFINE_IO_INT_FUN(closure_symbol, impl)                          \
    StgClosure closure_symbol = {                                                \
        .header = { .info = &rtscore_fun_io_int_info },                          \
        .payload = { (struct StgClosure_ *)(StgWord)(HsInt (*)(HsInt))(impl) }   \
    }

/* From inside a body: end the call with an uncaught exception (status Killed). */
void rtscore_throw(const char *what);
/* From inside a body: allocate `words` words in the nursery; NULL means HeapExhausted. */
void *rtscore_allocate(HsInt words);
/* From inside a body: a safe foreign call; `fn` may call back into Haskell (nested call-in). */
HsInt rtscore_safe_ccall(HsInt (*fn)(HsInt), HsInt arg);

#if defined(__cplusplus)
}
#endif
#endif /* RTSCORE_EXPORT_H */
