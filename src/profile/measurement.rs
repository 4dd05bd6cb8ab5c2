//! Criterion `Measurement` backed by one perf counter on the benchmarking thread: owns the
//! choice of counter (retired instructions where the PMU exposes them, else the `task-clock`
//! software event in ns), its value formatting, and the one-time notice saying which counter
//! was chosen and why.
//!
//! Use: `Criterion::default().with_measurement(CounterMeasurement::new()?)`. The counter is
//! enabled once at construction and left running; every sample is the difference of two
//! cumulative reads, so reading costs one syscall at each end of a sample, never one per
//! iteration. Values are scaled by `time_enabled / time_running` if the kernel multiplexed
//! ([`super::counters::scale_count`]); a sample in which the counter never ran has no value.
//! The counter follows only the thread that created the measurement (criterion runs the
//! routine on that thread; work handed to other threads inside `iter_custom` is not counted).

use std::cell::RefCell;
use std::io;
use std::sync::Once;

use criterion::Throughput;
use criterion::measurement::{Measurement, ValueFormatter};
use perf_event::events::{Hardware, Software};
use perf_event::{Builder, Counter};

pub use super::counters::CounterSnapshot;
use super::counters::{describe_open_error, scale_count};

/// Which counter a [`CounterMeasurement`] records.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MeasuredCounter {
    /// Retired user-space instructions (hardware PMU).
    Instructions,
    /// Thread CPU time in ns (`task-clock` software event).
    TaskClockNs,
}

impl MeasuredCounter {
    /// Display name: `"instructions"` or `"task-clock ns"`.
    pub fn name(self) -> &'static str {
        match self {
            MeasuredCounter::Instructions => "instructions",
            MeasuredCounter::TaskClockNs => "task-clock ns",
        }
    }

    fn builder(self) -> Builder<'static> {
        let mut b = match self {
            MeasuredCounter::Instructions => Builder::new(Hardware::INSTRUCTIONS),
            MeasuredCounter::TaskClockNs => Builder::new(Software::TASK_CLOCK),
        };
        b.observe_self()
            .any_cpu()
            .inherit(false)
            .exclude_kernel(true)
            .exclude_hv(true);
        b
    }
}

/// Criterion measurement recording [`MeasuredCounter`] instead of wall time.
pub struct CounterMeasurement {
    which: MeasuredCounter,
    reason: String,
    counter: RefCell<Counter>,
    formatter: CounterFormatter,
}

impl CounterMeasurement {
    /// Open instructions if possible, else task-clock; print the choice once per process.
    ///
    /// # Errors
    /// When neither counter opens (perf unusable here); the error names both failures.
    pub fn new() -> io::Result<CounterMeasurement> {
        let m = Self::choose()?;
        static NOTICE: Once = Once::new();
        NOTICE.call_once(|| {
            eprintln!(
                "callin-bench measurement: {} ({})",
                m.which.name(),
                m.reason
            )
        });
        Ok(m)
    }

    fn choose() -> io::Result<CounterMeasurement> {
        let insn_err = match Self::with_counter(MeasuredCounter::Instructions, String::new()) {
            Ok(mut m) => {
                m.reason = "hardware PMU exposes retired instructions".to_owned();
                return Ok(m);
            }
            Err(e) => describe_open_error(&e, true),
        };
        let reason = format!("instructions unavailable: {insn_err}; task-clock is thread CPU time");
        Self::with_counter(MeasuredCounter::TaskClockNs, reason).map_err(|e| {
            let tc = describe_open_error(&e, false);
            io::Error::new(
                e.kind(),
                format!("no counter for criterion: instructions: {insn_err}; task-clock: {tc}"),
            )
        })
    }

    /// Open exactly `which` (no fallback), e.g. to force task-clock on a PMU machine.
    ///
    /// # Errors
    /// The `perf_event_open` or enable error for that counter.
    pub fn with_counter(which: MeasuredCounter, reason: String) -> io::Result<CounterMeasurement> {
        let mut counter = which.builder().build()?;
        counter.enable()?;
        let formatter = CounterFormatter { which };
        Ok(CounterMeasurement {
            which,
            reason,
            counter: RefCell::new(counter),
            formatter,
        })
    }

    /// The counter being recorded.
    pub fn counter(&self) -> MeasuredCounter {
        self.which
    }

    /// Why this counter was chosen.
    pub fn reason(&self) -> &str {
        &self.reason
    }

    /// Read the cumulative counter now.
    ///
    /// # Panics
    /// If the kernel refuses to read an already opened and enabled counter, which
    /// `Measurement::start`/`end` cannot report any other way.
    pub fn snapshot(&self) -> CounterSnapshot {
        let ct = self
            .counter
            .borrow_mut()
            .read_count_and_time()
            .unwrap_or_else(|e| {
                panic!(
                    "reading the {} counter for criterion failed: {e}",
                    self.which.name()
                )
            });
        ct.into()
    }

    /// The count from `start` to now, scaled up if the counter was multiplexed in between.
    ///
    /// # Panics
    /// If the counter never ran since `start` (enabled but not scheduled, e.g. the PMU was
    /// held by another user): criterion's `Measurement::end` has no way to record a sample as
    /// unavailable, and a zero would be a false figure. The message gives the reason.
    pub fn count_since(&self, start: CounterSnapshot) -> f64 {
        counted_between(start, self.snapshot()).unwrap_or_else(|why| {
            panic!(
                "the {} counter has no value for this sample: {why}",
                self.which.name()
            )
        })
    }
}

