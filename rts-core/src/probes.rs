//! In-situ phase probes (feature `probes`): one timestamp at every phase boundary of a real
//! call-in (`rts_lock` .. `rts_unlock`), recorded into a per-thread, pre-faulted buffer.
//!
//! This module owns the probe clock, the per-thread span buffer and the thread's "last
//! boundary" timestamp. The call path records through the crate-internal `probe_start!` /
//! `probe_mark!` macros (`api.rs`), which expand to nothing without the feature, so a build
//! without `probes` carries no trace of them.
//!
//! Note [contiguous spans]
//! -----------------------
//! A call's spans are measured between boundaries, not as disjoint intervals. The first
//! boundary of a call (the entry of `rts_lock`, [`call_begins`]) reads the clock and keeps the
//! reading as this thread's last boundary; every later boundary ([`boundary`]) reads the clock
//! once, records `[last, now)` as the phase that just ended and makes `now` the last boundary.
//! So the spans of one call are contiguous (`span[i].end == span[i + 1].start`) from
//! `rts_lock`'s entry to `rts_unlock`'s exit, a call costs one clock read per boundary (13, or
//! 14 with a `gc`: 12 spans with `apply` twice, plus the first read), and nothing between
//! `rts_lock`'s entry and `rts_unlock`'s exit goes unmeasured. The price: the time *between*
//! two `rts_*` calls (the C stub's code, the return from one FFI call and the call into the
//! next) is attributed to the phase that follows it, e.g. `mk_int` includes returning from
//! `rts_lock` and entering `rts_mkInt`. Only the stub's code before `rts_lock` and after
//! `rts_unlock` is outside every span.
//!
//! Each span also carries the cost of one boundary (the tail of the boundary that opened it:
//! storing the previous span; the head of the one that closes it: the thread-local check and
//! the clock read). [`time_boundaries`] times that operation alone, so the profiler can
//! subtract it.
//!
//! Recording: [`start_recording`] allocates this thread's buffer and writes one span into
//! every page of it, so recording never page-faults; each boundary then appends one [`Span`]
//! (no allocation, no lock: a thread-local with const initialisation and no destructor, so
//! reaching it is one address computation); a full buffer counts the span in [`dropped`]
//! instead of overwriting anything; [`stop_recording`] hands the spans back in the order they
//! were recorded. Threads that never start recording pay one thread-local load and a branch
//! per boundary, and no clock read.
//!
//! Clock: `rdtsc` on x86_64 (no fence: it may be reordered by a few instructions, which is below
//! the resolution a phase needs, and it costs about half of `rdtscp`); elsewhere nanoseconds from
//! `CLOCK_MONOTONIC`. Converting ticks to nanoseconds is the caller's job (TSC calibration).

use std::cell::Cell;

/// A phase of the call-in path, from the suite's vocabulary (one definition for rts-core, the
/// harness, the JSON and the report).
pub use callin_vocab::Phase;

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

/// This thread's recording state: a raw `Vec<Span>` split into parts (so recording is a bounds
/// check and a store, with no `RefCell` flag and no capacity growth) and the last boundary's
/// timestamp. No destructor, so the thread-local needs no registration or state check; the
/// buffer is freed by [`BufferOwner`] when the thread exits while recording.
struct Recorder {
    buf: Cell<*mut Span>,
    len: Cell<usize>,
    /// 0 when this thread is not recording.
    cap: Cell<usize>,
    last: Cell<u64>,
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
        // elements were written by `boundary`, and the null we stored makes this the only owner.
        unsafe { Vec::from_raw_parts(buf, len, cap) }
    }
}

/// Frees this thread's buffer at thread exit (registered by [`start_recording`]).
struct BufferOwner;

impl Drop for BufferOwner {
    fn drop(&mut self) {
        drop(REC.with(Recorder::take));
    }
}

std::thread_local! {
    static REC: Recorder = const {
        Recorder {
            buf: Cell::new(std::ptr::null_mut()),
            len: Cell::new(0),
            cap: Cell::new(0),
            last: Cell::new(0),
            dropped: Cell::new(0),
        }
    };
    static OWNER: BufferOwner = const { BufferOwner };
}

/// Smallest page size the buffer is pre-faulted at (larger pages are touched more than once).
const PAGE_BYTES: usize = 4096;

/// Write one span into every page of `buf[..cap]` so that recording does not page-fault.
fn prefault(buf: *mut Span, cap: usize) {
    let step = (PAGE_BYTES / std::mem::size_of::<Span>()).max(1);
    let blank = Span {
        phase: Phase::TaskLookup,
        start: 0,
        end: 0,
    };
    for i in (0..cap).step_by(step).chain(cap.checked_sub(1)) {
        // SAFETY: `i < cap`, inside the allocation; volatile so the writes to memory that is
        // never read before being overwritten are not elided.
        unsafe { std::ptr::write_volatile(buf.add(i), blank) };
    }
}

/// Start recording on this thread into a fresh, pre-faulted buffer of `capacity` spans
/// (replacing any previous one, whose spans are discarded) and reset [`dropped`].
pub fn start_recording(capacity: usize) {
    let mut v: Vec<Span> = Vec::with_capacity(capacity.max(1));
    let (buf, cap) = (v.as_mut_ptr(), v.capacity());
    std::mem::forget(v);
    prefault(buf, cap);
    let _ = OWNER.try_with(|_| ());
    REC.with(|r| {
        drop(r.take());
        r.buf.set(buf);
        r.cap.set(cap);
        r.last.set(now());
        r.dropped.set(0);
    });
}

