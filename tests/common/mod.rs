//! Shared by the harness's integration tests (`mod common;`).
//!
//! How a harness test handles something it needs: a tool `scripts/setup.sh` installs (ghc,
//! binutils, valgrind, chromium) is a hard requirement, and the test fails naming it; a
//! condition of the machine that setup cannot change (perf events usable, more CPUs) is checked
//! at run time by a test whose name ends in `_or_skip`, which calls [`skip`] when it does not
//! hold.

use std::io::Write as _;

/// Say that the calling test did not run its checks and why: `SKIP: <test>: <reason>`, written
/// straight to the process's stderr so that `cargo test` shows it even when the test passes
/// (libtest captures `print!`/`eprint!` output and shows it only on failure).
#[allow(dead_code)] // each test binary uses only some of the helpers
pub fn skip(reason: &str) {
    let thread = std::thread::current();
    let test = thread.name().unwrap_or("<unnamed test>");
    // A failed write to stderr leaves nothing better to report to.
    let _ = writeln!(std::io::stderr(), "SKIP: {test}: {reason}");
}

/// Fail the calling test unless `tool --version` runs: `scripts/setup.sh` installs every tool a
/// harness test needs, so a missing one is a broken set-up, named, never a silent pass.
#[allow(dead_code)] // each test binary uses only some of the helpers
pub fn require_tool(tool: &str) {
    let ok = std::process::Command::new(tool)
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    assert!(
        ok,
        "{tool} is not installed or does not run: scripts/setup.sh installs it"
    );
}
