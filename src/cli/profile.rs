//! `callin-bench profile`: the per-phase profile of the call-in path. For each policy and
//! capability count it measures every isolated phase with counters around ≥ 10⁴-operation
//! batches; for each thread count it runs the real `c_function` with in-situ probes (feature
//! `probes`); with `--callgrind` it adds deterministic instruction counts. Prints one table per
//! configuration and writes `profile.json` (schema `callin_reports::schema::ProfileResults`).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::Context;
use callin_reports::schema::{
    CallgrindCounts, CounterValue, Phase, PhaseInstructions, PhaseProfile, ProfileConfig,
    ProfileResults, SCHEMA_VERSION, Source,
};
use rts_core::scaffolding::phases::IsolatedPhase;
use rts_core::{Config, PolicySet};

use super::DEFAULT_RESULTS_DIR;
use crate::profile::callgrind::{self, PhaseCount};
use crate::profile::isolated::{self, IsolatedResult};
use crate::profile::{CounterReading, ProfileEnvironment};

/// Arguments of `callin-bench profile`.
#[derive(Debug, clap::Args)]
pub struct ProfileArgs {
    /// Policy sets to profile (`lockfree`, `ghc`); comma-separated or repeated.
    #[arg(long, value_delimiter = ',', default_values_t = ["lockfree".to_owned(), "ghc".to_owned()])]
    pub policy: Vec<String>,
    /// Calling threads for the in-situ probe run; comma-separated for several.
    #[arg(long, value_delimiter = ',', default_value = "1")]
    pub threads: Vec<u32>,
    /// RTS capabilities; comma-separated for several.
    #[arg(long, value_delimiter = ',', default_value = "1")]
    pub caps: Vec<u32>,
    /// Calls per thread in the in-situ probe run.
    #[arg(long, default_value_t = 50_000)]
    pub calls: u64,
    /// Operations per isolated-phase counter batch (at least 10000).
    #[arg(long, default_value_t = 20_000)]
    pub iters: u64,
    /// Where to write the JSON (default target/callin-bench/profile.json).
    #[arg(long, num_args = 0..=1, default_missing_value = "")]
    pub json: Option<PathBuf>,
    /// Also count instructions per phase under valgrind callgrind (two runs each).
    #[arg(long)]
    pub callgrind: bool,
    /// Only the callgrind counts (no timing runs).
    #[arg(long)]
    pub callgrind_only: bool,
    /// Operations per phase under callgrind.
    #[arg(long, default_value_t = callgrind::DEFAULT_OPS)]
    pub callgrind_ops: u64,
    /// Internal: run one phase as the callgrind worker (used by `--callgrind`).
    #[arg(long, hide = true)]
    pub callgrind_worker: Option<String>,
}

fn parse_policy(label: &str) -> anyhow::Result<PolicySet> {
    PolicySet::parse(label)
        .ok_or_else(|| anyhow::anyhow!("unknown policy {label:?}; use lockfree or ghc"))
}

/// Runs the command.
pub fn main(args: &ProfileArgs) -> anyhow::Result<()> {
    if let Some(phase) = &args.callgrind_worker {
        let policy = parse_policy(args.policy.first().map_or("lockfree", String::as_str))?;
        return callgrind::worker(phase, policy, args.callgrind_ops);
    }
    validate(args)?;
    let mut results = ProfileResults {
        schema_version: SCHEMA_VERSION,
        run_id: None,
        tsc_hz: None,
        probe_overhead_ns_per_boundary: None,
        configs: Vec::new(),
        callgrind: Vec::new(),
        callgrind_skipped: None,
    };
    let mut callgrind_counts = BTreeMap::new();
    if args.callgrind || args.callgrind_only {
        run_callgrind(args, &mut results, &mut callgrind_counts)?;
    } else {
        results.callgrind_skipped = Some("not requested (run with --callgrind)".to_owned());
    }
    if !args.callgrind_only {
        run_timing(args, &mut results, &callgrind_counts)?;
    } else {
        print_callgrind(&callgrind_counts);
    }
    let path = json_path(args);
    write_json(&results, &path)?;
    println!("wrote {}", path.display());
    Ok(())
}

