//! The real GHC baseline: the library builds, the `RtsConfig` mirror matches the installed
//! header, GHC's `c_function` runs on GHC's RTS (libHSrts_thr), not on rts-core, and this
//! executable (which links rts-core) exports none of the RTS symbols GHC's stub binds to.
//! ghc (which `scripts/setup.sh` installs) and nm (binutils, likewise) are required: without
//! them these tests fail with the reason, they do not pass unchecked.
//!
//! `measure_ghc_baseline` (ignored) is the short measurement: it re-runs this test binary once
//! per configuration, because GHC's RTS starts once per process:
//! `cargo test --release --test ghc_baseline -- --ignored --nocapture measure_ghc_baseline`

use std::path::Path;
use std::process::Command;

use callin_bench::driver::{self, DriverConfig, Expect, RunMode, RunReport};
use callin_bench::ghc::{self, Availability, GhcError, GhcRts, symbols};
use callin_bench::pin::PinPolicy;

/// RTS options of the in-process tests (one RTS per test process).
const TEST_RTS_ARGS: &[&str] = &["-N1", "-A1m"];

/// What to do when the baseline is missing.
const INSTALL_GHC: &str =
    "run scripts/setup.sh (it installs ghc), then scripts/build-ghc-baseline.sh";

fn built() -> ghc::BaselineArtifact {
    match ghc::artifact::ensure_built().expect("build script ran") {
        Availability::Ready(a) => a,
        Availability::Skipped { reason } => {
            panic!("GHC baseline unavailable: {reason}: {INSTALL_GHC}")
        }
    }
}

fn started() -> &'static GhcRts {
    match ghc::start(TEST_RTS_ARGS) {
        Ok(rts) => rts,
        Err(GhcError::Unavailable { reason }) => {
            panic!("GHC baseline unavailable: {reason}: {INSTALL_GHC}")
        }
        Err(e) => panic!("{e}"),
    }
}

/// Defined symbols of an ELF file (`nm --defined-only`, with `-D` for the dynamic table).
fn defined_symbols(file: &Path, dynamic: bool) -> Vec<String> {
    let mut cmd = Command::new("nm");
    if dynamic {
        cmd.arg("-D");
    }
    let out = cmd
        .arg("--defined-only")
        .arg(file)
        .output()
        .unwrap_or_else(|e| {
            panic!("cannot run nm ({e}): run scripts/setup.sh (it installs binutils)")
        });
    assert!(
        out.status.success(),
        "nm {} failed: {:?}",
        file.display(),
        out
    );
    let text = String::from_utf8_lossy(&out.stdout);
    text.lines()
        .filter_map(|l| l.split_whitespace().nth(2))
        .map(str::to_owned)
        .collect()
}

fn rts_like(sym: &str) -> bool {
    sym.starts_with("rts_") || sym.starts_with("hs_") || symbols::STUB_RTS_SYMBOLS.contains(&sym)
}

#[test]
fn rts_config_mirror_matches_the_installed_header() {
    let artifact = built();
    assert!(artifact.c_layout.contains_key("rtsconfig_size"));
    ghc::check_layout(&artifact.c_layout).unwrap();
}

#[test]
fn executables_linking_rts_core_export_no_rts_symbols() {
    // Link rts-core's compiled stub (and through it rts-core's `rts_lock` & co.) into this
    // binary, as the bench binary does, so the check below is about a binary that defines them.
    let stub = std::hint::black_box(rts_core::stub::c_function());
    let this = std::env::current_exe().unwrap();
    let defined = defined_symbols(&this, false);
    assert!(
        defined.iter().any(|s| s == "rts_lock"),
        "rts-core's rts_lock is linked in"
    );
    println!("rts-core stub linked at {:p}", stub as *const ());
    let exes = [
        std::env::current_exe().unwrap(),
        env!("CARGO_BIN_EXE_callin-bench").into(),
    ];
    for exe in &exes {
        let syms = defined_symbols(exe, true);
        let leaked: Vec<_> = syms.iter().filter(|s| rts_like(s)).collect();
        assert!(leaked.is_empty(), "{} exports {leaked:?}", exe.display());
    }
    // The same question as the dynamic linker asks it when GHC's stub binds `rts_lock`.
    symbols::check_no_interposition().unwrap();
    for sym in symbols::STUB_RTS_SYMBOLS {
        let found = symbols::global_definition(sym);
        assert!(
            found
                .as_ref()
                .is_none_or(|f| f.to_string_lossy().contains("libHSrts")),
            "{sym} resolves globally to {found:?}"
        );
    }
}

#[test]
fn the_symbol_check_sees_exports_in_ghcs_library() {
    // Positive control for `exported_symbols`: the GHC library does export c_function.
    let artifact = built();
    let syms = defined_symbols(&artifact.library, true);
    assert!(syms.iter().any(|s| s == "c_function"), "{syms:?}");
}

