//! The multi-threaded call driver: owns running any one-argument C function of a [`Signature`]
//! (`Int`, `CInt`, `Word` or `Double` in and out; `extern "C" fn(i64) -> i64` is the common case)
//! from N OS threads and measuring it. Threads are created, pinned ([`crate::pin`]) and warmed up before
//! timing, then released together through a start gate; each makes K calls ([`RunMode::Calls`])
//! or calls until a shared stop flag is set ([`RunMode::Duration`], which makes unfairness under
//! oversubscription visible as unequal call counts). Every result is checked ([`Expect`]);
//! wrong results are counted and reported, never dropped. One call in every `sample_every` is
//! timed into an hdrhistogram (see `worker.rs` for the clock choice).
//!
//! Results are plain serialisable structs ([`RunReport`]). [`RunHooks`] lets a caller snapshot
//! model statistics right before the release and right after the last thread finished.

mod gate;
mod report;
mod signature;
mod worker;

use std::ffi::c_void;
use std::fmt;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use serde::Serialize;

pub use signature::{CType, CValue, Signature, Value, type_list};

pub use report::{
    ConfigSummary, Fairness, LatencySummary, RunReport, ThreadReport, WrongResult, fairness,
    summarise,
};

use crate::pin::{PinError, PinPolicy};
use gate::{AbortOnDrop, StartGate};
use worker::{WorkerOutcome, WorkerShared, run_worker};

/// Name prefix of the driver's threads: thread `i` is `driver-<i>` (the profiler finds them in
/// `/proc/self/task` to attach per-thread counters and samplers).
pub const THREAD_NAME_PREFIX: &str = "driver-";

/// A function the driver calls (one argument, one result, of a [`Signature`]), with an optional
/// per-thread tidy-up.
#[derive(Debug, Clone, Copy)]
pub struct CallTarget {
    /// The function, type-erased; called only as `unsafe extern "C" fn(A) -> R` with the types
    /// of `signature` (see [`CallTarget::typed`]).
    f: unsafe extern "C" fn(),
    signature: Signature,
    thread_start: Option<fn()>,
    thread_done: Option<unsafe extern "C" fn()>,
}

impl CallTarget {
    /// Wrap a safe function.
    pub fn new(f: extern "C" fn(i64) -> i64) -> CallTarget {
        // SAFETY: a safe fn is callable from any thread with any i64 by its type.
        unsafe { CallTarget::from_unsafe(f) }
    }

    /// Wrap a foreign `Int -> Int` function (e.g. one resolved with `dlsym`).
    ///
    /// # Safety
    /// For as long as this target (or a copy) is used, `f` must be callable from any OS thread,
    /// concurrently, with any `i64`, and must not unwind.
    pub unsafe fn from_unsafe(f: unsafe extern "C" fn(i64) -> i64) -> CallTarget {
        // SAFETY: the contract of `from_raw` with the signature `f` has.
        unsafe { CallTarget::from_raw(f as *const c_void, Signature::INT_TO_INT) }
    }

    /// Wrap a foreign function of any driver [`Signature`], given by address.
    ///
    /// # Safety
    /// `f` must be the address of a C function of exactly `signature` (e.g. as GHC's stub
    /// declares it), callable from any OS thread, concurrently, with the arguments the driver
    /// passes (see [`Expect`]), must not unwind, and must stay valid while the target is used.
    pub unsafe fn from_raw(f: *const c_void, signature: Signature) -> CallTarget {
        assert!(!f.is_null(), "CallTarget::from_raw: null function");
        CallTarget {
            // SAFETY: a non-null code address kept only to be transmuted back to its real type
            // (`typed`); fn pointers of every type have the same size.
            f: unsafe { std::mem::transmute::<*const c_void, unsafe extern "C" fn()>(f) },
            signature,
            thread_start: None,
            thread_done: None,
        }
    }

    /// Also call `start` on each driver thread right after it is pinned, before its warm-up
    /// calls (outside timing), e.g. to pre-fault its stack for the sampling profiler.
    pub fn with_thread_start(self, start: fn()) -> CallTarget {
        CallTarget {
            thread_start: Some(start),
            ..self
        }
    }

