//! Deterministic instruction counts under valgrind's callgrind: owns the worker that runs, in one
//! process per system, every region (rts-core's isolated phases, then the whole `c_function`
//! call; the real GHC: the whole call) single-threaded inside [`callin_bench_callgrind_region`],
//! running valgrind on it with `--toggle-collect` and `--dump-after` on that one function (one
//! dump per region), parsing each region's total `Ir` and, from the whole call's call graph, the
//! inclusive `Ir` of each C API call the stub makes (its phase group), and checking that two
//! runs are identical. One process per system and run, not one per phase: valgrind's start-up
//! (about a second here) is paid twice per system, not twice per phase.
//!
//! Why valgrind driven directly rather than gungraun: the phases already exist as
//! `rts_core::scaffolding::phases::PhaseLoop`, so one worker mode of the `callin-bench` binary plus
//! `--toggle-collect` on a `#[no_mangle]` function collects exactly the measured loop (set-up,
//! warm-up and `hs_init` excluded) with no extra bench harness, crate or runner binary to
//! install; valgrind is the only tool needed, and a missing valgrind is a printed skip reason.
//!
//! `cap_contended` is left out: it needs a second thread by construction, and callgrind
//! serialises threads, so its count would depend on scheduling, not be deterministic.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use callin_vocab::{PhaseGroup, System};
use rts_core::Config;
use rts_core::scaffolding::phases::{IsolatedPhase, PhaseLoop};
use serde::Serialize;

/// Name of the whole-call pseudo-phase (the compiled `c_function`).
pub const WHOLE_CALL: &str = "c_function";

/// Operations counted per phase under callgrind (after [`WARMUP_OPS`] uncounted ones).
pub const DEFAULT_OPS: u64 = 10_000;

/// Uncounted operations before the counted region.
pub const WARMUP_OPS: u64 = 1_000;

/// The function callgrind collects in (`--toggle-collect=callin_bench_callgrind_region`).
#[unsafe(no_mangle)]
#[inline(never)]
pub fn callin_bench_callgrind_region(work: &mut dyn FnMut()) {
    work();
}

/// Isolated phases measured under callgrind: every one but `cap_contended`.
pub fn phase_names() -> Vec<&'static str> {
    IsolatedPhase::ALL
        .iter()
        .filter(|&&p| p != IsolatedPhase::CapContended)
        .map(|p| p.name())
        .collect()
}

/// Worker body (run under valgrind): on `system`, every region of [`region_names`] in order,
/// each inside [`callin_bench_callgrind_region`] after [`WARMUP_OPS`] uncounted operations, so
/// `--dump-after` writes one dump per region. rts-core: each isolated phase on 1 capability, then
/// the whole call; the real GHC: the whole call of the plain baseline, started with
/// `+RTS -N1 -V0 -RTS` (no timer signal, so the scheduler's path does not depend on timing).
pub fn worker(system: System, ops: u64) -> anyhow::Result<()> {
    if system == System::RealGhc {
        let rts = crate::ghc::start(&["-N1", "-V0"])?;
        let f = rts.c_function()?;
        return count_calls(&|x| f.call(x), ops);
    }
    let policy = super::experiment::policy_of(system)
        .ok_or_else(|| anyhow::anyhow!("{system} is not an rts-core system"))?;
    rts_core::hs_init_with(Config {
        n_capabilities: 1,
        policy,
        ..Config::default()
    })?;
    for name in phase_names() {
        let p = IsolatedPhase::from_name(name).expect("phase_names lists isolated phases");
        let mut lp = PhaseLoop::new(p)?;
        lp.run(WARMUP_OPS);
        callin_bench_callgrind_region(&mut || lp.run(ops));
    }
    let f = rts_core::stub::c_function();
    // SAFETY: the RTS was initialised above; the stub is callable with any i64.
    count_calls(&|x| unsafe { f(x) }, ops)?;
    rts_core::hs_exit();
    Ok(())
}

fn count_calls(call: &dyn Fn(i64) -> i64, ops: u64) -> anyhow::Result<()> {
    for i in 0..WARMUP_OPS as i64 {
        std::hint::black_box(call(i));
    }
    callin_bench_callgrind_region(&mut || {
        for i in 0..ops as i64 {
            std::hint::black_box(call(std::hint::black_box(i)));
        }
    });
    Ok(())
}

/// The regions a system's worker runs, in order (the last is always [`WHOLE_CALL`]).
pub fn region_names(system: System) -> Vec<&'static str> {
    match system {
        System::RealGhc => vec![WHOLE_CALL],
        System::Default | System::GhcMode => {
            phase_names().into_iter().chain([WHOLE_CALL]).collect()
        }
    }
}

