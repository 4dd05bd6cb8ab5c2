//! Timestamp clock for in-situ phase probes: owns the choice between the CPU's time-stamp
//! counter (TSC) and `std::time::Instant`, the TSC frequency calibration against the
//! monotonic clock, and the measured cost of one timestamp read (the probe overhead).
//!
//! The TSC is used only when it is *trustworthy*: `/proc/cpuinfo` lists `constant_tsc`
//! (fixed rate, independent of P-states) and `nonstop_tsc` (keeps ticking in deep C-states),
//! and the calibration windows agree with each other (see [`MAX_CALIBRATION_SPREAD`]).
//! Otherwise, and on every architecture other than x86_64, [`Clock`] falls back to
//! `Instant` (ticks are then nanoseconds) and says why.
//!
//! Cross-core caveat: `constant_tsc` does not by itself promise that the TSCs of different
//! cores agree. The kernel checks that at boot and demotes its `tsc` clocksource if they do
//! not; [`TscFlags::kernel_clocksource`] reports the kernel's choice so a reader can judge
//! probes that compare timestamps taken on different cores.

use std::fmt;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use serde::Serialize;

/// Number of calibration windows; the median of their frequencies is used.
pub const CALIBRATION_WINDOWS: usize = 5;

/// Length of one calibration window. 20 ms keeps the whole calibration near 0.1 s while the
/// pairing error of one `Instant`/TSC read (tens of ns) stays below 1e-5 of the window.
pub const CALIBRATION_WINDOW: Duration = Duration::from_millis(20);

/// Largest accepted [`TscCalibration::core_spread`] (relative spread of the windows without
/// the highest and lowest). An invariant TSC agrees with the monotonic clock to a few ppm per
/// window (1.4e-4 full spread measured on the development VM); 1e-3 leaves room for a busy
/// VM and still rejects a TSC that changes rate. Dropping the extremes keeps one preempted
/// window (a thread descheduled between its paired reads) from rejecting a good TSC.
pub const MAX_CALIBRATION_SPREAD: f64 = 1e-3;

/// Back-to-back timestamp pairs sampled by [`measure_read_cost`] by default.
pub const READ_COST_SAMPLES: usize = 10_000;

/// Which hardware instruction sequence reads the TSC.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum TscRead {
    /// `rdtsc`: not ordered; may execute before earlier instructions finish.
    Rdtsc,
    /// `lfence; rdtsc`: waits for earlier instructions to complete locally.
    LfenceRdtsc,
    /// `rdtscp`: waits for earlier instructions; also returns the core id (IA32_TSC_AUX).
    Rdtscp,
}

/// Where a [`Clock`]'s ticks come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum ClockSource {
    /// CPU time-stamp counter read with the given instruction sequence.
    Tsc(TscRead),
    /// `std::time::Instant` (CLOCK_MONOTONIC via vDSO); one tick is one nanosecond.
    Instant,
}

impl fmt::Display for ClockSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ClockSource::Tsc(TscRead::Rdtsc) => f.write_str("tsc (rdtsc)"),
            ClockSource::Tsc(TscRead::LfenceRdtsc) => f.write_str("tsc (lfence; rdtsc)"),
            ClockSource::Tsc(TscRead::Rdtscp) => f.write_str("tsc (rdtscp)"),
            ClockSource::Instant => f.write_str("Instant (CLOCK_MONOTONIC)"),
        }
    }
}

