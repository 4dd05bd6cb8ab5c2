//! Behaviour of perf counter sets: forced open failures are reported with a reason, mixed
//! sets still count their available events, and software counters give plausible values.

use std::hint::black_box;

use callin_bench::profile::counters::{
    CounterSet, EventSpec, Grouping, MIN_BATCH_ITERS, ProfileError,
};
use callin_bench::profile::{hardware_events, measure_batch, software_events};
use perf_event::events::Software;

mod common;

/// `PERF_TYPE_SOFTWARE` (linux/perf_event.h).
const PERF_TYPE_SOFTWARE: u32 = 1;

/// A software event id far beyond `PERF_COUNT_SW_MAX`: every kernel rejects it with ENOENT
/// (perf_swevent_init), on any machine, PMU or not.
fn invalid_event() -> EventSpec {
    EventSpec::attr("invalid-sw-event", PERF_TYPE_SOFTWARE, 0xFFFF)
}

fn task_clock() -> EventSpec {
    EventSpec::software("task-clock", "ns", Software::TASK_CLOCK)
}

/// Whether perf works here at all (task-clock opens); the `_or_skip` tests that need it say
/// why they skip otherwise.
fn perf_usable() -> bool {
    let set = CounterSet::open("probe", &[task_clock()], Grouping::Separate);
    let unavailable = set.unavailable();
    if !unavailable.is_empty() {
        common::skip(&format!("perf_event_open unusable here: {unavailable:?}"));
    }
    unavailable.is_empty()
}

fn spin(n: u64) -> u64 {
    (0..n).fold(0u64, |acc, i| {
        black_box(acc.wrapping_mul(31).wrapping_add(i))
    })
}

#[test]
#[cfg_attr(not(target_os = "linux"), ignore)]
fn forced_open_failure_is_unavailable_with_reason() {
    for grouping in [Grouping::Group, Grouping::Separate] {
        let mut set = CounterSet::open("forced", &[invalid_event()], grouping);
        assert!(set.available().is_empty(), "{grouping:?}");
        let unavailable = set.unavailable();
        assert_eq!(unavailable.len(), 1);
        let (name, why) = unavailable[0];
        assert_eq!(name, "invalid-sw-event");
        assert!(
            why.starts_with("ENOENT") || why.contains("failed"),
            "reason names the error: {why}"
        );
        let r = &set.read().expect("reading a set with no open counter")[0];
        assert_eq!(
            r.value, None,
            "an unavailable event is never reported as zero"
        );
        assert!(r.unavailable.is_some());
    }
}

#[test]
#[cfg_attr(not(target_os = "linux"), ignore)]
fn mixed_set_counts_the_available_events_or_skip() {
    if !perf_usable() {
        return;
    }
    for grouping in [Grouping::Group, Grouping::Separate] {
        let specs = [
            invalid_event(),
            task_clock(),
            EventSpec::hardware("cycles", perf_event::events::Hardware::CPU_CYCLES),
        ];
        let mut set = CounterSet::open("mixed", &specs, grouping);
        assert!(set.available().contains(&"task-clock"));
        assert!(
            set.unavailable()
                .iter()
                .any(|(n, _)| *n == "invalid-sw-event")
        );
        set.reset().unwrap();
        set.enable().unwrap();
        black_box(spin(2_000_000));
        set.disable().unwrap();
        let readings = set.read().unwrap();
        assert_eq!(readings.len(), 3, "one reading per spec");
        assert_eq!(readings[0].value, None);
        let tc = readings[1].value.expect("task-clock has a value");
        assert!(
            tc > 0.0,
            "task-clock counted the busy loop ({grouping:?}): {tc}"
        );
        // cycles: a value on a PMU machine, a reason on this VM — never a silent zero.
        assert!(
            readings[2].value.is_some() != readings[2].unavailable.is_some(),
            "{:?}",
            readings[2]
        );
    }
}

#[test]
#[cfg_attr(not(target_os = "linux"), ignore)]
fn hardware_set_reports_each_event_as_value_or_reason() {
    let mut set = CounterSet::hardware();
    assert_eq!(set.statuses().len(), hardware_events().len());
    set.enable().unwrap();
    black_box(spin(100_000));
    set.disable().unwrap();
    for r in set.read().unwrap() {
        match (&r.value, &r.unavailable) {
            (Some(_), None) => {}
            (None, Some(why)) => assert!(!why.is_empty()),
            other => panic!("{}: value and reason must be exclusive: {other:?}", r.name),
        }
    }
}