    /// Also call `done` on each driver thread after its last call (outside timing), e.g.
    /// `hs_thread_done` to free the RTS Task of that thread.
    ///
    /// # Safety
    /// `done` must be callable from any OS thread after that thread's calls to the target,
    /// and must not unwind.
    pub unsafe fn with_thread_done(self, done: unsafe extern "C" fn()) -> CallTarget {
        CallTarget {
            thread_done: Some(done),
            ..self
        }
    }

    /// The C signature of the target.
    pub fn signature(&self) -> Signature {
        self.signature
    }

    /// The function as its real type, `None` when `A -> R` is not its signature.
    #[inline(always)]
    pub(crate) fn typed<A: CValue, R: CValue>(&self) -> Option<unsafe extern "C" fn(A) -> R> {
        (self.signature.arg == A::TYPE && self.signature.ret == R::TYPE).then(|| {
            // SAFETY: `f` is a function of `signature` (constructor contracts), which is A -> R.
            unsafe {
                std::mem::transmute::<unsafe extern "C" fn(), unsafe extern "C" fn(A) -> R>(self.f)
            }
        })
    }

    /// Call an `Int -> Int` target once.
    ///
    /// # Panics
    /// When the target has another signature (a check of a constant, well predicted).
    #[inline(always)]
    pub fn call(&self, x: i64) -> i64 {
        let f = self
            .typed::<i64, i64>()
            .unwrap_or_else(|| panic!("CallTarget::call on a {} target", self.signature));
        // SAFETY: `f` is callable from any thread with any i64: a safe fn by its type (`new`),
        // or by the contract of `from_unsafe` / `from_raw`.
        unsafe { f(x) }
    }

    /// One call with `arg` on the calling thread, its result as a [`Value`]: e.g. a reference
    /// call for [`Expect::Same`]. Call it from a thread that may become an RTS thread (and call
    /// the tidy-up after, see [`CallTarget::finish_thread`]).
    pub fn call_value(&self, arg: Value) -> Result<Value, DriverError> {
        macro_rules! once {
            ($($a:ty => [$($r:ty),*]),*) => {$($(
                if let (Some(x), Some(f)) = (<$a>::of(arg), self.typed::<$a, $r>()) {
                    // SAFETY: `f` has the target's signature and is callable from any thread
                    // with any argument of its type (constructor contracts).
                    return Ok(unsafe { f(x) }.value());
                }
            )*)*};
        }
        once!(i64 => [i64, i32, u64, f64], i32 => [i64, i32, u64, f64],
              u64 => [i64, i32, u64, f64], f64 => [i64, i32, u64, f64]);
        Err(DriverError::InvalidConfig(format!(
            "argument {arg} does not fit the target's {}",
            self.signature
        )))
    }

    /// The per-thread tidy-up (`hs_thread_done` for GHC), for a thread that used
    /// [`CallTarget::call_value`] and makes no more calls.
    pub fn finish_thread(&self) {
        self.thread_done();
    }

    fn thread_start(&self) {
        if let Some(start) = self.thread_start {
            start()
        }
    }

    fn thread_done(&self) {
        if let Some(done) = self.thread_done {
            // SAFETY: contract of `with_thread_done`; called after this thread's last call.
            unsafe { done() }
        }
    }
}

/// What a correct result is, and so which arguments the driver passes.
#[derive(Debug, Clone, Copy)]
pub enum Expect {
    /// `f(x) == x + 1` (wrapping) for distinct `x` per call: the project's `foo x = return (x + 1)`.
    /// `Int -> Int` targets only.
    PlusOne,
    /// `f(x) == g(x)` for the given `g`, distinct `x` per call; `Int -> Int` targets only.
    Fn(fn(i64) -> i64),
    /// Every call passes `arg` and must return exactly `result` (bit for bit): for a function
    /// whose right answer the driver cannot know, `result` is what a reference call with `arg`
    /// returned, so this checks that the function is deterministic, not that it is right.
    Same { arg: Value, result: Value },
}

