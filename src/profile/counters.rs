//! perf-event counter sets: owns opening the hardware and software event sets for the calling
//! thread, recording every event that fails to open as *unavailable with the OS reason*
//! (never as zero), multiplex scaling, and batch measurement (enable around ≥ 10⁴ iterations,
//! then divide).
//!
//! Why batches: one group read costs about 0.5 µs on the development VM, more than a whole
//! call-in, so counters are never read per call.
//!
//! Why each set is a group of *only the events that opened*: a perf group is scheduled all or
//! nothing, and an event that fails at `perf_event_open` never joins it, so the available
//! events still count together. The leader is the `dummy` software event, which opens
//! wherever perf is usable at all. A group that the PMU cannot schedule (more hardware events
//! than counters, e.g. with the NMI watchdog holding one) reads `time_running = 0`; its events
//! are then reported unavailable for that read, and [`Grouping::Separate`] opens each event on
//! its own instead so the kernel multiplexes them individually (values are scaled by
//! `time_enabled / time_running` and flagged `scaled`).
//!
//! Why the clock events (`task-clock`, `cpu-clock`) never join the group: on Linux 6.18 (the
//! development VM) a `task-clock` that is the *last* member of a group led by `dummy`, or is
//! followed by `cpu-clock`, reads 0 after the group ran a busy loop (190–200 of 200 trials),
//! while the same event read correctly as a group leader, before another member, or on its own
//! (0 of 200); the kernel's clock events were reworked in 2025 ("perf: Fix the throttle error
//! of some clock events" and its 0-count follow-up for cpu-clock). Clock events are hrtimer
//! software events: they need no PMU counter and are never multiplexed, so a group adds nothing
//! for them. They are opened on their own and enabled, disabled, reset and read next to the group.
//!
//! Linux only, like the `perf-event2` crate (imported as `perf_event`).

use std::io;
use std::time::Instant;

use perf_event::events::{Cache, CacheId, CacheOp, CacheResult, Hardware, Software};
use perf_event::{Builder, CountAndTime, Counter, Group, GroupData};
use serde::Serialize;

/// Smallest batch [`measure_batch`] accepts: with a ≈0.5 µs read and ≈1 µs of enable/disable
/// per batch, 10⁴ iterations of even a 10 ns operation keep that overhead under 2 %.
pub const MIN_BATCH_ITERS: u64 = 10_000;

/// What the kernel is asked to count.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EventKind {
    /// `PERF_TYPE_HARDWARE` generalised event.
    Hardware(Hardware),
    /// `PERF_TYPE_SOFTWARE` kernel event.
    Software(Software),
    /// `PERF_TYPE_HW_CACHE` event.
    Cache(Cache),
    /// Any `(type, config)` pair, e.g. a raw PMU event or a deliberately invalid one.
    Attr {
        /// `perf_event_attr.type`.
        type_: u32,
        /// `perf_event_attr.config`.
        config: u64,
    },
}

/// One event to open: a display name, its unit, and what to count.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventSpec {
    /// Name used in tables and JSON (`cycles`, `task-clock`, …).
    pub name: &'static str,
    /// Unit of the value: `"events"`, or `"ns"` for the clock events.
    pub unit: &'static str,
    /// The event itself.
    pub kind: EventKind,
}

impl EventSpec {
    /// A hardware event counted in events.
    pub fn hardware(name: &'static str, event: Hardware) -> EventSpec {
        EventSpec {
            name,
            unit: "events",
            kind: EventKind::Hardware(event),
        }
    }

    /// A software event with the given unit.
    pub fn software(name: &'static str, unit: &'static str, event: Software) -> EventSpec {
        EventSpec {
            name,
            unit,
            kind: EventKind::Software(event),
        }
    }

    /// A read-miss cache event for `which` cache.
    pub fn cache_read_misses(name: &'static str, which: CacheId) -> EventSpec {
        let cache = Cache {
            which,
            operation: CacheOp::READ,
            result: CacheResult::MISS,
        };
        EventSpec {
            name,
            unit: "events",
            kind: EventKind::Cache(cache),
        }
    }