/// Instruction counts of one isolated phase (or the whole call) from the runs.
#[derive(Debug, Clone, Serialize)]
pub struct PhaseCount {
    /// Isolated phase name, or [`WHOLE_CALL`].
    pub name: &'static str,
    /// Total Ir in the region, per run.
    pub runs_ir: Vec<u64>,
    /// Ir per operation (first run / ops).
    pub ir_per_op: f64,
    /// All runs gave the same total.
    pub identical: bool,
}

/// Every count of one system.
#[derive(Debug, Clone, Serialize)]
pub struct SystemCount {
    /// Isolated phases (rts-core) and the whole call.
    pub phases: Vec<PhaseCount>,
    /// Ir per call inside each C API call of `c_function` (inclusive), by group.
    pub groups: Vec<(PhaseGroup, f64)>,
    /// Ir per whole-call operation.
    pub call_ir_per_op: f64,
    /// Every region's total and every group's count agreed across the runs.
    pub identical: bool,
}

/// `None` when valgrind runs here, else why it cannot.
pub fn unavailable_reason() -> Option<String> {
    match Command::new("valgrind").arg("--version").output() {
        Ok(o) if o.status.success() => None,
        Ok(o) => Some(format!("valgrind --version failed: {}", o.status)),
        Err(e) => Some(format!("valgrind not runnable: {e}")),
    }
}

/// Run `exe profile --callgrind-worker --systems <system>` under callgrind once; the dump
/// files, one per region, in region order.
fn run_once(exe: &Path, system: System, ops: u64, out: &Path) -> anyhow::Result<Vec<PathBuf>> {
    let output = Command::new("valgrind")
        .arg("--tool=callgrind")
        .arg("--toggle-collect=callin_bench_callgrind_region")
        .arg("--dump-after=callin_bench_callgrind_region")
        .arg(format!("--callgrind-out-file={}", out.display()))
        .arg("--quiet")
        .arg(exe)
        .args(["profile", "--callgrind-worker", "--systems", system.name()])
        .args(["--callgrind-ops", &ops.to_string()])
        .output()?;
    anyhow::ensure!(
        output.status.success(),
        "valgrind on {system} failed: {}\n{}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    let regions = region_names(system).len();
    let dumps: Vec<PathBuf> = (1..=regions)
        .map(|i| PathBuf::from(format!("{}.{i}", out.display())))
        .collect();
    for d in &dumps {
        anyhow::ensure!(d.exists(), "callgrind wrote no {}", d.display());
    }
    Ok(dumps)
}

/// The total `Ir` of a callgrind output file (`totals:` line, else `summary:`).
pub fn parse_total_ir(text: &str) -> Option<u64> {
    let line = |key: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(key))
            .and_then(|v| v.split_whitespace().next()?.parse().ok())
    };
    line("totals:").or_else(|| line("summary:"))
}

/// Inclusive Ir of the calls `caller` makes to each callee, by callee name, from a callgrind
/// dump (name compression `(id) name` understood; a `calls=` line's following cost line holds
/// the call's inclusive cost).
pub fn parse_call_costs(text: &str, caller: &str) -> BTreeMap<String, u64> {
    let mut names: BTreeMap<String, String> = BTreeMap::new();
    let mut name_of = |v: &str| -> String {
        let v = v.trim();
        if let Some(rest) = v.strip_prefix('(') {
            let (id, tail) = rest.split_once(')').unwrap_or((rest, ""));
            let tail = tail.trim();
            if tail.is_empty() {
                return names.get(id).cloned().unwrap_or_default();
            }
            names.insert(id.to_owned(), tail.to_owned());
            return tail.to_owned();
        }
        v.to_owned()
    };
    let mut out = BTreeMap::new();
    let (mut in_caller, mut callee, mut pending) = (false, String::new(), false);
    for l in text.lines() {
        if let Some(v) = l.strip_prefix("fn=") {
            in_caller = name_of(v) == caller;
            pending = false;
        } else if let Some(v) = l.strip_prefix("cfn=") {
            callee = name_of(v);
        } else if l.starts_with("calls=") {
            pending = true;
        } else if pending && l.starts_with(|c: char| c.is_ascii_digit() || "+-*".contains(c)) {
            pending = false;
            if in_caller
                && let Some(ir) = l
                    .split_whitespace()
                    .nth(1)
                    .and_then(|v| v.parse::<u64>().ok())
            {
                *out.entry(callee.clone()).or_insert(0) += ir;
            }
        }
    }
    out
}

