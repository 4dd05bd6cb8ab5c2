//! `tests/c/callin_driver.c`, the C host that scripts/bench.sh uses for the side-by-side run,
//! links and gives correct results with both runtimes: rts-core (`librts_core.a`) and the real
//! GHC RTS (the baseline's Haskell program in `ghc/`, built with the installed ghc).

#[path = "c/support.rs"]
mod support;

use std::path::{Path, PathBuf};
use std::process::Command;

fn c_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/c")
}

/// Run the driver and check its one-line summary: all calls made, none wrong.
fn check_run(exe: &Path, args: &[&str], threads: u32, calls: u32) {
    let out = support::run(exe, args);
    assert!(out.status.success(), "{}", support::show(&out));
    let line = String::from_utf8_lossy(&out.stdout);
    let want = format!("threads={threads} calls={calls} wrong=0 ns_per_call=");
    assert!(
        line.starts_with(&want),
        "expected `{want}...`, got `{line}`"
    );
}

#[test]
fn driver_on_rts_core_returns_x_plus_one_from_2_threads() {
    if !support::tool("cc") {
        return;
    }
    let exe = support::scratch_dir("driver-rts-core").join("callin_driver");
    support::build_c_program(&[&c_dir().join("callin_driver.c")], &exe);
    check_run(&exe, &["1", "5000", "+RTS", "-N2", "-RTS"], 1, 5000);
    check_run(&exe, &["2", "20000", "+RTS", "-N2", "-RTS"], 2, 20000);
    let bad = support::run(&exe, &["two", "10"]);
    assert_eq!(bad.status.code(), Some(2), "{}", support::show(&bad));
    assert!(
        String::from_utf8_lossy(&bad.stderr)
            .contains("THREADS must be a positive integer, got 'two'"),
        "{}",
        support::show(&bad)
    );
}

#[test]
fn driver_on_ghc_rts_returns_x_plus_one_from_2_threads() {
    if !support::tool("ghc") {
        return;
    }
    let dir = support::scratch_dir("driver-ghc");
    let exe = dir.join("callin_ghc");
    let out = Command::new("ghc")
        .args(["-O2", "-threaded", "-no-hs-main", "-outputdir"])
        .arg(&dir)
        .arg("-o")
        .arg(&exe)
        .args(support::haskell_program())
        .arg(support::c_source_in(&dir, "callin_driver.c"))
        .output()
        .expect("ghc runs");
    assert!(out.status.success(), "ghc: {}", support::show(&out));
    check_run(&exe, &["2", "20000", "+RTS", "-N2", "-RTS"], 2, 20000);
}
