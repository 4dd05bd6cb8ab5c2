//! Each phase of the call-in path (the phases of `probes::Phase`) driven alone, in a loop: the
//! `phases` bench and the profiler's phase-isolated measurements time [`PhaseLoop::run`] around
//! a batch.
//!
//! Ownership: a [`PhaseLoop`] owns whatever its phase needs set up on the calling OS thread (a
//! held capability through an ordinary `rts_lock`, a closure graph, a helper thread that contends
//! for the capability) and undoes it on drop. It calls the functions a call-in runs
//! (`getMyTask`, `newInCall`, `waitForCapability`, `rts_mkInt`, `createThread`,
//! `scheduleWaitThread`, ...), never copies of them.
//!
//! Note [keeping the nursery from filling]
//! ---------------------------------------
//! Allocating phases (`mk_int`, `apply`, `create_thread` with fresh thread objects, `schedule`)
//! would exhaust the nursery of the held capability. `run` therefore allocates in chunks that
//! always fit, and when less than `HEADROOM_WORDS` is left it ends the call-in and starts a new
//! one (`rts_unlock` + `rts_lock`), whose `rts_lock` reclaims the nursery as the policy says (a
//! per-capability reset, or GHC's stop-the-world collection). That costs one lock/unlock pair
//! (plus the collection) per several thousand operations, inside the timed part: the same
//! amortised collection cost the real call pays.

use std::marker::PhantomData;
use std::ptr::NonNull;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use crate::api::{self, StatusAction};
use crate::capability::{Capability, CapabilityGuard};
use crate::error::CallInError;
use crate::heap::{self, ClosurePtr, StaticClosure};
use crate::incall::{self, Ctx};
use crate::nursery::HEADROOM_WORDS;
use crate::rts::{self, Rts};
use crate::sched::{self, TsoStorage};
use crate::task::{self, Task};
use callin_vocab::Phase;

unsafe extern "C" {
    /// foo's closure, compiled from `stub/foo.c` (`foo x = return (x + 1)`).
    #[link_name = "Export_zdfstableZZC0ZZCmainZZCExportZZCfoo_closure"]
    static FOO_CLOSURE: StaticClosure<1>;
}

/// A phase of the call-in path, set up so that it can run alone in a loop.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum IsolatedPhase {
    /// `getMyTask` on a thread that already has its Task (a thread-local read).
    TaskLookupHot,
    /// A thread's first call-in: `newTask` (allocate and register the Task). Each operation
    /// also frees the Task again (`hs_thread_done`), so the next one is a first call too.
    TaskLookupFirst,
    /// `newInCall` + `endInCall` with a spare InCall on the Task's free list.
    IncallSpare,
    /// `newInCall` + `endInCall` with no spare: allocates an InCall; each operation then frees
    /// the spare list again (so it includes one allocation and one free).
    IncallNoSpare,
    /// `waitForCapability` + `releaseCapability_` on a free capability, per policy.
    CapUncontended,
    /// The same acquire/release pair while a helper thread acquires and releases the same
    /// capability in a loop (both prefer capability 0 when the RTS has more than one).
    CapContended,
    /// `rts_mkInt` of a value outside the static small-int table (a 2-word `I#`).
    MkInt,
    /// One `rts_apply` (a 4-word application thunk); the real call makes two.
    Apply,
    /// `createThread` per policy: thread objects (reused or fresh in the nursery) and thread id
    /// (per capability, or under GHC's global `sched_mutex`).
    CreateThread,
    /// `scheduleWaitThread` + one `schedule()` iteration on an already built thread, the
    /// function `rts_inCall` runs: bind it, run-queue push and pop, evaluate `runIO (foo x)`,
    /// allocate the result, finish, record its end in the thread list. Each operation re-arms
    /// the thread's stack first (the part of `createThread` that writes the TSO and its frames,
    /// about 15 stores), since the evaluation consumes it.
    Schedule,
    /// `rts_checkSchedStatus` of a call that succeeded.
    CheckStatus,
    /// `rts_getInt` of an `I#` in the nursery (with the model's ownership checks).
    GetInt,
    /// Nursery exhaustion per policy: the collection `rts_lock` triggers when the nursery is
    /// nearly full (per-capability reset, or GHC's stop-the-world sync of every capability).
    /// The nursery is exhausted with one bump before each operation (not part of the work).
    Gc,
}

