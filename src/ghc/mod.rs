//! The real GHC RTS as baseline: owns loading a baseline library (the project's
//! `libcallin_ghc.so` or a user's, built by [`build`] with a [`toolchain`]; [`artifact`] is the
//! project's), starting GHC's threaded RTS in this process with `hs_init_ghc` and
//! `+RTS <args> -RTS`, and handing the library's exports (`c_function`, or any export of a
//! driver [`Signature`]) to the driver.
//!
//! One RTS per process: GHC's RTS cannot be started again after `hs_exit` in the same process,
//! so [`GhcRts::init`] succeeds once per process and returns the same `&'static GhcRts` for a
//! repeated call with identical arguments, and an error for different ones; `hs_exit` is never
//! called. Between driver runs the capability count can change with
//! [`GhcRts::set_num_capabilities`] (GHC's `setNumCapabilities`); any other RTS option (`-A`,
//! `-qg`, ...) needs a fresh process, so a matrix over those runs each configuration in a worker
//! process (`crate::matrix::worker`; `tests/ghc_baseline.rs` reads its options from
//! [`RTS_ARGS_ENV`]).
//!
//! Symbol hygiene: GHC's stub binds `rts_lock` etc. in the global scope first, where rts-core's
//! `#[unsafe(no_mangle)]` definitions would win if the executable exported them. `init` refuses
//! to start when that is so ([`symbols::check_no_interposition`]), and the library is opened
//! `RTLD_LOCAL` so its own definitions never leak into the global scope either.

pub mod artifact;
pub mod build;
pub mod rts_config;
pub mod symbols;
pub mod toolchain;

use std::ffi::{CString, c_char, c_int, c_void};
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Mutex, OnceLock};

use libloading::os::unix::{Library as UnixLibrary, RTLD_LOCAL, RTLD_NOW};

pub use artifact::{Availability, BaselineArtifact};
pub use build::{BuiltLibrary, LibrarySpec};
pub use rts_config::RtsConfig;
pub use toolchain::{GhcVersion, StubForm, Toolchain};

use crate::driver::{CallTarget, Signature};

/// Environment variable a child process reads its RTS options from (space-separated, without
/// `+RTS`/`-RTS`, e.g. `-N2 -A1m`).
pub const RTS_ARGS_ENV: &str = "CALLIN_GHC_RTS_ARGS";

/// Program name GHC sees as `argv[0]`.
const PROG_NAME: &str = "callin-bench-ghc-baseline";

/// Why the GHC baseline is not running.
#[derive(Debug)]
#[non_exhaustive]
pub enum GhcError {
    /// The baseline cannot run here (ghc missing, no shared threaded RTS, not root for a
    /// rooted toolchain, ...).
    Unavailable {
        reason: String,
    },
    /// The builder could not read, write or run something (the message says what).
    Build(String),
    /// `RtsConfig` mirror and installed header disagree.
    Layout(String),
    Load {
        library: PathBuf,
        detail: String,
    },
    MissingSymbol {
        symbol: String,
        detail: String,
    },
    BadRtsArg {
        arg: String,
        why: &'static str,
    },
    /// The RTS already runs in this process with other options (it cannot restart).
    AlreadyInitialised {
        library: PathBuf,
        rts_args: Vec<String>,
    },
    /// A globally visible object defines an RTS symbol GHC's stub would bind to.
    Interposed {
        symbol: String,
        file: PathBuf,
    },
    BadCapabilities {
        requested: u32,
        enabled: u32,
    },
    /// `--ghc` names something that is not a usable ghc.
    BadGhc {
        ghc: PathBuf,
        why: String,
    },
    /// A ghc whose version the harness cannot drive.
    Unsupported {
        ghc: PathBuf,
        reason: String,
    },
    /// ghc rejected the sources: its own output.
    Compile {
        ghc: String,
        what: String,
        output: String,
    },
    /// The export asked for is missing, or has a signature the driver cannot call.
    BadExport {
        export: String,
        why: String,
    },
}

