//! The wrapped baseline library: owns building `libcallin_ghc_wrapped.so`, the same
//! `ghc/Fun.hs` + `ghc/Export.hs` as the plain baseline (`scripts/build-ghc-baseline.sh`), on the
//! same `libHSrts_thr`, plus `ghc/wrap/rts_spans.c` and `-Wl,--wrap=<fn>` for every C API function
//! GHC's stub calls. The plain library is untouched: this one lives in its own directory,
//! `<target>/ghc-baseline-wrapped/`, and is rebuilt when it is older than its sources.
//!
//! The plain build runs first (it finds ghc, its shared threaded RTS and checks `RtsConfig`); this
//! one reuses what it recorded, so a machine without ghc says so once, in the plain build's words.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::SystemTime;

use crate::ghc::GhcError;
use crate::ghc::artifact::{self, Availability, BaselineArtifact};

/// The C API functions the wrapped library interposes (`-Wl,--wrap=`), as GHC 9.0's stub calls
/// them; `ghc/wrap/rts_spans.c` defines a `__wrap_` for each.
pub const WRAPPED_FUNCTIONS: &[&str] = &[
    "rts_lock",
    "rts_mkInt",
    "rts_apply",
    "rts_evalIO",
    "rts_checkSchedStatus",
    "rts_getInt",
    "rts_unlock",
];

/// Sources of the wrapped library, relative to the package root.
const SOURCES: &[&str] = &["ghc/Fun.hs", "ghc/Export.hs", "ghc/wrap/rts_spans.c"];

/// File name of the wrapped library.
pub const WRAPPED_LIBRARY: &str = "libcallin_ghc_wrapped.so";

fn package_root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// `<target>/ghc-baseline-wrapped/`.
pub fn wrapped_dir() -> PathBuf {
    artifact::baseline_dir().with_file_name("ghc-baseline-wrapped")
}

/// Both baseline libraries, once built.
#[derive(Debug, Clone)]
pub struct BaselinePair {
    /// The plain baseline (what `callin-bench run` measures).
    pub plain: BaselineArtifact,
    /// The same sources with the wrappers linked in.
    pub wrapped: PathBuf,
}

/// Build the plain baseline if needed, then the wrapped one if it is missing or stale.
pub fn ensure_built() -> Result<Result<BaselinePair, String>, GhcError> {
    let plain = match artifact::ensure_built()? {
        Availability::Ready(a) => a,
        Availability::Skipped { reason } => return Ok(Err(reason)),
    };
    let dir = wrapped_dir();
    let lib = dir.join(WRAPPED_LIBRARY);
    std::fs::create_dir_all(dir.join("build"))
        .map_err(|e| GhcError::Build(format!("creating {}: {e}", dir.display())))?;
    let _lock = FileLock::take(&dir.join(".lock"))?;
    if !is_fresh(&lib, &plain.library) {
        build(&plain, &dir, &lib)?;
    }
    Ok(Ok(BaselinePair {
        plain,
        wrapped: lib,
    }))
}

fn modified(p: &Path) -> Option<SystemTime> {
    std::fs::metadata(p).and_then(|m| m.modified()).ok()
}

fn is_fresh(lib: &Path, plain: &Path) -> bool {
    let Some(t) = modified(lib) else { return false };
    SOURCES
        .iter()
        .map(|s| package_root().join(s))
        .chain([plain.to_owned()])
        .all(|s| modified(&s).is_some_and(|m| m <= t))
}

/// The plain build's ghc command with the wrap file and the linker's `--wrap` options added.
fn build(plain: &BaselineArtifact, dir: &Path, lib: &Path) -> Result<(), GhcError> {
    let rts_dir = plain
        .rts_library
        .parent()
        .ok_or_else(|| GhcError::Build(format!("odd RTS path {}", plain.rts_library.display())))?;
    let wraps: Vec<String> = WRAPPED_FUNCTIONS
        .iter()
        .map(|f| format!("--wrap={f}"))
        .collect();
    let tmp = dir.join("build").join(WRAPPED_LIBRARY);
    let mut cmd = Command::new("ghc");
    cmd.current_dir(package_root())
        .args([
            "-O2",
            "-dynamic",
            "-shared",
            "-fPIC",
            "-threaded",
            "-optc-O2",
        ])
        .arg("-outputdir")
        .arg(dir.join("build"))
        .arg("-o")
        .arg(&tmp)
        .args(SOURCES)
        .arg(format!("-L{}", rts_dir.display()))
        .arg(format!("-lHSrts_thr-ghc{}", plain.ghc_version))
        .arg(format!("-optl-Wl,-rpath,{}", rts_dir.display()))
        .arg(format!("-optl-Wl,{}", wraps.join(",")));
    eprintln!("ghc-baseline-wrapped: building {}", lib.display());
    let out = cmd
        .output()
        .map_err(|e| GhcError::Build(format!("cannot run ghc: {e}")))?;
    if !out.status.success() {
        return Err(GhcError::Build(format!(
            "ghc for the wrapped baseline failed ({}):\n{}{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )));
    }
    std::fs::rename(&tmp, lib)
        .map_err(|e| GhcError::Build(format!("moving {} into place: {e}", tmp.display())))
}

/// An exclusive `flock` on a file for as long as it lives: one wrapped build at a time, across
/// processes (tests build from several).
struct FileLock(std::fs::File);

impl FileLock {
    fn take(path: &Path) -> Result<FileLock, GhcError> {
        use std::os::fd::AsRawFd;
        let f = std::fs::File::create(path)
            .map_err(|e| GhcError::Build(format!("creating {}: {e}", path.display())))?;
        // SAFETY: `f` is an open file descriptor for the duration of the call.
        let rc = unsafe { libc::flock(f.as_raw_fd(), libc::LOCK_EX) };
        if rc != 0 {
            return Err(GhcError::Build(format!(
                "locking {}: {}",
                path.display(),
                std::io::Error::last_os_error()
            )));
        }
        Ok(FileLock(f))
    }
}

impl Drop for FileLock {
    fn drop(&mut self) {
        use std::os::fd::AsRawFd;
        // SAFETY: the descriptor is still open (the File is dropped after this).
        unsafe { libc::flock(self.0.as_raw_fd(), libc::LOCK_UN) };
    }
}