cfg_if::cfg_if! {
    if #[cfg(target_arch = "x86_64")] {
        mod imp {
            //! x86_64 TSC reads through `core::arch` intrinsics.
            use super::TscRead;

            /// The TSC is readable on every x86_64 CPU (the `tsc` flag is part of the base ISA).
            pub(super) const HAS_TSC: bool = true;

            #[inline(always)]
            pub(super) fn read(how: TscRead) -> u64 {
                match how {
                    TscRead::Rdtsc => rdtsc(),
                    TscRead::LfenceRdtsc => lfence_rdtsc(),
                    TscRead::Rdtscp => rdtscp(),
                }
            }

            #[inline(always)]
            fn rdtsc() -> u64 {
                // SAFETY: `rdtsc` is part of the x86_64 base ISA and has no memory effects;
                // user-mode access is allowed unless CR4.TSD is set, which Linux leaves clear
                // (prctl PR_SET_TSC is the only way to set it, and we never call it).
                unsafe { core::arch::x86_64::_rdtsc() }
            }

            #[inline(always)]
            fn lfence_rdtsc() -> u64 {
                // SAFETY: `lfence` is SSE2, part of the x86_64 base ISA; no memory effects.
                unsafe { core::arch::x86_64::_mm_lfence() };
                rdtsc()
            }

            #[inline(always)]
            fn rdtscp() -> u64 {
                let mut aux = 0u32;
                // SAFETY: only called when /proc/cpuinfo lists `rdtscp` (checked by
                // `Clock::detect` before choosing `TscRead::Rdtscp`); `aux` is a valid,
                // exclusive u32 for the intrinsic to write.
                unsafe { core::arch::x86_64::__rdtscp(&mut aux) }
            }
        }
    } else {
        mod imp {
            //! Fallback for architectures without an x86 TSC: no TSC reads exist.
            use super::TscRead;

            pub(super) const HAS_TSC: bool = false;

            pub(super) fn read(_how: TscRead) -> u64 {
                unreachable!("Clock never selects the TSC when HAS_TSC is false")
            }
        }
    }
}

/// TSC-related facts about this machine, from `/proc/cpuinfo` and sysfs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TscFlags {
    /// The architecture has a TSC this module can read (x86_64 only).
    pub arch_has_tsc: bool,
    /// `constant_tsc`: the TSC ticks at a fixed rate regardless of frequency scaling.
    pub constant_tsc: bool,
    /// `nonstop_tsc`: the TSC keeps ticking in deep C-states.
    pub nonstop_tsc: bool,
    /// `rdtscp` instruction available.
    pub rdtscp: bool,
    /// The kernel's current clocksource (`tsc`, `kvm-clock`, `hpet`, …), if readable.
    pub kernel_clocksource: Option<String>,
}

impl TscFlags {
    /// Read the flags of the first processor in `/proc/cpuinfo` and the kernel clocksource.
    pub fn detect() -> TscFlags {
        let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
        let clocksource = std::fs::read_to_string(
            "/sys/devices/system/clocksource/clocksource0/current_clocksource",
        )
        .ok()
        .map(|s| s.trim().to_owned());
        TscFlags::from_cpuinfo(&cpuinfo, clocksource)
    }

    /// Parse the `flags` line of the first processor in a `/proc/cpuinfo` text.
    pub fn from_cpuinfo(cpuinfo: &str, kernel_clocksource: Option<String>) -> TscFlags {
        let flags: Vec<&str> = cpuinfo
            .lines()
            .find(|l| l.starts_with("flags"))
            .and_then(|l| l.split_once(':'))
            .map(|(_, v)| v.split_whitespace().collect())
            .unwrap_or_default();
        let has = |f: &str| flags.contains(&f);
        TscFlags {
            arch_has_tsc: imp::HAS_TSC,
            constant_tsc: has("constant_tsc"),
            nonstop_tsc: has("nonstop_tsc"),
            rdtscp: has("rdtscp"),
            kernel_clocksource,
        }
    }

    /// `None` when the flags allow the TSC as a clock, else the reason it is not trusted.
    pub fn distrust_reason(&self) -> Option<String> {
        if !self.arch_has_tsc {
            return Some(format!("no TSC on {}", std::env::consts::ARCH));
        }
        let missing: Vec<&str> = [
            ("constant_tsc", self.constant_tsc),
            ("nonstop_tsc", self.nonstop_tsc),
        ]
        .into_iter()
        .filter(|&(_, present)| !present)
        .map(|(name, _)| name)
        .collect();
        (!missing.is_empty()).then(|| format!("/proc/cpuinfo lacks {}", missing.join(", ")))
    }

    /// The best TSC read sequence this CPU supports: `rdtscp` if present, else `lfence; rdtsc`.
    pub fn preferred_read(&self) -> TscRead {
        if self.rdtscp {
            TscRead::Rdtscp
        } else {
            TscRead::LfenceRdtsc
        }
    }
}

