//! The profile's terminal output: the per-phase table of each rts-core configuration (probes,
//! isolated-phase counters, callgrind), the in-situ run's summary, callgrind's per-phase counts,
//! and the phase-group table that lines the three systems up (spans, sampling, callgrind,
//! counters), with the command's figures in the order the report shows them.

use callin_reports::schema::{CallgrindCounts, ProfileConfig};

use super::callgrind::{self, PhaseCount};
use super::experiment::ProbeSetup;
use super::isolated::{self, IsolatedResult};
use std::collections::BTreeMap;

/// The in-situ run's end-to-end, agreement and inflation figures, before its table.
#[cfg(feature = "probes")]
pub fn print_run_summary(label: &str, caps: u32, run: &super::insitu::InSituRun) {
    let b = &run.breakdown;
    let u = &run.unprobed;
    println!(
        "\n{label}, {} thread(s), {caps} cap(s): {} probed calls ({} rounds, interleaved with as many unprobed); {} boundaries/call; {} spans dropped; {} calls above p99 left out of the means",
        run.threads,
        b.calls,
        super::insitu::ROUNDS,
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

pub fn print_config(
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
        let iso_name = isolated::representative(p.phase, cfg.threads, cfg.capabilities);
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

/// callgrind's per-region counts of each system (the `--callgrind-only` output).
pub fn print_callgrind(counts: &BTreeMap<callin_reports::schema::System, Vec<PhaseCount>>) {
    for (system, cs) in counts {
        println!("\ncallgrind Ir per operation, {system}, 1 thread, 1 capability:");
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

fn opt(v: Option<f64>, width: usize, prec: usize) -> String {
    v.map_or(format!("{:>width$}", "-"), |v| format!("{v:>width$.prec$}"))
}

/// The phase-group table of one configuration: spans (probes or API spans), sampling, callgrind,
/// with the whole call's counters and the sampling run's "other" row below it.
pub fn print_groups(cfg: &ProfileConfig, ir: Option<&CallgrindCounts>) {
    println!(
        "\n{} {} thread(s) x {} cap(s): phase groups (unprobed end-to-end {} ns/call)",
        cfg.system,
        cfg.threads,
        cfg.capabilities,
        opt(cfg.end_to_end_unprobed_ns, 1, 1).trim()
    );
    let src = cfg
        .groups
        .iter()
        .find_map(|g| g.span_source)
        .map_or("-", |s| s.label());
    println!(
        "  {:<13} {:>10} {:>10} {:>10} {:>8} {:>8} | {:>8} {:>7} {:>8} {:>10} | {:>10}  top sampled functions",
        "group",
        format!("{src} mean"),
        "median",
        "p99",
        "share",
        "corr.sh",
        "sampled",
        "±",
        "samples",
        "ns/call",
        "Ir/call"
    );
    for g in &cfg.groups {
        let ir = ir
            .and_then(|c| c.groups.iter().find(|x| x.group == g.group))
            .map(|x| x.instructions);
        let top: Vec<String> = g
            .sample_top_functions
            .iter()
            .take(3)
            .map(|(n, k)| format!("{n} ({k})"))
            .collect();
        println!(
            "  {:<13} {} {} {} {} {} | {} {} {} {} | {}  {}{}",
            g.group.name(),
            opt(g.span_ns_mean, 10, 1),
            opt(g.span_ns_median, 10, 1),
            opt(g.span_ns_p99, 10, 1),
            opt(g.span_share.map(|s| s * 100.0), 7, 1) + "%",
            opt(g.span_share_corrected.map(|s| s * 100.0), 7, 1) + "%",
            opt(g.sample_share.map(|s| s * 100.0), 7, 1) + "%",
            opt(g.sample_share_stderr.map(|s| s * 100.0), 7, 2),
            g.samples
                .map_or(format!("{:>8}", "-"), |n| format!("{n:>8}")),
            opt(g.sample_ns_per_call, 10, 1),
            opt(ir, 10, 1),
            top.join(", "),
            if g.views_disagree {
                "  [views disagree > 2x]"
            } else {
                ""
            }
        );
    }
    if let Some(s) = &cfg.sampling {
        match &s.skipped {
            Some(why) => println!("  sampling: not measured: {why}"),
            None => {
                let top: Vec<String> = s
                    .other_top_functions
                    .iter()
                    .map(|(n, k)| format!("{n} ({k})"))
                    .collect();
                println!(
                    "  {:<13} {:>63} {} {} {:>8} | other: {}",
                    "other",
                    "",
                    opt(s.other_share.map(|v| v * 100.0), 7, 1) + "%",
                    opt(s.other_share_stderr.map(|v| v * 100.0), 7, 2),
                    s.samples
                        .unwrap_or(0)
                        .saturating_sub(cfg.groups.iter().filter_map(|g| g.samples).sum::<u64>()),
                    top.join(", ")
                );
                println!(
                    "  sampling: {} at {} Hz per thread{}, {} samples, {} lost; attribution {:?}{}{}",
                    s.event.as_deref().unwrap_or("?"),
                    s.frequency_hz.unwrap_or(0),
                    if s.includes_kernel == Some(true) {
                        " (user + kernel)"
                    } else {
                        " (user only)"
                    },
                    s.samples.unwrap_or(0),
                    s.lost.unwrap_or(0),
                    s.attribution,
                    s.event_note
                        .as_ref()
                        .map_or(String::new(), |n| format!("; {n}")),
                    if s.stripped_files.is_empty() {
                        String::new()
                    } else {
                        format!("; stripped: {}", s.stripped_files.join(", "))
                    }
                );
            }
        }
    }
    if let Some(why) = &cfg.spans_skipped {
        println!("  spans: {why}");
    }
    let counters: Vec<String> = cfg
        .call_counters
        .iter()
        .map(|c| match c.value {
            Some(v) => format!("{} {v:.4} ({})", c.name, c.source.label()),
            None => format!(
                "{} unavailable: {}",
                c.name,
                c.unavailable.as_deref().unwrap_or("?")
            ),
        })
        .collect();
    if !counters.is_empty() {
        println!("  per call: {}", counters.join("; "));
    }
    if let Some(why) = &cfg.skipped {
        println!("  not measured: {why}");
    }
}