#[test]
#[cfg_attr(not(target_os = "linux"), ignore)]
fn software_batch_gives_plausible_per_op_values_or_skip() {
    if !perf_usable() {
        return;
    }
    let mut sets = [CounterSet::software()];
    let batch = measure_batch(&mut sets, MIN_BATCH_ITERS, || {
        black_box(spin(100));
    })
    .unwrap();
    assert_eq!(batch.per_op.len(), software_events().len());
    let get = |name: &str| batch.per_op.iter().find(|r| r.name == name).unwrap();
    let tc = get("task-clock");
    assert_eq!(tc.unit, "ns");
    let tc_ns = tc.value.expect("task-clock opened");
    assert!(tc_ns > 0.0, "busy loop consumes CPU time: {tc_ns} ns/op");
    // task-clock is this thread's CPU time; it cannot exceed the batch's wall time by more
    // than the enable/disable slack amortised over the batch.
    assert!(
        tc_ns <= batch.wall_ns_per_op * 1.5 + 1.0,
        "task-clock {tc_ns} vs wall {}",
        batch.wall_ns_per_op
    );
    for name in ["context-switches", "cpu-migrations", "page-faults"] {
        let r = get(name);
        match r.value {
            // A real count (possibly 0) only because the event opened.
            Some(v) => assert!(v >= 0.0 && r.unavailable.is_none(), "{r:?}"),
            None => assert!(r.unavailable.is_some(), "{name} with no value must say why"),
        }
    }
}

#[test]
#[cfg_attr(not(target_os = "linux"), ignore)]
fn batch_smaller_than_minimum_is_rejected() {
    let mut sets = [CounterSet::software()];
    let err = measure_batch(&mut sets, MIN_BATCH_ITERS - 1, || {}).unwrap_err();
    assert!(matches!(err, ProfileError::BatchTooSmall { iters } if iters == MIN_BATCH_ITERS - 1));
    assert!(err.to_string().contains("too small"), "{err}");
}

#[test]
#[cfg_attr(not(target_os = "linux"), ignore)]
fn disabled_counters_do_not_count_or_skip() {
    if !perf_usable() {
        return;
    }
    let mut set = CounterSet::open("tc", &[task_clock()], Grouping::Group);
    set.enable().unwrap();
    black_box(spin(1_000_000));
    set.disable().unwrap();
    assert!(set.read().unwrap()[0].value.unwrap() > 0.0);
    set.reset().unwrap();
    black_box(spin(1_000_000));
    let r = &set.read().unwrap()[0];
    assert_eq!(
        r.value,
        Some(0.0),
        "disabled since the reset: a real zero, not scaled: {r:?}"
    );
    assert!(!r.scaled);
}

#[test]
#[cfg_attr(not(target_os = "linux"), ignore)]
fn batch_over_both_sets_reports_every_event_once() {
    let mut sets = [CounterSet::hardware(), CounterSet::software()];
    let batch = measure_batch(&mut sets, MIN_BATCH_ITERS, || {
        black_box(spin(10));
    })
    .unwrap();
    let names: Vec<&str> = batch.per_op.iter().map(|r| r.name).collect();
    let expected: Vec<&str> = hardware_events()
        .iter()
        .chain(&software_events())
        .map(|e| e.name)
        .collect();
    assert_eq!(names, expected);
    assert!(batch.wall_ns_per_op > 0.0);
    for r in &batch.per_op {
        assert!(r.value.is_some() != r.unavailable.is_some(), "{r:?}");
    }
}

/// Regression: on Linux 6.18 a `task-clock` that was the last member of a dummy-led group (or
/// followed by `cpu-clock`) read 0 after a busy loop; clock events now open outside the group.
#[test]
#[cfg_attr(not(target_os = "linux"), ignore)]
fn clock_events_count_in_every_group_position_or_skip() {
    if !perf_usable() {
        return;
    }
    let cs = || EventSpec::software("context-switches", "events", Software::CONTEXT_SWITCHES);
    let cpu_clock = || EventSpec::software("cpu-clock", "ns", Software::CPU_CLOCK);
    let orders: [Vec<EventSpec>; 4] = [
        vec![task_clock()],
        vec![cs(), task_clock()],
        vec![task_clock(), cpu_clock()],
        vec![cpu_clock(), cs(), task_clock()],
    ];
    for specs in orders {
        let names: Vec<&str> = specs.iter().map(|s| s.name).collect();
        let mut set = CounterSet::open("order", &specs, Grouping::Group);
        set.reset().unwrap();
        set.enable().unwrap();
        black_box(spin(1_000_000));
        set.disable().unwrap();
        for r in set.read().unwrap() {
            if r.unit == "ns" {
                let v = r
                    .value
                    .unwrap_or_else(|| panic!("{} in {names:?}: {r:?}", r.name));
                assert!(
                    v > 0.0,
                    "{} counted the busy loop in {names:?}: {v}",
                    r.name
                );
            }
        }
    }
}