impl IsolatedPhase {
    /// Every isolated phase, in call order.
    pub const ALL: &'static [IsolatedPhase] = &[
        IsolatedPhase::TaskLookupHot,
        IsolatedPhase::TaskLookupFirst,
        IsolatedPhase::IncallSpare,
        IsolatedPhase::IncallNoSpare,
        IsolatedPhase::CapUncontended,
        IsolatedPhase::CapContended,
        IsolatedPhase::MkInt,
        IsolatedPhase::Apply,
        IsolatedPhase::CreateThread,
        IsolatedPhase::Schedule,
        IsolatedPhase::CheckStatus,
        IsolatedPhase::GetInt,
        IsolatedPhase::Gc,
    ];

    /// The bench id part, e.g. `task_lookup_hot`.
    pub fn name(self) -> &'static str {
        match self {
            IsolatedPhase::TaskLookupHot => "task_lookup_hot",
            IsolatedPhase::TaskLookupFirst => "task_lookup_first",
            IsolatedPhase::IncallSpare => "incall_spare",
            IsolatedPhase::IncallNoSpare => "incall_no_spare",
            IsolatedPhase::CapUncontended => "cap_uncontended",
            IsolatedPhase::CapContended => "cap_contended",
            IsolatedPhase::MkInt => "mk_int",
            IsolatedPhase::Apply => "apply",
            IsolatedPhase::CreateThread => "create_thread",
            IsolatedPhase::Schedule => "schedule",
            IsolatedPhase::CheckStatus => "check_status",
            IsolatedPhase::GetInt => "get_int",
            IsolatedPhase::Gc => "gc",
        }
    }

    /// The call-in phase this measures. The InCall and capability pairs include their release
    /// halves (`incall_pop`, `cap_release`).
    pub fn phase(self) -> Phase {
        match self {
            IsolatedPhase::TaskLookupHot | IsolatedPhase::TaskLookupFirst => Phase::TaskLookup,
            IsolatedPhase::IncallSpare | IsolatedPhase::IncallNoSpare => Phase::IncallPush,
            IsolatedPhase::CapUncontended | IsolatedPhase::CapContended => Phase::CapAcquire,
            IsolatedPhase::MkInt => Phase::MkInt,
            IsolatedPhase::Apply => Phase::Apply,
            IsolatedPhase::CreateThread => Phase::CreateThread,
            IsolatedPhase::Schedule => Phase::Schedule,
            IsolatedPhase::CheckStatus => Phase::CheckStatus,
            IsolatedPhase::GetInt => Phase::GetInt,
            IsolatedPhase::Gc => Phase::Gc,
        }
    }

    /// Parse a [`name`](Self::name).
    pub fn from_name(name: &str) -> Option<IsolatedPhase> {
        Self::ALL.iter().copied().find(|p| p.name() == name)
    }
}

/// One phase set up on the calling thread, ready to run in a loop. Not `Send`: it holds
/// thread-bound state (the thread's Task, possibly a capability). Drop undoes the set-up.
pub struct PhaseLoop {
    phase: IsolatedPhase,
    rts: &'static Rts,
    task: NonNull<Task>,
    state: State,
    _not_send: PhantomData<*const ()>,
}

impl std::fmt::Debug for PhaseLoop {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PhaseLoop")
            .field("phase", &self.phase)
            .finish_non_exhaustive()
    }
}

/// What a phase keeps between operations.
enum State {
    /// Nothing held (task lookup, InCall and capability phases).
    Bare,
    /// A helper thread contends for the capability; `old_pref` is restored on drop.
    Contended { helper: Helper, old_pref: i32 },
    /// A call-in in progress (`rts_lock` done) with the objects the phase reads.
    Held(Held),
}

const CALL: &str = "PhaseLoop::new";

