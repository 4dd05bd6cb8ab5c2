/* The c_function stub: the call sequence GHC generates for
 *     foreign export ccall "c_function" foo :: Int -> IO Int
 * (GHC's mkFExportCBits, 9.2+ form with rts_inCall), plus the .init_array constructor that
 * registers the export. Written for callin-bench; foo's closure is in foo.c. */
#include "Rts.h"

extern StgClosure Export_zdfstableZZC0ZZCmainZZCExportZZCfoo_closure;

HsInt c_function(HsInt a1)
{
    Capability *cap;
    HaskellObj ret;
    HsInt cret;
    cap = rts_lock();
    rts_inCall(&cap,
               rts_apply(cap, (HaskellObj)runIO_closure,
                         rts_apply(cap, &Export_zdfstableZZC0ZZCmainZZCExportZZCfoo_closure,
                                   rts_mkInt(cap, a1))),
               &ret);
    rts_checkSchedStatus("c_function", cap);
    cret = rts_getInt(ret);
    rts_unlock(cap);
    return cret;
}

static struct ForeignExportsList stg_exports_Export = {
    .exports = { (StgPtr)&Export_zdfstableZZC0ZZCmainZZCExportZZCfoo_closure },
    .n_entries = 1,
};

static void stginit_export_Export(void) __attribute__((constructor));
static void stginit_export_Export(void)
{
    registerForeignExports(&stg_exports_Export);
}
