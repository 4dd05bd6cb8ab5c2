//! The wrapped baseline library: `libcallin_ghc_wrapped.so`, the project's `ghc/Fun.hs` +
//! `ghc/Export.hs` on the same `libHSrts_thr`, plus `ghc/wrap/rts_spans.c` and `-Wl,--wrap=<fn>`
//! for every C API function GHC's stub calls. It is one more [`LibrarySpec`] of the one builder
//! (`crate::ghc::build`: cached by content hash, so it is rebuilt when a source or flag changes);
//! the plain library is untouched.
//!
//! The plain build runs first (it finds ghc and its shared threaded RTS and checks `RtsConfig`), so
//! a machine without ghc says so once, in the plain build's words.

use std::path::PathBuf;

use crate::ghc::GhcError;
use crate::ghc::artifact::{self, Availability, BaselineArtifact};
use crate::ghc::build::{self as builder, LibrarySpec};
use crate::ghc::toolchain::{StubForm, Toolchain};

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

/// The wrapper source, relative to the package root.
const WRAP_SOURCE: &str = "ghc/wrap/rts_spans.c";

/// Both baseline libraries, once built.
#[derive(Debug, Clone)]
pub struct BaselinePair {
    /// The plain baseline (what `callin-bench run` measures).
    pub plain: BaselineArtifact,
    /// The same sources with the wrappers linked in.
    pub wrapped: PathBuf,
}

/// The wrapped library's build: the project's spec plus the wrappers.
pub fn wrapped_spec() -> LibrarySpec {
    let wraps: Vec<String> = WRAPPED_FUNCTIONS
        .iter()
        .map(|f| format!("--wrap={f}"))
        .collect();
    LibrarySpec {
        name: "callin_ghc_wrapped".into(),
        c_sources: vec![artifact::package_root().join(WRAP_SOURCE)],
        ghc_flags: vec!["-optc-O2".into()],
        link_flags: vec![format!("-optl-Wl,{}", wraps.join(","))],
        ..LibrarySpec::project()
    }
}

/// Build (or find cached) the plain baseline, then the wrapped one.
pub fn ensure_built() -> Result<Result<BaselinePair, String>, GhcError> {
    let plain = match artifact::ensure_built()? {
        Availability::Ready(a) => a,
        Availability::Skipped { reason } => return Ok(Err(reason)),
    };
    let toolchain = Toolchain::installed()?;
    if toolchain.version.stub_form() != StubForm::EvalIo {
        return Ok(Err(format!(
            "API spans wrap GHC 9.0's stub calls (rts_evalIO); ghc {} generates {}, which \
             {WRAP_SOURCE} does not wrap",
            toolchain.version,
            toolchain.version.stub_form().symbol()
        )));
    }
    let built = builder::build(&toolchain, &wrapped_spec())?;
    Ok(Ok(BaselinePair {
        plain,
        wrapped: built.library,
    }))
}
