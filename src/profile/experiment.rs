//! The profile experiment behind `callin-bench profile`: owns the plan (systems × cells, sizes),
//! running every view of every cell and assembling `profile.json`
//! (`callin_reports::schema::ProfileResults`):
//! - rts-core systems, per capability count: isolated phases with counters ([`super::isolated`]),
//!   per cell the in-situ probes (feature `probes`, [`super::insitu`]) rolled up into groups;
//! - every system, per cell, in a child: the plain call with per-thread counters and sampling
//!   ([`super::cell`]); for the real GHC also the API spans of the wrapped baseline;
//! - callgrind per system ([`super::callgrind`]), with `--callgrind`.
//!
//! Each view of each cell is filled or says why it is not (a failed child is the cell's
//! `skipped`, never a missing row).

use std::collections::BTreeMap;
use std::path::PathBuf;

use anyhow::Context;
use callin_reports::schema::{
    CallgrindCounts, CounterValue, GroupInstructions, GroupProfile, Phase, PhaseGroup,
    PhaseInstructions, PhaseProfile, ProfileConfig, ProfileResults, SCHEMA_VERSION,
    SamplingSummary, Source, System,
};
use rts_core::scaffolding::phases::IsolatedPhase;
use rts_core::{Config, PolicySet};

use super::callgrind::{self, PhaseCount};
use super::cell::{self, CellJob, CellOutcome, JobKind};
use super::groups::GroupBreakdown;
use super::isolated::{self, IsolatedResult};
use super::{CounterReading, ProfileEnvironment, print};

/// Views disagree on a group when their shares differ by more than this factor.
pub const DISAGREEMENT_FACTOR: f64 = 2.0;

/// What to profile and how much.
#[derive(Debug, Clone)]
pub struct Plan {
    pub systems: Vec<System>,
    /// `(threads, capabilities)` cells, in order.
    pub cells: Vec<(u32, u32)>,
    /// Calls per thread of the probe, span and counter runs.
    pub calls: u64,
    /// Operations per isolated-phase counter batch.
    pub iters: u64,
    /// Length of each sampling run (ms).
    pub sample_ms: u64,
    pub callgrind: bool,
    pub callgrind_only: bool,
    pub callgrind_ops: u64,
    /// The binary the children run (sampling of rts-core needs one built without `probes`).
    pub unprobed_exe: PathBuf,
    /// Report the futex counter as unavailable (tests the degraded path).
    pub force_unavailable_counter: bool,
}

/// The rts-core policy set of an rts-core system.
pub fn policy_of(system: System) -> Option<PolicySet> {
    PolicySet::parse(system.policy_set()?).ok()
}

/// Run the plan; every view that ran is in the result.
pub fn run(plan: &Plan) -> anyhow::Result<ProfileResults> {
    let mut results = ProfileResults {
        schema_version: SCHEMA_VERSION,
        run_id: None,
        tsc_hz: None,
        probe_overhead_ns_per_boundary: None,
        configs: Vec::new(),
        callgrind: Vec::new(),
        callgrind_skipped: None,
    };
    let mut phase_counts = BTreeMap::new();
    if plan.callgrind || plan.callgrind_only {
        run_callgrind(plan, &mut results, &mut phase_counts)?;
    } else {
        results.callgrind_skipped = Some("not requested (run with --callgrind)".to_owned());
    }
    if plan.callgrind_only {
        print::print_callgrind(&phase_counts);
        return Ok(results);
    }
    let env = ProfileEnvironment::detect();
    println!("{env}");
    let probes = probe_setup(&env, &mut results)?;
    let ticks_per_ns = probes
        .as_ref()
        .map_or_else(|| env.clock.ticks_per_ns(), |p| p.ticks_per_ns);
    for &system in &plan.systems {
        let mut configs = match policy_of(system) {
            Some(policy) => rts_core_configs(plan, system, policy, &probes, &phase_counts)?,
            None => plan
                .cells
                .iter()
                .map(|&(t, c)| empty_config(system, t, c))
                .collect(),
        };
        for cfg in &mut configs {
            children(plan, cfg, ticks_per_ns);
            print::print_groups(cfg, callgrind_groups(&results, system));
        }
        results.configs.extend(configs);
    }
    Ok(results)
}

