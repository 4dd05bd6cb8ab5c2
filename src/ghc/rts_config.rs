//! A `#[repr(C)]` mirror of GHC 9.0.2's `RtsConfig` (`include/RtsAPI.h`), the struct
//! `hs_init_ghc` takes by value. Owns the layout and the list of field offsets that the build
//! script's C check (`ghc/rtsconfig_layout.c`, compiled against the installed header) is
//! compared with, so a header change is caught instead of corrupting the call.

use std::ffi::{c_char, c_int, c_void};
use std::mem::offset_of;

/// `HsBool` is `StgInt` (`HsFFI.h`): a 64-bit int on 64-bit targets.
pub type HsBool = i64;

/// `RtsOptsEnabledEnum::RtsOptsAll` (`RtsAPI.h`): every `+RTS` option is accepted.
pub const RTS_OPTS_ALL: c_int = 4;

/// Mirror of `RtsConfig` (GHC 9.0.2 `RtsAPI.h`). Field order and types follow the header; the
/// enum is kept as a `c_int` so any value GHC's `defaultRtsConfig` holds is representable.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct RtsConfig {
    pub rts_opts_enabled: c_int,
    pub rts_opts_suggestions: HsBool,
    pub rts_opts: *const c_char,
    pub rts_hs_main: HsBool,
    pub keep_cafs: HsBool,
    pub eventlog_writer: *const c_void,
    pub defaults_hook: Option<unsafe extern "C" fn()>,
    pub on_exit_hook: Option<unsafe extern "C" fn()>,
    pub stack_overflow_hook: Option<unsafe extern "C" fn(usize)>,
    pub out_of_heap_hook: Option<unsafe extern "C" fn(usize, usize)>,
    pub malloc_fail_hook: Option<unsafe extern "C" fn(usize, *const c_char)>,
    pub gc_done_hook: Option<unsafe extern "C" fn(*const c_void)>,
    pub long_gc_sync: Option<unsafe extern "C" fn(u32, i64)>,
    pub long_gc_sync_end: Option<unsafe extern "C" fn(i64)>,
}

/// `(key, value)` pairs in the form the C check prints them (`rtsconfig_size`,
/// `rtsconfig_offset_<C field name>`), computed from this mirror.
pub fn rust_layout() -> Vec<(String, usize)> {
    let off = |c_name: &str, v: usize| (format!("rtsconfig_offset_{c_name}"), v);
    vec![
        ("rtsconfig_size".to_owned(), size_of::<RtsConfig>()),
        ("rtsconfig_align".to_owned(), align_of::<RtsConfig>()),
        off("rts_opts_enabled", offset_of!(RtsConfig, rts_opts_enabled)),
        off(
            "rts_opts_suggestions",
            offset_of!(RtsConfig, rts_opts_suggestions),
        ),
        off("rts_opts", offset_of!(RtsConfig, rts_opts)),
        off("rts_hs_main", offset_of!(RtsConfig, rts_hs_main)),
        off("keep_cafs", offset_of!(RtsConfig, keep_cafs)),
        off("eventlog_writer", offset_of!(RtsConfig, eventlog_writer)),
        off("defaultsHook", offset_of!(RtsConfig, defaults_hook)),
        off("onExitHook", offset_of!(RtsConfig, on_exit_hook)),
        off(
            "stackOverflowHook",
            offset_of!(RtsConfig, stack_overflow_hook),
        ),
        off("outOfHeapHook", offset_of!(RtsConfig, out_of_heap_hook)),
        off("mallocFailHook", offset_of!(RtsConfig, malloc_fail_hook)),
        off("gcDoneHook", offset_of!(RtsConfig, gc_done_hook)),
        off("longGCSync", offset_of!(RtsConfig, long_gc_sync)),
        off("longGCSyncEnd", offset_of!(RtsConfig, long_gc_sync_end)),
        ("rts_opts_all".to_owned(), RTS_OPTS_ALL as usize),
    ]
}
