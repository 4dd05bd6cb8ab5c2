//! The real GHC RTS, phase group by phase group: owns the real-GHC jobs a profiling child runs
//! ([`super::cell`]): API spans through the wrapped baseline ([`build`], [`spans`]) and the plain
//! call with counters, GHC's own statistics (`getRTSStats`, `+RTS -T`) and sampling.
//!
//! Both jobs start GHC's threaded RTS in the child with `+RTS -N<caps> -T -RTS` through the same
//! loader as `callin-bench run` (`crate::ghc`) and drive GHC's own `c_function` with the same
//! driver (`crate::driver`) as every other system.

pub mod build;
pub mod spans;

use std::ffi::c_void;

use anyhow::Context;
use libloading::os::unix::{Library as UnixLibrary, RTLD_LOCAL, RTLD_NOW};

use super::cell::{self, CellJob, SpansOutcome, UnprobedOutcome};
use super::sampling::callsites;
use crate::driver::{RunHooks, RunMode};
use crate::ghc::{self, GhcRts};

/// Alternating rounds of recording and not recording in an API-span job.
pub const SPAN_ROUNDS: usize = 2;

/// Spans one call records: 8 C API calls (`rts_apply` twice).
const SPANS_PER_CALL: usize = 8;

/// The C API functions GHC 9.0's stub calls (9.2+ calls `rts_inCall` for `rts_evalIO`).
const GHC_STUB_CALLS: &[&str] = build::WRAPPED_FUNCTIONS;

fn rts_args(job: &CellJob) -> Vec<String> {
    vec![format!("-N{}", job.caps), "-T".to_owned()]
}

fn start(library: &std::path::Path, job: &CellJob) -> anyhow::Result<&'static GhcRts> {
    let args = rts_args(job);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let rts = GhcRts::init(library, &args)?;
    let origin = rts.rts_lock_origin();
    anyhow::ensure!(
        origin
            .as_ref()
            .is_some_and(|p| p.to_string_lossy().contains("libHSrts")),
        "rts_lock resolves to {origin:?}, not GHC's RTS"
    );
    Ok(rts)
}

fn pair() -> anyhow::Result<build::BaselinePair> {
    match build::ensure_built()? {
        Ok(p) => {
            ghc::check_layout(&p.plain.c_layout)?;
            Ok(p)
        }
        Err(reason) => Err(ghc::GhcError::Unavailable { reason }.into()),
    }
}

/// Hooks that start and stop the span recorder around the timed part of a run.
struct RecordHooks<'a> {
    rec: &'a spans::SpanRecorder,
    threads: usize,
    capacity: usize,
    result: Option<anyhow::Result<Vec<spans::ThreadSpans>>>,
    start_error: Option<anyhow::Error>,
}

impl RunHooks for RecordHooks<'_> {
    fn before(&mut self) {
        if let Err(e) = self.rec.start(self.threads, self.capacity) {
            self.start_error = Some(e);
        }
    }

    fn after(&mut self) {
        self.result = Some(self.rec.stop());
    }
}

