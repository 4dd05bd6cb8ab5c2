//! One profiled cell (system × threads × capabilities) in a child process: owns the job a parent
//! hands a child (`callin-bench profile --cell-worker <job> --cell-out <file>`), running it, and
//! reading its outcome back.
//!
//! Why children: GHC's RTS starts once per process, with its `-N`, and never again after
//! `hs_exit`, so every real-GHC cell gets a fresh process; the wrapped baseline (API spans) and
//! the plain one (sampling, counters) are separate processes too, so nothing of the wrappers is
//! mapped while the plain call is sampled. rts-core's sampling runs in a child of a binary built
//! without `probes`, so no probe check is on the sampled path (the child reports how it was
//! built and the parent refuses a probes build).
//!
//! Jobs:
//! - [`JobKind::ApiSpans`] (real GHC): the wrapped library; alternating rounds of driver runs
//!   recording spans and not recording (the difference is what the wrappers cost);
//! - [`JobKind::Unprobed`]: the plain call; one driver run of `calls` calls per thread with
//!   per-thread counters (and GHC's statistics, `+RTS -T`), then one of `sample_ms` with the
//!   samplers on.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use anyhow::Context;
use callin_vocab::{PhaseGroup, System};
use serde::{Deserialize, Serialize};

use super::groups::{self, GroupBreakdown};
use super::real_ghc;
use super::sampling::{self, SamplingHooks, SamplingResult, callsites};
use super::thread_counters::{self, PerCall, ThreadCounterHooks};
use crate::driver::{self, CallTarget, DriverConfig, RunHooks, RunMode, RunReport};
use crate::pin::PinPolicy;

/// What a child runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum JobKind {
    ApiSpans,
    Unprobed,
}

/// A cell job, as JSON on the child's command line.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CellJob {
    pub system: System,
    pub kind: JobKind,
    pub threads: u32,
    pub caps: u32,
    /// Calls per thread per driver run.
    pub calls: u64,
    /// Length of the sampling run (ms).
    pub sample_ms: u64,
    /// Probe clock ticks per ns, calibrated once by the parent.
    pub ticks_per_ns: f64,
    /// Replace the futex tracepoint by an event that cannot open (tests the unavailable path).
    #[serde(default)]
    pub force_unavailable_counter: bool,
}

/// API spans of a real-GHC cell.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SpansOutcome {
    pub breakdown: GroupBreakdown,
    /// The wrappers' calibrated cost per boundary (ns), taken off each span in `corrected`.
    pub boundary_ns: f64,
    /// Spans lost to full buffers (0 unless the sizing is wrong).
    pub dropped: u64,
    /// Driver ns per call while recording / while not (same wrapped library).
    pub recording_ns_per_call: f64,
    pub not_recording_ns_per_call: f64,
}

/// GHC's own statistics over a run, per call (`getRTSStats`, `+RTS -T`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GhcStatsPerCall {
    /// Bytes allocated per call. GHC updates `allocated_bytes` at each collection, so the figure
    /// is exact to within one nursery (`-A`) over the whole run.
    pub bytes_allocated: f64,
    /// Minor (generation 0) collections per call.
    pub minor_gcs: f64,
    /// Major collections per call.
    pub major_gcs: f64,
    /// Collections over the run.
    pub gcs_total: u64,
}

/// The plain call of a cell.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UnprobedOutcome {
    /// Driver ns per call (per-thread wall time / calls, mean over threads).
    pub ns_per_call: f64,
    pub calls: u64,
    pub counters: Result<Vec<PerCall>, String>,
    /// `Err` for rts-core (its model statistics are in `callin-bench run`) or when unreadable.
    pub ghc_stats: Result<GhcStatsPerCall, String>,
    pub sampling: Result<SamplingResult, String>,
}

/// What a child hands back.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CellOutcome {
    pub job: CellJob,
    /// The child binary was built with the `probes` feature.
    pub probes_compiled: bool,
    pub spans: Option<SpansOutcome>,
    pub unprobed: Option<UnprobedOutcome>,
}