/// Count between two snapshots, scaled up if the counter was multiplexed in between; `Err`
/// with the reason when it never ran in between.
pub fn counted_between(start: CounterSnapshot, end: CounterSnapshot) -> Result<f64, String> {
    let d = end.since(start);
    scale_count(d.count, d.enabled_ns, d.running_ns).map(|(value, _scaled)| value)
}

impl Measurement for CounterMeasurement {
    type Intermediate = CounterSnapshot;
    type Value = f64;

    fn start(&self) -> CounterSnapshot {
        self.snapshot()
    }

    fn end(&self, start: CounterSnapshot) -> f64 {
        self.count_since(start)
    }

    fn add(&self, v1: &f64, v2: &f64) -> f64 {
        v1 + v2
    }

    fn zero(&self) -> f64 {
        0.0
    }

    fn to_f64(&self, value: &f64) -> f64 {
        *value
    }

    fn formatter(&self) -> &dyn ValueFormatter {
        &self.formatter
    }
}

/// Formats instruction counts (`insn`, `Kinsn`, `Minsn`, `Ginsn`) or task-clock ns.
struct CounterFormatter {
    which: MeasuredCounter,
}

impl CounterFormatter {
    fn units(&self) -> [&'static str; 4] {
        match self.which {
            MeasuredCounter::Instructions => ["insn", "Kinsn", "Minsn", "Ginsn"],
            MeasuredCounter::TaskClockNs => [
                "ns (task-clock)",
                "µs (task-clock)",
                "ms (task-clock)",
                "s (task-clock)",
            ],
        }
    }
}

/// Scale `values` by the power of 1000 fitting `typical`; returns the exponent (0..=3).
fn scale_by_thousands(typical: f64, values: &mut [f64]) -> usize {
    let exp = match typical.abs() {
        t if t < 1e3 => 0,
        t if t < 1e6 => 1,
        t if t < 1e9 => 2,
        _ => 3,
    };
    let factor = 1e3f64.powi(exp as i32);
    values.iter_mut().for_each(|v| *v /= factor);
    exp
}

impl ValueFormatter for CounterFormatter {
    fn scale_values(&self, typical: f64, values: &mut [f64]) -> &'static str {
        self.units()[scale_by_thousands(typical, values)]
    }

    fn scale_throughputs(
        &self,
        _typical: f64,
        throughput: &Throughput,
        values: &mut [f64],
    ) -> &'static str {
        let (per, unit) = match *throughput {
            Throughput::Bytes(n) | Throughput::BytesDecimal(n) => (n, "/byte"),
            Throughput::Bits(n) => (n, "/bit"),
            Throughput::Elements(n) | Throughput::ElementsAndBytes { elements: n, .. } => {
                (n, "/elem")
            }
        };
        values.iter_mut().for_each(|v| *v /= per.max(1) as f64);
        match (self.which, unit) {
            (MeasuredCounter::Instructions, "/byte") => "insn/byte",
            (MeasuredCounter::Instructions, "/bit") => "insn/bit",
            (MeasuredCounter::Instructions, _) => "insn/elem",
            (MeasuredCounter::TaskClockNs, "/byte") => "ns/byte (task-clock)",
            (MeasuredCounter::TaskClockNs, "/bit") => "ns/bit (task-clock)",
            (MeasuredCounter::TaskClockNs, _) => "ns/elem (task-clock)",
        }
    }

    fn scale_for_machines(&self, _values: &mut [f64]) -> &'static str {
        match self.which {
            MeasuredCounter::Instructions => "insn",
            MeasuredCounter::TaskClockNs => "ns",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn multiplexed_interval_is_scaled() {
        let a = CounterSnapshot::new(100, 1000, 1000);
        assert_eq!(
            counted_between(a, CounterSnapshot::new(150, 1100, 1050)),
            Ok(100.0)
        );
        assert_eq!(
            counted_between(a, CounterSnapshot::new(150, 1100, 1100)),
            Ok(50.0)
        );
    }

    #[test]
    fn an_interval_the_counter_never_ran_in_has_no_value() {
        // Enabled for 100 ns, running for none of them: not a zero, a reason.
        let why = counted_between(
            CounterSnapshot::new(100, 1000, 400),
            CounterSnapshot::new(100, 1100, 400),
        )
        .unwrap_err();
        assert!(why.starts_with("not scheduled"), "{why}");
    }

    #[test]
    fn formatter_scales_by_thousands() {
        let f = CounterFormatter {
            which: MeasuredCounter::Instructions,
        };
        let mut v = [2_500.0, 3_000.0];
        assert_eq!(f.scale_values(2_500.0, &mut v), "Kinsn");
        assert_eq!(v, [2.5, 3.0]);
        let mut per = [40.0];
        assert_eq!(
            f.scale_throughputs(40.0, &Throughput::Elements(4), &mut per),
            "insn/elem"
        );
        assert_eq!(per, [10.0]);
    }
}