    /// An arbitrary `(type, config)` event.
    pub fn attr(name: &'static str, type_: u32, config: u64) -> EventSpec {
        EventSpec {
            name,
            unit: "events",
            kind: EventKind::Attr { type_, config },
        }
    }

    /// True for the hrtimer-based clock events (`task-clock`, `cpu-clock`), which a
    /// [`Grouping::Group`] set opens outside its group (see the module docs).
    pub fn is_clock(&self) -> bool {
        match &self.kind {
            EventKind::Software(e) => *e == Software::TASK_CLOCK || *e == Software::CPU_CLOCK,
            // PERF_TYPE_SOFTWARE = 1; PERF_COUNT_SW_CPU_CLOCK = 0, PERF_COUNT_SW_TASK_CLOCK = 1.
            EventKind::Attr { type_, config } => *type_ == 1 && matches!(config, 0 | 1),
            EventKind::Hardware(_) | EventKind::Cache(_) => false,
        }
    }

    /// True for hardware and hardware-cache events (those that need a PMU).
    pub fn needs_pmu(&self) -> bool {
        match self.kind {
            EventKind::Hardware(_) | EventKind::Cache(_) => true,
            EventKind::Software(_) => false,
            // PERF_TYPE_SOFTWARE = 1, PERF_TYPE_TRACEPOINT = 2 (linux/perf_event.h); others are PMUs.
            EventKind::Attr { type_, .. } => !matches!(type_, 1 | 2),
        }
    }

    fn builder(&self) -> Builder<'static> {
        let mut b = self.unattached_builder();
        // The calling thread only (pid 0, cpu -1), not its children; user space only, which
        // is also what perf_event_paranoid = 2 permits, except for the events that only fire
        // in the kernel (see `fires_in_kernel`).
        b.observe_self()
            .any_cpu()
            .inherit(false)
            .exclude_kernel(!self.fires_in_kernel())
            .exclude_hv(true);
        b
    }

    /// Context switches and CPU migrations happen in the scheduler: with `exclude_kernel` they
    /// always count 0 (`perf stat -e context-switches:u` reads 0 where `context-switches` reads
    /// 321 for 50 sleeps on Linux 6.18), so they count kernel mode, and are unavailable with the
    /// reason where that is not permitted, rather than a silent zero.
    pub fn fires_in_kernel(&self) -> bool {
        match &self.kind {
            EventKind::Software(e) => {
                *e == Software::CONTEXT_SWITCHES || *e == Software::CPU_MIGRATIONS
            }
            // PERF_TYPE_TRACEPOINT = 2: tracepoints fire in the kernel.
            EventKind::Attr { type_, .. } => *type_ == 2,
            EventKind::Hardware(_) | EventKind::Cache(_) => false,
        }
    }

    /// A builder counting this event on thread `tid` (any CPU, not its children), with kernel
    /// mode counted when `kernel`: context switches, migrations and the futex tracepoint happen in
    /// the kernel, so excluding it would count them as zero.
    pub fn thread_builder(&self, tid: libc::pid_t, kernel: bool) -> Builder<'static> {
        let mut b = self.unattached_builder();
        b.observe_pid(tid)
            .any_cpu()
            .inherit(false)
            .exclude_kernel(!kernel)
            .exclude_hv(true);
        b
    }

    fn unattached_builder(&self) -> Builder<'static> {
        match &self.kind {
            EventKind::Hardware(e) => Builder::new(*e),
            EventKind::Software(e) => Builder::new(*e),
            EventKind::Cache(e) => Builder::new(e.clone()),
            EventKind::Attr { type_, config } => {
                let mut b = Builder::new(Software::DUMMY);
                b.attrs_mut().type_ = *type_;
                b.attrs_mut().config = *config;
                b
            }
        }
    }
}