fn empty_config(system: System, threads: u32, caps: u32) -> ProfileConfig {
    ProfileConfig {
        system,
        threads,
        capabilities: caps,
        phases: Vec::new(),
        end_to_end_ns: None,
        phase_sum_ns: None,
        phase_sum_corrected_ns: None,
        end_to_end_unprobed_ns: None,
        skipped: None,
        groups: PhaseGroup::ALL.iter().map(|&g| empty_group(g)).collect(),
        spans_skipped: None,
        sampling: None,
        call_counters: Vec::new(),
    }
}

fn empty_group(group: PhaseGroup) -> GroupProfile {
    GroupProfile {
        group,
        span_ns_mean: None,
        span_ns_median: None,
        span_ns_p99: None,
        span_share: None,
        span_ns_mean_corrected: None,
        span_share_corrected: None,
        span_source: None,
        sample_share: None,
        sample_share_stderr: None,
        samples: None,
        sample_ns_per_call: None,
        sample_top_functions: Vec::new(),
        views_disagree: false,
    }
}

fn callgrind_groups(r: &ProfileResults, system: System) -> Option<&CallgrindCounts> {
    r.callgrind.iter().find(|c| c.system == system)
}

/// The child jobs of one cell (real GHC: API spans and the plain call; rts-core: the plain
/// call, sampled in a binary without probes), merged into `cfg`.
fn children(plan: &Plan, cfg: &mut ProfileConfig, ticks_per_ns: f64) {
    let dir = crate::paths::results_dir().join("profile-cells");
    let (system, threads, caps) = (cfg.system, cfg.threads, cfg.capabilities);
    let job = |kind| CellJob {
        system,
        kind,
        threads,
        caps,
        calls: plan.calls,
        sample_ms: plan.sample_ms,
        ticks_per_ns,
        force_unavailable_counter: plan.force_unavailable_counter,
    };
    eprintln!(
        "profile: {}, {} thread(s) on {} cap(s): plain call with counters and sampling (child)",
        cfg.system, cfg.threads, cfg.capabilities
    );
    match cell::run_in_child(&plan.unprobed_exe, &job(JobKind::Unprobed), &dir) {
        Ok(o) => merge_unprobed(cfg, &o),
        Err(e) => {
            let why = format!("plain-call child failed: {e:#}");
            eprintln!("profile: {why}");
            cfg.sampling = Some(skipped_sampling(why.clone()));
            if cfg.system == System::RealGhc {
                cfg.skipped = Some(why);
            }
        }
    }
    if cfg.system == System::RealGhc && cfg.skipped.is_none() {
        eprintln!(
            "profile: real-ghc, {} thread(s) on {} cap(s): API spans of the wrapped baseline (child)",
            cfg.threads, cfg.capabilities
        );
        let exe = std::env::current_exe().unwrap_or_else(|_| plan.unprobed_exe.clone());
        match cell::run_in_child(&exe, &job(JobKind::ApiSpans), &dir) {
            Ok(o) => merge_spans(cfg, &o),
            Err(e) => cfg.spans_skipped = Some(format!("API-span child failed: {e:#}")),
        }
    }
    mark_disagreement(cfg);
}

fn skipped_sampling(why: String) -> SamplingSummary {
    SamplingSummary {
        event: None,
        event_note: None,
        frequency_hz: None,
        includes_kernel: None,
        samples: None,
        lost: None,
        other_share: None,
        other_share_stderr: None,
        other_top_functions: Vec::new(),
        attribution: BTreeMap::new(),
        stripped_files: Vec::new(),
        skipped: Some(why),
    }
}