/// Run `job` in a child `exe`, with its progress on our stderr; its outcome.
pub fn run_in_child(exe: &Path, job: &CellJob, dir: &Path) -> anyhow::Result<CellOutcome> {
    std::fs::create_dir_all(dir)?;
    let out: PathBuf = dir.join(format!(
        "cell-{}-{:?}-{}x{}.json",
        job.system, job.kind, job.threads, job.caps
    ));
    let _ = std::fs::remove_file(&out);
    let status = Command::new(exe)
        .args(["profile", "--cell-worker"])
        .arg(serde_json::to_string(job)?)
        .arg("--cell-out")
        .arg(&out)
        .status()
        .with_context(|| format!("starting {}", exe.display()))?;
    anyhow::ensure!(
        status.success(),
        "the {} {:?} child for {} threads x {} caps failed: {status}",
        job.system,
        job.kind,
        job.threads,
        job.caps
    );
    let text =
        std::fs::read_to_string(&out).with_context(|| format!("reading {}", out.display()))?;
    let o: CellOutcome = serde_json::from_str(&text)?;
    Ok(o)
}

/// The child's body: run `job`, write the outcome to `out`.
pub fn worker(job: &str, out: &Path) -> anyhow::Result<()> {
    let job: CellJob = serde_json::from_str(job).context("parsing --cell-worker")?;
    let outcome = run_job(&job)?;
    std::fs::write(out, serde_json::to_string(&outcome)?)
        .with_context(|| format!("writing {}", out.display()))
}

fn run_job(job: &CellJob) -> anyhow::Result<CellOutcome> {
    let mut o = CellOutcome {
        job: job.clone(),
        probes_compiled: cfg!(feature = "probes"),
        spans: None,
        unprobed: None,
    };
    match (job.system, job.kind) {
        (System::RealGhc, JobKind::ApiSpans) => o.spans = Some(real_ghc::api_spans(job)?),
        (System::RealGhc, JobKind::Unprobed) => o.unprobed = Some(real_ghc::unprobed(job)?),
        (_, JobKind::Unprobed) => o.unprobed = Some(rts_core_unprobed(job)?),
        (s, JobKind::ApiSpans) => {
            anyhow::bail!("{s}: API spans are for real-ghc (rts-core has probes)")
        }
    }
    Ok(o)
}

/// The driver configuration every profiling run uses: pinned round-robin, one timed call in 64.
pub fn driver_config(threads: u32, mode: RunMode) -> DriverConfig {
    DriverConfig {
        threads: threads as usize,
        mode,
        pin: PinPolicy::CoresRoundRobin,
        warmup_calls: 100,
        ..DriverConfig::default()
    }
}

/// Mean over threads of wall time / calls (ns).
pub fn ns_per_call(r: &RunReport) -> f64 {
    let t: Vec<f64> = r
        .threads
        .iter()
        .filter(|t| t.calls > 0)
        .map(|t| t.wall_ns as f64 / t.calls as f64)
        .collect();
    t.iter().sum::<f64>() / t.len().max(1) as f64
}

/// Total calls of a run.
pub fn calls(r: &RunReport) -> u64 {
    r.threads.iter().map(|t| t.calls).sum()
}

/// Counter hooks with [`thread_counters::events`], or a forced-unavailable futex event.
pub fn counter_hooks(job: &CellJob) -> ThreadCounterHooks {
    let mut specs = thread_counters::events();
    if job.force_unavailable_counter {
        specs.pop();
        specs.push(Err((
            thread_counters::FUTEX_CALLS.to_owned(),
            "forced unavailable (--force-unavailable-counter)".to_owned(),
        )));
    }
    ThreadCounterHooks::new(job.threads as usize, specs)
}

/// Run `target` with `hooks`, checking every result.
pub fn drive<H: RunHooks>(
    target: CallTarget,
    config: &DriverConfig,
    hooks: &mut H,
) -> anyhow::Result<RunReport> {
    let r = driver::run_with_hooks(target, config, hooks)?;
    r.ensure_correct()?;
    Ok(r)
}