fn validate(args: &ProfileArgs) -> anyhow::Result<()> {
    for p in &args.policy {
        parse_policy(p)?;
    }
    anyhow::ensure!(
        args.iters >= crate::profile::MIN_BATCH_ITERS,
        "--iters {} is below the counter batch minimum {}",
        args.iters,
        crate::profile::MIN_BATCH_ITERS
    );
    anyhow::ensure!(args.calls > 0, "--calls must be at least 1");
    anyhow::ensure!(
        args.threads.iter().chain(&args.caps).all(|&n| n > 0),
        "--threads and --caps must be at least 1"
    );
    Ok(())
}

fn json_path(args: &ProfileArgs) -> PathBuf {
    match &args.json {
        Some(p) if !p.as_os_str().is_empty() => p.clone(),
        _ => Path::new(DEFAULT_RESULTS_DIR).join(callin_reports::input::PROFILE_FILE),
    }
}

fn write_json(results: &ProfileResults, path: &Path) -> anyhow::Result<()> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    let text = serde_json::to_string_pretty(results)?;
    std::fs::write(path, text).with_context(|| format!("writing {}", path.display()))
}

fn run_callgrind(
    args: &ProfileArgs,
    results: &mut ProfileResults,
    counts: &mut BTreeMap<String, Vec<PhaseCount>>,
) -> anyhow::Result<()> {
    if let Some(why) = callgrind::unavailable_reason() {
        eprintln!("callgrind skipped: {why}");
        results.callgrind_skipped = Some(why);
        return Ok(());
    }
    let exe = std::env::current_exe().context("locating the callin-bench binary")?;
    let dir = Path::new(DEFAULT_RESULTS_DIR).join("callgrind");
    for policy in &args.policy {
        eprintln!(
            "callgrind: {policy}, 2 runs per phase, {} ops each",
            args.callgrind_ops
        );
        let c = callgrind::count_phases(&exe, policy, args.callgrind_ops, 2, &dir)?;
        results.callgrind.push(CallgrindCounts {
            policy: policy.clone(),
            phases: schema_phases(&c),
            identical_across_runs: Some(c.iter().all(|p| p.identical)),
        });
        counts.insert(policy.clone(), c);
    }
    Ok(())
}

/// The representative isolated count of each schema phase.
fn schema_phases(counts: &[PhaseCount]) -> Vec<PhaseInstructions> {
    Phase::ALL
        .iter()
        .filter_map(|&phase| {
            let iso = isolated::representative(phase.name(), 1, 1)?;
            let c = counts.iter().find(|c| c.name == iso.name())?;
            Some(PhaseInstructions {
                phase,
                instructions: c.ir_per_op,
            })
        })
        .collect()
}

fn print_callgrind(counts: &BTreeMap<String, Vec<PhaseCount>>) {
    for (policy, cs) in counts {
        println!("\ncallgrind Ir per operation, policy {policy}, 1 thread, 1 capability:");
        for c in cs {
            println!(
                "  {:<18} {:>10.1} Ir/op   runs {:?}  {}",
                c.name,
                c.ir_per_op,
                c.runs_ir,
                if c.identical {
                    "identical"
                } else {
                    "DIFFERENT"
                }
            );
        }
    }
}

fn run_timing(
    args: &ProfileArgs,
    results: &mut ProfileResults,
    callgrind_counts: &BTreeMap<String, Vec<PhaseCount>>,
) -> anyhow::Result<()> {
    let env = ProfileEnvironment::detect();
    println!("{env}");
    let probes = probe_setup(&env, args, results)?;
    for label in &args.policy {
        let policy = parse_policy(label)?;
        for &caps in &args.caps {
            start_rts(policy, caps)?;
            eprintln!(
                "profile: {label}, {caps} cap(s): isolated phases, {} ops per batch",
                args.iters
            );
            let iso = isolated::measure_phases(IsolatedPhase::ALL, args.iters);
            let iso = iso.inspect_err(|_| {
                rts_core::hs_exit();
            })?;
            for &threads in &args.threads {
                let cfg = profile_config(label, threads, caps, &iso, &probes, args)?;
                print_config(&cfg, &iso, callgrind_counts.get(label), probes.as_ref());
                results.configs.push(cfg);
            }
            rts_core::hs_exit();
        }
    }
    Ok(())
}

fn start_rts(policy: PolicySet, caps: u32) -> anyhow::Result<()> {
    rts_core::hs_init_with(Config {
        n_capabilities: caps,
        policy,
        ..Config::default()
    })
    .with_context(|| format!("hs_init with {caps} capabilities"))?;
    Ok(())
}

