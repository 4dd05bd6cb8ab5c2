//! `callin-bench run`: the end-to-end matrix outside criterion — rts-core default, rts-core `ghc`
//! mode and the real GHC RTS over threads × capabilities, plus the floor and the policy
//! ablation — written as one `RunResults` JSON and printed as a table.
//!
//! Each cell runs the driver for a fixed time per repetition (so unfairness under
//! oversubscription shows as unequal call counts) and keeps the median and spread over
//! repetitions. Real-GHC cells run in child processes (this binary, `run --ghc-child`), one per
//! capability count, because GHC's RTS starts once per process with its `-N`.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use callin_reports::schema::{
    self, AblationRow, Cell, Fairness, FloorMeasurement, GhcInfo, LatencyPercentiles, RunResults,
    Spread, System,
};
use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};
use rts_core::PolicySet;

use crate::driver::{self, DriverConfig, RunMode, RunReport};
use crate::ghc::{self, Availability};
use crate::matrix::{self, ablation, floor, manifest, rts_core_cell};
use crate::pin::PinPolicy;
use crate::results::write_json;
use crate::stats::{self, spread};

/// Arguments of `callin-bench run`.
#[derive(Debug, Args)]
pub struct RunArgs {
    /// Short run (about a minute on 2 cores): 3 repetitions of 150 ms per cell.
    #[arg(long)]
    pub quick: bool,
    /// Thread counts, comma-separated (default 1,2,4).
    #[arg(long, value_delimiter = ',', value_parser = positive)]
    pub threads: Option<Vec<u32>>,
    /// Capability counts, comma-separated (default 1,2).
    #[arg(long, value_delimiter = ',', value_parser = positive)]
    pub caps: Option<Vec<u32>>,
    /// Systems to measure, comma-separated: default, ghc-mode, real-ghc (default all).
    #[arg(long, value_delimiter = ',')]
    pub systems: Option<Vec<System>>,
    /// Repetitions per cell (default 3 with --quick, else 7).
    #[arg(long, value_parser = positive)]
    pub reps: Option<u32>,
    /// Milliseconds each repetition of a cell runs (default 150 with --quick, else 1000).
    #[arg(long, value_parser = positive)]
    pub cell_ms: Option<u32>,
    /// Skip the policy ablation.
    #[arg(long)]
    pub no_ablation: bool,
    /// Skip the floor measurements.
    #[arg(long)]
    pub no_floor: bool,
    /// Where to write the results JSON.
    #[arg(long, default_value_os_t = crate::paths::result_file(callin_reports::input::RUN_FILE))]
    pub out: PathBuf,
    /// Internal: measure real-GHC cells in this process (one --caps value) and print them as
    /// JSON on stdout. Used by the parent run.
    #[arg(long, hide = true)]
    pub ghc_child: bool,
}

fn positive(s: &str) -> Result<u32, String> {
    match s.trim().parse::<u32>() {
        Ok(0) => Err("must be at least 1".into()),
        Ok(n) => Ok(n),
        Err(_) => Err(format!("{s:?} is not a positive integer")),
    }
}

/// The resolved plan of a run.
#[derive(Debug, Clone)]
struct Plan {
    threads: Vec<u32>,
    caps: Vec<u32>,
    systems: Vec<System>,
    reps: u32,
    cell: Duration,
    quick: bool,
}

impl Plan {
    fn from_args(a: &RunArgs) -> Plan {
        let mut systems: Vec<System> = match &a.systems {
            Some(s) => s.clone(),
            None => System::ALL.to_vec(),
        };
        systems.sort();
        systems.dedup();
        let sorted = |v: &Option<Vec<u32>>, d: &[u32]| {
            let mut v = v.clone().unwrap_or_else(|| d.to_vec());
            v.sort_unstable();
            v.dedup();
            v
        };
        Plan {
            threads: sorted(&a.threads, matrix::THREADS),
            caps: sorted(&a.caps, matrix::CAPABILITIES),
            systems,
            reps: a.reps.unwrap_or(if a.quick { 3 } else { 7 }),
            cell: Duration::from_millis(u64::from(a.cell_ms.unwrap_or(if a.quick {
                150
            } else {
                1000
            }))),
            quick: a.quick,
        }
    }

