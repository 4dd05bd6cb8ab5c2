//! The headline comparisons of a run, as sentences with their intervals ("default ran 3.13 times
//! faster than real-ghc 9.0.2 at 1 thread, 1 capability (95 % interval 3.08 – 3.18, 20 paired
//! rounds)"), generated from the results: the harness prints them at the end of `callin-bench
//! run` and the report opens with them. Every ratio comes from [`crate::paired`].

use crate::paired::{self, MIN_ROUNDS_FOR_INTERVAL};
use crate::schema::{Cell, RatioEstimate, RunResults, System};

/// Configurations the summary states comparisons for, when the run measured them:
/// one caller, two on two capabilities, two on one (oversubscribed).
pub const HEADLINE_CONFIGS: [(u32, u32); 3] = [(1, 1), (2, 2), (2, 1)];

/// `1 thread, 1 capability`, `2 threads, 1 capability (oversubscribed)`.
pub fn config_text(threads: u32, caps: u32) -> String {
    let s = |n: u32, one: &str, many: &str| format!("{n} {}", if n == 1 { one } else { many });
    let mut t = format!(
        "{}, {}",
        s(threads, "thread", "threads"),
        s(caps, "capability", "capabilities")
    );
    if threads > caps {
        t.push_str(" (oversubscribed)");
    }
    t
}

/// The systems of a run (cell labels), in the order the run lists them.
pub fn labels(run: &RunResults) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for c in &run.cells {
        if !out.contains(&c.label) {
            out.push(c.label.clone());
        }
    }
    out
}

/// The measured cell of `label` at (threads, caps).
pub fn find<'a>(run: &'a RunResults, label: &str, threads: u32, caps: u32) -> Option<&'a Cell> {
    run.cells
        .iter()
        .find(|c| c.label == label && c.threads == threads && c.capabilities == caps)
}

/// `num ÷ den` at (threads, caps), from the two cells' paired rounds.
pub fn ratio(
    run: &RunResults,
    num: &str,
    den: &str,
    threads: u32,
    caps: u32,
) -> Option<RatioEstimate> {
    let (a, b) = (
        find(run, num, threads, caps)?,
        find(run, den, threads, caps)?,
    );
    if a.skipped.is_some() || b.skipped.is_some() {
        return None;
    }
    paired::paired_ratio(&a.rounds_ns, &b.rounds_ns)
}

/// One comparison: `subject ÷ reference` at a configuration.
#[derive(Debug, Clone, PartialEq)]
pub struct Comparison {
    pub subject: String,
    pub reference: String,
    pub threads: u32,
    pub capabilities: u32,
    pub ratio: RatioEstimate,
}

/// The (threads, caps) the summary covers: the headline configurations the run has, else all.
pub fn summary_configs(run: &RunResults) -> Vec<(u32, u32)> {
    let mut all: Vec<(u32, u32)> = Vec::new();
    for c in &run.cells {
        if !all.contains(&(c.threads, c.capabilities)) {
            all.push((c.threads, c.capabilities));
        }
    }
    let headline: Vec<(u32, u32)> = HEADLINE_CONFIGS
        .into_iter()
        .filter(|c| all.contains(c))
        .collect();
    if headline.is_empty() { all } else { headline }
}

/// The pairs compared: every system against the first one, and, when a run has several real-GHC
/// systems, each against the first real-GHC one.
pub fn pairs(run: &RunResults) -> Vec<(String, String)> {
    let labels = labels(run);
    let Some(first) = labels.first() else {
        return Vec::new();
    };
    let mut out: Vec<(String, String)> = labels[1..]
        .iter()
        .map(|l| (l.clone(), first.clone()))
        .collect();
    let real: Vec<&String> = labels
        .iter()
        .filter(|l| {
            run.cells
                .iter()
                .any(|c| &c.label == *l && c.system == System::RealGhc)
        })
        .collect();
    if let Some((head, rest)) = real.split_first()
        && *head != first
    {
        out.extend(rest.iter().map(|l| ((*l).clone(), (*head).clone())));
    }
    out
}

