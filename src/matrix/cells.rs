//! Cell statistics: owns what one measurement of one system in one round yields
//! ([`RoundResult`], the figure the paired rounds are made of) and how a cell's rounds become
//! its results ([`Cell`]: median and range over rounds, the per-round values every ratio is
//! computed from, and the round nearest the median for latency, fairness and counters).

use std::collections::BTreeMap;

use callin_reports::schema::{Cell, Fairness, LatencyPercentiles};
use serde::{Deserialize, Serialize};

use super::contender::Contender;
use crate::driver::RunReport;

/// One driver run of one system in one round.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RoundResult {
    /// ns per call as one caller sees it: the sum of per-thread wall times over all calls.
    pub ns_per_call: f64,
    pub calls_per_sec: f64,
    pub total_calls: u64,
    pub per_thread_calls: Vec<u64>,
    pub min_over_max_calls: f64,
    pub latency: LatencyPercentiles,
    /// Results that failed the check, timed and warm-up.
    pub wrong: u64,
    pub first_wrong: Option<String>,
    pub pinning: String,
    /// Model counters per call (rts-core with `stats`); empty for real GHC.
    pub model_stats: BTreeMap<String, f64>,
}

impl RoundResult {
    pub fn from_report(r: &RunReport, model_stats: BTreeMap<String, f64>) -> RoundResult {
        let wall: u64 = r.threads.iter().map(|t| t.wall_ns).sum();
        RoundResult {
            ns_per_call: wall as f64 / r.total_calls.max(1) as f64,
            calls_per_sec: r.calls_per_sec,
            total_calls: r.total_calls,
            per_thread_calls: r.threads.iter().map(|t| t.calls).collect(),
            min_over_max_calls: r.fairness.min_over_max_calls,
            latency: LatencyPercentiles {
                p50_ns: r.latency.p50_ns as f64,
                p99_ns: r.latency.p99_ns as f64,
                p999_ns: r.latency.p999_ns as f64,
                samples: r.latency.samples,
                sample_every: u64::from(r.config.sample_every),
            },
            wrong: r.wrong_results + r.warmup_wrong_results,
            first_wrong: r.first_wrong.map(|w| w.to_string()),
            pinning: r.config.pin.to_owned(),
            model_stats,
        }
    }
}

/// The policy column of a cell: the rts-core policy label, or `ghc -N<caps>` for real GHC.
fn policy_of(c: &Contender, caps: u32) -> String {
    match &c.variant {
        Some(_) => format!("ghc -N{caps}"),
        None => c.policy.clone(),
    }
}

/// The cell of `contender` at (threads, caps) from its rounds, in round order (≥ 1).
pub fn cell_from_rounds(c: &Contender, threads: u32, caps: u32, rounds: &[RoundResult]) -> Cell {
    let ns: Vec<f64> = rounds.iter().map(|r| r.ns_per_call).collect();
    let s = crate::stats::spread(&ns);
    let cps: Vec<f64> = rounds.iter().map(|r| r.calls_per_sec).collect();
    // The round closest to the median stands for latency, fairness and counters.
    let rep = rounds
        .iter()
        .min_by(|a, b| {
            (a.ns_per_call - s.median)
                .abs()
                .total_cmp(&(b.ns_per_call - s.median).abs())
        })
        .expect("at least one round");
    Cell {
        system: c.system,
        label: c.label.clone(),
        variant: c.variant.clone(),
        threads,
        capabilities: caps,
        policy: policy_of(c, caps),
        pinning: Some(rep.pinning.clone()),
        calls_per_thread: Some(rep.total_calls / u64::from(threads.max(1))),
        ns_per_call: Some(s),
        rounds_ns: ns,
        calls_per_sec: callin_reports::paired::median(&cps),
        latency: Some(rep.latency),
        fairness: Some(Fairness {
            min_max_ratio: rep.min_over_max_calls,
            per_thread_calls: rep.per_thread_calls.clone(),
        }),
        wrong_results: Some(rounds.iter().map(|r| r.wrong).sum()),
        model_stats: (!rep.model_stats.is_empty()).then(|| rep.model_stats.clone()),
        skipped: None,
    }
}

/// A cell that was not measured, saying why.
pub fn skipped_cell(c: &Contender, threads: u32, caps: u32, why: &str) -> Cell {
    Cell {
        system: c.system,
        label: c.label.clone(),
        variant: c.variant.clone(),
        threads,
        capabilities: caps,
        policy: policy_of(c, caps),
        pinning: None,
        calls_per_thread: None,
        ns_per_call: None,
        rounds_ns: Vec::new(),
        calls_per_sec: None,
        latency: None,
        fairness: None,
        wrong_results: None,
        model_stats: None,
        skipped: Some(why.to_owned()),
    }
}