fn merge_unprobed(cfg: &mut ProfileConfig, o: &CellOutcome) {
    let Some(u) = &o.unprobed else { return };
    if cfg.system == System::RealGhc || cfg.end_to_end_unprobed_ns.is_none() {
        cfg.end_to_end_unprobed_ns = Some(u.ns_per_call);
    }
    match &u.counters {
        Ok(cs) => cfg.call_counters.extend(cs.iter().map(|c| CounterValue {
            name: c.name.clone(),
            value: c.per_call,
            unavailable: c.unavailable.clone(),
            source: Source::PerfEvent,
        })),
        Err(e) => cfg.call_counters.push(CounterValue {
            name: "context-switches".into(),
            value: None,
            unavailable: Some(e.clone()),
            source: Source::PerfEvent,
        }),
    }
    let ghc = |name: &str, v: Result<f64, String>| CounterValue {
        name: name.to_owned(),
        value: v.as_ref().ok().copied(),
        unavailable: v.err(),
        source: Source::GhcStats,
    };
    let s = &u.ghc_stats;
    cfg.call_counters.push(ghc(
        "bytes-allocated",
        s.as_ref().map(|s| s.bytes_allocated).map_err(Clone::clone),
    ));
    cfg.call_counters.push(ghc(
        "minor-collections",
        s.as_ref().map(|s| s.minor_gcs).map_err(Clone::clone),
    ));
    cfg.call_counters.push(ghc(
        "major-collections",
        s.as_ref().map(|s| s.major_gcs).map_err(Clone::clone),
    ));
    match &u.sampling {
        Err(e) => cfg.sampling = Some(skipped_sampling(e.clone())),
        Ok(s) => {
            for g in &s.groups {
                let row = group_row(cfg, g.group);
                row.sample_share = Some(g.share);
                row.sample_share_stderr = Some(g.share_stderr);
                row.samples = Some(g.samples);
                row.sample_ns_per_call = Some(g.share * u.ns_per_call);
                row.sample_top_functions = g.top_functions.clone();
            }
            cfg.sampling = Some(SamplingSummary {
                event: Some(s.event.clone()),
                event_note: s.event_note.clone(),
                frequency_hz: Some(s.frequency_hz),
                includes_kernel: Some(s.includes_kernel),
                samples: Some(s.samples),
                lost: Some(s.lost),
                other_share: Some(s.other.share),
                other_share_stderr: Some(s.other.share_stderr),
                other_top_functions: s.other.top_functions.clone(),
                attribution: s
                    .attribution
                    .iter()
                    .map(|(a, n)| (format!("{a:?}"), *n))
                    .collect(),
                stripped_files: s.stripped_files.clone(),
                skipped: None,
            });
        }
    }
}

fn group_row(cfg: &mut ProfileConfig, group: PhaseGroup) -> &mut GroupProfile {
    if let Some(i) = cfg.groups.iter().position(|g| g.group == group) {
        return &mut cfg.groups[i];
    }
    cfg.groups.push(empty_group(group));
    cfg.groups.sort_by_key(|g| g.group);
    let i = cfg
        .groups
        .iter()
        .position(|g| g.group == group)
        .expect("just pushed");
    &mut cfg.groups[i]
}

fn merge_spans(cfg: &mut ProfileConfig, o: &CellOutcome) {
    let Some(s) = &o.spans else { return };
    put_span_groups(cfg, &s.breakdown, Source::ApiSpan);
    cfg.end_to_end_ns = Some(s.recording_ns_per_call);
    cfg.phase_sum_ns = Some(s.breakdown.sum_ns);
    if cfg.system == System::RealGhc {
        cfg.phase_sum_corrected_ns =
            Some(s.breakdown.groups.iter().map(|g| g.ns_mean_corrected).sum());
    }
    if s.dropped > 0 {
        cfg.spans_skipped = Some(format!("{} spans dropped (buffers full)", s.dropped));
    }
    println!(
        "real-ghc, {} thread(s), {} cap(s): {} calls with API spans ({:.2} ns per boundary taken \
         off each span in the corrected figures); span sum {:.1} ns/call; wrapped library {:.1} \
         ns/call recording, {:.1} not recording; plain library {} ns/call",
        cfg.threads,
        cfg.capabilities,
        s.breakdown.calls,
        s.boundary_ns,
        s.breakdown.sum_ns,
        s.recording_ns_per_call,
        s.not_recording_ns_per_call,
        cfg.end_to_end_unprobed_ns
            .map_or("-".to_owned(), |v| format!("{v:.1}"))
    );
}