/// Result of calibrating the TSC frequency against `Instant`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TscCalibration {
    /// Median frequency over the windows, in ticks per nanosecond (= GHz).
    pub ticks_per_ns: f64,
    /// Frequency measured in each window, ticks per nanosecond.
    pub windows: Vec<f64>,
    /// `(max - min) / median` of the window frequencies.
    pub spread: f64,
    /// The same without the highest and the lowest window (equals `spread` below 3 windows).
    pub core_spread: f64,
}

impl TscCalibration {
    /// Frequency in MHz, for display.
    pub fn mhz(&self) -> f64 {
        self.ticks_per_ns * 1e3
    }
}

/// Calibrate the TSC (read with `how`) against `Instant` over `windows` windows of `window`.
///
/// Returns `None` when this architecture has no TSC. Each window pairs an `Instant` read with
/// a TSC read at both ends and sleeps in between; the median window frequency is reported
/// with the spread, so a preempted or rate-changing window shows up instead of being averaged in.
pub fn calibrate_tsc(how: TscRead, windows: usize, window: Duration) -> Option<TscCalibration> {
    if !imp::HAS_TSC || windows == 0 {
        return None;
    }
    let freqs: Vec<f64> = (0..windows)
        .map(|_| calibrate_window(how, window))
        .collect();
    let (median, spread) = median_and_spread(&freqs);
    let core_spread = core_spread(&freqs, median).unwrap_or(spread);
    Some(TscCalibration {
        ticks_per_ns: median,
        windows: freqs,
        spread,
        core_spread,
    })
}

fn calibrate_window(how: TscRead, window: Duration) -> f64 {
    let (i0, t0) = (Instant::now(), imp::read(how));
    std::thread::sleep(window);
    let (t1, i1) = (imp::read(how), Instant::now());
    let ns = i1.duration_since(i0).as_nanos() as f64;
    t1.wrapping_sub(t0) as f64 / ns
}

/// Median and relative spread `(max - min) / median` of a non-empty sample.
fn median_and_spread(values: &[f64]) -> (f64, f64) {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    let median = crate::stats::median(&sorted);
    let spread = (sorted[sorted.len() - 1] - sorted[0]) / median;
    (median, spread)
}

/// Relative spread of `values` without their highest and lowest, `None` below 3 values.
fn core_spread(values: &[f64], median: f64) -> Option<f64> {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    let core = sorted.get(1..sorted.len().checked_sub(1)?)?;
    Some((core.last()? - core.first()?) / median)
}

/// A timestamp source for probes: the TSC when trustworthy, else `Instant`.
#[derive(Debug, Clone, Serialize)]
pub struct Clock {
    source: ClockSource,
    /// Ticks per nanosecond: the calibrated TSC frequency, or 1.0 for `Instant`.
    ticks_per_ns: f64,
    reason: String,
    flags: TscFlags,
    calibration: Option<TscCalibration>,
}

impl Clock {
    /// Inspect the CPU flags, calibrate the TSC, and pick the clock (takes about 0.1 s).
    pub fn detect() -> Clock {
        let flags = TscFlags::detect();
        if let Some(why) = flags.distrust_reason() {
            return Clock::instant_because(format!("TSC not used: {why}"), flags, None);
        }
        let how = flags.preferred_read();
        let Some(cal) = calibrate_tsc(how, CALIBRATION_WINDOWS, CALIBRATION_WINDOW) else {
            return Clock::instant_because("TSC not readable".to_owned(), flags, None);
        };
        if cal.core_spread > MAX_CALIBRATION_SPREAD {
            let why = format!(
                "TSC not used: calibration windows disagree (core spread {:.2e} > {MAX_CALIBRATION_SPREAD:.0e})",
                cal.core_spread
            );
            return Clock::instant_because(why, flags, Some(cal));
        }
        let reason = format!(
            "constant_tsc + nonstop_tsc, calibrated {:.3} MHz over {} windows (spread {:.2e})",
            cal.mhz(),
            cal.windows.len(),
            cal.spread
        );
        Clock {
            source: ClockSource::Tsc(how),
            ticks_per_ns: cal.ticks_per_ns,
            reason,
            flags,
            calibration: Some(cal),
        }
    }