impl fmt::Display for GhcError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            GhcError::Unavailable { reason } => write!(f, "GHC baseline unavailable: {reason}"),
            GhcError::Build(s) => write!(f, "GHC baseline build failed: {s}"),
            GhcError::Layout(s) => write!(f, "RtsConfig layout mismatch: {s}"),
            GhcError::Load { library, detail } => {
                write!(f, "cannot load {}: {detail}", library.display())
            }
            GhcError::MissingSymbol { symbol, detail } => {
                write!(f, "GHC library lacks `{symbol}`: {detail}")
            }
            GhcError::BadRtsArg { arg, why } => write!(f, "bad RTS option {arg:?}: {why}"),
            GhcError::AlreadyInitialised { library, rts_args } => write!(
                f,
                "GHC's RTS already runs in this process ({} with +RTS {} -RTS) and cannot be \
                 restarted; use setNumCapabilities or a child process",
                library.display(),
                rts_args.join(" ")
            ),
            GhcError::Interposed { symbol, file } => write!(
                f,
                "`{symbol}` is exported by {} and would hijack GHC's stub; the executable must \
                 not export rts-core's symbols dynamically",
                file.display()
            ),
            GhcError::BadCapabilities { requested, enabled } => write!(
                f,
                "setNumCapabilities({requested}) left {enabled} capabilities enabled"
            ),
            GhcError::BadGhc { ghc, why } => write!(f, "--ghc {}: {why}", ghc.display()),
            GhcError::Unsupported { ghc, reason } => {
                write!(f, "--ghc {}: unsupported: {reason}", ghc.display())
            }
            GhcError::Compile { ghc, what, output } => {
                write!(f, "{ghc} failed {what}:\n{output}")
            }
            GhcError::BadExport { export, why } => write!(f, "export `{export}`: {why}"),
        }
    }
}

impl std::error::Error for GhcError {}

type HsInitGhc = unsafe extern "C" fn(*mut c_int, *mut *mut *mut c_char, RtsConfig);

/// GHC's RTS running in this process, with the entry points the harness uses.
pub struct GhcRts {
    /// Kept loaded for the life of the process (the RTS has threads running its code).
    _lib: libloading::Library,
    library: PathBuf,
    rts_args: Vec<String>,
    hs_thread_done: unsafe extern "C" fn(),
    set_num_capabilities: unsafe extern "C" fn(u32),
    get_allocations: unsafe extern "C" fn() -> u64,
    enabled_capabilities: &'static AtomicU32,
    rts_lock_addr: usize,
}

static GHC_RTS: OnceLock<GhcRts> = OnceLock::new();
static INIT_LOCK: Mutex<()> = Mutex::new(());

/// Rejects options GHC would answer by exiting the process, where that is cheap to see.
fn validate_rts_args(args: &[String]) -> Result<(), GhcError> {
    for a in args {
        let why = if a == "+RTS" || a == "-RTS" {
            Some("give the options only; +RTS/-RTS are added")
        } else if !a.starts_with('-') {
            Some("RTS options start with '-'")
        } else if a.contains('\0') {
            Some("contains a NUL byte")
        } else {
            None
        };
        if let Some(why) = why {
            return Err(GhcError::BadRtsArg {
                arg: a.clone(),
                why,
            });
        }
    }
    Ok(())
}

/// Compares the Rust `RtsConfig` mirror with the C layout the builder recorded.
pub fn check_layout(c_layout: &std::collections::BTreeMap<String, usize>) -> Result<(), GhcError> {
    for (key, rust) in rts_config::rust_layout() {
        match c_layout.get(&key) {
            Some(&c) if c == rust => {}
            Some(&c) => return Err(GhcError::Layout(format!("{key}: C {c}, Rust {rust}"))),
            None => {
                return Err(GhcError::Layout(format!(
                    "the layout check printed no {key}"
                )));
            }
        }
    }
    Ok(())
}

/// Splits `CALLIN_GHC_RTS_ARGS` into options; `None` when unset.
pub fn rts_args_from_env() -> Option<Vec<String>> {
    let v = std::env::var(RTS_ARGS_ENV).ok()?;
    Some(v.split_whitespace().map(str::to_owned).collect())
}

/// Build (if needed), check and start the project's baseline with `rts_args`: the one-call
/// entry point.
pub fn start(rts_args: &[&str]) -> Result<&'static GhcRts, GhcError> {
    let artifact = match artifact::ensure_built()? {
        Availability::Ready(a) => a,
        Availability::Skipped { reason } => return Err(GhcError::Unavailable { reason }),
    };
    check_layout(&artifact.c_layout)?;
    GhcRts::init(&artifact.library, rts_args)
}

fn load_symbol<T: Copy>(lib: &libloading::Library, name: &str) -> Result<T, GhcError> {
    let cname = format!("{name}\0");
    // SAFETY: every caller names a symbol whose C type (RtsAPI.h / HsFFI.h / the foreign
    // export) is exactly `T`; the value is copied out and only used while `lib` stays loaded,
    // which is forever (GhcRts lives in a static).
    unsafe { lib.get::<T>(cname.as_bytes()) }
        .map(|s| *s)
        .map_err(|e| GhcError::MissingSymbol {
            symbol: name.to_owned(),
            detail: e.to_string(),
        })
}

