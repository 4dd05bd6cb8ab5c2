/* RtsAPI.h: GHC's C API for calling into Haskell, implemented by rts-core (src/ffi.rs). */
#ifndef RTSCORE_RTSAPI_H
#define RTSCORE_RTSAPI_H

#include "HsFFI.h"
#include "Stg.h"

#if defined(__cplusplus)
extern "C" {
#endif

typedef struct Capability_ Capability;
typedef StgClosure *HaskellObj;

/* Same values as GHC's SchedulerStatus. */
typedef enum {
    NoStatus,
    Success,
    Killed,
    Interrupted,
    HeapExhausted
} SchedulerStatus;

/* hs_init accepting every RTS option (rts-core's hs_init already does). */
void hs_init_with_rtsopts(int *argc, char **argv[]);

Capability *rts_lock(void);
void rts_unlock(Capability *cap);
HaskellObj rts_mkInt(Capability *cap, HsInt i);
HaskellObj rts_apply(Capability *cap, HaskellObj f, HaskellObj arg);
void rts_evalIO(Capability **cap, HaskellObj p, HaskellObj *ret);
void rts_inCall(Capability **cap, HaskellObj p, HaskellObj *ret);
void rts_checkSchedStatus(char *site, Capability *cap);
HsInt rts_getInt(HaskellObj p);

void setNumCapabilities(uint32_t new_);
void rts_setInCallCapability(int preferred_capability, int affinity);
void rts_pinThreadToNumaNode(int node);

/* GHC's exit override: called with the exit code before the RTS exits the process. */
extern void (*exitFn)(int);

/* GHC.TopHandler.runIO (GHC 9.0.2's name; the stub casts it to HaskellObj). */
extern StgClosure base_GHCziTopHandler_runIO_closure;
#define runIO_closure (&base_GHCziTopHandler_runIO_closure)

#if defined(__cplusplus)
}
#endif
#endif /* RTSCORE_RTSAPI_H */