    /// A clock that always uses `Instant`, e.g. to compare against the TSC clock.
    pub fn instant() -> Clock {
        Clock::instant_because("Instant requested".to_owned(), TscFlags::detect(), None)
    }

    fn instant_because(
        reason: String,
        flags: TscFlags,
        calibration: Option<TscCalibration>,
    ) -> Clock {
        instant_epoch(); // fix the epoch before the first `now()`
        Clock {
            source: ClockSource::Instant,
            ticks_per_ns: 1.0,
            reason,
            flags,
            calibration,
        }
    }

    /// Current timestamp in ticks of this clock (TSC ticks, or ns since a process epoch).
    #[inline(always)]
    pub fn now(&self) -> u64 {
        match self.source {
            ClockSource::Tsc(how) => imp::read(how),
            ClockSource::Instant => instant_epoch().elapsed().as_nanos() as u64,
        }
    }

    /// Convert a tick count (a difference of two `now()` values) to nanoseconds.
    #[inline]
    pub fn ticks_to_ns(&self, ticks: u64) -> f64 {
        ticks as f64 / self.ticks_per_ns
    }

    /// The same calibrated TSC clock read with another instruction sequence (e.g. plain
    /// `rdtsc`, cheaper but unordered); `None` for an `Instant` clock, or `Rdtscp` on a CPU
    /// without it.
    pub fn with_read(&self, how: TscRead) -> Option<Clock> {
        let ClockSource::Tsc(_) = self.source else {
            return None;
        };
        if how == TscRead::Rdtscp && !self.flags.rdtscp {
            return None;
        }
        Some(Clock {
            source: ClockSource::Tsc(how),
            ..self.clone()
        })
    }

    /// Which source this clock reads.
    pub fn source(&self) -> ClockSource {
        self.source
    }

    /// Why this source was chosen (or why the TSC was rejected).
    pub fn reason(&self) -> &str {
        &self.reason
    }

    /// Ticks per nanosecond (GHz for the TSC, 1.0 for `Instant`).
    pub fn ticks_per_ns(&self) -> f64 {
        self.ticks_per_ns
    }

    /// CPU and kernel facts that went into the choice.
    pub fn flags(&self) -> &TscFlags {
        &self.flags
    }

    /// The TSC calibration, when one was run.
    pub fn calibration(&self) -> Option<&TscCalibration> {
        self.calibration.as_ref()
    }
}

/// Process-wide origin for `Instant`-based ticks, so they fit a `u64` of nanoseconds.
fn instant_epoch() -> Instant {
    static EPOCH: OnceLock<Instant> = OnceLock::new();
    *EPOCH.get_or_init(Instant::now)
}

/// Cost of one timestamp read of a clock, measured back to back.
///
/// Two views, because clocks tick coarsely: AMD Zen advances the TSC in steps of
/// P0-frequency / 100 MHz (one step per 10 ns), and `Instant` rounds to its source. A single
/// gap between two reads is therefore quantised; the amortised cost of a long run of reads
/// is not, and is the per-boundary overhead to subtract from probe figures.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ReadCost {
    /// Clock measured.
    pub source: ClockSource,
    /// Back-to-back pairs sampled for the gap figures.
    pub samples: usize,
    /// Smallest gap between two consecutive reads, ns.
    pub gap_min_ns: f64,
    /// Median gap between two consecutive reads, ns (quantised by `resolution_ns`).
    pub gap_median_ns: f64,
    /// Smallest non-zero gap seen, ns: an upper bound on the clock's tick granularity
    /// (`None` if every gap was zero).
    pub resolution_ns: Option<f64>,
    /// Median over runs of [`AMORTISED_RUN`] reads of (run time / reads), ns: the cost of one
    /// read (the probe overhead per phase boundary).
    pub amortised_ns: f64,
}

/// Reads per run for [`ReadCost::amortised_ns`]; 256 reads span well over the 10 ns TSC step
/// of AMD Zen and the tens-of-ns granularity of `Instant` in VMs.
pub const AMORTISED_RUN: usize = 256;