impl PhaseLoop {
    /// Set up `phase` on the calling thread against the RTS initialised by the caller
    /// (`hs_init_with`). The thread must not be inside a call-in.
    pub fn new(phase: IsolatedPhase) -> Result<PhaseLoop, CallInError> {
        let rts = rts::current().ok_or(CallInError::NotInitialised { call: CALL })?;
        if rts.is_exited() {
            return Err(CallInError::AfterExit { call: CALL });
        }
        let task = task::get_my_task().map_err(|_| CallInError::ThreadExiting { call: CALL })?;
        // SAFETY: this thread's live Task.
        if !unsafe { task.as_ref() }.is_stopped() {
            return Err(CallInError::TaskNotStopped);
        }
        let state = match phase {
            IsolatedPhase::TaskLookupHot
            | IsolatedPhase::TaskLookupFirst
            | IsolatedPhase::CapUncontended => State::Bare,
            IsolatedPhase::IncallSpare => {
                // SAFETY: this thread's live Task, no call-in active (checked above).
                let t = unsafe { task.as_ref() };
                incall::push_incall(t, rts);
                incall::pop_incall(t);
                State::Bare
            }
            IsolatedPhase::IncallNoSpare => {
                // SAFETY: as above.
                incall::free_spares(unsafe { task.as_ref() });
                State::Bare
            }
            IsolatedPhase::CapContended => contended(rts, task)?,
            _ => State::Held(Held::start(phase)?),
        };
        Ok(PhaseLoop {
            phase,
            rts,
            task,
            state,
            _not_send: PhantomData,
        })
    }

    /// The phase this loop runs.
    pub fn phase(&self) -> IsolatedPhase {
        self.phase
    }

    /// Run exactly `iters` operations of the phase.
    pub fn run(&mut self, iters: u64) {
        let rts = self.rts;
        // SAFETY: the Task of this thread (PhaseLoop is not Send), alive while the thread runs.
        let task = unsafe { self.task.as_ref() };
        match (&mut self.state, self.phase) {
            (State::Bare, IsolatedPhase::TaskLookupHot) => task_lookup_hot(iters),
            (State::Bare, IsolatedPhase::TaskLookupFirst) => self.task = task_lookup_first(iters),
            (State::Bare, IsolatedPhase::IncallSpare) => incall_pairs(task, rts, iters, false),
            (State::Bare, IsolatedPhase::IncallNoSpare) => incall_pairs(task, rts, iters, true),
            (State::Bare, IsolatedPhase::CapUncontended) | (State::Contended { .. }, _) => {
                for _ in 0..iters {
                    acquire_release(rts, task);
                }
            }
            (State::Held(h), phase) => h.run(phase, iters),
            (State::Bare, phase) => unreachable!("{phase:?} is set up as Held"),
        }
    }
}

impl Drop for PhaseLoop {
    fn drop(&mut self) {
        match std::mem::replace(&mut self.state, State::Bare) {
            State::Bare => {}
            State::Contended { helper, old_pref } => {
                helper.stop();
                // SAFETY: this thread's live Task.
                unsafe { self.task.as_ref() }
                    .preferred_capability
                    .set(old_pref);
            }
            State::Held(h) => h.end(),
        }
    }
}

// ------------------------------------------------------------------ task, InCall, capability

fn task_lookup_hot(iters: u64) {
    for _ in 0..iters {
        let t = task::get_my_task();
        std::hint::black_box(t.ok());
    }
}

/// Free and re-create this thread's Task `iters` times; returns the Task left at the end.
fn task_lookup_first(iters: u64) -> NonNull<Task> {
    for _ in 0..iters {
        // The Task is stopped (checked by `new`; the loop never leaves a call-in open).
        let _ = task::free_my_task();
        std::hint::black_box(task::get_my_task().ok());
    }
    task::get_my_task().expect("thread-locals live while the loop runs")
}

fn incall_pairs(task: &Task, rts: &Rts, iters: u64, free_spares: bool) {
    for _ in 0..iters {
        std::hint::black_box(incall::push_incall(task, rts));
        incall::pop_incall(task);
        if free_spares {
            incall::free_spares(task);
        }
    }
}

/// `waitForCapability` + `releaseCapability_`, with the hint update `rts_lock` makes.
#[inline]
fn acquire_release(rts: &Rts, task: &Task) {
    let g = rts.acquire_for(task);
    task.last_cap.set(Some(rts.hint_for(g.cap())));
    rts.release(g);
}

/// A thread acquiring and releasing one capability in a loop until stopped.
struct Helper {
    stop: Arc<AtomicBool>,
    thread: std::thread::JoinHandle<()>,
}

