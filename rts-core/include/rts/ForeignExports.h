/* rts/ForeignExports.h: the list a module's constructor registers (GHC 9.0 layout). */
#ifndef RTSCORE_FOREIGNEXPORTS_H
#define RTSCORE_FOREIGNEXPORTS_H

#include "Stg.h"

#if defined(__cplusplus)
extern "C" {
#endif

struct ForeignExportsList {
    struct ForeignExportsList *next;
    int n_entries;
    void *oc;
    void **stable_ptrs;
    StgPtr exports[];
};

void registerForeignExports(struct ForeignExportsList *exports);

#if defined(__cplusplus)
}
#endif
#endif /* RTSCORE_FOREIGNEXPORTS_H */