/// The hardware set: cycles, instructions, branches, branch-misses, L1d and LLC read misses.
pub fn hardware_events() -> Vec<EventSpec> {
    vec![
        EventSpec::hardware("cycles", Hardware::CPU_CYCLES),
        EventSpec::hardware("instructions", Hardware::INSTRUCTIONS),
        EventSpec::hardware("branches", Hardware::BRANCH_INSTRUCTIONS),
        EventSpec::hardware("branch-misses", Hardware::BRANCH_MISSES),
        EventSpec::cache_read_misses("L1d-read-misses", CacheId::L1D),
        EventSpec::cache_read_misses("LLC-read-misses", CacheId::LL),
    ]
}

/// The software set: task-clock (ns), context-switches, cpu-migrations, page-faults.
pub fn software_events() -> Vec<EventSpec> {
    vec![
        EventSpec::software("task-clock", "ns", Software::TASK_CLOCK),
        EventSpec::software("context-switches", "events", Software::CONTEXT_SWITCHES),
        EventSpec::software("cpu-migrations", "events", Software::CPU_MIGRATIONS),
        EventSpec::software("page-faults", "events", Software::PAGE_FAULTS),
    ]
}

/// How a [`CounterSet`] opens its events.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Grouping {
    /// One perf group (dummy leader + every non-clock event that opened): one read, one time
    /// base; clock events are opened on their own beside it (module docs).
    Group,
    /// Every event on its own: the kernel multiplexes each independently.
    Separate,
}

/// One event's value in a [`CounterSet::read`] or per operation in a [`BatchReading`].
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CounterReading {
    /// Event name, as in [`EventSpec::name`].
    pub name: &'static str,
    /// Unit of `value`.
    pub unit: &'static str,
    /// The count (scaled when multiplexed); `None` when unavailable.
    pub value: Option<f64>,
    /// Why there is no value: the open error, or a scheduling failure.
    pub unavailable: Option<String>,
    /// The event ran only part of the enabled time and `value` was scaled up.
    pub scaled: bool,
}

impl CounterReading {
    fn unavailable(spec: &EventSpec, why: String) -> CounterReading {
        CounterReading {
            name: spec.name,
            unit: spec.unit,
            value: None,
            unavailable: Some(why),
            scaled: false,
        }
    }

    fn from_counts(spec: &EventSpec, raw: CounterSnapshot) -> CounterReading {
        match scale_count(raw.count, raw.enabled_ns, raw.running_ns) {
            Ok((value, scaled)) => CounterReading {
                name: spec.name,
                unit: spec.unit,
                value: Some(value),
                unavailable: None,
                scaled,
            },
            Err(why) => CounterReading::unavailable(spec, why),
        }
    }
}

/// Scale a multiplexed count by `enabled / running`: `(value, scaled)`, or `Err` with the
/// reason when the event never ran. Every perf count the suite reports goes through this.
///
/// A counter never enabled (both times 0) is a real zero; a counter enabled but never
/// scheduled (`running == 0 < enabled`) has no value at all, never a zero.
pub fn scale_count(count: u64, enabled_ns: u64, running_ns: u64) -> Result<(f64, bool), String> {
    if running_ns == enabled_ns {
        return Ok((count as f64, false));
    }
    if running_ns == 0 {
        return Err(format!(
            "not scheduled: time_running = 0 of time_enabled = {enabled_ns} ns \
             (more hardware events than PMU counters, or the PMU is held by another user)"
        ));
    }
    Ok((count as f64 * enabled_ns as f64 / running_ns as f64, true))
}

/// Cumulative values of one event: count and the kernel's enabled/running times (ns).
///
/// `PERF_EVENT_IOC_RESET` zeroes the count but not the times, so scaling after a reset
/// uses times relative to a baseline taken at the reset; the criterion measurement
/// ([`super::measurement`]) scales the difference of two snapshots the same way.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CounterSnapshot {
    /// Raw count since the counter was opened (or reset).
    pub count: u64,
    /// Time the counter was enabled, ns.
    pub enabled_ns: u64,
    /// Time the counter was actually counting (on the PMU, for hardware events), ns.
    pub running_ns: u64,
}