impl Expect {
    /// Short name for results.
    pub fn label(&self) -> &'static str {
        match self {
            Expect::PlusOne => "x+1",
            Expect::Fn(_) => "custom",
            Expect::Same { .. } => "same as reference call",
        }
    }

    fn fits(&self, sig: Signature) -> Result<(), String> {
        match *self {
            Expect::PlusOne | Expect::Fn(_) if sig != Signature::INT_TO_INT => Err(format!(
                "check {} needs an Int -> IO Int target, not {sig}",
                self.label()
            )),
            Expect::Same { arg, result } if arg.ctype() != sig.arg || result.ctype() != sig.ret => {
                Err(format!(
                    "check {}: argument {arg} and result {result} do not fit {sig}",
                    self.label()
                ))
            }
            _ => Ok(()),
        }
    }
}

/// How long each thread runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum RunMode {
    /// Exactly this many timed calls per thread.
    Calls(u64),
    /// Until this long after the release; every thread stops at the same shared stop flag.
    Duration(Duration),
}

/// One driver run's parameters.
#[derive(Debug, Clone)]
pub struct DriverConfig {
    /// OS threads calling the target.
    pub threads: usize,
    pub mode: RunMode,
    pub pin: PinPolicy,
    /// Time one call in every `sample_every` (default 64).
    pub sample_every: u32,
    /// Untimed calls per thread before the gate (default 1: creates the RTS Task of the thread
    /// so first-call costs are not in the timed part). Their results are checked too.
    pub warmup_calls: u32,
    pub expect: Expect,
}

impl Default for DriverConfig {
    fn default() -> DriverConfig {
        DriverConfig {
            threads: 1,
            mode: RunMode::Calls(100_000),
            pin: PinPolicy::None,
            sample_every: 64,
            warmup_calls: 1,
            expect: Expect::PlusOne,
        }
    }
}

impl DriverConfig {
    fn validate(&self, target: &CallTarget) -> Result<(), DriverError> {
        let bad = |what: &str| Err(DriverError::InvalidConfig(what.to_owned()));
        self.expect
            .fits(target.signature())
            .map_err(DriverError::InvalidConfig)?;
        match self.mode {
            _ if self.threads == 0 => bad("threads must be at least 1"),
            _ if self.sample_every == 0 => bad("sample_every must be at least 1"),
            RunMode::Calls(0) => bad("calls per thread must be at least 1"),
            RunMode::Duration(d) if d.is_zero() => bad("duration must be positive"),
            _ => Ok(()),
        }
    }

    fn summary(&self) -> ConfigSummary {
        ConfigSummary {
            threads: self.threads,
            mode: self.mode,
            pin: self.pin.label(),
            sample_every: self.sample_every,
            warmup_calls: self.warmup_calls,
            expect: self.expect.label(),
        }
    }
}

/// Why a run could not be made, or was wrong.
#[derive(Debug)]
#[non_exhaustive]
pub enum DriverError {
    InvalidConfig(String),
    Pin(PinError),
    Spawn(std::io::Error),
    WorkerPanicked {
        thread: usize,
    },
    /// From [`RunReport::ensure_correct`].
    WrongResults {
        count: u64,
        first: Option<WrongResult>,
    },
}

impl fmt::Display for DriverError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DriverError::InvalidConfig(s) => write!(f, "invalid driver configuration: {s}"),
            DriverError::Pin(e) => write!(f, "cannot plan thread pinning: {e}"),
            DriverError::Spawn(e) => write!(f, "cannot spawn a driver thread: {e}"),
            DriverError::WorkerPanicked { thread } => write!(f, "driver thread {thread} panicked"),
            DriverError::WrongResults { count, first } => match first {
                Some(w) => write!(f, "{count} wrong results; first: {w}"),
                None => write!(f, "{count} wrong results (all in warm-up)"),
            },
        }
    }
}

impl std::error::Error for DriverError {}

