//! The project's baseline library: owns building `ghc/Fun.hs` + `ghc/Export.hs` (export
//! `c_function`, `foo x = return (x + 1)`) with the ghc on PATH through the one builder
//! ([`super::build`], cached by content hash), and saying why when it cannot be built here.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use super::GhcError;
use super::build::{self, LibrarySpec};
use super::toolchain::Toolchain;

/// The project's library as built, with what the builder recorded about it.
#[derive(Debug, Clone)]
pub struct BaselineArtifact {
    /// `libcallin_ghc.so`, exporting `c_function`.
    pub library: PathBuf,
    pub ghc_version: String,
    /// The `libHSrts*_thr-ghc<ver>.so` it links.
    pub rts_library: PathBuf,
    /// `rtsconfig_*` keys printed by `ghc/rtsconfig_layout.c` against the installed header.
    pub c_layout: BTreeMap<String, usize>,
    /// SHA-256 of `ghc/Fun.hs` + `ghc/Export.hs`.
    pub source_hash: String,
}

/// Whether the baseline can run here.
#[derive(Debug, Clone)]
pub enum Availability {
    Ready(BaselineArtifact),
    /// It cannot be built here, and why (e.g. ghc missing).
    Skipped {
        reason: String,
    },
}

/// The package root (where `scripts/` and `ghc/` live).
pub(crate) fn package_root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// The project's library built with the ghc on PATH (cached); `Skipped` when there is no ghc.
pub fn ensure_built() -> Result<Availability, GhcError> {
    let toolchain = match Toolchain::installed() {
        Ok(t) => t,
        Err(GhcError::BadGhc { why, .. }) => {
            return Ok(Availability::Skipped {
                reason: format!(
                    "no usable ghc on PATH ({why}); scripts/setup.sh installs it (apt-get install ghc)"
                ),
            });
        }
        Err(GhcError::Unavailable { reason }) => return Ok(Availability::Skipped { reason }),
        Err(e) => return Err(e),
    };
    let built = build::build(&toolchain, &LibrarySpec::project())?;
    Ok(Availability::Ready(BaselineArtifact {
        library: built.library,
        ghc_version: built.ghc_version,
        rts_library: built.rts_library,
        c_layout: built.c_layout,
        source_hash: built.source_hash,
    }))
}