impl CounterSnapshot {
    /// A snapshot of `count` after `enabled_ns` enabled, `running_ns` running.
    pub const fn new(count: u64, enabled_ns: u64, running_ns: u64) -> CounterSnapshot {
        CounterSnapshot {
            count,
            enabled_ns,
            running_ns,
        }
    }

    /// The counts and times from `base` to `self`.
    pub fn since(self, base: CounterSnapshot) -> CounterSnapshot {
        CounterSnapshot {
            count: self.count.saturating_sub(base.count),
            enabled_ns: self.enabled_ns.saturating_sub(base.enabled_ns),
            running_ns: self.running_ns.saturating_sub(base.running_ns),
        }
    }
}

impl From<CountAndTime> for CounterSnapshot {
    fn from(ct: CountAndTime) -> CounterSnapshot {
        CounterSnapshot::new(ct.count, ct.time_enabled, ct.time_running)
    }
}

enum Slot {
    /// Opened; `base` is the raw value at the last reset (zero at open). `solo`: opened on its
    /// own (every event of a [`Grouping::Separate`] set, clock events of a grouped one).
    Open {
        counter: Counter,
        base: CounterSnapshot,
        solo: bool,
    },
    Unavailable(String),
}

impl Slot {
    fn unavailable_reason(&self) -> Option<&str> {
        match self {
            Slot::Unavailable(why) => Some(why),
            Slot::Open { .. } => None,
        }
    }
}

/// A set of counters on the calling thread; opening never fails as a whole.
///
/// Counters count only while enabled, and only the thread that opened the set.
pub struct CounterSet {
    label: &'static str,
    grouping: Grouping,
    /// Group leader, in [`Grouping::Group`] mode when it opened.
    leader: Option<Group>,
    events: Vec<(EventSpec, Slot)>,
}

impl CounterSet {
    /// Open `specs` for the calling thread; events that fail are kept as unavailable.
    pub fn open(label: &'static str, specs: &[EventSpec], grouping: Grouping) -> CounterSet {
        match grouping {
            Grouping::Group => Self::open_grouped(label, specs),
            Grouping::Separate => {
                let events = specs
                    .iter()
                    .map(|s| (s.clone(), open_slot(s, None)))
                    .collect();
                CounterSet {
                    label,
                    grouping,
                    leader: None,
                    events,
                }
            }
        }
    }

    fn open_grouped(label: &'static str, specs: &[EventSpec]) -> CounterSet {
        let mut leader_builder = Group::builder();
        leader_builder.observe_self().any_cpu().inherit(false);
        let mut leader = match leader_builder.build_group() {
            Ok(g) => g,
            Err(e) => {
                let why = format!(
                    "group leader (dummy event) failed: {}",
                    describe_open_error(&e, false)
                );
                let events = specs
                    .iter()
                    .map(|s| (s.clone(), Slot::Unavailable(why.clone())))
                    .collect();
                return CounterSet {
                    label,
                    grouping: Grouping::Group,
                    leader: None,
                    events,
                };
            }
        };
        let events = specs
            .iter()
            .map(|s| {
                let group = (!s.is_clock()).then_some(&mut leader);
                (s.clone(), open_slot(s, group))
            })
            .collect();
        CounterSet {
            label,
            grouping: Grouping::Group,
            leader: Some(leader),
            events,
        }
    }

    /// The hardware set ([`hardware_events`]) as one group.
    pub fn hardware() -> CounterSet {
        CounterSet::open("hardware", &hardware_events(), Grouping::Group)
    }

    /// The software set ([`software_events`]) as one group.
    pub fn software() -> CounterSet {
        CounterSet::open("software", &software_events(), Grouping::Group)
    }