fn put_span_groups(cfg: &mut ProfileConfig, b: &GroupBreakdown, source: Source) {
    for g in &b.groups {
        let row = group_row(cfg, g.group);
        row.span_ns_mean = Some(g.ns_mean);
        row.span_ns_median = Some(g.ns_median);
        row.span_ns_p99 = Some(g.ns_p99);
        row.span_share = Some(g.share);
        row.span_ns_mean_corrected = Some(g.ns_mean_corrected);
        row.span_share_corrected = Some(g.share_corrected);
        row.span_source = Some(source);
    }
}

fn mark_disagreement(cfg: &mut ProfileConfig) {
    let spans: Vec<(PhaseGroup, f64)> = cfg
        .groups
        .iter()
        .filter_map(|g| Some((g.group, g.span_share_corrected.or(g.span_share)?)))
        .collect();
    let samples: Vec<(PhaseGroup, f64)> = cfg
        .groups
        .iter()
        .filter_map(|g| Some((g.group, g.sample_share?)))
        .collect();
    let bad = cell::disagreeing(&spans, &samples, DISAGREEMENT_FACTOR);
    for g in &mut cfg.groups {
        g.views_disagree = bad.contains(&g.group);
    }
}

// ---- rts-core: isolated phases and probes (per capability count) --------------------------

fn rts_core_configs(
    plan: &Plan,
    system: System,
    policy: PolicySet,
    probes: &Option<ProbeSetup>,
    callgrind_counts: &BTreeMap<System, Vec<PhaseCount>>,
) -> anyhow::Result<Vec<ProfileConfig>> {
    let mut caps_seen: Vec<u32> = plan.cells.iter().map(|&(_, c)| c).collect();
    caps_seen.dedup();
    let mut out = Vec::new();
    for caps in caps_seen {
        start_rts(policy, caps)?;
        eprintln!(
            "profile: {system}, {caps} cap(s): isolated phases, {} ops per batch",
            plan.iters
        );
        let iso = isolated::measure_phases(IsolatedPhase::ALL, plan.iters);
        let iso = iso.inspect_err(|_| {
            rts_core::hs_exit();
        })?;
        for &(threads, c) in &plan.cells {
            if c != caps {
                continue;
            }
            let cfg = rts_core_config(system, threads, caps, &iso, probes, plan.calls);
            let cfg = cfg.inspect_err(|_| {
                rts_core::hs_exit();
            })?;
            print::print_config(&cfg, &iso, callgrind_counts.get(&system), probes.as_ref());
            out.push(cfg);
        }
        rts_core::hs_exit();
    }
    out.sort_by_key(|c| {
        plan.cells
            .iter()
            .position(|&cell| cell == (c.threads, c.capabilities))
    });
    Ok(out)
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
    pub(crate) ticks_per_ns: f64,
    pub(crate) source: Source,
    #[cfg(feature = "probes")]
    pub(crate) cost: super::insitu::ProbeCost,
}

