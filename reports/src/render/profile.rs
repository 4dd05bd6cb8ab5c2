//! The phase section, from `callin-bench profile`: stacked per-phase bars per policy and thread
//! configuration (per-call means), per-phase time and counter tables, the probe's cost and how
//! much it inflates a call, phase-sum agreement, callgrind counts.
//!
//! Means, not medians, drive the bars and the sum: the probe clock steps in whole ticks (10 ns
//! on the development VM), so a short phase's median is one step, and `gc`'s median is over the
//! calls that collected only. A phase's mean per call (calls without it count 0) is unbiased and
//! amortises `gc` over every call (`callin_bench::profile::breakdown`).

use super::{chart_or_reason, not_measured, source_note, with_input};
use crate::chart::{self, StackedBar, phase_colour};
use crate::format;
use crate::input::Input;
use crate::schema::{CallgrindCounts, Phase, PhaseProfile, ProfileConfig, ProfileResults, System};
use maud::{Markup, html};
use std::collections::BTreeSet;

/// The agreement between the sum of phases and the end-to-end time the profiler aims for.
const PHASE_SUM_TOLERANCE: f64 = 0.15;

/// What the probes' spans cover (Note [contiguous spans] in `rts_core::probes`).
const CONTIGUOUS_SPANS_NOTE: &str = "Note: spans are contiguous from rts_lock's entry to rts_unlock's exit, one clock read per \
    phase boundary; the C stub's code and the FFI return/call between two rts_* calls are counted in the phase that \
    follows them (e.g. mk_int includes returning from rts_lock). Only the stub's code before rts_lock and after \
    rts_unlock, and the driver's own clock read, lie outside every span: that is the gap between the phase sum and \
    the end-to-end mean.";

pub(super) fn phases(profile: &Input<ProfileResults>) -> Markup {
    with_input(profile, phases_body)
}

fn config_label(c: &ProfileConfig) -> String {
    let t = if c.threads == 1 { "thread" } else { "threads" };
    let k = if c.capabilities == 1 { "cap" } else { "caps" };
    format!(
        "{}: {} {t} / {} {k}",
        c.system.title(),
        c.threads,
        c.capabilities
    )
}

/// Whether every phase of `c` carries a per-call mean (profiles written before means had only
/// medians; their bars fall back to medians and say so).
fn has_means(c: &ProfileConfig) -> bool {
    !c.phases.is_empty() && c.phases.iter().all(|ph| ph.ns_mean.is_some())
}

fn phases_body(p: &ProfileResults) -> Markup {
    let measured: Vec<&ProfileConfig> = p
        .configs
        .iter()
        .filter(|c| c.skipped.is_none() && !c.phases.is_empty())
        .collect();
    let bars: Vec<StackedBar> = measured.iter().map(|c| stacked_bar(c)).collect();
    let any_median_bar = measured.iter().any(|c| !has_means(c));
    html! {
        (probe_summary(p))
        @if measured.is_empty() {
            (not_measured("the profile has no measured configuration"))
        } @else {
            ul.legend {
                @for ph in Phase::ALL { li { span.swatch style={ "background:" (phase_colour(ph)) } {} (ph.name()) } }
            }
            (chart_or_reason(chart::stacked_phase_bars(&bars)))
            (source_note("Each bar: one policy and thread configuration, from in-situ probes. Segments are each phase's \
                mean ns per call over all probed calls (calls without the phase count 0, so gc is amortised over every \
                call) as a share of the sum of phase means; the label gives that sum. Each span includes one probe \
                boundary (cost above), so the bars show the probed call."))
            @if any_median_bar {
                p.note { "Bars marked “medians” come from a profile without per-call means: their segments are \
                    per-phase medians (one clock step for short phases, gc's median over the calls that collected), \
                    which do not add up to a call." }
            }
            p.note { (CONTIGUOUS_SPANS_NOTE) }
        }
        (super::groups::groups_section(p))
        h3 { "Phases of rts-core (probes, isolated counters)" }
        @for c in p.configs.iter().filter(|c| c.system != System::RealGhc) { (config_block(c, p)) }
        h3 { "Deterministic instruction counts (callgrind)" }
        (callgrind(p))
    }
}

