/* Prints the size and field offsets of GHC's RtsConfig (RtsAPI.h) as key=value lines, so the
 * Rust mirror in src/ghc/rts_config.rs can be checked against the installed header. */
#include <stddef.h>
#include <stdio.h>
#include "Rts.h"

#define OFF(field) printf("rtsconfig_offset_%s=%zu\n", #field, offsetof(RtsConfig, field))

int main(void) {
    printf("rtsconfig_size=%zu\n", sizeof(RtsConfig));
    printf("rtsconfig_align=%zu\n", _Alignof(RtsConfig));
    OFF(rts_opts_enabled);
    OFF(rts_opts_suggestions);
    OFF(rts_opts);
    OFF(rts_hs_main);
    OFF(keep_cafs);
    OFF(eventlog_writer);
    OFF(defaultsHook);
    OFF(onExitHook);
    OFF(stackOverflowHook);
    OFF(outOfHeapHook);
    OFF(mallocFailHook);
    OFF(gcDoneHook);
    OFF(longGCSync);
    OFF(longGCSyncEnd);
    printf("rts_opts_all=%d\n", (int)RtsOptsAll);
    return 0;
}