/// API spans of `job`'s cell: the wrapped library, alternating [`SPAN_ROUNDS`] rounds of runs
/// not recording and recording.
pub fn api_spans(job: &CellJob) -> anyhow::Result<SpansOutcome> {
    let pair = pair()?;
    let rts = start(&pair.wrapped, job)?;
    let rec = spans::SpanRecorder::open(&pair.wrapped)?;
    let boundary_ns = rec.calibrate_boundary_ns(job.ticks_per_ns);
    let cfg = cell::driver_config(job.threads, RunMode::Calls(job.calls));
    let (mut on, mut off) = (Vec::new(), Vec::new());
    let mut threads = Vec::new();
    let mut dropped = 0;
    for _ in 0..SPAN_ROUNDS {
        off.push(cell::ns_per_call(&cell::drive(
            rts.c_function()?,
            &cfg,
            &mut (),
        )?));
        let mut hooks = RecordHooks {
            rec: &rec,
            threads: job.threads as usize,
            capacity: job.calls as usize * SPANS_PER_CALL + SPANS_PER_CALL,
            result: None,
            start_error: None,
        };
        let r = cell::drive(rts.c_function()?, &cfg, &mut hooks)?;
        if let Some(e) = hooks.start_error {
            return Err(e);
        }
        on.push(cell::ns_per_call(&r));
        for t in hooks.result.context("the recorder was never stopped")?? {
            dropped += t.dropped;
            threads.push(t.spans);
        }
    }
    let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len().max(1) as f64;
    Ok(SpansOutcome {
        breakdown: cell::spans_breakdown(&threads, job.ticks_per_ns, boundary_ns),
        boundary_ns,
        dropped,
        recording_ns_per_call: mean(&on),
        not_recording_ns_per_call: mean(&off),
    })
}

/// The plain call of `job`'s cell: counters with GHC's statistics, then sampling.
pub fn unprobed(job: &CellJob) -> anyhow::Result<UnprobedOutcome> {
    let pair = pair()?;
    let rts = start(&pair.plain.library, job)?;
    let lib = reopen(&pair.plain.library)?;
    let get_stats: unsafe extern "C" fn(*mut c_void) = symbol(&lib, "getRTSStats")?;
    let stats = move || read_stats(get_stats);
    let c_function: *const c_void = symbol(&lib, "c_function")?;
    let sites = ghc_sites(&lib, c_function as usize as u64);
    cell::unprobed_runs(job, rts.c_function()?, sites, stats)
}

fn reopen(library: &std::path::Path) -> anyhow::Result<libloading::Library> {
    // SAFETY: the library is loaded and initialised already (GhcRts::init); another dlopen only
    // takes a reference and runs no constructor.
    unsafe { UnixLibrary::open(Some(library), RTLD_NOW | RTLD_LOCAL) }
        .map(libloading::Library::from)
        .with_context(|| format!("reopening {}", library.display()))
}

/// The symbol `name` of `lib` as a `T`.
pub(crate) fn symbol<T: Copy>(lib: &libloading::Library, name: &str) -> anyhow::Result<T> {
    let c = format!("{name}\0");
    // SAFETY: every caller names a function of GHC's RTS (RtsAPI.h) or of the wrapped library
    // (ghc/wrap/rts_spans.c) whose C type is `T`; the pointer is used only while the library is
    // loaded (GhcRts keeps it for the life of the process; the recorder holds a handle).
    unsafe { lib.get::<T>(c.as_bytes()) }
        .map(|s| *s)
        .map_err(|e| anyhow::anyhow!("{name}: {e}"))
}

/// Bytes reserved for `RTSStats` (GHC 9.0's is a few hundred; the wrapped build checks the
/// offsets read here against the installed header, ghc/wrap/rts_spans.c).
const RTS_STATS_BYTES: usize = 4096;

/// `(allocated_bytes, gcs, major_gcs)` from `getRTSStats`.
fn read_stats(get: unsafe extern "C" fn(*mut c_void)) -> Option<(u64, u32, u32)> {
    let mut buf = vec![0u64; RTS_STATS_BYTES / 8];
    // SAFETY: getRTSStats writes one RTSStats (smaller than the buffer, 8-aligned); the RTS runs
    // with -T so the statistics are kept.
    unsafe { get(buf.as_mut_ptr().cast()) };
    let gcs = (buf[0] & 0xffff_ffff) as u32;
    let major = (buf[0] >> 32) as u32;
    Some((buf[1], gcs, major))
}

fn ghc_sites(lib: &libloading::Library, c_function: u64) -> anyhow::Result<callsites::CallSites> {
    callsites::find_in_process(c_function, GHC_STUB_CALLS, |_, n| {
        let p: *const c_void = symbol(lib, n)?;
        Ok(p as usize as u64)
    })
}