/// Every headline comparison the run can state.
pub fn comparisons(run: &RunResults) -> Vec<Comparison> {
    let mut out = Vec::new();
    for (threads, caps) in summary_configs(run) {
        for (subject, reference) in pairs(run) {
            if let Some(ratio) = ratio(run, &subject, &reference, threads, caps) {
                out.push(Comparison {
                    subject,
                    reference,
                    threads,
                    capabilities: caps,
                    ratio,
                });
            }
        }
    }
    out
}

/// `1.23` with two decimals, three for factors near 1 (so an A/A interval is readable).
fn factor(x: f64) -> String {
    if (0.9..1.1).contains(&x) {
        format!("{x:.3}")
    } else {
        format!("{x:.2}")
    }
}

/// ` (95 % interval 1.20 – 1.26, 20 paired rounds)` for a factor `f(ratio)`.
fn interval_text(r: &RatioEstimate, invert: bool) -> String {
    match (r.low, r.high) {
        (Some(lo), Some(hi)) => {
            let (lo, hi) = if invert {
                (1.0 / hi, 1.0 / lo)
            } else {
                (lo, hi)
            };
            format!(
                "95 % interval {} – {}, {} paired rounds",
                factor(lo),
                factor(hi),
                r.rounds
            )
        }
        _ => format!(
            "no 95 % interval: {} rounds, at least {MIN_ROUNDS_FOR_INTERVAL} needed",
            r.rounds
        ),
    }
}

impl Comparison {
    /// Whether the interval contains 1 (no difference shown); `None` without an interval.
    pub fn within_noise(&self) -> Option<bool> {
        Some(self.ratio.low? <= 1.0 && 1.0 <= self.ratio.high?)
    }

    /// The comparison as a sentence, hyperfine's way round: the faster system "ran N times
    /// faster than" the other.
    pub fn sentence(&self) -> String {
        let at = config_text(self.threads, self.capabilities);
        let r = &self.ratio;
        if self.within_noise() == Some(true) {
            return format!(
                "{} and {} ran equally fast within noise at {at}: {} ÷ {} = {} ({})",
                self.subject,
                self.reference,
                self.subject,
                self.reference,
                factor(r.median),
                interval_text(r, false)
            );
        }
        // ratio = subject ÷ reference: > 1 means the reference is faster.
        let (fast, slow, times, invert) = if r.median >= 1.0 {
            (&self.reference, &self.subject, r.median, false)
        } else {
            (&self.subject, &self.reference, 1.0 / r.median, true)
        };
        format!(
            "{fast} ran {} times faster than {slow} at {at} ({})",
            factor(times),
            interval_text(r, invert)
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn est(median: f64, low: f64, high: f64) -> RatioEstimate {
        RatioEstimate {
            median,
            low: Some(low),
            high: Some(high),
            rounds: 20,
        }
    }

    fn cmp(r: RatioEstimate) -> Comparison {
        Comparison {
            subject: "real-ghc 9.0.2".into(),
            reference: "default".into(),
            threads: 1,
            capabilities: 1,
            ratio: r,
        }
    }

    #[test]
    fn sentences_name_the_faster_system_with_the_interval() {
        assert_eq!(
            cmp(est(3.13, 3.08, 3.18)).sentence(),
            "default ran 3.13 times faster than real-ghc 9.0.2 at 1 thread, 1 capability \
             (95 % interval 3.08 – 3.18, 20 paired rounds)"
        );
        let s = cmp(est(0.5, 0.4, 0.625)).sentence();
        assert!(
            s.starts_with("real-ghc 9.0.2 ran 2.00 times faster than default"),
            "{s}"
        );
        assert!(s.contains("interval 1.60 – 2.50"), "{s}");
        let s = cmp(est(1.004, 0.98, 1.02)).sentence();
        assert!(
            s.contains("equally fast within noise") && s.contains("1.004"),
            "{s}"
        );
        let few = RatioEstimate {
            median: 2.0,
            low: None,
            high: None,
            rounds: 2,
        };
        assert!(cmp(few).sentence().contains("at least 6 needed"));
        assert_eq!(
            config_text(2, 1),
            "2 threads, 1 capability (oversubscribed)"
        );
    }
}
