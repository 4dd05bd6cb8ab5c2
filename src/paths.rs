//! Where the suite writes: everything generated goes under cargo's target directory,
//! `$CARGO_TARGET_DIR` when it is set (as cargo itself and criterion do), else `target/`.
//! Relative paths are taken from the working directory, as cargo takes them.

use std::path::PathBuf;

/// Cargo's target directory for this run: `$CARGO_TARGET_DIR`, else `target`.
pub fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .filter(|v| !v.is_empty())
        .map_or_else(|| PathBuf::from("target"), PathBuf::from)
}

/// Results JSON of every command (`<target>/callin-bench`), with the file names the report reads.
pub fn results_dir() -> PathBuf {
    target_dir().join("callin-bench")
}

/// criterion's output (`<target>/criterion`).
pub fn criterion_dir() -> PathBuf {
    target_dir().join("criterion")
}

/// Rendered reports (`<target>/reports/<run-id>/index.html`).
pub fn reports_dir() -> PathBuf {
    target_dir().join("reports")
}

/// `path` inside the results directory, as a clap default.
pub fn result_file(name: &str) -> PathBuf {
    results_dir().join(name)
}
