//! The phase profiler: owns perf-event counter sets ([`counters`]), the probe timestamp clock
//! and its calibration ([`tsc`]), the criterion counter measurement ([`measurement`]),
//! phase-isolated batches with counters ([`isolated`]), in-situ probe runs ([`insitu`], feature
//! `probes`) and their per-phase breakdown ([`breakdown`]), callgrind instruction counts
//! ([`callgrind`]), and the environment summary that says which of these work on this machine
//! and why ([`ProfileEnvironment`]).
//!
//! perf-event code is Linux only (the `perf-event2` crate is); the TSC clock falls back to
//! `Instant` off x86_64.

pub mod breakdown;
pub mod callgrind;
pub mod cell;
pub mod counters;
pub mod experiment;
pub mod groups;
#[cfg(feature = "probes")]
pub mod insitu;
pub mod isolated;
pub mod measurement;
pub mod print;
pub mod real_ghc;
pub mod sampling;
pub mod thread_counters;
pub mod tsc;

use std::fmt;

use serde::Serialize;

pub use counters::{
    BatchReading, CounterReading, CounterSet, EventKind, EventSpec, Grouping, MIN_BATCH_ITERS,
    ProfileError, hardware_events, measure_batch, measure_run, software_events,
};
pub use measurement::{CounterMeasurement, MeasuredCounter};
pub use tsc::{Clock, ClockSource, ReadCost, TscCalibration, TscFlags, TscRead};

/// Open or not, for one event: what the profile output prints per counter.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct EventStatus {
    /// Set the event belongs to (`hardware` / `software`).
    pub set: &'static str,
    /// Event name.
    pub name: &'static str,
    /// `None` when the event opened, else the reason it did not.
    pub unavailable: Option<String>,
}

/// What the profiler can use on this machine: counters, clock, and timestamp cost.
#[derive(Debug, Clone, Serialize)]
pub struct ProfileEnvironment {
    /// `/proc/sys/kernel/perf_event_paranoid`.
    pub perf_event_paranoid: String,
    /// Every event of the hardware and software sets.
    pub events: Vec<EventStatus>,
    /// The probe clock.
    pub clock: Clock,
    /// Cost of one timestamp read per source (TSC variants and `Instant`).
    pub read_costs: Vec<ReadCost>,
}

impl ProfileEnvironment {
    /// Open both counter sets on the calling thread, calibrate the clock, time the reads.
    pub fn detect() -> ProfileEnvironment {
        let mut events = Vec::new();
        for set in [CounterSet::hardware(), CounterSet::software()] {
            events.extend(event_statuses(&set));
        }
        let clock = Clock::detect();
        let read_costs = tsc::measure_all_read_costs(&clock, tsc::READ_COST_SAMPLES);
        ProfileEnvironment {
            perf_event_paranoid: counters::paranoid_level(),
            events,
            clock,
            read_costs,
        }
    }
}

/// Status of every event in `set`, in the set's order.
pub fn event_statuses(set: &CounterSet) -> Vec<EventStatus> {
    let status = |(name, why): (&'static str, Option<&str>)| EventStatus {
        set: set.label(),
        name,
        unavailable: why.map(str::to_owned),
    };
    set.statuses().into_iter().map(status).collect()
}

impl fmt::Display for ProfileEnvironment {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "perf_event_paranoid = {}", self.perf_event_paranoid)?;
        for e in &self.events {
            match &e.unavailable {
                None => writeln!(f, "  {:<8} {:<17} opened", e.set, e.name)?,
                Some(why) => writeln!(f, "  {:<8} {:<17} unavailable: {why}", e.set, e.name)?,
            }
        }
        let fl = self.clock.flags();
        writeln!(
            f,
            "cpu flags: constant_tsc={} nonstop_tsc={} rdtscp={}; kernel clocksource: {}",
            fl.constant_tsc,
            fl.nonstop_tsc,
            fl.rdtscp,
            fl.kernel_clocksource.as_deref().unwrap_or("?")
        )?;
        if let Some(cal) = self.clock.calibration() {
            let mhz: Vec<String> = cal
                .windows
                .iter()
                .map(|w| format!("{:.3}", w * 1e3))
                .collect();
            writeln!(
                f,
                "tsc calibration: median {:.3} MHz, windows [{}] MHz, spread {:.2e} (without extremes {:.2e})",
                cal.mhz(),
                mhz.join(", "),
                cal.spread,
                cal.core_spread
            )?;
        }
        writeln!(
            f,
            "probe clock: {} — {}",
            self.clock.source(),
            self.clock.reason()
        )?;
        for c in &self.read_costs {
            let res = c
                .resolution_ns
                .map_or("-".to_owned(), |r| format!("{r:.1} ns"));
            writeln!(
                f,
                "  timestamp read {:<26} amortised {:>5.1} ns/read; back-to-back gap min {:.1} / median {:.1} ns, resolution {res} ({} pairs)",
                c.source.to_string(),
                c.amortised_ns,
                c.gap_min_ns,
                c.gap_median_ns,
                c.samples
            )?;
        }
        Ok(())
    }
}
