/* hs_init's argument handling, seen from C: prints argc and argv as hs_init left them, checks
 * argv[argc] is NULL, makes one call (c_function 41 = 42) and shuts down. The same source links
 * with either RTS (rts-core's librts_core.a, or GHC with ghc/Fun.hs ghc/Export.hs), so
 * tests/hs_init_args.rs can compare the two outputs line for line.
 * Usage: argv_driver [args and +RTS ... -RTS / --RTS / -- in any order] */
#include <stdio.h>

#include "HsFFI.h"

HsInt c_function(HsInt x);

int main(int argc, char **argv)
{
    hs_init(&argc, &argv);
    printf("argc=%d\n", argc);
    for (int i = 1; i < argc; i++) /* argv[0] is the path, which differs between the builds */
        printf("argv[%d]=%s\n", i, argv[i]);
    printf("argv[argc] is %s\n", argv[argc] == NULL ? "NULL" : "not NULL");
    printf("c_function(41)=%ld\n", (long)c_function(41));
    hs_exit();
    return 0;
}