fn stacked_bar(c: &ProfileConfig) -> StackedBar {
    let means = has_means(c);
    let statistic = if means { "mean" } else { "medians" };
    StackedBar {
        label: format!("{}, {statistic}", config_label(c)),
        segments: c
            .phases
            .iter()
            .filter_map(|ph| {
                let v = if means { ph.ns_mean } else { ph.ns_median };
                v.map(|m| (ph.phase, m))
            })
            .collect(),
    }
}

fn probe_summary(p: &ProfileResults) -> Markup {
    html! {
        p {
            "Probe cost: "
            @match p.probe_overhead_ns_per_boundary {
                Some(v) => { strong { (format::ns(v)) " per phase boundary" } " (one clock read and one span store, calibrated back to back)" },
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

fn config_block(c: &ProfileConfig, p: &ProfileResults) -> Markup {
    html! {
        h3 { (config_label(c)) }
        @match &c.skipped {
            Some(why) => (not_measured(why)),
            None => {
                (agreement(c))
                (inflation(c, p.probe_overhead_ns_per_boundary))
                (phase_table(c, callgrind_for(p, c.system)))
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
                    "Sum of the per-phase means per call " strong { (format::ns(sum)) }
                    " vs the end-to-end mean of the same probed calls " strong { (format::ns(e2e)) }
                    ": " (format::signed_percent(diff)) " — "
                    @if within { span.improvement { "within" } } @else { span.regression { "outside" } }
                    " the ±" (format::percent(PHASE_SUM_TOLERANCE)) " agreement target (both with probes on; "
                    "the gap is the stub's code outside rts_lock … rts_unlock and the driver's clock read)."
                }
            }
        }
        _ => not_measured("phase sum or end-to-end time missing; agreement not checked"),
    }
}

/// What the probes add to a call, and the probe-cost-corrected phase sum.
fn inflation(c: &ProfileConfig, boundary_ns: Option<f64>) -> Markup {
    let (Some(probed), Some(unprobed)) = (c.end_to_end_ns, c.end_to_end_unprobed_ns) else {
        return not_measured(
            "no unprobed end-to-end mean in the profile; how much the probes inflate a call is unknown",
        );
    };
    let added = probed - unprobed;
    let taken_off = c
        .phase_sum_ns
        .zip(c.phase_sum_corrected_ns)
        .map(|(s, k)| s - k);
    html! {
        p {
            "Without probes (same calls on threads that do not record): end-to-end mean " strong { (format::ns(unprobed)) }
            "; the probes add " strong { (format::ns(added)) } " per call ("
            (if unprobed > 0.0 { format::signed_percent(added / unprobed) } else { format::MISSING.to_owned() }) ")."
            @if let Some(corrected) = c.phase_sum_corrected_ns {
                " Phase sum with the probe cost"
                @if let Some(b) = boundary_ns { " (" (format::ns(b)) ")" }
                " taken off every span: " strong { (format::ns(corrected)) }
                @if unprobed > 0.0 { " = " (format::percent(corrected / unprobed)) " of the unprobed mean" }
                "."
            }
        }
        @if c.threads > c.capabilities {
            p.note { (c.threads) " threads on " (c.capabilities) " capabilit" (if c.capabilities == 1 { "y" } else { "ies" })
                ": the probed − unprobed difference also holds any change in capability waits, not the probe cost alone." }
        } @else if let Some(off) = taken_off.filter(|off| *off > added) {
            p.note { "The corrected figures are lower bounds: the correction takes " (format::ns(off))
                " off the phase sum, more than the " (format::ns(added)) " the probes add to a call in situ, where a clock \
                read overlaps the call's own work." }
        }
    }
}

/// Counters with a value in at least one phase, in first-seen order.
fn available_counter_names(c: &ProfileConfig) -> Vec<String> {
    let mut seen = BTreeSet::new();
    let mut names = Vec::new();
    for k in c.phases.iter().flat_map(|ph| &ph.counters) {
        if k.value.is_some() && seen.insert(k.name.clone()) {
            names.push(k.name.clone());
        }
    }
    names
}

/// Counters without a value in some phase, with the reason (one line per distinct reason).
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

fn callgrind_for(p: &ProfileResults, system: System) -> Option<&CallgrindCounts> {
    p.callgrind.iter().find(|c| c.system == system)
}

fn phase_table(c: &ProfileConfig, ir: Option<&CallgrindCounts>) -> Markup {
    let names = available_counter_names(c);
    let unavailable = unavailable_counters(c);
    let flagged = c.phases.iter().any(|ph| ph.correction_exceeds_raw);
    html! {
        table {
            tr {
                th { "phase" } th { "mean" } th { "median" } th { "p99" }
                th { "mean − probe cost" } th { "median − probe cost" }
                th { "share of phase sum" } th { "time source" }
                @for n in &names { th { (n) " per op (" (counter_unit(n)) ")" } }
                @if ir.is_some() { th { "callgrind Ir/op" } }
            }
            @for ph in &c.phases { (phase_row(ph, &names, ir)) }
        }
        @if flagged {
            p.note { "* the probe-cost correction exceeds the raw figure (shown clamped at 0): this phase is below \
                what the probes resolve." }
        }
        @if !unavailable.is_empty() {
            p.note { "Unavailable counters (no column above when unavailable in every phase):" }
            ul { @for (name, why) in &unavailable { li.note { code { (name) } ": " (why) } } }
        }
        (source_note("Times: ns per call from the in-situ probes. Mean over all probed calls (calls without the phase \
            count 0; calls whose time without gc exceeds the 99th percentile are left out); median and p99 over all calls, \
            for gc over the calls that collected only. “− probe cost”: the calibrated cost of one boundary taken off per \
            span (apply has two), clamped at 0. Share = phase mean ÷ sum of phase means. Counters: phase-isolated \
            batches divided per operation (source beside each value); “not measured”: the phase has no isolated run. \
            callgrind Ir/op: instructions per operation of the isolated phase, single-threaded, under valgrind."))
    }
}

/// The unit of a perf counter's value: the clock events count ns, the rest count events.
fn counter_unit(name: &str) -> &'static str {
    match name {
        "task-clock" | "cpu-clock" => "ns",
        _ => "events",
    }
}

/// A corrected figure, starred when the correction exceeded the raw value and clamped it to 0
/// (the flag covers mean and median; only the clamped one is starred).
fn corrected(value: Option<f64>, exceeds: bool) -> Markup {
    let clamped = exceeds && value == Some(0.0);
    html! { td.num { (format::opt_ns(value)) @if clamped { " *" } } }
}

fn phase_row(ph: &PhaseProfile, names: &[String], ir: Option<&CallgrindCounts>) -> Markup {
    html! {
        tr {
            td { span.swatch style={ "background:" (phase_colour(ph.phase)) } {} (ph.phase.name()) }
            td.num { (format::opt_ns(ph.ns_mean)) }
            td.num { (format::opt_ns(ph.ns_median)) }
            td.num { (format::opt_ns(ph.ns_p99)) }
            (corrected(ph.ns_mean_corrected, ph.correction_exceeds_raw))
            (corrected(ph.ns_median_corrected, ph.correction_exceeds_raw))
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
            @if let Some(counts) = ir { td.num { (instructions(counts, ph.phase)) } }
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
            tr { th { "phase" } @for c in &p.callgrind { th { (c.system.title()) " (instructions per call)" } } }
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
        (source_note("Source: valgrind callgrind, single-threaded, instructions retired (Ir) per call per phase; machine-independent. \
            “—”: the profiler has no isolated run for that phase."))
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