impl GhcRts {
    /// Load `library` and start GHC's RTS with `+RTS rts_args -RTS`. Once per process; see the
    /// module docs. Bad options that pass [`validate_rts_args`]'s cheap checks are reported by
    /// GHC itself, which then exits the process: another reason to run sweeps in children.
    pub fn init(library: &Path, rts_args: &[&str]) -> Result<&'static GhcRts, GhcError> {
        let rts_args: Vec<String> = rts_args.iter().map(|s| s.to_string()).collect();
        validate_rts_args(&rts_args)?;
        let _serialise = INIT_LOCK.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(rts) = GHC_RTS.get() {
            return rts
                .same_start(library, &rts_args)
                .then_some(rts)
                .ok_or_else(|| GhcError::AlreadyInitialised {
                    library: rts.library.clone(),
                    rts_args: rts.rts_args.clone(),
                });
        }
        symbols::check_no_interposition()?;
        let rts = Self::load_and_start(library, rts_args)?;
        Ok(GHC_RTS.get_or_init(|| rts))
    }

    /// The running RTS, if [`GhcRts::init`] succeeded in this process.
    pub fn get() -> Option<&'static GhcRts> {
        GHC_RTS.get()
    }

    fn same_start(&self, library: &Path, rts_args: &[String]) -> bool {
        self.library == library && self.rts_args == rts_args
    }

    fn load_and_start(library: &Path, rts_args: Vec<String>) -> Result<GhcRts, GhcError> {
        // SAFETY: loading runs the library's constructors: GHC's registerForeignExports only
        // pushes onto a static list (rts/ForeignExports.c, no locks or malloc), and the GHC
        // libraries' other initialisers are plain C/ld-generated. RTLD_LOCAL keeps its symbols
        // out of the global scope.
        let lib =
            unsafe { UnixLibrary::open(Some(library), RTLD_NOW | RTLD_LOCAL) }.map_err(|e| {
                GhcError::Load {
                    library: library.to_owned(),
                    detail: e.to_string(),
                }
            })?;
        let lib = libloading::Library::from(lib);
        if load_symbol::<HsInitGhc>(&lib, "hs_init_ghc").is_err() {
            return Err(GhcError::Load {
                library: library.to_owned(),
                detail: "it has no hs_init_ghc, so it does not link GHC's RTS (a baseline library \
                         must link GHC's threaded RTS, which the harness starts with hs_init_ghc)"
                    .into(),
            });
        }
        let rts = GhcRts {
            hs_thread_done: load_symbol(&lib, "hs_thread_done")?,
            set_num_capabilities: load_symbol(&lib, "setNumCapabilities")?,
            get_allocations: load_symbol(&lib, "getAllocations")?,
            enabled_capabilities: enabled_capabilities_cell(&lib)?,
            rts_lock_addr: load_symbol::<*const c_void>(&lib, "rts_lock")? as usize,
            library: library.to_owned(),
            rts_args,
            _lib: lib,
        };
        start_rts(&rts._lib, &rts.rts_args)?;
        Ok(rts)
    }

    /// The project's export `c_function` (`Int -> IO Int`) as a driver target.
    pub fn c_function(&self) -> Result<CallTarget, GhcError> {
        self.export("c_function", Signature::INT_TO_INT)
    }

    /// Export `name` of the library as a driver target of `signature`; each driver thread calls
    /// GHC's `hs_thread_done` after its last call, freeing its GHC Task.
    ///
    /// `signature` must be the export's C type: the builder reads it from GHC's `*_stub.h`
    /// ([`BuiltLibrary::export_signature`]); for a library built elsewhere the caller vouches.
    pub fn export(&self, name: &str, signature: Signature) -> Result<CallTarget, GhcError> {
        let f: *const c_void = load_symbol(&self._lib, name)?;
        // SAFETY: GHC's RTS is started (a GhcRts exists only after hs_init_ghc returned); a
        // foreign export may be called from any OS thread concurrently; its C type is
        // `signature` (this function's contract); hs_thread_done may be called by any foreign
        // thread after its calls. Neither unwinds (C code). The library stays loaded forever.
        unsafe { Ok(CallTarget::from_raw(f, signature).with_thread_done(self.hs_thread_done)) }
    }

    /// GHC's `setNumCapabilities(n)`; returns the capabilities enabled afterwards, or an error
    /// when that is not `n`. Must not be called while a driver run is calling `c_function`
    /// (allowed by GHC, but it would distort that run).
    pub fn set_num_capabilities(&self, n: u32) -> Result<u32, GhcError> {
        if n == 0 {
            return Err(GhcError::BadCapabilities {
                requested: 0,
                enabled: self.enabled_capabilities(),
            });
        }
        // SAFETY: the RTS is started; setNumCapabilities may be called from a foreign thread
        // (it takes a capability with rts_lock itself; rts/Schedule.c).
        unsafe { (self.set_num_capabilities)(n) };
        let enabled = self.enabled_capabilities();
        if enabled == n {
            Ok(enabled)
        } else {
            Err(GhcError::BadCapabilities {
                requested: n,
                enabled,
            })
        }
    }

    /// GHC's `enabled_capabilities` global.
    pub fn enabled_capabilities(&self) -> u32 {
        // ORDERING: Relaxed — GHC writes it during a stop-the-world sync; a reader outside
        // that sync only needs some recent value.
        self.enabled_capabilities.load(Ordering::Relaxed)
    }

    /// GHC's `getAllocations()`: bytes allocated by Haskell code, as of the last GC.
    pub fn allocated_bytes(&self) -> u64 {
        // SAFETY: the RTS is started; getAllocations only reads the stats struct.
        unsafe { (self.get_allocations)() }
    }

    /// The file `rts_lock` resolves to from the library's handle (`dlsym` + `dladdr`).
    pub fn rts_lock_origin(&self) -> Option<PathBuf> {
        symbols::file_containing(self.rts_lock_addr)
    }

    pub fn library(&self) -> &Path {
        &self.library
    }

    pub fn rts_args(&self) -> &[String] {
        &self.rts_args
    }
}