/// Stop recording on this thread; the spans recorded since [`start_recording`], in order.
pub fn stop_recording() -> Vec<Span> {
    REC.with(Recorder::take)
}

/// Spans lost on this thread because the buffer was full (since the last [`start_recording`]).
pub fn dropped() -> u64 {
    REC.with(|r| r.dropped.get())
}

/// Whether this thread is recording (between [`start_recording`] and [`stop_recording`]).
pub fn is_recording() -> bool {
    REC.with(|r| r.cap.get() != 0)
}

/// The first boundary of a call (`rts_lock`'s entry): if this thread is recording, read the
/// clock and make it the last boundary (Note [contiguous spans]).
#[inline(always)]
pub(crate) fn call_begins() {
    REC.with(|r| {
        if r.cap.get() != 0 {
            r.last.set(now());
        }
    });
}

/// A phase boundary: if this thread is recording, read the clock once, record `[last, now)` as
/// `phase` (the phase that just ended) and make `now` the last boundary; a full buffer counts
/// the span as dropped (Note [contiguous spans]).
#[inline(always)]
pub(crate) fn boundary(phase: Phase) {
    REC.with(|r| {
        let cap = r.cap.get();
        if cap == 0 {
            return;
        }
        let end = now();
        let len = r.len.get();
        if len < cap {
            let start = r.last.get();
            // SAFETY: `len < cap`, so slot `len` is inside the buffer `start_recording` made.
            unsafe { r.buf.get().add(len).write(Span { phase, start, end }) };
            r.len.set(len + 1);
        } else {
            r.dropped.set(r.dropped.get() + 1);
        }
        r.last.set(end);
    });
}

/// Time `n` consecutive phase boundaries (the exact operation the call path performs, recording
/// into a pre-faulted buffer) on this thread; returns the elapsed ticks of [`now`], including
/// the two reads around the loop. For calibrating the probe cost: it replaces this thread's
/// recording (any recorded spans are discarded) and leaves the thread not recording.
pub fn time_boundaries(n: usize) -> u64 {
    start_recording(n);
    let t0 = now();
    call_begins();
    for _ in 0..n {
        boundary(std::hint::black_box(Phase::Apply));
    }
    let t1 = now();
    let spans = stop_recording();
    debug_assert_eq!(spans.len(), n);
    t1.wrapping_sub(t0)
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
            call_begins();
            for _ in 0..5 {
                boundary(Phase::Apply);
            }
            assert_eq!(dropped(), 3);
            let s = stop_recording();
            assert_eq!(s.len(), 2);
            assert_eq!(s[0].end, s[1].start, "the kept spans are contiguous");
            assert!(!is_recording());
            boundary(Phase::Apply);
            assert_eq!(dropped(), 3, "nothing is recorded or dropped after stop");
            assert!(stop_recording().is_empty());
        })
        .join()
        .unwrap();
    }

    #[test]
    fn each_boundary_closes_the_span_the_previous_one_opened() {
        std::thread::spawn(|| {
            start_recording(8);
            call_begins();
            for &p in &Phase::ALL[..4] {
                boundary(p);
            }
            let s = stop_recording();
            let phases: Vec<_> = s.iter().map(|s| s.phase).collect();
            assert_eq!(phases, Phase::ALL[..4]);
            for w in s.windows(2) {
                assert_eq!(w[0].end, w[1].start, "one clock read per boundary");
            }
            assert!(s.iter().all(|s| s.start <= s.end));
        })
        .join()
        .unwrap();
    }

    #[test]
    fn a_thread_that_never_records_keeps_nothing() {
        std::thread::spawn(|| {
            call_begins();
            boundary(Phase::MkInt);
            assert!(!is_recording());
            assert_eq!(dropped(), 0);
            assert!(stop_recording().is_empty());
        })
        .join()
        .unwrap();
    }

    /// Minor page faults of the calling thread so far.
    fn thread_minor_faults() -> i64 {
        // SAFETY: an all-zero `rusage` is a valid value to be overwritten.
        let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
        // SAFETY: `ru` is a valid, writable rusage; RUSAGE_THREAD exists on Linux ≥ 2.6.26.
        let rc = unsafe { libc::getrusage(libc::RUSAGE_THREAD, &mut ru) };
        assert_eq!(rc, 0, "getrusage: {}", std::io::Error::last_os_error());
        ru.ru_minflt as i64
    }

    #[test]
    fn recording_into_the_buffer_does_not_page_fault() {
        std::thread::spawn(|| {
            // 24 MiB of spans: about 6000 pages, each a fault if the buffer were not pre-faulted.
            let n = (24 << 20) / std::mem::size_of::<Span>();
            start_recording(n);
            call_begins();
            boundary(Phase::MkInt); // the code path itself is resident from here on
            let before = thread_minor_faults();
            for _ in 1..n {
                boundary(Phase::Apply);
            }
            let faults = thread_minor_faults() - before;
            assert_eq!(dropped(), 0);
            assert_eq!(stop_recording().len(), n);
            assert_eq!(faults, 0, "recording {n} spans page-faulted {faults} times");
        })
        .join()
        .unwrap();
    }

    #[test]
    fn timing_boundaries_gives_positive_ticks_and_stops_recording() {
        std::thread::spawn(|| {
            let ticks = time_boundaries(10_000);
            assert!(ticks > 0);
            assert!(!is_recording());
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
