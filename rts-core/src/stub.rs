//! The compiled C side: GHC's `c_function` stub (`stub/c_function.c`, `foo x = x + 1`) and the
//! empty C function the benches use as the floor.

use crate::ffi::HsInt;

unsafe extern "C" {
    #[link_name = "c_function"]
    fn c_function_sym(x: HsInt) -> HsInt;
    #[link_name = "rtscore_floor_empty"]
    fn floor_empty_sym(x: HsInt) -> HsInt;
}

/// A C function `HsInt -> HsInt`, as the drivers call it.
pub type CFn = unsafe extern "C" fn(HsInt) -> HsInt;

/// The compiled stub: `rts_lock` … `rts_unlock` around `foo x = x + 1`.
pub fn c_function() -> CFn {
    c_function_sym
}

/// An empty C function (returns its argument), called through a pointer: the call floor.
pub fn floor_empty() -> CFn {
    floor_empty_sym
}