fn enabled_capabilities_cell(lib: &libloading::Library) -> Result<&'static AtomicU32, GhcError> {
    let p: *mut u32 = load_symbol(lib, "enabled_capabilities")?;
    // SAFETY: `enabled_capabilities` is a `uint32_t` global of libHSrts_thr (rts/Threads.h),
    // aligned for u32, alive as long as the library (forever, see GhcRts::_lib). AtomicU32 has
    // u32's layout; GHC itself accesses it with plain loads and stores.
    Ok(unsafe { AtomicU32::from_ptr(p) })
}

/// `hs_init_ghc(&argc, &argv, cfg)` with `cfg = defaultRtsConfig` and `RtsOptsAll`.
fn start_rts(lib: &libloading::Library, rts_args: &[String]) -> Result<(), GhcError> {
    let hs_init_ghc: HsInitGhc = load_symbol(lib, "hs_init_ghc")?;
    let default_cfg: *const RtsConfig = load_symbol(lib, "defaultRtsConfig")?;
    // SAFETY: `defaultRtsConfig` is a `const RtsConfig` in libHSrts_thr; our mirror's layout
    // was checked against the installed header (check_layout / tests/ghc_baseline.rs).
    let mut cfg = unsafe { default_cfg.read() };
    cfg.rts_opts_enabled = rts_config::RTS_OPTS_ALL;
    let mut argv = leaked_argv(rts_args);
    let mut argc = c_int::try_from(argv.len() - 1).expect("few arguments");
    let mut argv_ptr = argv.as_mut_ptr();
    std::mem::forget(argv);
    // SAFETY: argc/argv describe a NULL-terminated array of NUL-terminated strings that are
    // leaked (GHC may keep pointers into them for getProgArgv); cfg is a valid RtsConfig. The
    // RTS was not started in this process before (GHC_RTS is empty under INIT_LOCK).
    unsafe { hs_init_ghc(&mut argc, &mut argv_ptr, cfg) };
    Ok(())
}

/// `[PROG_NAME, "+RTS", args..., "-RTS", NULL]` with every string leaked.
fn leaked_argv(rts_args: &[String]) -> Vec<*mut c_char> {
    let mut words = vec![PROG_NAME.to_owned()];
    if !rts_args.is_empty() {
        words.push("+RTS".to_owned());
        words.extend(rts_args.iter().cloned());
        words.push("-RTS".to_owned());
    }
    let mut argv: Vec<*mut c_char> = words
        .into_iter()
        .map(|w| CString::new(w).expect("validated: no NUL").into_raw())
        .collect();
    argv.push(std::ptr::null_mut());
    argv
}
