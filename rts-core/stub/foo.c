/* foo x = return (x + 1): the exported function's closure (GHC would compile it from Fun.hs). */
#include "RtsCoreExport.h"

static HsInt foo_impl(HsInt x)
{
    return x + 1;
}

RTSCORE_DEFINE_IO_INT_FUN(Export_zdfstableZZC0ZZCmainZZCExportZZCfoo_closure, foo_impl);
