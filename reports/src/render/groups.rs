//! The phase-group view of `callin-bench profile`: per threads × caps cell, the three systems
//! side by side, group by group (the C API calls GHC's stub makes): stacked bars of each system's
//! span view and sampling view, a table with every figure's source and spread (span median and
//! p99, the binomial error of a sampled share, callgrind's Ir), the groups where span and
//! sampling shares differ by more than 2×, and the whole call's counters per call.

use super::{chart_or_reason, not_measured, source_note};
use crate::chart::{self, GroupBar, group_colour};
use crate::format;
use crate::schema::{GroupProfile, PhaseGroup, ProfileConfig, ProfileResults, System};
use maud::{Markup, html};

/// The cells of the profile, in first-seen order.
fn cells(p: &ProfileResults) -> Vec<(u32, u32)> {
    let mut v: Vec<(u32, u32)> = Vec::new();
    for c in &p.configs {
        if !v.contains(&(c.threads, c.capabilities)) {
            v.push((c.threads, c.capabilities));
        }
    }
    v
}

pub(super) fn groups_section(p: &ProfileResults) -> Markup {
    let cells = cells(p);
    html! {
        h3 { "Phase groups, three systems side by side" }
        p { "One group per C API call of the stub GHC generates (lock = rts_lock, eval = rts_evalIO / rts_inCall, \
            unlock = rts_unlock, …); rts-core's phases roll up into the same groups. Views: spans (rts-core: in-situ \
            probes; real GHC: wrappers of the baseline library's rts_* calls), sampling (perf events on the driver \
            threads of the plain call, nothing on the path; a sample's group is the C API call on its stack), \
            callgrind (instructions inside each C API call, single-threaded)." }
        ul.legend {
            @for g in PhaseGroup::ALL { li { span.swatch style={ "background:" (group_colour(g)) } {} (g.name()) } }
        }
        @if cells.is_empty() { (not_measured("the profile has no configuration")) }
        @for (t, k) in cells { (cell_block(p, t, k)) }
    }
}

fn configs_of(p: &ProfileResults, t: u32, k: u32) -> Vec<&ProfileConfig> {
    System::ALL
        .iter()
        .filter_map(|&s| {
            p.configs
                .iter()
                .find(|c| c.system == s && c.threads == t && c.capabilities == k)
        })
        .collect()
}

fn cell_block(p: &ProfileResults, t: u32, k: u32) -> Markup {
    let cs = configs_of(p, t, k);
    let mut bars = Vec::new();
    for c in &cs {
        let spans: Vec<(PhaseGroup, f64)> = c
            .groups
            .iter()
            .filter_map(|g| Some((g.group, g.span_ns_mean?)))
            .collect();
        if !spans.is_empty() {
            let src = c
                .groups
                .iter()
                .find_map(|g| g.span_source)
                .map_or("spans", |s| s.label());
            bars.push(GroupBar {
                label: format!("{} · {src}", c.system.title()),
                segments: spans,
            });
        }
        let sampled: Vec<(PhaseGroup, f64)> = c
            .groups
            .iter()
            .filter_map(|g| Some((g.group, g.sample_ns_per_call?)))
            .collect();
        if !sampled.is_empty() {
            bars.push(GroupBar {
                label: format!("{} · sampling", c.system.title()),
                segments: sampled,
            });
        }
    }
    html! {
        h4 { (t) " thread" @if t != 1 { "s" } " × " (k) " capabilit" (if k == 1 { "y" } else { "ies" }) }
        @if bars.is_empty() { (not_measured("no system has a span or sampling view in this cell")) }
        @else { (chart_or_reason(chart::stacked_group_bars(&bars))) }
        (group_table(p, &cs))
        (counter_table(&cs))
        @for c in &cs {
            @if let Some(why) = &c.skipped { p.note { (c.system.title()) ": not measured: " (why) } }
            @if let Some(why) = &c.spans_skipped { p.note { (c.system.title()) " spans: " (why) } }
            @if let Some(s) = &c.sampling {
                @match &s.skipped {
                    Some(why) => p.note { (c.system.title()) " sampling: not measured: " (why) },
                    None => p.note {
                        (c.system.title()) " sampling: " (s.event.as_deref().unwrap_or("?")) " at "
                        (s.frequency_hz.unwrap_or(0)) " Hz per thread, "
                        (if s.includes_kernel == Some(true) { "user and kernel" } else { "user only" }) ", "
                        (format::count(s.samples.unwrap_or(0))) " samples, " (s.lost.unwrap_or(0)) " lost"
                        @if let Some(n) = &s.event_note { " (" (n) ")" }
                        @if !s.stripped_files.is_empty() { "; stripped libraries (hidden functions unnamed): " (s.stripped_files.join(", ")) }
                    },
                }
            }
        }
        (source_note("Spans: mean ns per call (median / p99 beside it), share = group mean ÷ sum of group means. \
            Sampling: share of samples ± binomial standard error (samples), ns per call = share × the plain call's \
            end-to-end ns; \"other\" holds samples outside every C API call (the driver loop, the stub's prologue and \
            epilogue), listed by leaf function. ⚠: span and sampling shares differ by more than 2×. Sampling counts \
            CPU time only: time a thread sleeps (waiting for a capability) is in the spans, not in the samples."))
    }
}