/// Count every region of `system` `runs` times (the runs side by side: independent
/// single-threaded processes); outputs go to `dir`.
pub fn count_system(
    exe: &Path,
    system: System,
    ops: u64,
    runs: usize,
    dir: &Path,
) -> anyhow::Result<SystemCount> {
    std::fs::create_dir_all(dir)?;
    if system == System::RealGhc {
        // Build outside valgrind (the worker would otherwise build under it).
        super::real_ghc::build::ensure_built()?.map_err(anyhow::Error::msg)?;
    }
    let per_run = std::thread::scope(|s| {
        let handles: Vec<_> = (0..runs)
            .map(|r| {
                let file = dir.join(format!("callgrind.{system}.{r}.out"));
                s.spawn(move || run_once(exe, system, ops, &file))
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("callgrind run thread panicked"))
            .collect::<anyhow::Result<Vec<Vec<PathBuf>>>>()
    })?;
    let names = region_names(system);
    let texts: Vec<Vec<String>> = per_run
        .iter()
        .map(|dumps| dumps.iter().map(std::fs::read_to_string).collect())
        .collect::<std::io::Result<_>>()?;
    let mut phases = Vec::new();
    for (k, &name) in names.iter().enumerate() {
        let runs_ir = texts
            .iter()
            .map(|t| {
                parse_total_ir(&t[k])
                    .ok_or_else(|| anyhow::anyhow!("no totals line in the {name} dump"))
            })
            .collect::<anyhow::Result<Vec<u64>>>()?;
        eprintln!(
            "callgrind {:<8} {name:<18} Ir per run {runs_ir:?}",
            system.name()
        );
        phases.push(PhaseCount {
            name,
            identical: runs_ir.windows(2).all(|w| w[0] == w[1]),
            ir_per_op: runs_ir[0] as f64 / ops as f64,
            runs_ir,
        });
    }
    let last = names.len() - 1;
    let per_callee: Vec<BTreeMap<String, u64>> = texts
        .iter()
        .map(|t| parse_call_costs(&t[last], WHOLE_CALL))
        .collect();
    let mut groups: Vec<(PhaseGroup, f64)> = Vec::new();
    for (callee, ir) in &per_callee[0] {
        if let Some(g) = PhaseGroup::of_c_function(callee) {
            match groups.iter_mut().find(|(h, _)| *h == g) {
                Some(e) => e.1 += *ir as f64 / ops as f64,
                None => groups.push((g, *ir as f64 / ops as f64)),
            }
        }
    }
    groups.sort_by_key(|(g, _)| *g);
    anyhow::ensure!(
        !groups.is_empty(),
        "the whole-call dump of {system} has no calls from {WHOLE_CALL} to a C API function"
    );
    Ok(SystemCount {
        identical: phases.iter().all(|p| p.identical)
            && per_callee.windows(2).all(|w| w[0] == w[1]),
        call_ir_per_op: phases[last].ir_per_op,
        groups,
        phases,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn totals_line_is_parsed() {
        let text = "version: 1\nevents: Ir\nsummary: 999\nfn=foo\n1 5\ntotals: 1234\n";
        assert_eq!(parse_total_ir(text), Some(1234));
        assert_eq!(parse_total_ir("summary: 77\n"), Some(77));
        assert_eq!(parse_total_ir("events: Ir\n"), None);
    }

    #[test]
    fn contended_phase_is_not_counted_and_the_call_comes_last() {
        let names = region_names(System::Default);
        assert!(!names.contains(&"cap_contended"));
        assert_eq!(names.last(), Some(&WHOLE_CALL));
        assert_eq!(region_names(System::RealGhc), [WHOLE_CALL]);
    }

    #[test]
    fn inclusive_call_costs_are_summed_per_callee_of_the_caller() {
        let text = "events: Ir\nfn=(1) c_function\n5 3\ncfn=(2) rts_lock\ncalls=1 0\n5 100\n\
                    cfn=(3) rts_apply\ncalls=1 0\n+1 20\ncfn=(3)\ncalls=1 0\n+1 22\n\
                    fn=(4) other\ncfn=(2)\ncalls=1 0\n1 999\nfn=(1)\ncfn=(2)\ncalls=1 0\n* 1\n";
        let c = parse_call_costs(text, "c_function");
        assert_eq!(c.get("rts_lock"), Some(&101));
        assert_eq!(c.get("rts_apply"), Some(&42));
        assert_eq!(c.len(), 2, "calls made by other functions are not counted");
    }
}