    /// The set's label (`hardware`, `software`, …).
    pub fn label(&self) -> &'static str {
        self.label
    }

    /// How the events were opened.
    pub fn grouping(&self) -> Grouping {
        self.grouping
    }

    /// Names of the events that opened.
    pub fn available(&self) -> Vec<&'static str> {
        self.events
            .iter()
            .filter(|(_, s)| matches!(s, Slot::Open { .. }))
            .map(|(e, _)| e.name)
            .collect()
    }

    /// `(name, reason)` of the events that did not open.
    pub fn unavailable(&self) -> Vec<(&'static str, &str)> {
        self.statuses()
            .into_iter()
            .filter_map(|(name, why)| why.map(|w| (name, w)))
            .collect()
    }

    /// `(name, None)` for each event that opened, `(name, Some(reason))` otherwise, in spec order.
    pub fn statuses(&self) -> Vec<(&'static str, Option<&str>)> {
        self.events
            .iter()
            .map(|(e, s)| (e.name, s.unavailable_reason()))
            .collect()
    }

    /// Start counting.
    pub fn enable(&mut self) -> io::Result<()> {
        self.for_each_counter(Counter::enable, Group::enable)
    }

    /// Stop counting; values are kept.
    pub fn disable(&mut self) -> io::Result<()> {
        self.for_each_counter(Counter::disable, Group::disable)
    }

    /// Set every counter (and its enabled/running times' base) back to zero.
    pub fn reset(&mut self) -> io::Result<()> {
        self.for_each_counter(Counter::reset, Group::reset)?;
        let raw = self.read_raw()?;
        for ((_, slot), now) in self.events.iter_mut().zip(raw) {
            if let (Slot::Open { base, .. }, Ok(now)) = (slot, now) {
                *base = now;
            }
        }
        Ok(())
    }

    fn for_each_counter(
        &mut self,
        single: fn(&mut Counter) -> io::Result<()>,
        group: fn(&mut Group) -> io::Result<()>,
    ) -> io::Result<()> {
        if let Some(leader) = self.leader.as_mut() {
            group(leader)?;
        }
        for (_, slot) in &mut self.events {
            if let Slot::Open {
                counter,
                solo: true,
                ..
            } = slot
            {
                single(counter)?;
            }
        }
        Ok(())
    }

    /// Values since the last reset (or open), one reading per spec, in spec order.
    ///
    /// Multiplexed events are scaled by their enabled/running times over the same interval.
    pub fn read(&mut self) -> io::Result<Vec<CounterReading>> {
        let raw = self.read_raw()?;
        let reading = |((spec, slot), now): (
            &(EventSpec, Slot),
            Result<CounterSnapshot, String>,
        )| match (slot, now) {
            (Slot::Open { base, .. }, Ok(now)) => {
                CounterReading::from_counts(spec, now.since(*base))
            }
            (_, Err(why)) => CounterReading::unavailable(spec, why),
            (Slot::Unavailable(why), Ok(_)) => CounterReading::unavailable(spec, why.clone()),
        };
        Ok(self.events.iter().zip(raw).map(reading).collect())
    }

    /// Cumulative raw values, `Err(reason)` per event without one.
    fn read_raw(&mut self) -> io::Result<Vec<Result<CounterSnapshot, String>>> {
        let group = match self.leader.as_mut() {
            Some(leader) => Some(leader.read()?),
            None => None,
        };
        self.events
            .iter_mut()
            .map(|(_, slot)| read_slot(slot, group.as_ref()))
            .collect()
    }
}

fn open_slot(spec: &EventSpec, leader: Option<&mut Group>) -> Slot {
    let builder = spec.builder();
    let solo = leader.is_none();
    let opened = match leader {
        Some(g) => g.add(&builder),
        None => builder.build(),
    };
    match opened {
        Ok(counter) => Slot::Open {
            counter,
            base: CounterSnapshot::default(),
            solo,
        },
        Err(e) => Slot::Unavailable(describe_open_error(&e, spec.needs_pmu())),
    }
}