impl Helper {
    fn stop(self) {
        self.stop.store(true, Ordering::Relaxed);
        if self.thread.join().is_err() {
            eprintln!("phases: the contending helper thread panicked");
        }
    }
}

fn contended(rts: &'static Rts, task: NonNull<Task>) -> Result<State, CallInError> {
    let pref = if rts.n_capabilities() > 1 { 0 } else { -1 };
    let stop = Arc::new(AtomicBool::new(false));
    let (ready_tx, ready_rx) = std::sync::mpsc::channel();
    let stop2 = Arc::clone(&stop);
    let thread = std::thread::Builder::new()
        .name("phases-contender".into())
        .spawn(move || {
            let t = task::get_my_task().expect("a fresh thread has thread-locals");
            // SAFETY: this helper thread's own live Task.
            let t = unsafe { t.as_ref() };
            t.preferred_capability.set(pref);
            acquire_release(rts, t);
            let _ = ready_tx.send(());
            while !stop2.load(Ordering::Relaxed) {
                acquire_release(rts, t);
            }
        })
        .map_err(|e| CallInError::BadArgument {
            call: CALL,
            detail: format!("cannot spawn the contending thread: {e}"),
        })?;
    let _ = ready_rx.recv();
    // SAFETY: this thread's live Task.
    let t = unsafe { task.as_ref() };
    let old_pref = t.preferred_capability.replace(pref);
    Ok(State::Contended {
        helper: Helper { stop, thread },
        old_pref,
    })
}

// ------------------------------------------------------------------ phases inside a call-in

/// A call-in in progress on this thread, and what the phase reads.
struct Held {
    cap: *const Capability,
    /// `runIO (foo 1000)`, built in the nursery.
    graph: ClosurePtr,
    /// An `I#` in the nursery (`GetInt`).
    int: ClosurePtr,
    /// The thread `Schedule` runs (kept outside the nursery, like a reused TSO).
    tso: TsoStorage,
}

/// Largest allocation one operation makes, in words (a GHC-mode `createThread`).
const MAX_OP_WORDS: usize = sched::TSO_WORDS + sched::STACK_WORDS;

impl Held {
    fn start(phase: IsolatedPhase) -> Result<Held, CallInError> {
        let cap = api::lock()?;
        let mut h = Held {
            cap,
            graph: std::ptr::null(),
            int: std::ptr::null(),
            tso: TsoStorage::new(),
        };
        if let Err(e) = h.build(phase) {
            h.end();
            return Err(e);
        }
        Ok(h)
    }

    /// Build the objects the phase reads (again after a relock reclaimed the nursery).
    fn build(&mut self, phase: IsolatedPhase) -> Result<(), CallInError> {
        let cap = self.cap;
        self.int = api::mk_int(cap, 1000)?;
        // foo's static closure (stub/foo.c); only its address is taken here.
        let fun = &raw const FOO_CLOSURE as ClosurePtr;
        let runio = &raw const heap::base_GHCziTopHandler_runIO_closure as ClosurePtr;
        let action = api::apply(cap, fun, self.int)?;
        self.graph = api::apply(cap, runio, action)?;
        if phase == IsolatedPhase::CheckStatus {
            // A finished call: rstat = Success for rts_checkSchedStatus to read.
            let mut c = cap;
            let mut ret = std::ptr::null();
            // SAFETY: both out-pointers are locals; `graph` was built just above.
            unsafe { api::in_call(&mut c, self.graph, &mut ret, "PhaseLoop")? };
            self.cap = c;
        }
        Ok(())
    }

    fn end(self) {
        if let Err(e) = api::unlock(self.cap) {
            eprintln!("phases: ending the call-in failed: {e}");
        }
    }

