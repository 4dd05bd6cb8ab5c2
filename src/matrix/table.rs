//! The terminal output of `callin-bench run`: owns the threads × caps table (median ns per call
//! of every system, and each system's ratio to the first with its 95 % interval, all from paired
//! rounds through `callin_reports::summary`) and the headline sentences under it.

use callin_reports::format;
use callin_reports::schema::RunResults;
use callin_reports::summary;

/// `1.23x [1.20, 1.26]` (the ratio and its interval), or `-`.
fn ratio_text(r: Option<callin_reports::schema::RatioEstimate>) -> String {
    match r {
        None => "-".into(),
        Some(r) => match (r.low, r.high) {
            (Some(lo), Some(hi)) => format!("{:.2}x [{lo:.2}, {hi:.2}]", r.median),
            _ => format!("{:.2}x [n={}]", r.median, r.rounds),
        },
    }
}

/// The table.
pub fn render(r: &RunResults) -> String {
    let labels = summary::labels(r);
    let Some(reference) = labels.first().cloned() else {
        return "no cells\n".into();
    };
    // Long labels (real-GHC variants) get short column names and a legend above the table.
    let legend = labels.iter().any(|l| l.chars().count() > 16);
    let name = |i: usize| {
        if legend {
            format!("#{}", i + 1)
        } else {
            labels[i].clone()
        }
    };
    let mut header = vec!["threads x caps".to_owned()];
    header.extend((0..labels.len()).map(name));
    header.extend((1..labels.len()).map(|i| format!("{} / {}", name(i), name(0))));
    let mut rows = vec![header];
    let mut configs: Vec<(u32, u32)> = Vec::new();
    for c in &r.cells {
        if !configs.contains(&(c.threads, c.capabilities)) {
            configs.push((c.threads, c.capabilities));
        }
    }
    for (threads, caps) in configs {
        let mut name = format!("{threads} x {caps}");
        if threads > caps {
            name.push_str(" (oversubscribed)");
        }
        let mut row = vec![name];
        for l in &labels {
            row.push(match summary::find(r, l, threads, caps) {
                None => "-".into(),
                Some(c) => c
                    .ns_per_call
                    .map_or_else(|| "skipped".into(), |s| format::ns(s.median)),
            });
        }
        for l in &labels[1..] {
            row.push(ratio_text(summary::ratio(r, l, &reference, threads, caps)));
        }
        rows.push(row);
    }
    let cols = rows[0].len();
    let widths: Vec<usize> = (0..cols)
        .map(|i| rows.iter().map(|r| r[i].chars().count()).max().unwrap_or(0))
        .collect();
    let mut out = format!(
        "ns per call (median over {} paired rounds; per caller); ratios: median [95 % interval] of per-round ratios\n",
        r.rounds
    );
    if legend {
        for (i, l) in labels.iter().enumerate() {
            out.push_str(&format!("  #{} = {l}\n", i + 1));
        }
    }
    for (n, row) in rows.iter().enumerate() {
        let line: Vec<String> = row
            .iter()
            .zip(&widths)
            .enumerate()
            .map(|(i, (s, &w))| {
                let pad = " ".repeat(w - s.chars().count());
                if i == 0 {
                    format!("{s}{pad}")
                } else {
                    format!("{pad}{s}")
                }
            })
            .collect();
        out.push_str(line.join("  ").trim_end());
        out.push('\n');
        if n == 0 {
            out.push_str(&"-".repeat(widths.iter().sum::<usize>() + 2 * (cols - 1)));
            out.push('\n');
        }
    }
    let mut said = Vec::new();
    for c in r.cells.iter().filter(|c| c.skipped.is_some()) {
        if !said.contains(&&c.label) {
            said.push(&c.label);
            out.push_str(&format!(
                "{} skipped: {}\n",
                c.label,
                c.skipped.as_deref().unwrap_or("")
            ));
        }
    }
    out
}

/// The headline comparisons, one sentence per line.
pub fn sentences(r: &RunResults) -> String {
    summary::comparisons(r)
        .iter()
        .map(|c| format!("  {}\n", c.sentence()))
        .collect()
}
