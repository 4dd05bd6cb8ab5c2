//! The criterion section: one block per bench group (a `[[bench]]` target; the first segment of
//! its benchmark ids, `concept/op/param`), each benchmark's latest estimate and a link to
//! criterion's own page. A group the main job ran without estimates says why.

use super::{not_measured, source_note};
use crate::criterion::CriterionBench;
use crate::format;
use crate::input::{Input, JobStep};
use maud::{Markup, html};

/// The group a benchmark belongs to: the first segment of its id.
fn group_of(bench: &CriterionBench) -> &str {
    bench.id.split('/').next().unwrap_or(&bench.id)
}

pub(super) fn links(
    criterion: &Input<Vec<CriterionBench>>,
    job_groups: &[&JobStep],
    href: &str,
) -> Markup {
    let benches = criterion.loaded().map_or(&[][..], Vec::as_slice);
    // The job's groups in job order, then any group found only in criterion's data.
    let mut groups: Vec<(&str, Option<&JobStep>)> = job_groups
        .iter()
        .filter_map(|s| s.criterion_group().map(|g| (g, Some(*s))))
        .collect();
    for b in benches {
        let g = group_of(b);
        if !groups.iter().any(|(known, _)| *known == g) {
            groups.push((g, None));
        }
    }
    if groups.is_empty() {
        let why = criterion
            .get()
            .err()
            .unwrap_or("criterion wrote no estimates");
        return not_measured(why);
    }
    html! {
        p { "Groups: "
            @for (g, _) in &groups { a href={ "#criterion-" (g) } { code { (g) } } " " } }
        @if benches.iter().any(|b| b.has_html_report) {
            p { "criterion's summary: " a href={ (href) "/report/index.html" } { (href) "/report/index.html" } }
        }
        @for (g, step) in &groups { (group_block(g, *step, benches, criterion, href)) }
        (source_note("Source: criterion new/estimates.json. Unit: ns for wall-time benchmarks; a group using a counter \
            Measurement (e.g. instructions) reports that counter instead. Per element = per iteration ÷ Throughput::Elements (median and mean alike, so the two columns compare)."))
    }
}

fn group_block(
    group: &str,
    step: Option<&JobStep>,
    benches: &[CriterionBench],
    criterion: &Input<Vec<CriterionBench>>,
    href: &str,
) -> Markup {
    let rows: Vec<&CriterionBench> = benches.iter().filter(|b| group_of(b) == group).collect();
    let failed = step.and_then(JobStep::absence_reason);
    html! {
        h3 id={ "criterion-" (group) } { "group " code { (group) } }
        @if let Some(s) = step {
            p.source { "main job step " code { (s.step) } ": " (format!("{:?}", s.status).to_lowercase())
                ", " (format!("{:.1}", s.seconds)) " s" }
        }
        @if let Some(why) = &failed {
            (not_measured(why))
        }
        @if rows.is_empty() {
            @if failed.is_none() {
                (not_measured(&match criterion.get() {
                    Err(why) => why.to_owned(),
                    Ok(_) => format!("criterion wrote no estimates for group {group}"),
                }))
            }
        } @else {
            table {
                tr { th { "benchmark id" } th { "median per element" } th { "95 % CI" } th { "mean per element" }
                     th { "elements / iteration" } th { "criterion page" } }
                @for b in rows { (bench_row(b, href)) }
            }
        }
    }
}

fn bench_row(b: &CriterionBench, href: &str) -> Markup {
    let (lo, hi) = b.median_ci_per_element();
    let ci_level = b.median.confidence_interval.confidence_level;
    html! {
        tr {
            td { code { (b.id) } }
            td.num { (format::ns(b.median_per_element())) }
            td.num { (format::ns(lo)) " – " (format::ns(hi)) " (" (format::percent(ci_level)) ")" }
            td.num { (format::ns(b.mean.point_estimate / b.elements_per_iter.unwrap_or(1).max(1) as f64)) }
            td.num { (b.elements_per_iter.map_or("not set".to_owned(), format::count)) }
            td {
                @if b.has_html_report { a href={ (href) "/" (b.report_page()) } { "report" } }
                @else { "no HTML page (criterion ran with --noplot, without html_reports, or --quick)" }
            }
        }
    }
}
