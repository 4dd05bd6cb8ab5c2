//! The phase section, from `callin-bench profile`: stacked per-phase bars per policy and thread
//! configuration, per-phase counter tables, probe overhead, phase-sum agreement, callgrind counts.

use super::{chart_or_reason, not_measured, source_note, with_input};
use crate::chart::{self, StackedBar, phase_colour};
use crate::format;
use crate::input::Input;
use crate::schema::{CallgrindCounts, Phase, PhaseProfile, ProfileConfig, ProfileResults};
use maud::{Markup, html};
use std::collections::BTreeSet;

/// The agreement between the sum of phases and the end-to-end time the profiler aims for.
const PHASE_SUM_TOLERANCE: f64 = 0.15;

pub(super) fn phases(profile: &Input<ProfileResults>) -> Markup {
    with_input(profile, phases_body)
}

fn config_label(c: &ProfileConfig) -> String {
    let t = if c.threads == 1 { "thread" } else { "threads" };
    let k = if c.capabilities == 1 { "cap" } else { "caps" };
    format!("{}: {} {t} / {} {k}", c.policy, c.threads, c.capabilities)
}

fn phases_body(p: &ProfileResults) -> Markup {
    let measured: Vec<&ProfileConfig> = p.configs.iter().filter(|c| c.skipped.is_none()).collect();
    let bars: Vec<StackedBar> = measured.iter().map(|c| stacked_bar(c)).collect();
    html! {
        (probe_summary(p))
        @if measured.is_empty() {
            (not_measured("the profile has no measured configuration"))
        } @else {
            ul.legend {
                @for ph in Phase::ALL { li { span.swatch style={ "background:" (phase_colour(ph)) } {} (ph.name()) } }
            }
            (chart_or_reason(chart::stacked_phase_bars(&bars)))
            (source_note("Each bar: one policy and thread configuration; segments are each phase's median ns per call as a share of the sum of phase medians (total in the label), from in-situ probes (source per phase in the tables below), in call order."))
        }
        @for c in &p.configs { (config_block(c)) }
        h3 { "Deterministic instruction counts (callgrind)" }
        (callgrind(p))
    }
}

fn stacked_bar(c: &ProfileConfig) -> StackedBar {
    StackedBar {
        label: config_label(c),
        segments: c
            .phases
            .iter()
            .filter_map(|ph| ph.ns_median.map(|m| (ph.phase, m)))
            .collect(),
    }
}

fn probe_summary(p: &ProfileResults) -> Markup {
    html! {
        p {
            "Probe overhead: "
            @match p.probe_overhead_ns_per_boundary {
                Some(v) => strong { (format::ns(v)) " per phase boundary" },
                None => span.missing { "not measured" },
            }
            " · TSC frequency: "
            @match p.tsc_hz {
                Some(hz) => { (format!("{:.3} GHz", hz / 1e9)) " (calibrated against the monotonic clock)" },
                None => { "not used (probes timed with Instant, or no TSC)" },
            }
        }
    }
}

fn config_block(c: &ProfileConfig) -> Markup {
    html! {
        h3 { (config_label(c)) }
        @match &c.skipped {
            Some(why) => (not_measured(why)),
            None => {
                (agreement(c))
                (phase_table(c))
            }
        }
    }
}

fn agreement(c: &ProfileConfig) -> Markup {
    match (c.phase_sum_ns, c.end_to_end_ns) {
        (Some(sum), Some(e2e)) if e2e > 0.0 => {
            let diff = (sum - e2e) / e2e;
            let within = diff.abs() <= PHASE_SUM_TOLERANCE;
            html! {
                p {
                    "Sum of phase medians " strong { (format::ns(sum)) } " vs end-to-end median "
                    strong { (format::ns(e2e)) } ": " (format::signed_percent(diff)) " — "
                    @if within { span.improvement { "within" } } @else { span.regression { "outside" } }
                    " the ±" (format::percent(PHASE_SUM_TOLERANCE)) " agreement target."
                }
            }
        }
        _ => not_measured("phase sum or end-to-end time missing; agreement not checked"),
    }
}

