//! Deterministic instruction counts per phase under valgrind's callgrind: owns the worker that
//! runs one isolated phase (or the whole `c_function` call) single-threaded inside
//! [`callin_bench_callgrind_region`], running valgrind on it with `--toggle-collect` on that one
//! function, parsing the total `Ir`, and checking two runs are identical.
//!
//! Why valgrind driven directly rather than gungraun: the phases already exist as
//! `rts_core::scaffolding::phases::PhaseLoop`, so one worker mode of the `callin-bench` binary plus
//! `--toggle-collect` on a `#[no_mangle]` function collects exactly the measured loop (set-up,
//! warm-up and `hs_init` excluded) with no extra bench harness, crate or runner binary to
//! install; valgrind is the only tool needed, and a missing valgrind is a printed skip reason.
//!
//! `cap_contended` is left out: it needs a second thread by construction, and callgrind
//! serialises threads, so its count would depend on scheduling, not be deterministic.

use std::path::{Path, PathBuf};
use std::process::Command;

use rts_core::scaffolding::phases::{IsolatedPhase, PhaseLoop};
use rts_core::{Config, PolicySet};
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

/// Phases measured under callgrind: every isolated phase but `cap_contended`, then the call.
pub fn phase_names() -> Vec<&'static str> {
    IsolatedPhase::ALL
        .iter()
        .filter(|&&p| p != IsolatedPhase::CapContended)
        .map(|p| p.name())
        .chain([WHOLE_CALL])
        .collect()
}

/// Worker body (run under valgrind): initialise the RTS with `policy` on 1 capability, warm
/// up, then run `ops` operations of `phase` inside the collected region.
pub fn worker(phase: &str, policy: PolicySet, ops: u64) -> anyhow::Result<()> {
    rts_core::hs_init_with(Config {
        n_capabilities: 1,
        policy,
        ..Config::default()
    })?;
    if phase == WHOLE_CALL {
        let f = rts_core::stub::c_function();
        // SAFETY: the RTS was initialised above; the stub is callable with any i64.
        let call = |x: i64| unsafe { f(x) };
        for i in 0..WARMUP_OPS as i64 {
            std::hint::black_box(call(i));
        }
        callin_bench_callgrind_region(&mut || {
            for i in 0..ops as i64 {
                std::hint::black_box(call(std::hint::black_box(i)));
            }
        });
    } else {
        let p = IsolatedPhase::from_name(phase).ok_or_else(|| {
            anyhow::anyhow!("unknown phase {phase:?}; known: {:?}", phase_names())
        })?;
        let mut lp = PhaseLoop::new(p)?;
        lp.run(WARMUP_OPS);
        callin_bench_callgrind_region(&mut || lp.run(ops));
        drop(lp);
    }
    rts_core::hs_exit();
    Ok(())
}

/// Instruction counts of one phase from two runs.
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

/// `None` when valgrind runs here, else why it cannot.
pub fn unavailable_reason() -> Option<String> {
    match Command::new("valgrind").arg("--version").output() {
        Ok(o) if o.status.success() => None,
        Ok(o) => Some(format!("valgrind --version failed: {}", o.status)),
        Err(e) => Some(format!("valgrind not runnable: {e}")),
    }
}

/// Run `exe profile --callgrind-worker <phase>` under callgrind and return the total Ir.
pub fn run_once(
    exe: &Path,
    phase: &str,
    policy: &str,
    ops: u64,
    out: &Path,
) -> anyhow::Result<u64> {
    let status = Command::new("valgrind")
        .arg("--tool=callgrind")
        .arg("--toggle-collect=callin_bench_callgrind_region")
        .arg(format!("--callgrind-out-file={}", out.display()))
        .arg("--quiet")
        .arg(exe)
        .args(["profile", "--callgrind-worker", phase, "--policy", policy])
        .args(["--callgrind-ops", &ops.to_string()])
        .status()?;
    anyhow::ensure!(
        status.success(),
        "valgrind on phase {phase} ({policy}) failed: {status}"
    );
    let text = std::fs::read_to_string(out)?;
    parse_total_ir(&text)
        .ok_or_else(|| anyhow::anyhow!("no `totals:`/`summary:` line in {}", out.display()))
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

/// Count every phase of [`phase_names`] `runs` times under `policy`; outputs go to `dir`.
pub fn count_phases(
    exe: &Path,
    policy: &str,
    ops: u64,
    runs: usize,
    dir: &Path,
) -> anyhow::Result<Vec<PhaseCount>> {
    std::fs::create_dir_all(dir)?;
    let mut out = Vec::new();
    for name in phase_names() {
        let runs_ir = (0..runs)
            .map(|r| {
                let file: PathBuf = dir.join(format!("callgrind.{policy}.{name}.{r}.out"));
                run_once(exe, name, policy, ops, &file)
            })
            .collect::<anyhow::Result<Vec<u64>>>()?;
        eprintln!("callgrind {policy:<8} {name:<18} Ir per run {runs_ir:?}");
        out.push(PhaseCount {
            name,
            identical: runs_ir.windows(2).all(|w| w[0] == w[1]),
            ir_per_op: runs_ir[0] as f64 / ops as f64,
            runs_ir,
        });
    }
    Ok(out)
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
    fn contended_phase_is_not_counted() {
        let names = phase_names();
        assert!(!names.contains(&"cap_contended"));
        assert_eq!(names.last(), Some(&WHOLE_CALL));
    }
}