/// How probe ticks convert, and what a probe costs; `None` without the `probes` feature.
#[derive(Debug, Clone)]
pub struct ProbeSetup {
    ticks_per_ns: f64,
    source: Source,
    #[cfg(feature = "probes")]
    cost: crate::profile::insitu::ProbeCost,
}

#[cfg(feature = "probes")]
fn probe_setup(
    env: &ProfileEnvironment,
    _args: &ProfileArgs,
    results: &mut ProfileResults,
) -> anyhow::Result<Option<ProbeSetup>> {
    use crate::profile::tsc::{self, ClockSource, TscRead};
    let (ticks_per_ns, source) = if rts_core::probes::clock_is_tsc() {
        let tpn = match env.clock.source() {
            ClockSource::Tsc(_) => env.clock.ticks_per_ns(),
            ClockSource::Instant => {
                eprintln!(
                    "probes read the TSC although the profiler distrusts it: {}",
                    env.clock.reason()
                );
                tsc::calibrate_tsc(
                    TscRead::Rdtsc,
                    tsc::CALIBRATION_WINDOWS,
                    tsc::CALIBRATION_WINDOW,
                )
                .map_or(1.0, |c| c.ticks_per_ns)
            }
        };
        results.tsc_hz = Some(tpn * 1e9);
        (tpn, Source::ProbeTsc)
    } else {
        (1.0, Source::ProbeInstant)
    };
    let cost = crate::profile::insitu::calibrate_probe_cost(ticks_per_ns);
    let reps: Vec<String> = cost
        .repetition_medians_ns
        .iter()
        .map(|m| format!("{m:.2}"))
        .collect();
    println!(
        "probe cost: {:.2} ns per boundary (one clock read + one span store), min of the medians [{}] ns of {} repetitions x {} samples x {} back-to-back boundaries",
        cost.per_boundary_ns,
        reps.join(", "),
        reps.len(),
        cost.samples_per_repetition,
        cost.boundaries_per_sample
    );
    results.probe_overhead_ns_per_boundary = Some(cost.per_boundary_ns);
    Ok(Some(ProbeSetup {
        ticks_per_ns,
        source,
        cost,
    }))
}

#[cfg(not(feature = "probes"))]
fn probe_setup(
    _env: &ProfileEnvironment,
    _args: &ProfileArgs,
    _results: &mut ProfileResults,
) -> anyhow::Result<Option<ProbeSetup>> {
    println!(
        "NOTE: built without the `probes` feature: no in-situ phase times. The table shows \
         isolated-phase wall time and counters only. Rebuild with `--features probes`."
    );
    Ok(None)
}

fn counter_values(r: &[CounterReading]) -> Vec<CounterValue> {
    r.iter()
        .map(|c| CounterValue {
            name: c.name.to_owned(),
            value: c.value,
            unavailable: c.unavailable.clone(),
            source: Source::PerfEvent,
        })
        .collect()
}

fn profile_config(
    label: &str,
    threads: u32,
    caps: u32,
    iso: &[IsolatedResult],
    probes: &Option<ProbeSetup>,
    args: &ProfileArgs,
) -> anyhow::Result<ProfileConfig> {
    let iso_of = |phase: Phase| {
        let v = isolated::representative(phase.name(), threads, caps)?;
        iso.iter().find(|r| r.name == v.name())
    };
    let mut cfg = ProfileConfig {
        policy: label.to_owned(),
        threads,
        capabilities: caps,
        phases: Vec::new(),
        end_to_end_ns: None,
        phase_sum_ns: None,
        phase_sum_corrected_ns: None,
        end_to_end_unprobed_ns: None,
        skipped: None,
    };
    match probes {
        #[cfg(feature = "probes")]
        Some(p) => {
            eprintln!(
                "profile: {label}, {threads} thread(s) on {caps} cap(s): {} probed calls per thread",
                args.calls
            );
            let run = crate::profile::insitu::run(
                threads,
                args.calls,
                p.ticks_per_ns,
                p.cost.per_boundary_ns,
            )?;
            anyhow::ensure!(
                run.wrong_results == 0,
                "{} wrong results",
                run.wrong_results
            );
            let b = &run.breakdown;
            cfg.end_to_end_ns = Some(b.end_to_end_mean_ns);
            cfg.phase_sum_ns = Some(b.phase_sum_ns);
            cfg.phase_sum_corrected_ns = Some(b.corrected_phase_sum_ns);
            cfg.end_to_end_unprobed_ns = Some(run.unprobed.mean_ns);
            for s in &b.phases {
                cfg.phases.push(PhaseProfile {
                    phase: s.phase,
                    ns_median: Some(s.ns_median),
                    ns_p99: Some(s.ns_p99),
                    share: Some(s.share),
                    ns_mean: Some(s.sum_term_ns),
                    ns_median_corrected: Some(s.corrected_median_ns),
                    ns_mean_corrected: Some(s.corrected_sum_term_ns),
                    correction_exceeds_raw: s.correction_exceeds_raw,
                    time_source: p.source,
                    counters: iso_of(s.phase).map_or(Vec::new(), |r| counter_values(&r.per_op)),
                });
            }
            print_run_summary(label, caps, &run);
        }
        _ => {
            let _ = args;
            for &phase in &Phase::ALL {
                let Some(r) = iso_of(phase) else { continue };
                cfg.phases.push(PhaseProfile {
                    phase,
                    ns_median: Some(r.wall_ns_per_op),
                    ns_p99: None,
                    share: None,
                    ns_mean: None,
                    ns_median_corrected: None,
                    ns_mean_corrected: None,
                    correction_exceeds_raw: false,
                    time_source: Source::Driver,
                    counters: counter_values(&r.per_op),
                });
            }
            println!(
                "\n{label}, {threads} thread(s), {caps} cap(s): isolated phases only (no probes)"
            );
        }
    }
    Ok(cfg)
}

