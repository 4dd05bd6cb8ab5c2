//! `callin-bench profile --systems real-ghc` end to end, through the binary: the JSON holds, for
//! the real GHC, API spans per group, sampling shares that sum to 100 % with "other", counters per
//! call (a forced-unavailable one says so, never zero) and GHC's allocation statistics; the
//! callgrind counts of the real call are identical across two runs; without valgrind the
//! callgrind view says why.

mod common;

use std::path::PathBuf;
use std::process::Command;

use callin_reports::schema::{PhaseGroup, ProfileResults, System};

fn exe() -> &'static str {
    env!("CARGO_BIN_EXE_callin-bench")
}

fn out(name: &str) -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("profile-real-ghc");
    std::fs::create_dir_all(&dir).unwrap();
    dir.join(name)
}

fn profile(args: &[&str], json: &PathBuf) -> ProfileResults {
    let o = Command::new(exe())
        .arg("profile")
        .args(args)
        .arg("--json")
        .arg(json)
        .output()
        .unwrap();
    assert!(
        o.status.success(),
        "profile failed:\n{}\n{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    serde_json::from_str(&std::fs::read_to_string(json).unwrap()).unwrap()
}

#[test]
fn real_ghc_cell_has_every_view_and_degrades_visibly() {
    common::require_tool("ghc");
    let json = out("cell.json");
    let r = profile(
        &[
            "--systems",
            "real-ghc",
            "--cells",
            "1x1",
            "--calls",
            "3000",
            "--sample-ms",
            "300",
            "--force-unavailable-counter",
        ],
        &json,
    );
    let c = r
        .configs
        .iter()
        .find(|c| c.system == System::RealGhc)
        .expect("a real-ghc config");
    assert_eq!(c.skipped, None);
    for g in PhaseGroup::ALL {
        let row = c
            .groups
            .iter()
            .find(|x| x.group == g)
            .expect("every group has a row");
        assert!(row.span_ns_mean.is_some_and(|v| v > 0.0), "{g}: span mean");
    }
    let span_total: f64 = c.groups.iter().filter_map(|g| g.span_share).sum();
    assert!((span_total - 1.0).abs() < 1e-9);
    let s = c.sampling.as_ref().expect("a sampling summary");
    assert_eq!(s.skipped, None, "sampling ran");
    assert!(s.samples.unwrap() > 0);
    let sampled: f64 =
        c.groups.iter().filter_map(|g| g.sample_share).sum::<f64>() + s.other_share.unwrap();
    assert!(
        (sampled - 1.0).abs() < 1e-9,
        "shares with other sum to 100 %: {sampled}"
    );
    let eval = c
        .groups
        .iter()
        .find(|g| g.group == PhaseGroup::Eval)
        .unwrap();
    assert!(
        eval.samples.unwrap() > 0,
        "rts_evalIO is where a call spends most"
    );
    if s.event.as_deref() != Some("cycles") {
        assert!(
            s.event_note.is_some(),
            "cpu-clock was used and says why not cycles"
        );
    }
    let counter = |n: &str| {
        c.call_counters
            .iter()
            .find(|k| k.name == n)
            .unwrap_or_else(|| panic!("{n}"))
    };
    let futex = counter("futex-syscalls");
    assert_eq!(
        futex.value, None,
        "the forced-unavailable counter has no value"
    );
    assert!(futex.unavailable.as_deref().unwrap().contains("forced"));
    let cs = counter("context-switches");
    assert!(cs.value.is_some() || cs.unavailable.is_some());
    let bytes = counter("bytes-allocated");
    assert!(
        bytes.value.is_some_and(|b| b > 500.0),
        "GHC allocates about 1.2 KB per call: {bytes:?}"
    );
    assert!(counter("minor-collections").value.is_some());
}

#[test]
fn callgrind_of_the_real_call_is_grouped_and_identical_across_runs() {
    common::require_tool("ghc");
    common::require_tool("valgrind");
    let json = out("callgrind.json");
    let r = profile(
        &[
            "--systems",
            "real-ghc",
            "--callgrind-only",
            "--callgrind-ops",
            "300",
        ],
        &json,
    );
    let c = r
        .callgrind
        .iter()
        .find(|c| c.system == System::RealGhc)
        .unwrap();
    assert_eq!(c.skipped, None);
    assert_eq!(
        c.identical_across_runs,
        Some(true),
        "two runs, identical counts"
    );
    for g in PhaseGroup::ALL {
        let ir = c
            .groups
            .iter()
            .find(|x| x.group == g)
            .map(|x| x.instructions);
        assert!(ir.is_some_and(|v| v > 0.0), "{g}: Ir per call {ir:?}");
    }
}

#[test]
fn without_valgrind_the_callgrind_view_says_why() {
    let json = out("no-valgrind.json");
    let o = Command::new(exe())
        .args([
            "profile",
            "--systems",
            "default",
            "--callgrind-only",
            "--json",
        ])
        .arg(&json)
        .env("PATH", "/nonexistent")
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let r: ProfileResults = serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    assert!(r.callgrind.is_empty());
    let why = r.callgrind_skipped.expect("a reason");
    assert!(why.contains("valgrind"), "{why}");
}
