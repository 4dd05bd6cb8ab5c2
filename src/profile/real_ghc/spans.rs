//! The API-span recorder inside the wrapped baseline library (`ghc/wrap/rts_spans.c`): owns
//! resolving its `callin_spans_*` functions, starting and stopping a recording around a driver
//! run, and reading every thread's spans back as [`GroupSpan`]s. The library names the C API
//! function of each span; [`PhaseGroup::of_c_function`] turns the name into the group, so no list
//! is shared with the C file by position.

use std::ffi::{CStr, c_char, c_int};
use std::path::Path;

use callin_vocab::PhaseGroup;
use libloading::os::unix::{Library as UnixLibrary, RTLD_LOCAL, RTLD_NOW};

use super::symbol;
use crate::profile::groups::GroupSpan;

/// Mirror of `CallinSpan` in `ghc/wrap/rts_spans.c`.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
struct CallinSpan {
    start: u64,
    end: u64,
    function: u32,
    pad: u32,
}

type StartFn = unsafe extern "C" fn(usize, usize) -> c_int;
type StopFn = unsafe extern "C" fn() -> usize;
type ThreadFn =
    unsafe extern "C" fn(usize, *mut *const CallinSpan, *mut usize, *mut u64, *mut i64) -> c_int;
type CountFn = unsafe extern "C" fn() -> u64;

/// One thread's recording.
#[derive(Debug, Clone)]
pub struct ThreadSpans {
    /// The OS thread id that recorded.
    pub tid: i64,
    pub spans: Vec<GroupSpan>,
    /// Spans lost to a full buffer.
    pub dropped: u64,
}

/// The recorder of a loaded wrapped library.
pub struct SpanRecorder {
    _lib: libloading::Library,
    start: StartFn,
    stop: StopFn,
    thread: ThreadFn,
    without_slot: CountFn,
    time_boundaries: unsafe extern "C" fn(usize) -> u64,
    /// Group of each function index the library records.
    groups: Vec<PhaseGroup>,
}

impl SpanRecorder {
    /// Open (again: the RTS loaded it already) the wrapped library and resolve the recorder.
    pub fn open(library: &Path) -> anyhow::Result<SpanRecorder> {
        // SAFETY: the library is already loaded and initialised by GhcRts::init (dlopen of a
        // loaded object only takes another reference and runs no constructor again).
        let lib = unsafe { UnixLibrary::open(Some(library), RTLD_NOW | RTLD_LOCAL) }
            .map(libloading::Library::from)
            .map_err(|e| anyhow::anyhow!("cannot open {}: {e}", library.display()))?;
        let span_size: unsafe extern "C" fn() -> usize = symbol(&lib, "callin_spans_span_size")?;
        // SAFETY: a C function of no arguments returning size_t.
        let size = unsafe { span_size() };
        anyhow::ensure!(
            size == size_of::<CallinSpan>(),
            "CallinSpan is {size} bytes in the library, {} in the harness",
            size_of::<CallinSpan>()
        );
        let count: unsafe extern "C" fn() -> u32 = symbol(&lib, "callin_spans_function_count")?;
        let name: unsafe extern "C" fn(u32) -> *const c_char =
            symbol(&lib, "callin_spans_function_name")?;
        // SAFETY: as above; the count is a constant of the library.
        let n = unsafe { count() };
        let groups = (0..n)
            .map(|i| {
                // SAFETY: `i < count`, so the library returns a static NUL-terminated string.
                let s = unsafe { CStr::from_ptr(name(i)) }.to_string_lossy();
                PhaseGroup::of_c_function(&s)
                    .ok_or_else(|| anyhow::anyhow!("the wrapped library records {s}, no group"))
            })
            .collect::<anyhow::Result<Vec<_>>>()?;
        Ok(SpanRecorder {
            start: symbol(&lib, "callin_spans_start")?,
            stop: symbol(&lib, "callin_spans_stop")?,
            thread: symbol(&lib, "callin_spans_thread")?,
            without_slot: symbol(&lib, "callin_spans_threads_without_slot")?,
            time_boundaries: symbol(&lib, "callin_spans_time_boundaries")?,
            groups,
            _lib: lib,
        })
    }

    /// Start recording into `threads` pre-faulted buffers of `capacity` spans. Must not be called
    /// while a thread calls `c_function`.
    pub fn start(&self, threads: usize, capacity: usize) -> anyhow::Result<()> {
        // SAFETY: the contract above (no concurrent caller); the C side allocates.
        let rc = unsafe { (self.start)(threads, capacity) };
        anyhow::ensure!(
            rc == 0,
            "callin_spans_start({threads}, {capacity}): out of memory"
        );
        Ok(())
    }

    /// The cost of one boundary (ns), calibrated as rts-core's probe cost is
    /// (`crate::profile::insitu::calibrate_probe_cost`): repetitions of samples of
    /// back-to-back boundaries, the smallest repetition median. Discards any recording.
    pub fn calibrate_boundary_ns(&self, ticks_per_ns: f64) -> f64 {
        use crate::profile::breakdown::{
            CALIBRATION_BOUNDARIES, CALIBRATION_REPETITIONS, CALIBRATION_SAMPLES,
        };
        let n = CALIBRATION_BOUNDARIES;
        // SAFETY: no thread calls in while the harness calibrates (before the driver runs).
        let time = || unsafe { (self.time_boundaries)(n) } as f64 / ticks_per_ns / n as f64;
        time();
        let reps: Vec<Vec<f64>> = (0..CALIBRATION_REPETITIONS)
            .map(|_| (0..CALIBRATION_SAMPLES).map(|_| time()).collect())
            .collect();
        crate::profile::breakdown::min_of_medians(&reps).unwrap_or(f64::NAN)
    }

    /// Stop recording and read every thread's spans. Must be called after the recording threads'
    /// last call has returned.
    pub fn stop(&self) -> anyhow::Result<Vec<ThreadSpans>> {
        // SAFETY: no thread calls in any more (contract above).
        let claimed = unsafe { (self.stop)() };
        // SAFETY: a C function of no arguments.
        let lost = unsafe { (self.without_slot)() };
        anyhow::ensure!(
            lost == 0,
            "{lost} threads called in while every span buffer was taken"
        );
        (0..claimed).map(|i| self.read_thread(i)).collect()
    }

    fn read_thread(&self, i: usize) -> anyhow::Result<ThreadSpans> {
        let (mut ptr, mut len, mut dropped, mut tid) = (std::ptr::null(), 0, 0, 0);
        // SAFETY: the out-pointers are valid for one write each; `i < claimed`.
        let rc = unsafe { (self.thread)(i, &mut ptr, &mut len, &mut dropped, &mut tid) };
        anyhow::ensure!(rc == 0 && !ptr.is_null(), "span slot {i} unreadable");
        // SAFETY: the library hands out `len` initialised spans that stay valid until the next
        // start (we copy them out now).
        let raw = unsafe { std::slice::from_raw_parts(ptr, len) };
        let spans =
            raw.iter()
                .map(|s| {
                    let group = *self.groups.get(s.function as usize).ok_or_else(|| {
                        anyhow::anyhow!("span with function index {}", s.function)
                    })?;
                    Ok(GroupSpan {
                        group,
                        start: s.start,
                        end: s.end,
                    })
                })
                .collect::<anyhow::Result<Vec<_>>>()?;
        Ok(ThreadSpans {
            tid,
            spans,
            dropped,
        })
    }
}