/// The in-situ run's end-to-end, agreement and inflation figures, before its table.
#[cfg(feature = "probes")]
fn print_run_summary(label: &str, caps: u32, run: &crate::profile::insitu::InSituRun) {
    let b = &run.breakdown;
    let u = &run.unprobed;
    println!(
        "\n{label}, {} thread(s), {caps} cap(s): {} probed calls ({} rounds, interleaved with as many unprobed); {} boundaries/call; {} spans dropped; {} calls above p99 left out of the means",
        run.threads,
        b.calls,
        crate::profile::insitu::ROUNDS,
        b.boundaries_per_call,
        run.dropped_spans,
        b.trimmed_calls
    );
    println!(
        "  end-to-end probed   mean {:.1} ns (median {:.1}, p99 {:.1}); phase sum {:.1} ns = {:.1} % of it (gap {:+.1} %: stub code before rts_lock / after rts_unlock, driver clock read)",
        b.end_to_end_mean_ns,
        b.end_to_end_median_ns,
        b.end_to_end_p99_ns,
        b.phase_sum_ns,
        b.phase_sum_ns / b.end_to_end_mean_ns * 100.0,
        b.gap_pct
    );
    println!(
        "  end-to-end unprobed mean {:.1} ns (median {:.1}, p99 {:.1}; threads not recording); probes inflate the call by {:+.1} ns ({:+.1} %, {:.2} ns per boundary)",
        u.mean_ns,
        u.median_ns,
        u.p99_ns,
        run.inflation_ns,
        run.inflation_pct,
        run.inflation_per_boundary_ns
    );
    println!(
        "  corrected phase sum {:.1} ns ({:.2} ns off each span) = {:.1} % of the unprobed mean (gap {:+.1} %)",
        b.corrected_phase_sum_ns,
        b.boundary_ns,
        b.corrected_phase_sum_ns / u.mean_ns * 100.0,
        run.corrected_gap_pct
    );
    if run.threads > caps {
        println!(
            "  {} threads on {caps} cap(s): the difference also holds any change in capability waits (end-to-end p99 {:.0} ns), not the probe cost alone",
            run.threads, b.end_to_end_p99_ns
        );
    } else if run.inflation_per_boundary_ns < b.boundary_ns {
        println!(
            "  the corrected figures are lower bounds: the calibrated cost ({:.2} ns, boundaries back to back) exceeds what a boundary adds in situ ({:.2} ns), where the clock read overlaps the call's own work",
            b.boundary_ns, run.inflation_per_boundary_ns
        );
    }
    println!(
        "  Note: spans are contiguous from rts_lock's entry to rts_unlock's exit; the C stub's code and the FFI call between two rts_* calls are in the phase that follows them."
    );
}

fn fmt_opt(v: Option<f64>, width: usize) -> String {
    v.map_or(format!("{:>width$}", "-"), |v| format!("{v:>width$.1}"))
}

