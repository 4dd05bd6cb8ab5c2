//! Phase probes (feature `probes`) on the real call path: the compiled C stub `c_function`.
#![cfg(feature = "probes")]

mod common;

use common::start_with;
use rts_core::probes::{self, Phase, Span};
use rts_core::{Config, PolicySet};

/// 16 KiB: the smallest nursery, so a few dozen calls exhaust it.
const SMALL_NURSERY: usize = 16 << 10;

fn config() -> Config {
    Config {
        n_capabilities: 1,
        nursery_bytes: SMALL_NURSERY,
        policy: PolicySet::DEFAULT,
        ..Config::default()
    }
}

fn c_function(x: i64) -> i64 {
    // SAFETY: the RTS is initialised by the caller (`start_with`).
    unsafe { rts_core::stub::c_function()(x) }
}

fn phases(spans: &[Span]) -> Vec<Phase> {
    spans.iter().map(|s| s.phase).collect()
}

/// One clock read per boundary: each span of a call starts exactly where the previous ended.
fn assert_contiguous(call: &[Span]) {
    for w in call.windows(2) {
        assert_eq!(
            w[0].end, w[1].start,
            "not contiguous: {:?} then {:?}",
            w[0], w[1]
        );
    }
}

/// A thread's spans split into calls (a call opens with `task_lookup`).
fn calls(spans: &[Span]) -> Vec<&[Span]> {
    let starts: Vec<usize> = (0..spans.len())
        .filter(|&i| spans[i].phase == Phase::TaskLookup)
        .chain([spans.len()])
        .collect();
    assert_eq!(starts[0], 0, "the recording opens with a call");
    starts.windows(2).map(|w| &spans[w[0]..w[1]]).collect()
}

const CALL_PHASES: [Phase; 12] = {
    use Phase::*;
    [
        TaskLookup,
        IncallPush,
        CapAcquire,
        MkInt,
        Apply,
        Apply,
        CreateThread,
        Schedule,
        CheckStatus,
        GetInt,
        CapRelease,
        IncallPop,
    ]
};

/// `CALL_PHASES` with a `gc` after `cap_acquire`.
fn call_phases_with_gc() -> Vec<Phase> {
    let mut v = CALL_PHASES.to_vec();
    v.insert(3, Phase::Gc);
    v
}

#[test]
fn every_call_is_twelve_contiguous_spans_without_exhaustion() {
    // The default nursery does not run out in 2000 calls of a dozen words each.
    let _rts = start_with(Config {
        nursery_bytes: Config::default().nursery_bytes,
        ..config()
    });
    std::thread::spawn(|| {
        assert_eq!(c_function(1), 2, "warm-up: Task and InCall exist");
        probes::start_recording(2000 * 13);
        for i in 0..2000 {
            assert_eq!(c_function(20_000 + i), 20_001 + i);
        }
        let spans = probes::stop_recording();
        assert_eq!(probes::dropped(), 0);
        let calls = calls(&spans);
        assert_eq!(calls.len(), 2000);
        for c in &calls {
            assert_eq!(phases(c), CALL_PHASES, "12 spans, apply twice, no gc");
            assert_contiguous(c);
        }
    })
    .join()
    .unwrap();
}

#[test]
fn one_call_records_every_phase_in_call_order() {
    let _rts = start_with(config());
    std::thread::spawn(|| {
        assert_eq!(c_function(1_000), 1_001, "warm-up: Task and InCall exist");
        probes::start_recording(64);
        assert_eq!(c_function(5_000), 5_001);
        let spans = probes::stop_recording();
        // A reclaim is possible only when the nursery is nearly full, not after one warm-up call.
        assert_eq!(phases(&spans), CALL_PHASES);
        for s in &spans {
            assert!(s.start <= s.end, "span {s:?} runs backwards");
        }
        assert_contiguous(&spans);
        assert_eq!(probes::dropped(), 0);
    })
    .join()
    .unwrap();
}

#[test]
fn full_buffer_drops_instead_of_overwriting() {
    let _rts = start_with(config());
    std::thread::spawn(|| {
        probes::start_recording(5);
        assert_eq!(c_function(7_000), 7_001);
        assert_eq!(c_function(7_001), 7_002);
        let spans = probes::stop_recording();
        assert_eq!(spans.len(), 5, "the buffer keeps exactly its capacity");
        assert_eq!(
            &phases(&spans)[..3],
            [Phase::TaskLookup, Phase::IncallPush, Phase::CapAcquire],
            "the first spans are kept, not overwritten"
        );
        // Two calls make 24 spans (25 with a reclaim): all but the first 5 are dropped.
        assert!(
            probes::dropped() >= 2 * 12 - 5,
            "dropped {}",
            probes::dropped()
        );
    })
    .join()
    .unwrap();
}

#[test]
fn nursery_exhaustion_records_gc_inside_rts_lock() {
    let _rts = start_with(config());
    std::thread::spawn(|| {
        probes::start_recording(1 << 16);
        // Each call allocates at least 12 words; 16 KiB minus the 8 KiB headroom runs out well
        // within 200 calls.
        for i in 0..200 {
            assert_eq!(c_function(10_000 + i), 10_001 + i);
        }
        let spans = probes::stop_recording();
        assert_eq!(probes::dropped(), 0);
        let gcs: Vec<usize> = (0..spans.len())
            .filter(|&i| spans[i].phase == Phase::Gc)
            .collect();
        assert!(
            !gcs.is_empty(),
            "no gc span in 200 calls on a 16 KiB nursery"
        );
        for &i in &gcs {
            assert_eq!(
                spans[i - 1].phase,
                Phase::CapAcquire,
                "gc follows cap_acquire"
            );
            assert_eq!(
                spans[i + 1].phase,
                Phase::MkInt,
                "the call goes on after the gc"
            );
            assert_eq!(spans[i - 1].end, spans[i].start);
        }
        let calls = calls(&spans);
        assert_eq!(calls.len(), 200);
        assert_eq!(spans.len(), 200 * 12 + gcs.len());
        for c in &calls {
            if c.len() == 12 {
                assert_eq!(phases(c), CALL_PHASES);
            } else {
                assert_eq!(phases(c), call_phases_with_gc(), "at most one gc per call");
            }
            assert_contiguous(c);
        }
        assert!(
            gcs.len() < calls.len() / 4,
            "gc only when the nursery runs out: {} gc spans in {} calls",
            gcs.len(),
            calls.len()
        );
    })
    .join()
    .unwrap();
}