fn group_of(c: &ProfileConfig, g: PhaseGroup) -> Option<&GroupProfile> {
    c.groups.iter().find(|x| x.group == g)
}

fn ir_of(p: &ProfileResults, s: System, g: PhaseGroup) -> Option<f64> {
    p.callgrind
        .iter()
        .find(|c| c.system == s)?
        .groups
        .iter()
        .find(|x| x.group == g)
        .map(|x| x.instructions)
}

fn group_table(p: &ProfileResults, cs: &[&ProfileConfig]) -> Markup {
    html! {
        table {
            tr {
                th rowspan="2" { "group" }
                @for c in cs { th colspan="4" { (c.system.title()) } }
            }
            tr {
                @for _c in cs { th { "spans ns/call" } th { "sampled share" } th { "sampled ns/call" } th { "callgrind Ir/call" } }
            }
            @for g in PhaseGroup::ALL {
                tr {
                    td { span.swatch style={ "background:" (group_colour(g)) } {} (g.name()) }
                    @for c in cs { (group_cells(p, c, g)) }
                }
            }
            tr {
                td { "other" }
                @for c in cs {
                    td.nm { "—" }
                    @match c.sampling.as_ref().and_then(|s| Some((s.other_share?, s.other_share_stderr?, s))) {
                        Some((share, err, s)) => td.num {
                            (format::percent(share)) " " span.spread { "± " (format::percent(err)) }
                            br; span.spread { (s.other_top_functions.iter().take(3).map(|(n, k)| format!("{n} ({k})")).collect::<Vec<_>>().join(", ")) }
                        },
                        None => td.nm { "not measured" },
                    }
                    td.nm { "—" } td.nm { "—" }
                }
            }
            tr {
                td { "call" }
                @for c in cs {
                    td.num { (format::opt_ns(c.phase_sum_ns)) " " span.spread { "(sum)" } }
                    td.num { "100 %" }
                    td.num { (format::opt_ns(c.end_to_end_unprobed_ns)) " " span.spread { "(plain call, driver)" } }
                    td.num { (p.callgrind.iter().find(|k| k.system == c.system).and_then(|k| k.call_instructions).map_or(format::MISSING.to_owned(), format::per_call)) }
                }
            }
        }
    }
}

fn group_cells(p: &ProfileResults, c: &ProfileConfig, g: PhaseGroup) -> Markup {
    let row = group_of(c, g);
    let flag = row.is_some_and(|r| r.views_disagree);
    html! {
        @match row.and_then(|r| Some((r.span_ns_mean?, r))) {
            Some((mean, r)) => td.num {
                (format::ns(mean)) @if flag { " ⚠" }
                br; span.spread { (r.span_source.map_or("", |s| s.label())) " med " (format::opt_ns(r.span_ns_median)) " p99 " (format::opt_ns(r.span_ns_p99)) }
            },
            None => td.nm { "not measured" },
        }
        @match row.and_then(|r| Some((r.sample_share?, r))) {
            Some((share, r)) => td.num {
                (format::percent(share)) @if flag { " ⚠" } " " span.spread { "± " (format::percent(r.sample_share_stderr.unwrap_or(0.0))) " (" (r.samples.unwrap_or(0)) ")" }
                @if !r.sample_top_functions.is_empty() {
                    br; span.spread { (r.sample_top_functions.iter().take(2).map(|(n, k)| format!("{n} ({k})")).collect::<Vec<_>>().join(", ")) }
                }
            },
            None => td.nm { "not measured" },
        }
        td.num { (format::opt_ns(row.and_then(|r| r.sample_ns_per_call))) }
        td.num { (ir_of(p, c.system, g).map_or(format::MISSING.to_owned(), format::per_call)) }
    }
}

fn counter_table(cs: &[&ProfileConfig]) -> Markup {
    let mut names: Vec<&str> = Vec::new();
    for c in cs {
        for k in &c.call_counters {
            if !names.contains(&k.name.as_str()) {
                names.push(&k.name);
            }
        }
    }
    if names.is_empty() {
        return html! {};
    }
    html! {
        table {
            tr { th { "per call" } @for c in cs { th { (c.system.title()) } } }
            @for n in &names {
                tr {
                    td { (n) }
                    @for c in cs {
                        @match c.call_counters.iter().find(|k| k.name == *n) {
                            Some(k) => @match k.value {
                                Some(v) => td.num { (format::per_call(v)) " " span.spread { "(" (k.source.label()) ")" } },
                                None => td.nm { "unavailable: " (k.unavailable.as_deref().unwrap_or("no reason recorded")) },
                            },
                            None => td.nm { "not measured" },
                        }
                    }
                }
            }
        }
    }
}
