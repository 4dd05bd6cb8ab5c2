//! The criterion section: each benchmark's latest estimate and a link to criterion's own page.

use super::{source_note, with_input};
use crate::criterion::CriterionBench;
use crate::format;
use crate::input::Input;
use maud::{Markup, html};

pub(super) fn links(criterion: &Input<Vec<CriterionBench>>, href: &str) -> Markup {
    with_input(criterion, |benches| {
        html! {
            @if benches.iter().any(|b| b.has_html_report) {
                p { "criterion's summary: " a href={ (href) "/report/index.html" } { (href) "/report/index.html" } }
            }
            table {
                tr { th { "benchmark id" } th { "median per element" } th { "95 % CI" } th { "mean per element" }
                     th { "elements / iteration" } th { "criterion page" } }
                @for b in benches { (bench_row(b, href)) }
            }
            (source_note("Source: criterion new/estimates.json. Unit: ns for wall-time benchmarks; a group using a counter \
                Measurement (e.g. instructions) reports that counter instead. Per element = per iteration ÷ Throughput::Elements (median and mean alike, so the two columns compare)."))
        }
    })
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
                @else { "no HTML page (criterion ran without html_reports or --quick)" }
            }
        }
    }
}