/// Measure the cost of `clock.now()`: `samples` back-to-back pairs for the gap figures, then
/// `samples / 10` (at least 10) runs of [`AMORTISED_RUN`] reads for the amortised cost.
pub fn measure_read_cost(clock: &Clock, samples: usize) -> ReadCost {
    let samples = samples.max(1);
    let mut gaps: Vec<u64> = (0..samples)
        .map(|_| {
            let a = clock.now();
            let b = clock.now();
            b.wrapping_sub(a)
        })
        .collect();
    gaps.sort_unstable();
    let resolution = gaps.iter().copied().find(|&g| g > 0);
    let mut runs: Vec<f64> = (0..(samples / 10).max(10))
        .map(|_| amortised_run_ns(clock))
        .collect();
    runs.sort_by(f64::total_cmp);
    ReadCost {
        source: clock.source(),
        samples,
        gap_min_ns: clock.ticks_to_ns(gaps[0]),
        gap_median_ns: clock.ticks_to_ns(gaps[samples / 2]),
        resolution_ns: resolution.map(|g| clock.ticks_to_ns(g)),
        amortised_ns: crate::stats::median(&runs),
    }
}

/// Time of one run of [`AMORTISED_RUN`] consecutive reads divided by the reads between the
/// first and the last.
fn amortised_run_ns(clock: &Clock) -> f64 {
    let first = clock.now();
    let mut last = first;
    for _ in 0..AMORTISED_RUN {
        last = std::hint::black_box(clock.now());
    }
    clock.ticks_to_ns(last.wrapping_sub(first)) / AMORTISED_RUN as f64
}

/// Read cost of every TSC variant this CPU supports (plus `Instant`), for the report.
///
/// Uses the calibration of `clock` when it is a TSC clock; without one (TSC rejected or
/// absent) only `Instant` is measured.
pub fn measure_all_read_costs(clock: &Clock, samples: usize) -> Vec<ReadCost> {
    let reads = [TscRead::Rdtsc, TscRead::LfenceRdtsc, TscRead::Rdtscp];
    let mut costs: Vec<ReadCost> = match clock.calibration() {
        Some(cal) => {
            let tsc = Clock {
                source: ClockSource::Tsc(TscRead::Rdtsc),
                ticks_per_ns: cal.ticks_per_ns,
                ..clock.clone()
            };
            reads
                .iter()
                .filter_map(|&how| tsc.with_read(how))
                .map(|c| measure_read_cost(&c, samples))
                .collect()
        }
        None => Vec::new(),
    };
    let instant = Clock::instant_because(String::new(), clock.flags.clone(), None);
    costs.push(measure_read_cost(&instant, samples));
    costs
}

#[cfg(test)]
mod tests {
    use super::*;

    const CPUINFO: &str = "processor\t: 0\nflags\t\t: fpu tsc rdtscp constant_tsc nonstop_tsc\n\nprocessor\t: 1\nflags\t: fpu\n";

    #[test]
    fn cpuinfo_flags_of_first_processor_are_parsed() {
        let f = TscFlags::from_cpuinfo(CPUINFO, Some("tsc".into()));
        assert!(f.constant_tsc && f.nonstop_tsc && f.rdtscp);
        assert_eq!(f.preferred_read(), TscRead::Rdtscp);
    }

    #[test]
    fn missing_invariant_flags_are_named_in_the_reason() {
        let f = TscFlags::from_cpuinfo("flags : tsc constant_tsc\n", None);
        let why = f.distrust_reason().unwrap_or_default();
        if imp::HAS_TSC {
            assert_eq!(why, "/proc/cpuinfo lacks nonstop_tsc");
        } else {
            assert!(why.starts_with("no TSC on"), "{why}");
        }
        assert_eq!(f.preferred_read(), TscRead::LfenceRdtsc);
    }

    #[test]
    fn median_and_spread_of_a_sample() {
        let sample = [2.0, 1.0, 3.0, 2.0, 2.5];
        let (m, s) = median_and_spread(&sample);
        assert_eq!(m, 2.0);
        assert_eq!(s, 1.0);
        assert_eq!(core_spread(&sample, m), Some(0.25), "1.0 and 3.0 dropped");
        assert_eq!(core_spread(&[1.0, 2.0], 1.5), None);
    }
}
