//! The built baseline library: owns finding `target/ghc-baseline/`, running
//! `scripts/build-ghc-baseline.sh` when the library is missing or older than its Haskell
//! sources, and reading the `STATUS` marker the script writes (ok with paths and the C layout
//! of `RtsConfig`, or skip with a reason).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::SystemTime;

use super::GhcError;

/// A library the script built, with what it recorded about it.
#[derive(Debug, Clone)]
pub struct BaselineArtifact {
    /// `libcallin_ghc.so`, exporting `c_function`.
    pub library: PathBuf,
    pub ghc_version: String,
    /// The `libHSrts_thr-ghc<ver>.so` it links.
    pub rts_library: PathBuf,
    /// `rtsconfig_*` keys printed by `ghc/rtsconfig_layout.c` against the installed header.
    pub c_layout: BTreeMap<String, usize>,
}

/// Whether the baseline can run here.
#[derive(Debug, Clone)]
pub enum Availability {
    Ready(BaselineArtifact),
    /// The script could not build it, and said why (e.g. ghc missing and not installable).
    Skipped {
        reason: String,
    },
}

/// The package root (where `scripts/` and `ghc/` live).
fn package_root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// `<target>/ghc-baseline/`, where `scripts/build-ghc-baseline.sh` writes (cargo's target
/// directory, taken from the package root when relative, as the script takes it).
pub fn baseline_dir() -> PathBuf {
    package_root()
        .join(crate::paths::target_dir())
        .join("ghc-baseline")
}

/// Parse the `STATUS` file the build script last wrote.
pub fn read_status() -> Result<Availability, GhcError> {
    let path = baseline_dir().join("STATUS");
    let text = std::fs::read_to_string(&path).map_err(|e| {
        GhcError::Status(format!(
            "cannot read {}: {e} (run scripts/build-ghc-baseline.sh)",
            path.display()
        ))
    })?;
    parse_status(&text)
}

/// Parse `STATUS` text (`key=value` lines).
pub fn parse_status(text: &str) -> Result<Availability, GhcError> {
    let kv: BTreeMap<&str, &str> = text.lines().filter_map(|l| l.split_once('=')).collect();
    let get = |k: &str| {
        kv.get(k)
            .map(|v| v.to_string())
            .ok_or_else(|| GhcError::Status(format!("STATUS has no `{k}=` line")))
    };
    match kv.get("status").copied() {
        Some("skip") => Ok(Availability::Skipped {
            reason: get("reason")?,
        }),
        Some("ok") => Ok(Availability::Ready(BaselineArtifact {
            library: get("library")?.into(),
            ghc_version: get("ghc_version")?,
            rts_library: get("rts_library")?.into(),
            c_layout: c_layout(&kv)?,
        })),
        other => Err(GhcError::Status(format!(
            "STATUS has status={other:?}, want ok or skip"
        ))),
    }
}

fn c_layout(kv: &BTreeMap<&str, &str>) -> Result<BTreeMap<String, usize>, GhcError> {
    kv.iter()
        .filter(|(k, _)| k.starts_with("rtsconfig_") || **k == "rts_opts_all")
        .map(|(k, v)| {
            v.parse()
                .map(|n| (k.to_string(), n))
                .map_err(|_| GhcError::Status(format!("STATUS: {k}={v} is not a number")))
        })
        .collect()
}

/// Run the build script and read its verdict.
pub fn build() -> Result<Availability, GhcError> {
    let script = package_root().join("scripts/build-ghc-baseline.sh");
    let out = Command::new("bash")
        .arg(&script)
        .current_dir(package_root())
        .output()
        .map_err(|e| GhcError::Build(format!("cannot run {}: {e}", script.display())))?;
    if !out.status.success() {
        return Err(GhcError::Build(format!(
            "{} failed ({}):\n{}{}",
            script.display(),
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )));
    }
    read_status()
}

/// The library, building it first when it is missing or older than `ghc/*.hs`.
pub fn ensure_built() -> Result<Availability, GhcError> {
    if let Ok(Availability::Ready(a)) = read_status()
        && is_fresh(&a.library)
    {
        return Ok(Availability::Ready(a));
    }
    build()
}

fn modified(p: &Path) -> Option<SystemTime> {
    std::fs::metadata(p).and_then(|m| m.modified()).ok()
}

fn is_fresh(library: &Path) -> bool {
    let Some(lib_time) = modified(library) else {
        return false;
    };
    let sources = ["ghc/Fun.hs", "ghc/Export.hs", "ghc/rtsconfig_layout.c"];
    sources
        .iter()
        .all(|s| modified(&package_root().join(s)).is_some_and(|t| t <= lib_time))
}