/// The plain-call runs (counters, then sampling) on any target whose call sites are `sites`.
pub fn unprobed_runs(
    job: &CellJob,
    target: CallTarget,
    sites: anyhow::Result<callsites::CallSites>,
    mut stats: impl FnMut() -> Option<(u64, u32, u32)>,
) -> anyhow::Result<UnprobedOutcome> {
    let cfg = driver_config(job.threads, RunMode::Calls(job.calls));
    let mut hooks = counter_hooks(job);
    let before = stats();
    let r = drive(target, &cfg, &mut hooks)?;
    let after = stats();
    let n = calls(&r);
    let ghc_stats = match (before, after) {
        (Some(b), Some(a)) => Ok(stats_per_call(b, a, n)),
        _ => Err(
            "not applicable: rts-core's allocation and collection statistics are the model \
                  statistics of `callin-bench run`"
                .to_owned(),
        ),
    };
    let sampling = match sites {
        Err(e) => Err(format!("call sites of c_function not found: {e:#}")),
        Ok(sites) => {
            let mut sh = SamplingHooks::new(job.system, job.threads as usize, sites);
            let cfg = driver_config(
                job.threads,
                RunMode::Duration(Duration::from_millis(job.sample_ms)),
            );
            let target = target.with_thread_start(sampling::prefault_stack);
            let r = drive(target, &cfg, &mut sh)?;
            sh.finish(calls(&r))
        }
    };
    Ok(UnprobedOutcome {
        ns_per_call: ns_per_call(&r),
        calls: n,
        counters: hooks.finish(n),
        ghc_stats,
        sampling,
    })
}

fn stats_per_call(b: (u64, u32, u32), a: (u64, u32, u32), calls: u64) -> GhcStatsPerCall {
    let n = calls.max(1) as f64;
    let gcs = a.1.saturating_sub(b.1);
    let major = a.2.saturating_sub(b.2);
    GhcStatsPerCall {
        bytes_allocated: a.0.saturating_sub(b.0) as f64 / n,
        minor_gcs: f64::from(gcs - major) / n,
        major_gcs: f64::from(major) / n,
        gcs_total: u64::from(gcs),
    }
}

/// The C API functions rts-core's stub (`rts-core/stub/c_function.c`, the 9.2+ form) calls.
const RTS_CORE_STUB_CALLS: &[&str] = &[
    "rts_lock",
    "rts_mkInt",
    "rts_apply",
    "rts_inCall",
    "rts_checkSchedStatus",
    "rts_getInt",
    "rts_unlock",
];

fn rts_core_unprobed(job: &CellJob) -> anyhow::Result<UnprobedOutcome> {
    anyhow::ensure!(
        !cfg!(feature = "probes"),
        "sampling rts-core needs a binary built without the `probes` feature (every boundary \
         would check its thread-local recorder)"
    );
    let policy = job
        .system
        .policy_set()
        .ok_or_else(|| anyhow::anyhow!("{} is not an rts-core system", job.system))?;
    let policy = rts_core::PolicySet::parse(policy).map_err(anyhow::Error::msg)?;
    rts_core::hs_init_with(rts_core::Config {
        n_capabilities: job.caps,
        policy,
        ..rts_core::Config::default()
    })
    .with_context(|| format!("hs_init with {} capabilities", job.caps))?;
    let f = rts_core::stub::c_function();
    let sites = rts_core_sites(f as usize as u64);
    // SAFETY: the RTS was initialised above; the stub is callable from any thread with any i64.
    let target = unsafe { CallTarget::from_unsafe(f) };
    let r = unprobed_runs(job, target, sites, || None);
    rts_core::hs_exit();
    r
}

fn rts_core_sites(c_function: u64) -> anyhow::Result<callsites::CallSites> {
    callsites::find_in_process(c_function, RTS_CORE_STUB_CALLS, |syms, n| {
        syms.find_in_file_of(c_function, n)
            .map(|(addr, _)| addr)
            .ok_or_else(|| anyhow::anyhow!("{n} not in the binary's symbol table"))
    })
}

/// Group breakdown of every thread's spans.
pub fn spans_breakdown(
    threads: &[Vec<groups::GroupSpan>],
    ticks_per_ns: f64,
    boundary_ns: f64,
) -> GroupBreakdown {
    let calls: Vec<&[groups::GroupSpan]> = threads
        .iter()
        .flat_map(|t| groups::split_calls(t))
        .collect();
    groups::breakdown(&calls, ticks_per_ns, boundary_ns)
}

/// Groups whose share differs between two views by more than `factor` (either way); groups
/// below 1 % in both are left out (their ratio is noise).
pub fn disagreeing(
    a: &[(PhaseGroup, f64)],
    b: &[(PhaseGroup, f64)],
    factor: f64,
) -> Vec<PhaseGroup> {
    a.iter()
        .filter_map(|&(g, x)| {
            let y = b.iter().find(|(h, _)| *h == g)?.1;
            let (lo, hi) = if x < y { (x, y) } else { (y, x) };
            (hi >= 0.01 && (lo <= 0.0 || hi / lo > factor)).then_some(g)
        })
        .collect()
}