    fn driver_config(&self, threads: u32) -> DriverConfig {
        DriverConfig {
            threads: threads as usize,
            mode: RunMode::Duration(self.cell),
            pin: PinPolicy::CoresRoundRobin,
            sample_every: 64,
            warmup_calls: 1000,
            ..DriverConfig::default()
        }
    }

    fn config_map(&self) -> BTreeMap<String, String> {
        let list = |v: &[u32]| v.iter().map(u32::to_string).collect::<Vec<_>>().join(",");
        BTreeMap::from([
            ("quick".into(), self.quick.to_string()),
            ("threads".into(), list(&self.threads)),
            ("capabilities".into(), list(&self.caps)),
            ("repetitions".into(), self.reps.to_string()),
            (
                "ms_per_repetition".into(),
                self.cell.as_millis().to_string(),
            ),
            ("pinning".into(), PinPolicy::CoresRoundRobin.label().into()),
            (
                "ns_per_call".into(),
                "sum of per-thread wall time / calls (what one caller sees)".into(),
            ),
            (
                "rts_core_stats".into(),
                rts_core::stats::ENABLED.to_string(),
            ),
        ])
    }
}

/// Entry point of `callin-bench run`.
pub fn main(args: &RunArgs) -> anyhow::Result<()> {
    let plan = Plan::from_args(args);
    if args.ghc_child {
        return ghc_child(&plan);
    }
    let started = Instant::now();
    let ghc = GhcBaseline::probe(plan.systems.contains(&System::RealGhc));
    if let Some(why) = ghc.skip_reason() {
        eprintln!("callin-bench run: real GHC skipped: {why}");
    }
    let n_ablation = if args.no_ablation {
        0
    } else {
        ablation::sets().len() + 1
    };
    let n_floor = if args.no_floor { 0 } else { floor::OPS.len() };
    let n_cells = plan.systems.len() * plan.threads.len() * plan.caps.len();
    let bar = progress_bar((n_cells + n_ablation + n_floor) as u64);
    let mut cells = Vec::new();
    for (system, policy) in [
        (System::Default, PolicySet::lockfree()),
        (System::GhcMode, PolicySet::ghc()),
    ] {
        if plan.systems.contains(&system) {
            cells.extend(rts_core_cells(&plan, system, policy, &bar)?);
        }
    }
    if plan.systems.contains(&System::RealGhc) {
        cells.extend(real_ghc_cells(&plan, &ghc, args, &bar));
    }
    let floor = if args.no_floor {
        Vec::new()
    } else {
        floor_measurements(&plan, &bar)
    };
    let ablation = if args.no_ablation {
        Vec::new()
    } else {
        ablation_rows(&plan, &bar)?
    };
    bar.finish_and_clear();
    let manifest = manifest::collect(ghc.info(), plan.config_map());
    let results = RunResults {
        schema_version: schema::SCHEMA_VERSION,
        run_id: run_id(&manifest.date, manifest.git_commit.as_deref()),
        manifest,
        cells,
        floor,
        ablation,
    };
    write_json(&args.out, &results)?;
    print!("{}", render_table(&results, &plan));
    println!(
        "wrote {} ({} cells, {:.1} s)",
        args.out.display(),
        results.cells.len(),
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

fn progress_bar(len: u64) -> ProgressBar {
    let bar = ProgressBar::new(len);
    bar.set_style(
        ProgressStyle::with_template("{spinner} [{elapsed_precise}] {bar:30} {pos}/{len} {msg}")
            .expect("static template")
            .progress_chars("=> "),
    );
    bar
}

// ------------------------------------------------------------------------------ cells

fn rts_core_cells(
    plan: &Plan,
    system: System,
    policy: PolicySet,
    bar: &ProgressBar,
) -> anyhow::Result<Vec<Cell>> {
    let mut out = Vec::new();
    for &caps in &plan.caps {
        let cells =
            rts_core_cell::with_instance(policy, caps, || -> anyhow::Result<Vec<Cell>> {
                let mut v = Vec::new();
                for &threads in &plan.threads {
                    bar.set_message(format!(
                        "{} {}",
                        system.title(),
                        matrix::config_id(threads, caps)
                    ));
                    let mut reps = Vec::new();
                    for _ in 0..plan.reps {
                        reps.push(rts_core_cell::drive(&plan.driver_config(threads))?);
                    }
                    v.push(cell_from_reps(system, &policy.label(), threads, caps, reps));
                    bar.inc(1);
                }
                Ok(v)
            })??;
        out.extend(cells);
    }
    Ok(out)
}

/// ns per call as one caller sees it: the sum of per-thread wall times over all calls.
fn caller_ns_per_call(r: &RunReport) -> f64 {
    let wall: u64 = r.threads.iter().map(|t| t.wall_ns).sum();
    wall as f64 / r.total_calls.max(1) as f64
}

fn cell_from_reps(
    system: System,
    policy: &str,
    threads: u32,
    caps: u32,
    mut reps: Vec<(RunReport, BTreeMap<String, f64>)>,
) -> Cell {
    let ns: Vec<f64> = reps.iter().map(|(r, _)| caller_ns_per_call(r)).collect();
    let ns = spread(&ns);
    let mut cps: Vec<f64> = reps.iter().map(|(r, _)| r.calls_per_sec).collect();
    cps.sort_by(f64::total_cmp);
    let wrong: u64 = reps
        .iter()
        .map(|(r, _)| r.wrong_results + r.warmup_wrong_results)
        .sum();
    // The repetition closest to the median stands for latency, fairness and counters.
    reps.sort_by(|a, b| {
        let d = |r: &RunReport| (caller_ns_per_call(r) - ns.median).abs();
        d(&a.0).total_cmp(&d(&b.0))
    });
    let (rep, stats) = reps.swap_remove(0);
    let per_thread_calls: Vec<u64> = rep.threads.iter().map(|t| t.calls).collect();
    Cell {
        system,
        threads,
        capabilities: caps,
        policy: policy.to_owned(),
        pinning: Some(rep.config.pin.to_owned()),
        calls_per_thread: Some(rep.total_calls / u64::from(threads.max(1))),
        ns_per_call: Some(ns),
        calls_per_sec: Some(stats::median(&cps)),
        latency: Some(LatencyPercentiles {
            p50_ns: rep.latency.p50_ns as f64,
            p99_ns: rep.latency.p99_ns as f64,
            p999_ns: rep.latency.p999_ns as f64,
            samples: rep.latency.samples,
            sample_every: u64::from(rep.config.sample_every),
        }),
        fairness: Some(Fairness {
            min_max_ratio: rep.fairness.min_over_max_calls,
            per_thread_calls,
        }),
        wrong_results: Some(wrong),
        model_stats: (!stats.is_empty()).then_some(stats),
        skipped: None,
    }
}

fn skipped_cell(system: System, policy: &str, threads: u32, caps: u32, why: &str) -> Cell {
    Cell {
        system,
        threads,
        capabilities: caps,
        policy: policy.to_owned(),
        pinning: None,
        calls_per_thread: None,
        ns_per_call: None,
        calls_per_sec: None,
        latency: None,
        fairness: None,
        wrong_results: None,
        model_stats: None,
        skipped: Some(why.to_owned()),
    }
}

// ------------------------------------------------------------------------------ real GHC

/// Whether the real-GHC baseline can run, and its version.
enum GhcBaseline {
    NotRequested,
    Ready { version: String },
    Unavailable { reason: String },
}

impl GhcBaseline {
    fn probe(requested: bool) -> GhcBaseline {
        if !requested {
            return GhcBaseline::NotRequested;
        }
        match ghc::artifact::ensure_built() {
            Ok(Availability::Ready(a)) => GhcBaseline::Ready {
                version: a.ghc_version,
            },
            Ok(Availability::Skipped { reason }) => GhcBaseline::Unavailable { reason },
            Err(e) => GhcBaseline::Unavailable {
                reason: e.to_string(),
            },
        }
    }

    fn skip_reason(&self) -> Option<&str> {
        match self {
            GhcBaseline::Unavailable { reason } => Some(reason),
            _ => None,
        }
    }

    fn info(&self) -> GhcInfo {
        match self {
            GhcBaseline::Ready { version } => GhcInfo {
                version: Some(version.clone()),
                absent_reason: None,
            },
            GhcBaseline::Unavailable { reason } => GhcInfo {
                version: None,
                absent_reason: Some(reason.clone()),
            },
            GhcBaseline::NotRequested => {
                match manifest::command_line("ghc", &["--numeric-version"]) {
                    Some(v) => GhcInfo {
                        version: Some(v),
                        absent_reason: None,
                    },
                    None => GhcInfo {
                        version: None,
                        absent_reason: Some("ghc not found on PATH".into()),
                    },
                }
            }
        }
    }
}

fn ghc_policy(caps: u32) -> String {
    format!("ghc -N{caps}")
}

/// One child process per capability count; its cells, or skipped cells saying why.
fn real_ghc_cells(plan: &Plan, ghc: &GhcBaseline, args: &RunArgs, bar: &ProgressBar) -> Vec<Cell> {
    let mut out = Vec::new();
    for &caps in &plan.caps {
        bar.set_message(format!("real GHC -N{caps} (child process)"));
        let got = match ghc {
            GhcBaseline::Ready { .. } => run_ghc_child(plan, caps, args),
            GhcBaseline::Unavailable { reason } => Err(anyhow::anyhow!("{reason}")),
            GhcBaseline::NotRequested => Ok(Vec::new()),
        };
        match got {
            Ok(cells) => out.extend(cells),
            Err(e) => {
                let why = format!("{e:#}");
                out.extend(
                    plan.threads
                        .iter()
                        .map(|&t| skipped_cell(System::RealGhc, &ghc_policy(caps), t, caps, &why)),
                );
            }
        }
        bar.inc(plan.threads.len() as u64);
    }
    out
}

fn run_ghc_child(plan: &Plan, caps: u32, args: &RunArgs) -> anyhow::Result<Vec<Cell>> {
    let exe = std::env::current_exe().context("locating this executable for the GHC child")?;
    let threads = plan
        .threads
        .iter()
        .map(u32::to_string)
        .collect::<Vec<_>>()
        .join(",");
    let mut cmd = Command::new(exe);
    cmd.args(["run", "--ghc-child", "--systems", "real-ghc"])
        .args(["--caps", &caps.to_string(), "--threads", &threads])
        .args(["--reps", &plan.reps.to_string()])
        .args(["--cell-ms", &plan.cell.as_millis().to_string()]);
    if args.quick {
        cmd.arg("--quick");
    }
    let out = cmd.output().context("starting the GHC child process")?;
    if !out.status.success() {
        let err = String::from_utf8_lossy(&out.stderr);
        let tail: Vec<&str> = err.lines().rev().take(5).collect();
        bail!(
            "GHC child (-N{caps}) failed ({}): {}",
            out.status,
            tail.into_iter().rev().collect::<Vec<_>>().join(" | ")
        );
    }
    serde_json::from_slice(&out.stdout).context("parsing the GHC child's cells")
}

/// Child side: start GHC's RTS with `-N<caps>` and print the measured cells as JSON.
fn ghc_child(plan: &Plan) -> anyhow::Result<()> {
    let [caps] = plan.caps[..] else {
        bail!("--ghc-child needs exactly one --caps value");
    };
    let rts = ghc::start(&[&format!("-N{caps}")])?;
    let target = rts.c_function();
    let mut cells = Vec::new();
    for &threads in &plan.threads {
        let mut reps = Vec::new();
        for _ in 0..plan.reps {
            let r = driver::run(target, &plan.driver_config(threads))?;
            reps.push((r, BTreeMap::new()));
        }
        cells.push(cell_from_reps(
            System::RealGhc,
            &ghc_policy(caps),
            threads,
            caps,
            reps,
        ));
    }
    println!("{}", serde_json::to_string(&cells)?);
    Ok(())
}

// ------------------------------------------------------------------------------ floor

fn floor_measurements(plan: &Plan, bar: &ProgressBar) -> Vec<FloorMeasurement> {
    floor::OPS
        .iter()
        .map(|op| {
            bar.set_message(format!("floor {}", op.id));
            let budget = plan.cell / 4;
            let iters = calibrate(op.run, budget);
            let ns: Vec<f64> = (0..plan.reps)
                .map(|_| {
                    let t0 = Instant::now();
                    (op.run)(iters);
                    t0.elapsed().as_nanos() as f64 / iters as f64
                })
                .collect();
            bar.inc(1);
            FloorMeasurement {
                name: op.name.to_owned(),
                ns_per_op: spread(&ns),
            }
        })
        .collect()
}

/// Iterations of `run` that take about `budget`.
fn calibrate(run: fn(u64), budget: Duration) -> u64 {
    let mut iters = 1000u64;
    loop {
        let t0 = Instant::now();
        run(iters);
        let el = t0.elapsed();
        if el >= budget / 8 || iters >= 1 << 34 {
            let per = el.as_secs_f64() / iters as f64;
            return ((budget.as_secs_f64() / per.max(1e-12)) as u64).clamp(1000, 1 << 34);
        }
        iters *= 4;
    }
}

// ------------------------------------------------------------------------------ ablation

/// (threads, capabilities) the ablation measures: one caller, and two on two capabilities.
const ABLATION_CONFIGS: &[(u32, u32)] = &[(1, 1), (2, 2)];

fn measure_policy(
    plan: &Plan,
    policy: PolicySet,
    threads: u32,
    caps: u32,
) -> anyhow::Result<Spread> {
    rts_core_cell::with_instance(policy, caps, || -> anyhow::Result<Spread> {
        let mut ns = Vec::new();
        for _ in 0..plan.reps {
            let (r, _) = rts_core_cell::drive(&plan.driver_config(threads))?;
            if r.wrong_results + r.warmup_wrong_results > 0 {
                bail!("policy {policy}: {} wrong results", r.wrong_results);
            }
            ns.push(caller_ns_per_call(&r));
        }
        Ok(spread(&ns))
    })?
}

fn ablation_rows(plan: &Plan, bar: &ProgressBar) -> anyhow::Result<Vec<AblationRow>> {
    let plan = Plan {
        cell: plan.cell.min(Duration::from_millis(100)),
        ..plan.clone()
    };
    bar.set_message("ablation: default set");
    let mut base = BTreeMap::new();
    for &(t, c) in ABLATION_CONFIGS {
        base.insert(
            (t, c),
            measure_policy(&plan, PolicySet::lockfree(), t, c)?.median,
        );
    }
    bar.inc(1);
    let mut rows = Vec::new();
    for set in ablation::sets() {
        bar.set_message(format!("ablation: {}", set.id()));
        for &(threads, caps) in ABLATION_CONFIGS {
            let row = match measure_policy(&plan, set.policy, threads, caps) {
                Ok(s) => AblationRow {
                    switched: set.axis.name().to_owned(),
                    direction: set.direction,
                    threads,
                    capabilities: caps,
                    ratio_to_default: Some(s.median / base[&(threads, caps)]),
                    ns_per_call: Some(s),
                    skipped: None,
                },
                Err(e) => AblationRow {
                    switched: set.axis.name().to_owned(),
                    direction: set.direction,
                    threads,
                    capabilities: caps,
                    ns_per_call: None,
                    ratio_to_default: None,
                    skipped: Some(format!("{e:#}")),
                },
            };
            rows.push(row);
        }
        bar.inc(1);
    }
    Ok(rows)
}

// ------------------------------------------------------------------------------ output

fn run_id(date: &str, commit: Option<&str>) -> String {
    let stamp = date.replace(':', "-");
    match commit {
        Some(c) => format!("{stamp}-{}", &c[..c.len().min(7)]),
        None => stamp,
    }
}

/// `12.3 ns`, `1.23 µs`, `4.5 ms`.
fn fmt_ns(ns: f64) -> String {
    if ns < 1e3 {
        format!("{ns:.1} ns")
    } else if ns < 1e6 {
        format!("{:.2} µs", ns / 1e3)
    } else {
        format!("{:.2} ms", ns / 1e6)
    }
}

fn median_of(cells: &[Cell], system: System, threads: u32, caps: u32) -> Result<f64, String> {
    let cell = cells
        .iter()
        .find(|c| c.system == system && c.threads == threads && c.capabilities == caps);
    match cell {
        None => Err("-".into()),
        Some(c) => match (&c.ns_per_call, &c.skipped) {
            (Some(s), _) => Ok(s.median),
            (None, _) => Err("skipped".into()),
        },
    }
}

/// The threads × caps table: ns per call (median) per system and the ratios to default.
fn render_table(r: &RunResults, plan: &Plan) -> String {
    let cols = [System::Default, System::GhcMode, System::RealGhc];
    let mut rows: Vec<[String; 6]> = vec![[
        "threads x caps".into(),
        System::Default.title().into(),
        System::GhcMode.title().into(),
        System::RealGhc.title().into(),
        "ghc-mode/default".into(),
        "real-GHC/default".into(),
    ]];
    for &caps in &plan.caps {
        for &threads in &plan.threads {
            let v: Vec<Result<f64, String>> = cols
                .iter()
                .map(|&s| median_of(&r.cells, s, threads, caps))
                .collect();
            let cell =
                |x: &Result<f64, String>| x.as_ref().map_or_else(Clone::clone, |&n| fmt_ns(n));
            let ratio = |a: &Result<f64, String>| match (a, &v[0]) {
                (Ok(a), Ok(d)) if *d > 0.0 => format!("{:.2}x", a / d),
                _ => "-".into(),
            };
            let mut name = format!("{threads} x {caps}");
            if threads > caps {
                name.push_str(" (oversubscribed)");
            }
            rows.push([
                name,
                cell(&v[0]),
                cell(&v[1]),
                cell(&v[2]),
                ratio(&v[1]),
                ratio(&v[2]),
            ]);
        }
    }
    let widths: Vec<usize> = (0..6)
        .map(|i| rows.iter().map(|r| r[i].chars().count()).max().unwrap_or(0))
        .collect();
    let mut out = String::from("ns per call (median over repetitions; per caller)\n");
    for (n, row) in rows.iter().enumerate() {
        let line: Vec<String> = row
            .iter()
            .zip(&widths)
            .enumerate()
            .map(|(i, (s, &w))| {
                let pad = w - s.chars().count();
                if i == 0 {
                    format!("{s}{}", " ".repeat(pad))
                } else {
                    format!("{}{s}", " ".repeat(pad))
                }
            })
            .collect();
        out.push_str(line.join("  ").trim_end());
        out.push('\n');
        if n == 0 {
            out.push_str(&"-".repeat(widths.iter().sum::<usize>() + 10));
            out.push('\n');
        }
    }
    for c in r.cells.iter().filter(|c| c.skipped.is_some()).take(1) {
        out.push_str(&format!(
            "{} skipped: {}\n",
            c.system.title(),
            c.skipped.as_deref().unwrap_or("")
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positive_rejects_zero_and_words() {
        assert_eq!(positive("3"), Ok(3));
        assert!(positive("0").is_err());
        assert!(positive("x").unwrap_err().contains("\"x\""));
    }

    #[test]
    fn run_ids_are_one_path_component() {
        let id = run_id("2025-01-31T12:00:00Z", Some("1a2b3c4d5e"));
        assert_eq!(id, "2025-01-31T12-00-00Z-1a2b3c4");
        assert!(!id.contains('/') && !id.contains(':'));
    }
}