fn counter_names(c: &ProfileConfig) -> Vec<String> {
    let mut seen = BTreeSet::new();
    let mut names = Vec::new();
    for ph in &c.phases {
        for k in &ph.counters {
            if seen.insert(k.name.clone()) {
                names.push(k.name.clone());
            }
        }
    }
    names
}

fn unavailable_counters(c: &ProfileConfig) -> Vec<(String, String)> {
    let mut set = BTreeSet::new();
    for k in c.phases.iter().flat_map(|ph| &ph.counters) {
        if k.value.is_none() {
            let why = k
                .unavailable
                .clone()
                .unwrap_or_else(|| "no reason recorded".into());
            set.insert((k.name.clone(), why));
        }
    }
    set.into_iter().collect()
}

fn phase_table(c: &ProfileConfig) -> Markup {
    let names = counter_names(c);
    let unavailable = unavailable_counters(c);
    html! {
        table {
            tr {
                th { "phase" } th { "median" } th { "p99" } th { "share" } th { "time source" }
                @for n in &names { th { (n) " per call (" (counter_unit(n)) ")" } }
            }
            @for ph in &c.phases { (phase_row(ph, &names)) }
        }
        @if !unavailable.is_empty() {
            p.note { "Unavailable counters:" }
            ul { @for (name, why) in &unavailable { li.note { code { (name) } ": " (why) } } }
        }
        (source_note("Times in ns per call (median and p99 over probed calls); share = phase median ÷ sum of phase medians. \
            Counters: phase-isolated batches divided per operation; the source of each value is given beside it."))
    }
}

/// The unit of a perf counter's value: the clock events count ns, the rest count events.
fn counter_unit(name: &str) -> &'static str {
    match name {
        "task-clock" | "cpu-clock" => "ns",
        _ => "events",
    }
}

fn phase_row(ph: &PhaseProfile, names: &[String]) -> Markup {
    html! {
        tr {
            td { span.swatch style={ "background:" (phase_colour(ph.phase)) } {} (ph.phase.name()) }
            td.num { (format::opt_ns(ph.ns_median)) }
            td.num { (format::opt_ns(ph.ns_p99)) }
            td.num { (ph.share.map_or(format::MISSING.to_owned(), format::percent)) }
            td { (ph.time_source.label()) }
            @for n in names {
                @match ph.counters.iter().find(|k| &k.name == n) {
                    Some(k) => @match k.value {
                        Some(v) => td.num { (format::per_call(v)) " " span.spread { "(" (k.source.label()) ")" } },
                        None => td.nm { "unavailable" },
                    },
                    None => td.nm { "not measured" },
                }
            }
        }
    }
}

fn callgrind(p: &ProfileResults) -> Markup {
    if p.callgrind.is_empty() {
        let why = p
            .callgrind_skipped
            .as_deref()
            .unwrap_or("the profile has no callgrind counts");
        return not_measured(why);
    }
    html! {
        table {
            tr { th { "phase" } @for c in &p.callgrind { th { (c.policy) " (instructions per call)" } } }
            @for ph in Phase::ALL {
                tr {
                    td { (ph.name()) }
                    @for c in &p.callgrind { td.num { (instructions(c, ph)) } }
                }
            }
            tr {
                td { "identical across two runs" }
                @for c in &p.callgrind {
                    td { @match c.identical_across_runs { Some(true) => "yes", Some(false) => "NO", None => "not checked" } }
                }
            }
        }
        (source_note("Source: valgrind callgrind, single-threaded, instructions retired (Ir) per call per phase; machine-independent."))
    }
}

fn instructions(c: &CallgrindCounts, ph: Phase) -> String {
    c.phases
        .iter()
        .find(|p| p.phase == ph)
        .map_or(format::MISSING.to_owned(), |p| {
            format::per_call(p.instructions)
        })
}