/// Caller code run around the timed part, on the driver's main thread: `before` after all
/// threads are pinned and warmed up and just before they are released; `after` once the last
/// one has finished. Both default to nothing; `()` is the no-op hook.
pub trait RunHooks {
    fn before(&mut self) {}
    fn after(&mut self) {}
}

impl RunHooks for () {}

/// Run `target` under `config` with no hooks.
pub fn run(target: CallTarget, config: &DriverConfig) -> Result<RunReport, DriverError> {
    run_with_hooks(target, config, &mut ())
}

/// Wall time of `rounds` rounds of checked calls to `target` on `threads` threads pinned
/// round-robin to cores, one call per thread per round: the `iter_custom` body of the criterion
/// groups that time whole calls (`callin`, `ablation`). One call in 65,536 is timed for latency
/// (latency is `callin-bench run`'s figure), so sampling stays out of the loop.
///
/// # Errors
/// The run cannot be made ([`run`]), or a call returned a wrong result.
pub fn timed_rounds(
    target: CallTarget,
    threads: u32,
    rounds: u64,
) -> Result<Duration, DriverError> {
    let config = DriverConfig {
        threads: threads as usize,
        mode: RunMode::Calls(rounds.max(1)),
        pin: PinPolicy::CoresRoundRobin,
        sample_every: 1 << 16,
        ..DriverConfig::default()
    };
    let report = run(target, &config)?;
    report.ensure_correct()?;
    Ok(Duration::from_nanos(report.wall_ns))
}

/// Run `target` under `config`, calling `hooks` around the timed part.
pub fn run_with_hooks<H: RunHooks + ?Sized>(
    target: CallTarget,
    config: &DriverConfig,
    hooks: &mut H,
) -> Result<RunReport, DriverError> {
    config.validate(&target)?;
    let plan = config.pin.plan(config.threads).map_err(DriverError::Pin)?;
    let timer_overhead_ns = measure_timer_overhead_ns();
    let gate = StartGate::new();
    let stop = AtomicBool::new(false);
    let shared = WorkerShared {
        target,
        config,
        gate: &gate,
        stop: &stop,
    };
    let outcomes = std::thread::scope(|s| -> Result<Vec<WorkerOutcome>, DriverError> {
        let abort_guard = AbortOnDrop::new(&gate);
        let mut handles = Vec::with_capacity(config.threads);
        for (i, &pin_to) in plan.iter().enumerate() {
            let shared = &shared;
            let h = std::thread::Builder::new()
                .name(format!("{THREAD_NAME_PREFIX}{i}"))
                .spawn_scoped(s, move || run_worker(shared, i, pin_to))
                .map_err(DriverError::Spawn)?;
            handles.push(h);
        }
        gate.wait_for_arrivals(config.threads);
        hooks.before();
        gate.open();
        drop(abort_guard);
        if let RunMode::Duration(d) = config.mode {
            std::thread::sleep(d);
            // ORDERING: Relaxed — see the load in the worker loop; the flag carries no data.
            stop.store(true, Ordering::Relaxed);
        }
        join_all(handles)
    })?;
    hooks.after();
    Ok(report::build_report(config, outcomes, timer_overhead_ns))
}

fn join_all(
    handles: Vec<std::thread::ScopedJoinHandle<'_, WorkerOutcome>>,
) -> Result<Vec<WorkerOutcome>, DriverError> {
    let mut out = Vec::with_capacity(handles.len());
    let mut panicked = None;
    for (i, h) in handles.into_iter().enumerate() {
        match h.join() {
            Ok(o) => out.push(o),
            Err(_) => panicked = panicked.or(Some(i)),
        }
    }
    match panicked {
        Some(thread) => Err(DriverError::WorkerPanicked { thread }),
        None => Ok(out),
    }
}

/// Minimum over 1,000 back-to-back `Instant::now()` pairs, in ns.
pub fn measure_timer_overhead_ns() -> u64 {
    (0..1000)
        .map(|_| {
            let t0 = Instant::now();
            let t1 = Instant::now();
            (t1 - t0).as_nanos() as u64
        })
        .min()
        .unwrap_or(0)
}