/// Cumulative raw value of one event: from the group read for a grouped event, from its own
/// fd for a solo one.
fn read_slot(
    slot: &mut Slot,
    group: Option<&GroupData>,
) -> io::Result<Result<CounterSnapshot, String>> {
    match slot {
        Slot::Unavailable(why) => Ok(Err(why.clone())),
        Slot::Open {
            counter,
            solo: true,
            ..
        } => Ok(Ok(counter.read_count_and_time()?.into())),
        Slot::Open { counter, .. } => {
            let Some(data) = group else {
                return Ok(Err("grouped event without a group leader".to_owned()));
            };
            let Some(entry) = data.get(counter) else {
                return Ok(Err("missing from the group read".to_owned()));
            };
            let ns = |d: Option<std::time::Duration>| d.map_or(0, |d| d.as_nanos() as u64);
            Ok(Ok(CounterSnapshot::new(
                entry.value(),
                ns(data.time_enabled()),
                ns(data.time_running()),
            )))
        }
    }
}

/// Counters per operation over one batch, with the batch's wall time.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct BatchReading {
    /// Iterations in the batch.
    pub iters: u64,
    /// Wall-clock time per iteration (`Instant` around the batch, counter control excluded).
    pub wall_ns_per_op: f64,
    /// Every event of every set, divided by `iters`; unavailable ones stay `None`.
    pub per_op: Vec<CounterReading>,
}

/// Errors of batch measurement.
#[derive(Debug)]
pub enum ProfileError {
    /// The batch is too small for the counter overhead to vanish.
    BatchTooSmall {
        /// Requested iterations.
        iters: u64,
    },
    /// An ioctl or read on an opened counter failed.
    Counter(io::Error),
}

impl std::fmt::Display for ProfileError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ProfileError::BatchTooSmall { iters } => write!(
                f,
                "batch of {iters} iterations is too small: counters need at least {MIN_BATCH_ITERS} \
                 (a group read costs about 0.5 µs, more than one call)"
            ),
            ProfileError::Counter(e) => write!(f, "perf counter control failed: {e}"),
        }
    }
}

impl std::error::Error for ProfileError {}

impl From<io::Error> for ProfileError {
    fn from(e: io::Error) -> Self {
        ProfileError::Counter(e)
    }
}

/// Run `op` `iters` times with every set in `sets` enabled around the whole batch, and
/// return each counter divided by `iters`.
///
/// The sets are reset first; enable/disable happen outside the timed loop, so the counts
/// include only the loop and the (constant) cost of one enable and one disable ioctl.
pub fn measure_batch(
    sets: &mut [CounterSet],
    iters: u64,
    mut op: impl FnMut(),
) -> Result<BatchReading, ProfileError> {
    measure_run(sets, iters, |n| {
        for _ in 0..n {
            op();
        }
    })
}

/// Like [`measure_batch`], for an operation that runs its own loop: `run(iters)` must perform
/// exactly `iters` operations (e.g. `rts_core::scaffolding::phases::PhaseLoop::run`).
pub fn measure_run(
    sets: &mut [CounterSet],
    iters: u64,
    run: impl FnOnce(u64),
) -> Result<BatchReading, ProfileError> {
    if iters < MIN_BATCH_ITERS {
        return Err(ProfileError::BatchTooSmall { iters });
    }
    for s in sets.iter_mut() {
        s.reset()?;
        s.enable()?;
    }
    let start = Instant::now();
    run(iters);
    let wall = start.elapsed();
    for s in sets.iter_mut().rev() {
        s.disable()?;
    }
    let mut per_op = Vec::new();
    for s in sets.iter_mut() {
        per_op.extend(s.read()?.into_iter().map(|r| per_iteration(r, iters)));
    }
    Ok(BatchReading {
        iters,
        wall_ns_per_op: wall.as_nanos() as f64 / iters as f64,
        per_op,
    })
}

fn per_iteration(mut r: CounterReading, iters: u64) -> CounterReading {
    r.value = r.value.map(|v| v / iters as f64);
    r
}

