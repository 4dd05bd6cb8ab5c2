//! Per-call counters of a driver run: owns opening, on every driver thread, the software events
//! that show what a call costs the OS (context switches, CPU migrations, page faults) and the
//! `syscalls:sys_enter_futex` tracepoint (futex system calls), enabling them around the timed
//! part of a run ([`RunHooks`]) and dividing the sums by the calls. An event that cannot be opened
//! is reported with the reason, never as zero.
//!
//! Kernel mode is counted (`exclude_kernel = 0`): a context switch, a migration and a futex
//! system call all happen in the kernel, where a user-only event never fires. That needs root or
//! `perf_event_paranoid` ≤ 1; otherwise these events are unavailable and say so (page faults,
//! which also fire in user mode, are then counted in user mode).

use std::path::Path;

use perf_event::Counter;
use perf_event::events::Software;
use serde::{Deserialize, Serialize};

use super::counters::{EventSpec, describe_open_error, scale_count};
use crate::driver::RunHooks;

/// One counter's total and per-call value, or why there is none.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PerCall {
    pub name: String,
    /// Events per call.
    pub per_call: Option<f64>,
    /// Events over the run, all driver threads.
    pub total: Option<f64>,
    pub unavailable: Option<String>,
}

/// Where tracefs lists the futex tracepoint's id.
const FUTEX_TRACEPOINT_IDS: &[&str] = &[
    "/sys/kernel/tracing/events/syscalls/sys_enter_futex/id",
    "/sys/kernel/debug/tracing/events/syscalls/sys_enter_futex/id",
];

/// `PERF_TYPE_TRACEPOINT` (linux/perf_event.h).
const PERF_TYPE_TRACEPOINT: u32 = 2;

/// Name of the futex counter in results.
pub const FUTEX_CALLS: &str = "futex-syscalls";

/// The tracepoint id of `syscalls:sys_enter_futex`, or why it cannot be had.
pub fn futex_tracepoint() -> Result<u64, String> {
    for p in FUTEX_TRACEPOINT_IDS {
        if let Ok(s) = std::fs::read_to_string(p) {
            return s
                .trim()
                .parse()
                .map_err(|_| format!("{p} holds {s:?}, not a tracepoint id"));
        }
    }
    let mounted = Path::new("/sys/kernel/tracing/events").exists();
    Err(if mounted {
        "tracefs has no syscalls:sys_enter_futex (kernel without CONFIG_FTRACE_SYSCALLS)".into()
    } else {
        "tracefs is not mounted at /sys/kernel/tracing (as root: mount -t tracefs nodev \
         /sys/kernel/tracing; scripts/setup.sh does) or not readable"
            .into()
    })
}

/// The events counted per call.
pub fn events() -> Vec<Result<EventSpec, (String, String)>> {
    let mut v = vec![
        Ok(EventSpec::software(
            "context-switches",
            "events",
            Software::CONTEXT_SWITCHES,
        )),
        Ok(EventSpec::software(
            "cpu-migrations",
            "events",
            Software::CPU_MIGRATIONS,
        )),
        Ok(EventSpec::software(
            "page-faults",
            "events",
            Software::PAGE_FAULTS,
        )),
    ];
    v.push(
        futex_tracepoint()
            .map(|id| EventSpec::attr(FUTEX_CALLS, PERF_TYPE_TRACEPOINT, id))
            .map_err(|why| (FUTEX_CALLS.to_owned(), why)),
    );
    v
}

enum Slot {
    Open(Vec<Counter>),
    Unavailable(String),
}

/// Counters on every driver thread of the next run.
pub struct ThreadCounterHooks {
    threads: usize,
    specs: Vec<Result<EventSpec, (String, String)>>,
    slots: Vec<(String, Slot)>,
    error: Option<String>,
}

impl ThreadCounterHooks {
    /// Hooks for a run of `threads` driver threads, counting [`events`] (`specs` to override,
    /// e.g. with an event that cannot open, in tests).
    pub fn new(threads: usize, specs: Vec<Result<EventSpec, (String, String)>>) -> Self {
        ThreadCounterHooks {
            threads,
            specs,
            slots: Vec::new(),
            error: None,
        }
    }

    fn open(&mut self) -> Result<(), String> {
        let tids = super::sampling::driver_tids(self.threads)?;
        for spec in &self.specs {
            let spec = match spec {
                Ok(s) => s,
                Err((name, why)) => {
                    self.slots
                        .push((name.clone(), Slot::Unavailable(why.clone())));
                    continue;
                }
            };
            let opened: Result<Vec<Counter>, String> = tids
                .iter()
                .map(|&tid| {
                    // Kernel mode where permitted; an event that also fires in user mode (page
                    // faults) falls back to user mode only without the permission.
                    let opened = spec.thread_builder(tid, true).build();
                    match opened {
                        Err(e)
                            if e.raw_os_error() == Some(libc::EACCES)
                                && !spec.fires_in_kernel() =>
                        {
                            spec.thread_builder(tid, false).build()
                        }
                        r => r,
                    }
                    .map_err(|e| describe_open_error(&e, spec.needs_pmu()))
                })
                .collect();
            let slot = match opened {
                Ok(cs) => Slot::Open(cs),
                Err(why) => Slot::Unavailable(why),
            };
            self.slots.push((spec.name.to_owned(), slot));
        }
        for (_, s) in &mut self.slots {
            if let Slot::Open(cs) = s {
                for c in cs {
                    c.reset().map_err(|e| format!("resetting a counter: {e}"))?;
                    c.enable().map_err(|e| format!("enabling a counter: {e}"))?;
                }
            }
        }
        Ok(())
    }

    /// Every counter divided by `calls` (the run's calls over all threads).
    pub fn finish(mut self, calls: u64) -> Result<Vec<PerCall>, String> {
        if let Some(e) = self.error.take() {
            return Err(e);
        }
        let mut out = Vec::new();
        for (name, slot) in &mut self.slots {
            let row = match slot {
                Slot::Unavailable(why) => PerCall {
                    name: name.clone(),
                    per_call: None,
                    total: None,
                    unavailable: Some(why.clone()),
                },
                Slot::Open(cs) => match total(cs) {
                    Ok(t) => PerCall {
                        name: name.clone(),
                        per_call: Some(t / calls.max(1) as f64),
                        total: Some(t),
                        unavailable: None,
                    },
                    Err(why) => PerCall {
                        name: name.clone(),
                        per_call: None,
                        total: None,
                        unavailable: Some(why),
                    },
                },
            };
            out.push(row);
        }
        Ok(out)
    }
}

/// The sum over the threads' counters, scaled when multiplexed.
fn total(cs: &mut [Counter]) -> Result<f64, String> {
    let mut sum = 0.0;
    for c in cs {
        let ct = c
            .read_count_and_time()
            .map_err(|e| format!("reading a counter: {e}"))?;
        sum += scale_count(ct.count, ct.time_enabled, ct.time_running)?.0;
    }
    Ok(sum)
}

impl RunHooks for ThreadCounterHooks {
    fn before(&mut self) {
        if let Err(e) = self.open() {
            self.error = Some(e);
        }
    }

    fn after(&mut self) {
        for (_, s) in &mut self.slots {
            if let Slot::Open(cs) = s {
                for c in cs {
                    let _ = c.disable();
                }
            }
        }
    }
}
