//! `callin-bench run` end to end with tiny sizes: the JSON it writes parses with
//! `callin_reports`, the table has one row per configuration, the real GHC's cell is measured,
//! and bad arguments are refused with an error naming the argument.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use callin_reports::schema::{RunResults, SCHEMA_VERSION, System};

fn callin_bench(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_callin-bench"))
        .args(args)
        .output()
        .expect("run callin-bench")
}

fn out_path(name: &str) -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("run_cli");
    std::fs::create_dir_all(&dir).unwrap();
    dir.join(name)
}

/// `callin-bench run` at its smallest: `threads` x 1 capability for `systems`, `reps`
/// repetitions of 20 ms cells, no ablation, `extra` flags, results to `out`.
fn tiny_run(threads: &str, systems: &str, reps: &str, extra: &[&str], out: &Path) -> Output {
    let mut args = vec![
        "run",
        "--threads",
        threads,
        "--caps",
        "1",
        "--systems",
        systems,
    ];
    args.extend(["--reps", reps, "--cell-ms", "20", "--no-ablation"]);
    args.extend(extra);
    args.extend(["--out", out.to_str().unwrap()]);
    callin_bench(&args)
}

fn read_results(path: &Path) -> RunResults {
    let text = std::fs::read_to_string(path).expect("run.json written");
    serde_json::from_str(&text).expect("run.json parses as RunResults")
}

#[test]
fn tiny_rts_core_run_writes_results_and_prints_the_table() {
    let out = out_path("rts_core.json");
    let o = tiny_run("1,2", "default,ghc-mode", "2", &[], &out);
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert!(
        o.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let r = read_results(&out);
    assert_eq!(r.schema_version, SCHEMA_VERSION);
    assert_eq!(r.cells.len(), 4, "2 systems x 2 thread counts x 1 cap");
    for c in &r.cells {
        assert!(c.skipped.is_none(), "{c:?}");
        let ns = c.ns_per_call.expect("measured");
        assert_eq!(ns.reps, 2);
        assert!(ns.min > 0.0 && ns.min <= ns.median && ns.median <= ns.max);
        assert_eq!(c.wrong_results, Some(0));
        let f = c.fairness.as_ref().unwrap();
        assert_eq!(f.per_thread_calls.len(), c.threads as usize);
    }
    assert_eq!(r.floor.len(), 4);
    assert!(r.floor.iter().all(|f| f.ns_per_op.median > 0.0));
    assert!(r.ablation.is_empty());
    assert!(!r.manifest.cpu_model.is_empty() && r.manifest.cores >= 1);
    assert!(stdout.contains("1 x 1"), "{stdout}");
    assert!(stdout.contains("2 x 1 (oversubscribed)"), "{stdout}");
    assert!(stdout.contains("ghc-mode/default"), "{stdout}");
}

/// Needs the GHC baseline (`scripts/setup.sh` installs ghc): without it the cell is skipped
/// and this test fails with the reason.
#[test]
fn real_ghc_cells_are_measured() {
    let out = out_path("real_ghc.json");
    let o = tiny_run("1", "real-ghc", "1", &["--no-floor"], &out);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let r = read_results(&out);
    assert_eq!(r.cells.len(), 1);
    let c = &r.cells[0];
    assert_eq!(c.system, System::RealGhc);
    if let Some(why) = &c.skipped {
        panic!("the real GHC cell was skipped: {why}: run scripts/setup.sh (it installs ghc)");
    }
    assert!(c.ns_per_call.unwrap().median > 0.0);
    assert_eq!(c.wrong_results, Some(0));
    assert!(r.manifest.ghc.version.is_some());
}

#[test]
fn bad_arguments_name_the_argument() {
    for (args, name) in [
        (&["run", "--threads", "0"][..], "--threads"),
        (&["run", "--caps", "two"][..], "--caps"),
        (&["run", "--systems", "nope"][..], "--systems"),
        (&["run", "--reps", "0"][..], "--reps"),
    ] {
        let o = callin_bench(args);
        assert!(!o.status.success(), "{args:?} was accepted");
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(err.contains(name), "{args:?}: {err}");
    }
}