/// Describe a `perf_event_open` failure as `ERRNO: meaning`, with the likely cause here.
pub fn describe_open_error(e: &io::Error, needs_pmu: bool) -> String {
    let Some(code) = e.raw_os_error() else {
        return format!("{:?}: {e}", e.kind()); // E2BIG is mapped to Unsupported by perf-event2
    };
    let meaning = match code {
        libc::ENOENT if needs_pmu => {
            "event not supported (no hardware PMU exposed, e.g. in this VM)".to_owned()
        }
        libc::ENOENT => "event not supported by this kernel".to_owned(),
        libc::EACCES | libc::EPERM => format!(
            "permission denied (perf_event_paranoid={})",
            paranoid_level()
        ),
        libc::EOPNOTSUPP => "the PMU lacks a requested feature".to_owned(),
        libc::ENODEV => "no such PMU device".to_owned(),
        libc::EINVAL => "invalid event attributes for this kernel/PMU".to_owned(),
        libc::EMFILE => "too many open files".to_owned(),
        libc::EBUSY => "PMU held exclusively by another user".to_owned(),
        libc::ENOSYS => "perf_event_open not available (kernel or seccomp)".to_owned(),
        _ => e.to_string(),
    };
    format!("{}: {meaning}", errno_name(code))
}

fn errno_name(code: i32) -> String {
    let name = match code {
        libc::ENOENT => "ENOENT",
        libc::EACCES => "EACCES",
        libc::EPERM => "EPERM",
        libc::EOPNOTSUPP => "EOPNOTSUPP",
        libc::ENODEV => "ENODEV",
        libc::EINVAL => "EINVAL",
        libc::EMFILE => "EMFILE",
        libc::EBUSY => "EBUSY",
        libc::ENOSYS => "ENOSYS",
        _ => return format!("errno {code}"),
    };
    name.to_owned()
}

/// `/proc/sys/kernel/perf_event_paranoid`, or `?` when unreadable.
pub fn paranoid_level() -> String {
    std::fs::read_to_string("/proc/sys/kernel/perf_event_paranoid")
        .map(|s| s.trim().to_owned())
        .unwrap_or_else(|_| "?".to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unscaled_when_running_equals_enabled() {
        assert_eq!(scale_count(7, 100, 100), Ok((7.0, false)));
        assert_eq!(
            scale_count(0, 0, 0),
            Ok((0.0, false)),
            "never enabled is a real zero"
        );
    }

    #[test]
    fn multiplexed_count_is_scaled_and_flagged() {
        assert_eq!(scale_count(50, 100, 25), Ok((200.0, true)));
    }

    #[test]
    fn raw_counts_since_a_reset_baseline() {
        let base = CounterSnapshot::new(0, 1_000, 400);
        let d = CounterSnapshot::new(30, 1_100, 450).since(base);
        assert_eq!(d, CounterSnapshot::new(30, 100, 50));
        assert_eq!(
            scale_count(d.count, d.enabled_ns, d.running_ns),
            Ok((60.0, true))
        );
    }

    #[test]
    fn never_scheduled_is_unavailable_not_zero() {
        let why = scale_count(0, 100, 0).unwrap_err();
        assert!(why.starts_with("not scheduled"), "{why}");
    }

    #[test]
    fn open_errors_name_the_errno_and_cause() {
        let enoent = io::Error::from_raw_os_error(libc::ENOENT);
        assert!(
            describe_open_error(&enoent, true)
                .starts_with("ENOENT: event not supported (no hardware PMU")
        );
        let eacces = io::Error::from_raw_os_error(libc::EACCES);
        assert!(
            describe_open_error(&eacces, true)
                .starts_with("EACCES: permission denied (perf_event_paranoid=")
        );
        let odd = io::Error::from_raw_os_error(libc::EXDEV);
        assert!(describe_open_error(&odd, false).starts_with(&format!("errno {}: ", libc::EXDEV)));
    }
}