#[cfg(feature = "probes")]
fn probe_setup(
    env: &ProfileEnvironment,
    results: &mut ProfileResults,
) -> anyhow::Result<Option<ProbeSetup>> {
    use super::tsc::{self, ClockSource, TscRead};
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
    let cost = super::insitu::calibrate_probe_cost(ticks_per_ns);
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
    _results: &mut ProfileResults,
) -> anyhow::Result<Option<ProbeSetup>> {
    println!(
        "NOTE: built without the `probes` feature: no in-situ phase times for rts-core. The \
         table shows isolated-phase wall time and counters only. Rebuild with `--features probes`."
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

fn rts_core_config(
    system: System,
    threads: u32,
    caps: u32,
    iso: &[IsolatedResult],
    probes: &Option<ProbeSetup>,
    calls: u64,
) -> anyhow::Result<ProfileConfig> {
    let iso_of = |phase: Phase| {
        let v = isolated::representative(phase, threads, caps)?;
        iso.iter().find(|r| r.name == v.name())
    };
    let mut cfg = empty_config(system, threads, caps);
    match probes {
        #[cfg(feature = "probes")]
        Some(p) => {
            eprintln!(
                "profile: {system}, {threads} thread(s) on {caps} cap(s): {calls} probed calls per thread"
            );
            let run = super::insitu::run(threads, calls, p.ticks_per_ns, p.cost.per_boundary_ns)?;
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
            put_span_groups(&mut cfg, &run.groups, p.source);
            print::print_run_summary(system.name(), caps, &run);
        }
        _ => {
            let _ = calls;
            cfg.spans_skipped = Some(
                "built without the `probes` feature: no in-situ spans for rts-core".to_owned(),
            );
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
                "\n{system}, {threads} thread(s), {caps} cap(s): isolated phases only (no probes)"
            );
        }
    }
    Ok(cfg)
}

// ---- callgrind ----------------------------------------------------------------------------

fn run_callgrind(
    plan: &Plan,
    results: &mut ProfileResults,
    counts: &mut BTreeMap<System, Vec<PhaseCount>>,
) -> anyhow::Result<()> {
    if let Some(why) = callgrind::unavailable_reason() {
        eprintln!("callgrind skipped: {why}");
        results.callgrind_skipped = Some(why);
        return Ok(());
    }
    let dir = crate::paths::results_dir().join("callgrind");
    for &system in &plan.systems {
        eprintln!(
            "callgrind: {system}, 2 runs of one process each, {} ops per region",
            plan.callgrind_ops
        );
        match callgrind::count_system(&plan.unprobed_exe, system, plan.callgrind_ops, 2, &dir) {
            Ok(c) => {
                results.callgrind.push(CallgrindCounts {
                    system,
                    phases: schema_phases(&c.phases),
                    groups: c
                        .groups
                        .iter()
                        .map(|&(group, instructions)| GroupInstructions {
                            group,
                            instructions,
                        })
                        .collect(),
                    call_instructions: Some(c.call_ir_per_op),
                    identical_across_runs: Some(c.identical),
                    skipped: None,
                });
                counts.insert(system, c.phases);
            }
            Err(e) => {
                eprintln!("callgrind {system}: {e:#}");
                results.callgrind.push(CallgrindCounts {
                    system,
                    phases: Vec::new(),
                    groups: Vec::new(),
                    call_instructions: None,
                    identical_across_runs: None,
                    skipped: Some(format!("{e:#}")),
                });
            }
        }
    }
    Ok(())
}

/// The representative isolated count of each schema phase.
fn schema_phases(counts: &[PhaseCount]) -> Vec<PhaseInstructions> {
    Phase::ALL
        .iter()
        .filter_map(|&phase| {
            let iso = isolated::representative(phase, 1, 1)?;
            let c = counts.iter().find(|c| c.name == iso.name())?;
            Some(PhaseInstructions {
                phase,
                instructions: c.ir_per_op,
            })
        })
        .collect()
}

/// The default binary for the children: this one unless it was built with `probes` and a
/// `callin-bench` beside it exists (as `scripts/bench.sh` builds both).
pub fn default_unprobed_exe() -> anyhow::Result<PathBuf> {
    let me = std::env::current_exe().context("locating the callin-bench binary")?;
    if !cfg!(feature = "probes") {
        return Ok(me);
    }
    let sibling = me.with_file_name("callin-bench");
    Ok(if sibling != me && sibling.exists() {
        sibling
    } else {
        me
    })
}