#[test]
fn ghc_c_function_runs_on_ghcs_rts() {
    let rts = started();
    let origin = rts.rts_lock_origin().expect("dladdr knows rts_lock");
    assert!(
        origin.to_string_lossy().contains("libHSrts_thr"),
        "rts_lock from {origin:?}"
    );
    assert_eq!(
        symbols::global_definition("rts_lock"),
        None,
        "RTLD_LOCAL: not global"
    );
    assert_eq!(rts.enabled_capabilities(), 1, "+RTS -N1 took effect");
    assert_eq!(rts.c_function().unwrap().call(41), 42);

    let before = rts.allocated_bytes();
    let r = run_checked(rts, 2, 20_000);
    assert_eq!(r.total_calls, 40_000);
    // 40k calls allocate tens of MB in GHC's nursery: GHC GCs, and its allocation count
    // (updated at each GC) grows. rts-core's RTS is not even initialised in this process.
    assert!(rts.allocated_bytes() > before, "GHC's heap saw the calls");

    assert_eq!(rts.set_num_capabilities(2).unwrap(), 2);
    run_checked(rts, 2, 5_000);
    assert_eq!(rts.set_num_capabilities(1).unwrap(), 1);
    assert!(matches!(
        rts.set_num_capabilities(0),
        Err(GhcError::BadCapabilities { requested: 0, .. })
    ));
}

fn run_checked(rts: &GhcRts, threads: usize, calls: u64) -> RunReport {
    run_checked_pinned(rts, threads, calls, PinPolicy::CoresRoundRobin)
}

fn run_checked_pinned(rts: &GhcRts, threads: usize, calls: u64, pin: PinPolicy) -> RunReport {
    let cfg = DriverConfig {
        threads,
        mode: RunMode::Calls(calls),
        pin,
        expect: Expect::PlusOne,
        ..DriverConfig::default()
    };
    let r = driver::run(rts.c_function().unwrap(), &cfg).unwrap();
    r.ensure_correct().unwrap();
    r
}

#[test]
fn the_rts_starts_once_per_process() {
    let rts = started();
    let again = GhcRts::init(rts.library(), TEST_RTS_ARGS).unwrap();
    assert!(std::ptr::eq(rts, again), "same arguments: the running RTS");
    let err = GhcRts::init(rts.library(), &["-N2"])
        .err()
        .expect("cannot restart");
    assert!(matches!(err, GhcError::AlreadyInitialised { .. }), "{err}");
    assert!(err.to_string().contains("cannot be restarted"), "{err}");
}

#[test]
fn bad_rts_options_are_rejected_before_ghc_sees_them() {
    for (arg, needle) in [("+RTS", "+RTS/-RTS"), ("N2", "start with '-'")] {
        let err = GhcRts::init(Path::new("/nonexistent.so"), &[arg])
            .err()
            .unwrap();
        assert!(matches!(err, GhcError::BadRtsArg { .. }), "{err}");
        assert!(err.to_string().contains(needle), "{err}");
    }
}

/// Configurations of the short measurement: (driver threads, RTS options).
const MEASURED: &[(usize, &str)] = &[(1, "-N1 -A1m"), (2, "-N1 -A1m"), (2, "-N2 -A1m")];
const CHILD_THREADS_ENV: &str = "CALLIN_GHC_CHILD_THREADS";
const CHILD_CALLS_ENV: &str = "CALLIN_GHC_CHILD_CALLS";
/// `none` runs the measurement unpinned; anything else (default) pins round-robin to cores.
const PIN_ENV: &str = "CALLIN_GHC_PIN";

fn pin_from_env() -> PinPolicy {
    match std::env::var(PIN_ENV).as_deref() {
        Ok("none") => PinPolicy::None,
        _ => PinPolicy::CoresRoundRobin,
    }
}

#[test]
#[ignore = "measurement, not a test: run with --release --ignored --nocapture"]
fn measure_ghc_baseline() {
    if let Some(rts_args) = ghc::rts_args_from_env() {
        return measure_in_child(&rts_args);
    }
    built();
    let calls: u64 = std::env::var(CHILD_CALLS_ENV).map_or(200_000, |v| v.parse().unwrap());
    for &(threads, rts_args) in MEASURED {
        let out = Command::new(std::env::current_exe().unwrap())
            .args([
                "--exact",
                "measure_ghc_baseline",
                "--ignored",
                "--nocapture",
            ])
            .env(ghc::RTS_ARGS_ENV, rts_args)
            .env(CHILD_THREADS_ENV, threads.to_string())
            .env(CHILD_CALLS_ENV, calls.to_string())
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "child failed: {stdout}{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let json = stdout
            .lines()
            .find_map(|l| l.strip_prefix("RESULT "))
            .expect("child RESULT");
        let r: serde_json::Value = serde_json::from_str(json).unwrap();
        println!(
            "ghc threads={threads} +RTS {rts_args} -RTS calls/thread={calls}: {:.1} ns/call, \
             {:.0} calls/s, p50 {} ns, p99 {} ns, per-thread calls/s min {:.0} max {:.0}, \
             wrong {}, pin {}, timer {} ns",
            r["ns_per_call"].as_f64().unwrap(),
            r["calls_per_sec"].as_f64().unwrap(),
            r["latency"]["p50_ns"],
            r["latency"]["p99_ns"],
            r["fairness"]["min_calls_per_sec"].as_f64().unwrap(),
            r["fairness"]["max_calls_per_sec"].as_f64().unwrap(),
            r["wrong_results"],
            r["config"]["pin"],
            r["timer_overhead_ns"],
        );
    }
}

fn measure_in_child(rts_args: &[String]) {
    let args: Vec<&str> = rts_args.iter().map(String::as_str).collect();
    let rts = ghc::start(&args).unwrap();
    let env_num = |k: &str| std::env::var(k).unwrap().parse::<u64>().unwrap();
    let threads = env_num(CHILD_THREADS_ENV) as usize;
    let r = run_checked_pinned(rts, threads, env_num(CHILD_CALLS_ENV), pin_from_env());
    println!("RESULT {}", serde_json::to_string(&r).unwrap());
}
