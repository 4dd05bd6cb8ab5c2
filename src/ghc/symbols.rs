//! Dynamic-symbol provenance: owns answering "which loaded file does this address / this global
//! symbol come from". The GHC stub in `libcallin_ghc.so` calls `rts_lock` & co. through the PLT,
//! and the dynamic linker resolves those in the *global* scope first (the executable's dynamic
//! symbol table, then `RTLD_GLOBAL` libraries) and only then in the library's own dependencies.
//! rts-core defines the same names with `#[unsafe(no_mangle)]`; if the executable exported
//! them, GHC's stub would call rts-core. [`check_no_interposition`] proves it does not.

use std::ffi::{CStr, CString, c_void};
use std::path::PathBuf;

use super::GhcError;

/// Every RTS symbol GHC's generated stub or this harness calls by name.
pub const STUB_RTS_SYMBOLS: &[&str] = &[
    "rts_lock",
    "rts_unlock",
    "rts_mkInt",
    "rts_apply",
    "rts_evalIO",
    "rts_inCall",
    "rts_checkSchedStatus",
    "rts_getInt",
    "hs_init_ghc",
    "hs_thread_done",
    "setNumCapabilities",
];

/// The file (as the dynamic linker names it) that contains address `addr`, via `dladdr`.
pub fn file_containing(addr: usize) -> Option<PathBuf> {
    // SAFETY: Dl_info is plain data; all-zero is a valid value for dladdr to overwrite.
    let mut info: libc::Dl_info = unsafe { std::mem::zeroed() };
    // SAFETY: `info` is a live, writable Dl_info; dladdr only reads `addr` as a number.
    let found = unsafe { libc::dladdr(addr as *const c_void, &mut info) };
    if found == 0 || info.dli_fname.is_null() {
        return None;
    }
    // SAFETY: on success dli_fname points at a NUL-terminated path owned by the dynamic
    // linker, valid while the object stays loaded (we copy it immediately).
    let name = unsafe { CStr::from_ptr(info.dli_fname) };
    Some(PathBuf::from(name.to_string_lossy().into_owned()))
}

/// Where `name` resolves in the global scope (`dlsym(RTLD_DEFAULT, name)`), as a file path;
/// `None` when no globally visible object defines it.
pub fn global_definition(name: &str) -> Option<PathBuf> {
    let c = CString::new(name).ok()?;
    // SAFETY: `c` is NUL-terminated; RTLD_DEFAULT is a valid pseudo-handle.
    let addr = unsafe { libc::dlsym(libc::RTLD_DEFAULT, c.as_ptr()) };
    if addr.is_null() {
        return None;
    }
    Some(file_containing(addr as usize).unwrap_or_else(|| PathBuf::from("<unknown object>")))
}

/// `Err` naming the first stub symbol that a globally visible object other than GHC's RTS
/// defines: GHC's stub would bind to that definition instead of GHC's.
pub fn check_no_interposition() -> Result<(), GhcError> {
    for &sym in STUB_RTS_SYMBOLS {
        if let Some(file) = global_definition(sym)
            && !file.to_string_lossy().contains("libHSrts")
        {
            return Err(GhcError::Interposed {
                symbol: sym.to_owned(),
                file,
            });
        }
    }
    Ok(())
}