fn print_config(
    cfg: &ProfileConfig,
    iso: &[IsolatedResult],
    counts: Option<&Vec<PhaseCount>>,
    probes: Option<&ProbeSetup>,
) {
    let names: Vec<&str> = iso
        .first()
        .map(|r| {
            r.per_op
                .iter()
                .filter(|c| c.value.is_some())
                .map(|c| c.name)
                .collect()
        })
        .unwrap_or_default();
    let mut head = format!(
        "{:<14} {:>9} {:>9} {:>9} {:>9} {:>9} {:>6} {:<13}",
        "phase", "ns mean", "ns med", "ns p99", "corr mean", "corr med ", "share", "time source"
    );
    for n in &names {
        head += &format!(" {:>16}", format!("{n}/op"));
    }
    head += &format!(" {:>10}  counters source", "Ir/op");
    println!("{head}");
    for p in &cfg.phases {
        let flag = if p.correction_exceeds_raw { "*" } else { " " };
        let mut line = format!(
            "{:<14} {} {} {} {}{flag} {}{flag} {:>6} {:<13}",
            p.phase.name(),
            fmt_opt(p.ns_mean, 9),
            fmt_opt(p.ns_median, 9),
            fmt_opt(p.ns_p99, 9),
            fmt_opt(p.ns_mean_corrected, 8),
            fmt_opt(p.ns_median_corrected, 8),
            p.share
                .map_or("-".to_owned(), |s| format!("{:.1}%", s * 100.0)),
            p.time_source.label()
        );
        for n in &names {
            let v = p
                .counters
                .iter()
                .find(|c| c.name == *n)
                .and_then(|c| c.value);
            line += &format!(" {}", fmt_opt(v, 16));
        }
        let iso_name = isolated::representative(p.phase.name(), cfg.threads, cfg.capabilities);
        let ir = iso_name.and_then(|i| {
            counts?
                .iter()
                .find(|c| c.name == i.name())
                .map(|c| c.ir_per_op)
        });
        line += &format!(" {}", fmt_opt(ir, 10));
        let src = match iso_name {
            Some(i) if !p.counters.is_empty() => format!(
                "isolated {} + perf-event{}",
                i.name(),
                if ir.is_some() { " / callgrind" } else { "" }
            ),
            _ => "-".to_owned(),
        };
        println!("{line}  {src}");
    }
    if let (Some(e2e), Some(sum)) = (cfg.end_to_end_ns, cfg.phase_sum_ns) {
        println!(
            "{:<14} {sum:>9.1} {:>19} {:>9}  (= {:.1} % of the probed end-to-end mean {e2e:.1} ns)",
            "phase sum",
            "",
            fmt_opt(cfg.phase_sum_corrected_ns, 9),
            sum / e2e * 100.0,
        );
        println!(
            "  corr = minus {:.2} ns (calibrated probe cost) per span; * = the correction exceeds the raw figure (clamped at 0)",
            probes.map_or(0.0, probe_cost_ns)
        );
    }
    if let Some(first) = iso.first() {
        for c in first.per_op.iter().filter(|c| c.value.is_none()) {
            println!(
                "  unavailable: {:<16} {}",
                c.name,
                c.unavailable.as_deref().unwrap_or("?")
            );
        }
    }
    println!(
        "isolated variants (wall ns/op and counters per op around {}-op batches):",
        first_iters(iso)
    );
    for r in iso {
        let ctr: Vec<String> = r
            .per_op
            .iter()
            .filter_map(|c| Some(format!("{} {:.3}", c.name, c.value?)))
            .collect();
        let ir = counts
            .and_then(|cs| cs.iter().find(|c| c.name == r.name))
            .map(|c| c.ir_per_op);
        println!(
            "  {:<18} {:>9.1} ns/op  Ir/op {}  {}",
            r.name,
            r.wall_ns_per_op,
            fmt_opt(ir, 8),
            ctr.join(", ")
        );
    }
    if let Some(c) = counts.and_then(|cs| cs.iter().find(|c| c.name == callgrind::WHOLE_CALL)) {
        println!(
            "  {:<18} {:>9} ns/op  Ir/op {:>8.1}  (whole call under callgrind)",
            c.name, "-", c.ir_per_op
        );
    }
}

fn first_iters(iso: &[IsolatedResult]) -> u64 {
    iso.first().map_or(0, |r| r.iters)
}

#[cfg(feature = "probes")]
fn probe_cost_ns(p: &ProbeSetup) -> f64 {
    p.cost.per_boundary_ns
}

#[cfg(not(feature = "probes"))]
fn probe_cost_ns(p: &ProbeSetup) -> f64 {
    let _ = (p.ticks_per_ns, p.source);
    0.0
}
