//! `callin-bench run` end to end with tiny sizes: the JSON it writes parses with
//! `callin_reports`, cells carry their paired rounds and labels, skipped cells carry a reason and
//! no figures, an A/A run's interval contains 1, a user's own Haskell export is built and driven,
//! several RTS settings and GHCs give one system each, the baseline gate passes an unchanged
//! tree and fails (exit 3) a doubled-speed baseline, and every bad input is refused with a
//! message naming it. Tests that need ghc (or the Debian 13 GHC root) print `SKIP: <reason>`.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use callin_reports::schema::{RunResults, SCHEMA_VERSION, System};

fn callin_bench(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_callin-bench"))
        .args(args)
        .output()
        .expect("run callin-bench")
}

fn scratch(name: &str) -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .join("run_cli")
        .join(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn read_results(path: &Path) -> RunResults {
    let text = std::fs::read_to_string(path).expect("run.json written");
    serde_json::from_str(&text).expect("run.json parses as RunResults")
}

fn text(o: &Output) -> String {
    format!(
        "status {}\nstdout:\n{}\nstderr:\n{}",
        o.status,
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// Tiny sizes: `rounds` rounds of 20 ms, no ablation or floor.
fn tiny(out: &Path, rounds: &str, extra: &[&str]) -> Output {
    let mut args = vec![
        "run",
        "--rounds",
        rounds,
        "--round-ms",
        "20",
        "--no-ablation",
        "--no-floor",
        "--out",
    ];
    args.push(out.to_str().unwrap());
    args.extend_from_slice(extra);
    callin_bench(&args)
}

fn require_ghc() {
    common::require_tool("ghc");
}

#[test]
fn tiny_rts_core_run_writes_paired_rounds_and_prints_the_table() {
    let out = scratch("rts_core").join("run.json");
    let o = callin_bench(&[
        "run",
        "--threads",
        "1,2",
        "--caps",
        "1",
        "--systems",
        "default,ghc-mode",
        "--rounds",
        "6",
        "--round-ms",
        "20",
        "--no-ablation",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", text(&o));
    let stdout = String::from_utf8_lossy(&o.stdout);
    let r = read_results(&out);
    assert_eq!(r.schema_version, SCHEMA_VERSION);
    assert_eq!(r.rounds, 6);
    assert_eq!(r.cells.len(), 4, "2 systems x 2 thread counts x 1 cap");
    for c in &r.cells {
        assert!(c.skipped.is_none(), "{c:?}");
        assert_eq!(c.label, c.system.name());
        assert_eq!(c.rounds_ns.len(), 6, "one figure per round");
        let ns = c.ns_per_call.expect("measured");
        assert_eq!(ns.reps, 6);
        assert!(ns.min > 0.0 && ns.min <= ns.median && ns.median <= ns.max);
        assert_eq!(c.wrong_results, Some(0));
        assert_eq!(
            c.fairness.as_ref().unwrap().per_thread_calls.len(),
            c.threads as usize
        );
    }
    assert_eq!(r.floor.len(), 4);
    assert!(r.ablation.is_empty());
    assert!(
        stdout.contains("1 x 1") && stdout.contains("2 x 1 (oversubscribed)"),
        "{stdout}"
    );
    assert!(stdout.contains("ghc-mode / default"), "{stdout}");
    // The summary states each comparison as a sentence with its interval.
    assert!(
        stdout.contains("at 1 thread, 1 capability") && stdout.contains("95 % interval"),
        "{stdout}"
    );
}

#[test]
fn the_ablation_runs_in_paired_rounds() {
    let out = scratch("ablation").join("run.json");
    let o = callin_bench(&[
        "run",
        "--threads",
        "1",
        "--caps",
        "1",
        "--systems",
        "default",
        "--rounds",
        "6",
        "--round-ms",
        "50",
        "--no-floor",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", text(&o));
    let r = read_results(&out);
    assert!(!r.ablation.is_empty());
    for a in &r.ablation {
        let (d, g) = (
            a.ratio_to_default.expect("paired with default"),
            a.ratio_to_ghc.expect("paired with ghc"),
        );
        assert_eq!((d.rounds, g.rounds), (6, 6), "{a:?}");
        assert!(d.low.unwrap() <= d.median && d.median <= d.high.unwrap());
    }
}

/// An A/A run: the same system twice. Its ratio's 95 % interval contains 1 in at least 95 % of
/// runs; three attempts keep the test's false-failure rate near 1e-4 on this shared machine,
/// while a bias in the protocol (say, the first position is always faster) fails all three.
#[test]
fn an_a_a_run_has_an_interval_containing_one() {
    let out = scratch("aa").join("run.json");
    let mut attempts = Vec::new();
    for _ in 0..3 {
        let o = tiny(
            &out,
            "12",
            &[
                "--threads",
                "1",
                "--caps",
                "1",
                "--systems",
                "default,default",
            ],
        );
        assert!(o.status.success(), "{}", text(&o));
        let r = read_results(&out);
        let labels: Vec<&str> = r.cells.iter().map(|c| c.label.as_str()).collect();
        assert_eq!(labels, ["default", "default #2"]);
        let e = callin_reports::summary::ratio(&r, "default #2", "default", 1, 1).expect("paired");
        let (lo, hi) = (e.low.expect("12 rounds give an interval"), e.high.unwrap());
        println!(
            "A/A default #2 / default: {:.4} [{lo:.4}, {hi:.4}]",
            e.median
        );
        if lo <= 1.0 && 1.0 <= hi {
            return;
        }
        attempts.push((e.median, lo, hi));
    }
    panic!("three A/A intervals exclude 1: {attempts:?}");
}

#[test]
fn real_ghc_cells_are_measured_or_skipped_with_a_reason() {
    let out = scratch("real_ghc").join("run.json");
    let o = tiny(
        &out,
        "6",
        &["--threads", "1", "--caps", "1", "--systems", "real-ghc"],
    );
    assert!(o.status.success(), "{}", text(&o));
    let r = read_results(&out);
    assert_eq!(r.cells.len(), 1);
    let c = &r.cells[0];
    assert_eq!(c.system, System::RealGhc);
    match &c.skipped {
        Some(why) => panic!("the real-GHC cell was skipped although ghc is installed: {why}"),
        None => {
            let v = c
                .variant
                .as_ref()
                .expect("a real-GHC cell names its variant");
            assert_eq!(c.label, v.label());
            assert!(v.project_export && v.export == "c_function" && v.rts_args.is_empty());
            assert_eq!(c.label, format!("real-ghc {}", v.ghc_version));
            assert_eq!(c.wrong_results, Some(0));
            assert_eq!(
                r.manifest.ghc.version.as_deref(),
                Some(v.ghc_version.as_str())
            );
        }
    }
}

const LOOP_HS: &str = "module Loop () where

-- | n = 2000 iterations per call, then the argument: a call with work of its own.
loopSum :: Int -> IO Int
loopSum x = return $! go 0 (2000 :: Int)
  where
    go :: Int -> Int -> Int
    go acc 0 = acc + x
    go acc k = go (acc + k) (k - 1)

scale :: Double -> IO Double
scale d = return (d * 2.5)

foreign export ccall \"loop_sum\" loopSum :: Int -> IO Int
foreign export ccall \"scale\" scale :: Double -> IO Double
";

fn write(dir: &Path, name: &str, body: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, body).unwrap();
    p
}

#[test]
fn a_users_own_export_is_built_measured_and_reported_by_name() {
    require_ghc();
    let dir = scratch("own_export");
    let hs = write(&dir, "Loop.hs", LOOP_HS);
    let out = dir.join("run.json");
    let o = tiny(
        &out,
        "6",
        &[
            "--threads",
            "1,2",
            "--caps",
            "1",
            "--hs",
            hs.to_str().unwrap(),
            "--export",
            "loop_sum",
            "--export",
            "scale",
            "--arg",
            "3",
        ],
    );
    assert!(o.status.success(), "{}", text(&o));
    let r = read_results(&out);
    assert_eq!(r.cells.len(), 4, "2 exports x 2 thread counts");
    for c in &r.cells {
        assert!(c.skipped.is_none(), "{c:?}");
        let v = c.variant.as_ref().unwrap();
        assert!(!v.project_export);
        assert_eq!(
            c.label,
            format!("real-ghc {} export={}", v.ghc_version, v.export)
        );
        assert_eq!(v.source_hash.len(), 64, "SHA-256 of the sources");
        assert!(v.check.contains("reference call"), "{}", v.check);
        assert_eq!(
            c.wrong_results,
            Some(0),
            "deterministic: every result equals the reference"
        );
        assert_eq!(c.rounds_ns.len(), 6);
    }
    let sig = |e: &str| {
        r.cells
            .iter()
            .find(|c| c.variant.as_ref().unwrap().export == e)
            .unwrap()
            .variant
            .clone()
            .unwrap()
            .signature
    };
    assert_eq!(sig("loop_sum"), "Int -> IO Int");
    assert_eq!(sig("scale"), "Double -> IO Double");
    // The report shows it by name.
    let reports = dir.join("reports");
    let o = callin_bench(&[
        "report",
        "--results",
        dir.to_str().unwrap(),
        "--out",
        reports.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", text(&o));
    let page = std::fs::read_to_string(String::from_utf8_lossy(&o.stdout).trim()).unwrap();
    assert!(
        page.contains("export=loop_sum") && page.contains("loop_sum</code> :: Int -&gt; IO Int"),
        "report names the export"
    );
    // A second run reuses the cached build (same library path).
    let again = dir.join("again.json");
    let o = tiny(
        &again,
        "1",
        &[
            "--threads",
            "1",
            "--caps",
            "1",
            "--hs",
            hs.to_str().unwrap(),
            "--export",
            "loop_sum",
        ],
    );
    assert!(o.status.success(), "{}", text(&o));
    let lib = |p: &Path| read_results(p).cells[0].variant.clone().unwrap().library;
    assert_eq!(lib(&out), lib(&again));
}

#[test]
fn bad_haskell_input_is_named_before_anything_runs() {
    require_ghc();
    let dir = scratch("bad_input");
    let bad = write(
        &dir,
        "Bad.hs",
        "module Bad () where\nf :: Int -> IO Int\nf x = return (x + \"one\")\nforeign export ccall \"f\" f :: Int -> IO Int\n",
    );
    let two = write(
        &dir,
        "Two.hs",
        "module Two () where\nadd :: Int -> Int -> IO Int\nadd a b = return (a + b)\nhalf :: Float -> IO Float\nhalf f = return (f / 2)\nforeign export ccall \"add\" add :: Int -> Int -> IO Int\nforeign export ccall \"half\" half :: Float -> IO Float\n",
    );
    let good = write(&dir, "Loop.hs", LOOP_HS);
    let out = dir.join("run.json");
    let (b, t, g) = (
        bad.to_str().unwrap(),
        two.to_str().unwrap(),
        good.to_str().unwrap(),
    );
    for (args, needles) in [
        (
            vec!["--hs", b, "--export", "f"],
            vec!["failed compiling", "Bad.hs:3:", "\"one\""],
        ),
        (
            vec!["--hs", g, "--export", "nope"],
            vec!["export `nope`: not exported", "loop_sum, scale"],
        ),
        (
            vec!["--hs", t, "--export", "add"],
            vec!["takes 2 arguments", "exactly one"],
        ),
        (
            vec!["--hs", t, "--export", "half"],
            vec!["HsFloat", "Int, CInt, Word or Double"],
        ),
        (
            vec![
                "--hs",
                g,
                "--export",
                "scale",
                "--signature",
                "Int -> IO Int",
            ],
            vec!["wrong signature", "HsDouble scale(HsDouble)"],
        ),
        (
            vec!["--hs", g, "--export", "scale", "--arg", "x"],
            vec!["--arg", "not a Double"],
        ),
        (
            vec!["--hs", "/nonexistent/A.hs", "--export", "f"],
            vec!["no such file"],
        ),
        (
            vec!["--lib", "/nonexistent/lib.so", "--export", "f"],
            vec!["no such file"],
        ),
        (
            vec!["--ghc", "/nonexistent/ghc"],
            vec!["--ghc /nonexistent/ghc", "cannot run it"],
        ),
        (
            vec!["--systems", "default", "--ghc-rts", "-A1m"],
            vec!["leaves out real-ghc"],
        ),
    ] {
        let mut all = vec!["--threads", "1", "--caps", "1"];
        all.extend(args.iter().copied());
        let o = tiny(&out, "1", &all);
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(!o.status.success(), "{args:?} was accepted: {}", text(&o));
        for n in &needles {
            assert!(err.contains(n), "{args:?}: message lacks {n:?}:\n{err}");
        }
        assert!(!err.contains("panicked"), "{err}");
        assert!(
            !String::from_utf8_lossy(&o.stdout).contains("ns per call"),
            "nothing was measured"
        );
        println!(
            "{args:?} -> {}",
            err.lines().find(|l| l.contains("error")).unwrap_or("")
        );
    }
}

#[test]
fn a_lib_is_driven_and_its_missing_export_named() {
    require_ghc();
    let dir = scratch("lib");
    let hs = write(&dir, "Loop.hs", LOOP_HS);
    let out = dir.join("run.json");
    let o = tiny(
        &out,
        "1",
        &[
            "--hs",
            hs.to_str().unwrap(),
            "--export",
            "loop_sum",
            "--build-only",
        ],
    );
    assert!(o.status.success(), "{}", text(&o));
    let stdout = String::from_utf8_lossy(&o.stdout);
    let lib = stdout
        .split(": ")
        .nth(1)
        .and_then(|s| s.split(" (sources").next())
        .expect(&stdout)
        .to_owned();
    let o = tiny(
        &out,
        "6",
        &[
            "--threads",
            "1",
            "--caps",
            "1",
            "--lib",
            &lib,
            "--export",
            "loop_sum",
        ],
    );
    assert!(o.status.success(), "{}", text(&o));
    let c = &read_results(&out).cells[0];
    assert!(c.skipped.is_none() && c.wrong_results == Some(0), "{c:?}");
    let o = tiny(
        &out,
        "1",
        &[
            "--threads",
            "1",
            "--caps",
            "1",
            "--lib",
            &lib,
            "--export",
            "nope",
        ],
    );
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        !o.status.success() && err.contains("`nope`") && err.contains("cannot start"),
        "{}",
        text(&o)
    );
    // A library that does not link GHC's threaded RTS is refused by name.
    let plain = dir.join("libplain.so");
    let c_src = write(&dir, "plain.c", "long f(long x) { return x + 1; }\n");
    let cc = Command::new("cc")
        .args(["-shared", "-fPIC", "-o"])
        .arg(&plain)
        .arg(&c_src)
        .status();
    assert!(
        cc.is_ok_and(|s| s.success()),
        "cc builds a plain shared library (scripts/setup.sh installs build-essential)"
    );
    {
        let o = tiny(
            &out,
            "1",
            &[
                "--threads",
                "1",
                "--caps",
                "1",
                "--lib",
                plain.to_str().unwrap(),
                "--export",
                "f",
            ],
        );
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(
            !o.status.success() && err.contains("hs_init_ghc"),
            "{}",
            text(&o)
        );
    }
}

#[test]
fn an_unsupported_ghc_is_refused_with_the_reason() {
    let dir = scratch("old_ghc");
    let fake = write(&dir, "ghc", "#!/bin/sh\necho 8.10.7\n");
    let mut perm = std::fs::metadata(&fake).unwrap().permissions();
    std::os::unix::fs::PermissionsExt::set_mode(&mut perm, 0o755);
    std::fs::set_permissions(&fake, perm).unwrap();
    let o = tiny(
        &dir.join("run.json"),
        "1",
        &["--systems", "real-ghc", "--ghc", fake.to_str().unwrap()],
    );
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success(), "{}", text(&o));
    assert!(
        err.contains("unsupported: GHC 8.10.7 is older than 9.0.0"),
        "{err}"
    );
}

#[test]
fn each_rts_setting_is_one_real_ghc_system() {
    require_ghc();
    let out = scratch("ghc_rts").join("run.json");
    let o = tiny(
        &out,
        "6",
        &[
            "--threads",
            "1",
            "--caps",
            "1",
            "--systems",
            "real-ghc",
            "--ghc-rts",
            "-A1m",
            "--ghc-rts",
            "-A64m",
        ],
    );
    assert!(o.status.success(), "{}", text(&o));
    let r = read_results(&out);
    let rows: Vec<(String, f64)> = r
        .cells
        .iter()
        .map(|c| (c.label.clone(), c.ns_per_call.unwrap().median))
        .collect();
    println!("{rows:?}");
    assert_eq!(rows.len(), 2);
    assert!(
        rows[0].0.ends_with(" -A1m") && rows[1].0.ends_with(" -A64m"),
        "{rows:?}"
    );
    assert_eq!(r.cells[1].variant.as_ref().unwrap().rts_args, ["-A64m"]);
    let bad = tiny(&out, "1", &["--systems", "real-ghc", "--ghc-rts", "-N2"]);
    assert!(
        String::from_utf8_lossy(&bad.stderr).contains("set per cell from --caps"),
        "{}",
        text(&bad)
    );
}

/// The Debian 13 root with GHC 9.6.6 that `scripts/ghc-root.sh` makes (`CALLIN_GHC_ROOT`
/// overrides where), if it was made.
fn ghc_root() -> Option<PathBuf> {
    let root = std::env::var_os("CALLIN_GHC_ROOT")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
                .parent()
                .unwrap()
                .join("ghc-roots/trixie")
        });
    if root.join(".callin-bench-ghc-root").exists() {
        return Some(root);
    }
    println!(
        "SKIP: no GHC root at {} (scripts/ghc-root.sh builds it: debootstrap, about 5 minutes and 1 GB; \
         scripts/test.sh does not)",
        root.display()
    );
    None
}

#[test]
fn two_ghcs_side_by_side_each_at_two_nursery_sizes() {
    require_ghc();
    let Some(root) = ghc_root() else { return };
    let out = scratch("two_ghcs").join("run.json");
    let o = tiny(
        &out,
        "6",
        &[
            "--threads",
            "1",
            "--caps",
            "1",
            "--systems",
            "real-ghc",
            "--ghc",
            "ghc",
            "--ghc",
            root.to_str().unwrap(),
            "--ghc-rts",
            "-A1m",
            "--ghc-rts",
            "-A4m",
        ],
    );
    assert!(o.status.success(), "{}", text(&o));
    let r = read_results(&out);
    let labels: Vec<&str> = r.cells.iter().map(|c| c.label.as_str()).collect();
    println!("{labels:?}");
    assert_eq!(labels.len(), 4);
    assert!(
        labels
            .iter()
            .any(|l| l.starts_with("real-ghc 9.6") && l.ends_with("-A4m")),
        "{labels:?}"
    );
    assert!(
        r.cells
            .iter()
            .all(|c| c.skipped.is_none() && c.wrong_results == Some(0)),
        "{:?}",
        r.cells
    );
}

#[test]
fn the_baseline_gate_passes_an_unchanged_tree_and_fails_a_faster_baseline() {
    let dir = scratch("gate");
    let out = dir.join("run.json");
    let sized = ["--threads", "1", "--caps", "1", "--systems", "default"];
    let mut args = sized.to_vec();
    args.extend(["--save-baseline", "a"]);
    let o = tiny(&out, "8", &args);
    assert!(o.status.success(), "{}", text(&o));
    let saved = dir.join("baselines/a.json");
    assert!(saved.exists());
    // Unchanged tree: exit 0. Another process on this shared machine can slow one run by more
    // than 10 %, so a second attempt is allowed; a gate that always fires fails both.
    let mut gate = sized.to_vec();
    gate.extend(["--baseline", "a", "--fail-on-regression", "10"]);
    let passed = (0..2).any(|_| {
        let o = tiny(&out, "8", &gate);
        println!("{}", text(&o));
        o.status.code() == Some(0)
    });
    assert!(passed, "an unchanged tree regressed twice");
    assert_eq!(
        read_results(&out).baseline.unwrap().file,
        "baselines/a.json"
    );
    // A baseline twice as fast: exit 3, one line naming the cell.
    let mut base: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&saved).unwrap()).unwrap();
    for cell in base["cells"].as_array_mut().unwrap() {
        for v in cell["rounds_ns"].as_array_mut().unwrap() {
            *v = (v.as_f64().unwrap() / 2.0).into();
        }
        for k in ["median", "min", "max"] {
            let x = cell["ns_per_call"][k].as_f64().unwrap();
            cell["ns_per_call"][k] = (x / 2.0).into();
        }
    }
    std::fs::write(
        dir.join("baselines/fast.json"),
        serde_json::to_string(&base).unwrap(),
    )
    .unwrap();
    let mut gate = sized.to_vec();
    gate.extend(["--baseline", "fast", "--fail-on-regression", "10"]);
    let o = tiny(&out, "8", &gate);
    assert_eq!(o.status.code(), Some(3), "{}", text(&o));
    let err = String::from_utf8_lossy(&o.stderr);
    let lines: Vec<&str> = err
        .lines()
        .filter(|l| l.starts_with("REGRESSION "))
        .collect();
    assert_eq!(lines.len(), 1, "{err}");
    assert!(
        lines[0].contains("1 x 1 default") && lines[0].contains("95 % interval"),
        "{err}"
    );
    // A baseline from another machine is refused, unless forced.
    base["manifest"]["cpu_model"] = "Another CPU".into();
    std::fs::write(
        dir.join("baselines/other.json"),
        serde_json::to_string(&base).unwrap(),
    )
    .unwrap();
    let mut cmp = sized.to_vec();
    cmp.extend(["--baseline", "other"]);
    let o = tiny(&out, "6", &cmp);
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(
        err.contains("not comparable") && err.contains("Another CPU") && err.contains("--force"),
        "{err}"
    );
    assert!(out.exists(), "the measured run is still written");
    cmp.push("--force");
    let o = tiny(&out, "6", &cmp);
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert!(o.status.success(), "{}", text(&o));
    let first = stdout.find("NOT COMPARABLE").expect("mismatch reported");
    assert!(
        first < stdout.find("change against baseline").unwrap(),
        "the mismatch comes first"
    );
}

#[test]
fn bad_arguments_name_the_argument() {
    for (args, name) in [
        (&["run", "--threads", "0"][..], "--threads"),
        (&["run", "--caps", "two"][..], "--caps"),
        (&["run", "--systems", "nope"][..], "--systems"),
        (&["run", "--rounds", "0"][..], "--rounds"),
        (&["run", "--fail-on-regression", "10"][..], "--baseline"),
        (
            &["run", "--baseline", "a", "--fail-on-regression", "x"][..],
            "--fail-on-regression",
        ),
        (&["run", "--baseline", "../up"][..], "baseline name"),
        (
            &["run", "--baseline", "never-saved"][..],
            "--save-baseline never-saved",
        ),
        (&["run", "--export", "f"][..], "--hs sources or a --lib"),
        (
            &["run", "--signature", "Float -> IO Int"][..],
            "--signature",
        ),
    ] {
        let o = callin_bench(args);
        assert!(!o.status.success(), "{args:?} was accepted");
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(err.contains(name), "{args:?}: {err}");
    }
}