    fn guard(&self) -> CapabilityGuard<'static> {
        // SAFETY: this thread holds `cap` from `api::lock` until `end` (the call-in is Running).
        unsafe { CapabilityGuard::assume_held(&*self.cap) }
    }

    /// Words still free in the held capability's nursery.
    fn room_words(&self) -> usize {
        self.guard().nursery().remaining_words()
    }

    /// End the call-in and start another: `rts_lock` reclaims the nursery per policy.
    fn relock(&mut self, phase: IsolatedPhase) {
        let relocked = api::unlock(self.cap).and_then(|()| api::lock());
        self.cap = relocked.expect("phases: relock of the call-in (the RTS must stay up)");
        self.build(phase).expect("phases: rebuild after relock");
    }

    /// How many operations of `words` each may run before the next room check
    /// (Note [keeping the nursery from filling]).
    fn chunk(&mut self, phase: IsolatedPhase, words: usize, left: u64) -> u64 {
        if self.room_words() < HEADROOM_WORDS {
            self.relock(phase);
        }
        // Budget twice the words per operation: GHC's block layout wastes less than that.
        let usable = self
            .room_words()
            .saturating_sub(HEADROOM_WORDS / 2 + MAX_OP_WORDS);
        ((usable / (2 * words)) as u64).clamp(1, left)
    }

    fn run(&mut self, phase: IsolatedPhase, iters: u64) {
        let words = match phase {
            IsolatedPhase::MkInt => heap::INT_WORDS,
            IsolatedPhase::Apply => heap::AP_WORDS,
            IsolatedPhase::CreateThread => MAX_OP_WORDS,
            IsolatedPhase::Schedule => heap::INT_WORDS,
            IsolatedPhase::CheckStatus => return self.check_status(iters),
            IsolatedPhase::GetInt => return self.get_int(iters),
            IsolatedPhase::Gc => return self.gc(iters),
            other => unreachable!("{other:?} does not run inside a call-in"),
        };
        let mut left = iters;
        while left > 0 {
            let k = self.chunk(phase, words, left);
            match phase {
                IsolatedPhase::MkInt => self.mk_int(k),
                IsolatedPhase::Apply => self.apply(k),
                IsolatedPhase::CreateThread => self.create_thread(k),
                _ => self.schedule(k),
            }
            left -= k;
        }
    }

    fn mk_int(&self, k: u64) {
        for i in 0..k {
            let v = 1000 + (i & 0xff) as i64;
            std::hint::black_box(api::mk_int(self.cap, std::hint::black_box(v)).ok());
        }
    }

    fn apply(&self, k: u64) {
        let arg = heap::intlike(1).expect("1 is a small int");
        for _ in 0..k {
            let f = std::hint::black_box(self.graph);
            std::hint::black_box(api::apply(self.cap, f, arg).ok());
        }
    }

    fn create_thread(&self, k: u64) {
        let rts = rts::current().expect("initialised while a call-in is held");
        let Ok(mut cx) = Ctx::current("createThread") else {
            return;
        };
        for _ in 0..k {
            std::hint::black_box(sched::create_thread(&mut cx, rts, self.graph));
        }
    }

    fn schedule(&mut self, k: u64) {
        let rts = rts::current().expect("initialised while a call-in is held");
        let Ok(mut cx) = Ctx::current("scheduleWaitThread") else {
            return;
        };
        let (tso, stack) = self.tso.get();
        for _ in 0..k {
            let no = self.guard().cap().no;
            // SAFETY: `tso`/`stack` come from a TsoStorage sized for TSO + STACK, owned by this
            // loop; the thread is on no run queue between iterations.
            unsafe { sched::init_thread(tso, stack, 1, no, self.graph) };
            std::hint::black_box(sched::schedule_wait_thread(&mut cx, rts, tso));
        }
    }

    fn check_status(&self, iters: u64) {
        for _ in 0..iters {
            let cap = std::hint::black_box(self.cap);
            let r = api::check_sched_status(cap, || "c_function".into());
            debug_assert_eq!(r.ok(), Some(StatusAction::Continue));
        }
    }

    fn get_int(&self, iters: u64) {
        for _ in 0..iters {
            std::hint::black_box(api::get_int(std::hint::black_box(self.int)).ok());
        }
    }

    fn gc(&mut self, iters: u64) {
        let rts = rts::current().expect("initialised while a call-in is held");
        for _ in 0..iters {
            let mut g = self.guard();
            let room = g.nursery().remaining_words();
            if room >= HEADROOM_WORDS {
                std::hint::black_box(g.nursery().alloc(room - HEADROOM_WORDS + 1));
            }
            let (_, alive) = rts.prepare_nursery(g);
            debug_assert!(alive, "the RTS shut down under a phase loop");
        }
        // The graph was reclaimed with the nursery.
        self.graph = std::ptr::null();
        self.int = std::ptr::null();
    }
}

#[cfg(test)]
mod test;
