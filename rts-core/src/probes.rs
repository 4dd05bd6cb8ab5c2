//! In-situ phase probes (feature `probes`): timestamps at every phase boundary of a real call-in
//! (`rts_lock` .. `rts_unlock`), recorded into a per-thread, pre-allocated buffer.
//!
//! This module owns the probe clock and the per-thread span buffer. The call path records
//! through the crate-internal `probe_begin!` / `probe_mark!` macros (`api.rs`), which expand to
//! nothing without the feature, so a build without `probes` carries no trace of them.
//!
//! Recording: [`start_recording`] allocates this thread's buffer; each phase then appends one
//! [`Span`] (no allocation, no lock: a thread-local with const initialisation); a full buffer
//! counts the span in [`dropped`] instead of overwriting anything; [`stop_recording`] hands the
//! spans back in the order they were recorded. Threads that never start recording pay one
//! thread-local read per phase boundary and record nothing.
//!
//! Clock: `rdtsc` on x86_64 (no fence: it may be reordered by a few instructions, which is below
//! the resolution a phase needs, and it costs about half of `rdtscp`); elsewhere nanoseconds from
//! `CLOCK_MONOTONIC`. Converting ticks to nanoseconds is the caller's job (TSC calibration).

use std::cell::Cell;

/// A phase of the call-in path (DESIGN.md §1), in call order; same names and order as
/// `callin_reports::schema::Phase`.
#[repr(u8)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Phase {
    TaskLookup,
    IncallPush,
    CapAcquire,
    MkInt,
    Apply,
    CreateThread,
    Schedule,
    CheckStatus,
    GetInt,
    CapRelease,
    IncallPop,
    Gc,
}

impl Phase {
    /// Every phase, in call order (`Gc` last: it happens only on nursery exhaustion).
    pub const ALL: [Phase; 12] = [
        Phase::TaskLookup,
        Phase::IncallPush,
        Phase::CapAcquire,
        Phase::MkInt,
        Phase::Apply,
        Phase::CreateThread,
        Phase::Schedule,
        Phase::CheckStatus,
        Phase::GetInt,
        Phase::CapRelease,
        Phase::IncallPop,
        Phase::Gc,
    ];

    /// The DESIGN.md name, e.g. `"task_lookup"`.
    pub fn name(self) -> &'static str {
        match self {
            Phase::TaskLookup => "task_lookup",
            Phase::IncallPush => "incall_push",
            Phase::CapAcquire => "cap_acquire",
            Phase::MkInt => "mk_int",
            Phase::Apply => "apply",
            Phase::CreateThread => "create_thread",
            Phase::Schedule => "schedule",
            Phase::CheckStatus => "check_status",
            Phase::GetInt => "get_int",
            Phase::CapRelease => "cap_release",
            Phase::IncallPop => "incall_pop",
            Phase::Gc => "gc",
        }
    }
}

/// One phase of one call: `[start, end)` in raw clock ticks of [`now`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Span {
    pub phase: Phase,
    pub start: u64,
    pub end: u64,
}

/// The clock the probes use: the TSC on x86_64, else nanoseconds of `CLOCK_MONOTONIC`.
#[inline(always)]
pub fn now() -> u64 {
    #[cfg(target_arch = "x86_64")]
    {
        // SAFETY: `rdtsc` is available on every x86_64 CPU and has no memory effects.
        unsafe { core::arch::x86_64::_rdtsc() }
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        monotonic_ns()
    }
}

#[cfg(not(target_arch = "x86_64"))]
fn monotonic_ns() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid, writable timespec; CLOCK_MONOTONIC always exists on Linux.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}

/// Whether [`now`] reads the TSC (ticks need calibrating) rather than monotonic nanoseconds.
pub fn clock_is_tsc() -> bool {
    cfg!(target_arch = "x86_64")
}

/// This thread's span buffer: a raw `Vec<Span>` split into parts so recording is a bounds check
/// and a store (no `RefCell` flag, no capacity growth).
struct Recorder {
    buf: Cell<*mut Span>,
    len: Cell<usize>,
    cap: Cell<usize>,
    dropped: Cell<u64>,
}

impl Recorder {
    /// Take the buffer back as a `Vec` (empty if not recording) and stop recording.
    fn take(&self) -> Vec<Span> {
        let buf = self.buf.replace(std::ptr::null_mut());
        let len = self.len.replace(0);
        let cap = self.cap.replace(0);
        if buf.is_null() {
            return Vec::new();
        }
        // SAFETY: `buf`/`cap` came from a `Vec<Span>` in `start_recording`, its first `len`
        // elements were written by `record`, and the null we stored makes this the only owner.
        unsafe { Vec::from_raw_parts(buf, len, cap) }
    }
}

impl Drop for Recorder {
    fn drop(&mut self) {
        drop(self.take());
    }
}

std::thread_local! {
    static REC: Recorder = const {
        Recorder {
            buf: Cell::new(std::ptr::null_mut()),
            len: Cell::new(0),
            cap: Cell::new(0),
            dropped: Cell::new(0),
        }
    };
}

/// Start recording on this thread into a fresh buffer of `capacity` spans (replacing any
/// previous one, whose spans are discarded) and reset [`dropped`].
pub fn start_recording(capacity: usize) {
    let mut v: Vec<Span> = Vec::with_capacity(capacity.max(1));
    let (buf, cap) = (v.as_mut_ptr(), v.capacity());
    std::mem::forget(v);
    REC.with(|r| {
        drop(r.take());
        r.buf.set(buf);
        r.cap.set(cap);
        r.dropped.set(0);
    });
}

/// Stop recording on this thread; the spans recorded since [`start_recording`], in order.
pub fn stop_recording() -> Vec<Span> {
    REC.try_with(Recorder::take).unwrap_or_default()
}

/// Spans lost on this thread because the buffer was full (since the last [`start_recording`]).
pub fn dropped() -> u64 {
    REC.try_with(|r| r.dropped.get()).unwrap_or(0)
}

/// Append one span if this thread is recording; count it as dropped if the buffer is full.
#[inline]
pub(crate) fn record(phase: Phase, start: u64, end: u64) {
    let _ = REC.try_with(|r| {
        let (len, cap) = (r.len.get(), r.cap.get());
        if len < cap {
            // SAFETY: `len < cap`, so slot `len` is inside the buffer `start_recording` made.
            unsafe { r.buf.get().add(len).write(Span { phase, start, end }) };
            r.len.set(len + 1);
        } else if cap != 0 {
            r.dropped.set(r.dropped.get() + 1);
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_the_design_order() {
        let names: Vec<_> = Phase::ALL.iter().map(|p| p.name()).collect();
        assert_eq!(names[0], "task_lookup");
        assert_eq!(names[11], "gc");
        assert_eq!(Phase::ALL.len(), 12);
    }

    #[test]
    fn full_buffer_counts_drops_and_keeps_the_first_spans() {
        std::thread::spawn(|| {
            start_recording(2);
            for i in 0..5 {
                record(Phase::Apply, i, i + 1);
            }
            assert_eq!(dropped(), 3);
            let s = stop_recording();
            assert_eq!(s.iter().map(|s| s.start).collect::<Vec<_>>(), [0, 1]);
            record(Phase::Apply, 9, 10);
            assert_eq!(dropped(), 3, "nothing is recorded or dropped after stop");
            assert!(stop_recording().is_empty());
        })
        .join()
        .unwrap();
    }

    #[test]
    fn clock_does_not_go_backwards() {
        let a = now();
        let b = now();
        assert!(b >= a);
    }
}
