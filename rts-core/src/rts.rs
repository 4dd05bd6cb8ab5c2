//! The RTS instance and its lifecycle: `hs_init`, `hs_exit` and `setNumCapabilities`.
//!
//! Ports `hs_init_ghc` / `hs_exit_` (`rts/RtsStartup.c`), `initCapabilities` /
//! `moreCapabilities` (`rts/Capability.c`), `storageAddCapabilities` (`rts/sm/Storage.c`) and
//! `setNumCapabilities` (`rts/Schedule.c`). The instance's other parts live with their concepts:
//! its configuration (`config.rs`), capability selection and the free bitmaps (`select.rs`),
//! nursery collection (`gc.rs`), thread ids and the thread list (`sched/threads.rs`) and
//! nursery placement (`numa/placement.rs`). Ownership: an `Rts` is created by `hs_init` and
//! never freed (tasks may still hold pointers into it, like GHC's capabilities, #8209); its
//! nurseries are freed by `hs_exit` once no call can reach them.
//!
//! Deliberate difference: `hs_init` after a complete `hs_exit` starts a fresh instance (GHC does
//! not support restarting), so one bench binary can measure several policy sets.

use crossbeam_utils::CachePadded;
use parking_lot::Mutex;

use crate::capability::{Capability, CapabilityGuard};
use crate::config::Config;
use crate::error::CallInError;
use crate::numa::NurseryHome;
use crate::sched::threads::ThreadList;
use crate::select::FreeCaps;
use crate::stats::StatsSnapshot;
use crate::sync::atomic::{AtomicU32, AtomicUsize, Ordering};
use crate::sync::process_atomic::AtomicPtr;

/// Lifecycle states of an instance.
const RUNNING: u32 = 1;
const INTERRUPTING: u32 = 2;
const EXITED: u32 = 3;

/// One RTS instance.
pub struct Rts {
    /// Distinguishes instances across `hs_exit` / `hs_init` cycles (task hints carry it).
    pub generation: u64,
    state: AtomicU32,
    config: Config,
    caps: Box<[CachePadded<Capability>]>,
    n_enabled: AtomicU32,
    /// Which capabilities may be free (`select.rs`).
    pub(crate) free: FreeCaps,
    /// The global thread list (`sched/threads.rs`).
    pub(crate) threads: ThreadList,
    /// GHC `pending_sync`: one stop-the-world collection at a time, and none while
    /// `setNumCapabilities` or `hs_exit` holds every capability.
    pub(crate) pending_sync: Mutex<()>,
    /// Calls suspended in a safe foreign call (they hold pins but no capability).
    suspended: AtomicUsize,
    /// Where each capability's first nursery buffer was placed (index = capability number;
    /// `numa/placement.rs`).
    pub(crate) nursery_homes: Mutex<Vec<NurseryHome>>,
}

impl std::fmt::Debug for Rts {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Rts")
            .field("generation", &self.generation)
            .field("n_enabled", &self.n_capabilities())
            .field("policy", &self.config.policy)
            .finish_non_exhaustive()
    }
}

impl Rts {
    fn new(config: Config, generation: u64) -> Rts {
        let (free, idx_in_node) = FreeCaps::new(&config.numa, config.max_capabilities);
        let caps: Box<[CachePadded<Capability>]> = (0..config.max_capabilities)
            .map(|i| {
                let node = config.numa.node_of_cap(i);
                CachePadded::new(Capability::new(i, node, idx_in_node[i as usize]))
            })
            .collect();
        let rts = Rts {
            generation,
            state: AtomicU32::new(RUNNING),
            caps,
            n_enabled: AtomicU32::new(0),
            free,
            threads: ThreadList::new(config.max_capabilities),
            pending_sync: Mutex::new(()),
            suspended: AtomicUsize::new(0),
            nursery_homes: Mutex::new(Vec::new()),
            config,
        };
        rts.add_capabilities(0, rts.config.n_capabilities);
        rts
    }

    /// Port of `storageAddCapabilities`: give capabilities `from..to` their nurseries and mark
    /// them enabled. Caller holds every enabled capability (or none exist yet).
    fn add_capabilities(&self, from: u32, to: u32) {
        // Capabilities below `have` got their nursery earlier (a shrink keeps it).
        let have = self.nursery_homes.lock().len() as u32;
        let mut placed = self.place_nurseries(from.max(have), to).into_iter();
        for i in from..to {
            let cap = self.cap(i);
            // A task that chose this capability before a shrink disabled it may hold it for a
            // moment; it gives it back as soon as it sees it disabled (`acquire_for`).
            let mut g = loop {
                match cap.try_grab() {
                    Some(g) => break g,
                    None => std::thread::yield_now(),
                }
            };
            if i >= have {
                let (home, nursery) = placed.next().expect("one nursery per new capability");
                g.set_running_task(std::ptr::null());
                g.owned().nursery = Some(nursery);
                self.nursery_homes.lock().push(home);
            }
            g.force_release();
        }
        // ORDERING: Release publishes the nurseries to threads that read `n_enabled` (Acquire in
        // `n_capabilities`) before they grab one of the new capabilities.
        self.n_enabled.store(to, Ordering::Release);
        for i in from..to {
            self.mark_free(self.cap(i));
        }
    }

    /// The configuration this instance runs with.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// Enabled capabilities (GHC `enabled_capabilities`).
    pub fn n_capabilities(&self) -> u32 {
        // ORDERING: Acquire pairs with the Release in `add_capabilities`.
        self.n_enabled.load(Ordering::Acquire)
    }

    /// Capability `i` (enabled or not). Panics past the array.
    pub fn cap(&self, i: u32) -> &Capability {
        &self.caps[i as usize]
    }

    /// Whether `p` is the address of one of this instance's capabilities.
    pub(crate) fn cap_index_of(&self, p: *const Capability) -> Option<u32> {
        let base = self.caps.as_ptr() as usize;
        let stride = std::mem::size_of::<CachePadded<Capability>>();
        let off = (p as usize).checked_sub(base)?;
        let i = off / stride;
        (off % stride == 0 && i < self.caps.len() && std::ptr::eq(self.cap(i as u32), p))
            .then_some(i as u32)
    }

    pub(crate) fn is_running(&self) -> bool {
        self.state.load(Ordering::Relaxed) == RUNNING
    }

    pub(crate) fn is_exited(&self) -> bool {
        // ORDERING: Acquire pairs with the Release store of EXITED in `shutdown`, made while
        // `hs_exit` held every capability: a task that grabs one afterwards sees EXITED.
        self.state.load(Ordering::Acquire) == EXITED
    }

    /// Counters of every capability.
    pub fn stats(&self) -> StatsSnapshot {
        let (created, freed) = crate::stats::tasks();
        StatsSnapshot {
            per_cap: self.caps.iter().map(|c| c.stats.snapshot()).collect(),
            tasks_created: created,
            tasks_freed: freed,
            live_tasks: crate::task::live_tasks(),
        }
    }

    pub(crate) fn suspended_inc(&self) {
        self.suspended.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn suspended_dec(&self) {
        self.suspended.fetch_sub(1, Ordering::Relaxed);
    }

    /// Take every enabled capability (GHC `stopAllCapabilities`), in order. Holds the sync
    /// lock meanwhile, so it never deadlocks with a stop-the-world collection.
    fn acquire_all(&self) -> (parking_lot::MutexGuard<'_, ()>, Vec<CapabilityGuard<'_>>) {
        let sync = self.pending_sync.lock();
        let caps = (0..self.n_capabilities())
            .map(|i| self.acquire_specific(self.cap(i)))
            .collect();
        (sync, caps)
    }

    fn release_all(&self, caps: Vec<CapabilityGuard<'_>>) {
        for g in caps {
            self.release(g);
        }
    }

    /// Port of `setNumCapabilities`: stop everything, grow (allocating nurseries) or shrink.
    fn set_capabilities(&self, n: u32) {
        let (_sync, held) = self.acquire_all();
        let old = held.len() as u32;
        if n > old {
            self.add_capabilities(old, n);
        } else {
            // ORDERING: Release, as in `add_capabilities`.
            self.n_enabled.store(n, Ordering::Release);
        }
        self.release_all(held);
    }

    /// `hs_exit`: interrupt, wait for every running call to leave its capability, then shut down.
    fn shutdown(&self) {
        self.state.store(INTERRUPTING, Ordering::Relaxed);
        let (_sync, mut held) = self.acquire_all();
        // ORDERING: Release pairs with the Acquire in `is_exited`; we hold every capability, so
        // whoever grabs one next sees EXITED before touching its nursery.
        self.state.store(EXITED, Ordering::Release);
        if self.suspended.load(Ordering::Relaxed) == 0 {
            for g in &mut held {
                if !g.nursery().any_pinned() {
                    g.owned().nursery = None;
                }
            }
        }
        self.release_all(held);
    }
}

/// An instance outside the `hs_init` lifecycle, for selection tests and benches: nothing calls
/// into it through the C API, so several can exist at once. Its nurseries are freed on drop.
pub fn standalone(config: Config) -> Result<Rts, CallInError> {
    // Generation 0 is never used by `init`, so no Task hint can name this instance.
    Ok(Rts::new(config.resolved()?, 0))
}

/// The current instance (null before the first `hs_init`). Instances are leaked, never freed.
static CURRENT: AtomicPtr<Rts> = AtomicPtr::new(std::ptr::null_mut());

struct Lifecycle {
    init_count: u32,
    generation: u64,
}

static LIFECYCLE: Mutex<Lifecycle> = Mutex::new(Lifecycle {
    init_count: 0,
    generation: 0,
});

/// The current instance, if `hs_init` ever ran.
#[inline]
pub fn current() -> Option<&'static Rts> {
    // ORDERING: Acquire pairs with the Release in `init`, publishing the instance's contents.
    let p = CURRENT.load(Ordering::Acquire);
    // SAFETY: instances are leaked by `init` and never freed.
    unsafe { p.as_ref() }
}

/// `hs_init` with an explicit configuration. Counted like GHC's: each `hs_init` needs an
/// `hs_exit`; a second `hs_init` with a different configuration is an error.
pub fn init(config: Config) -> Result<&'static Rts, CallInError> {
    let config = config.resolved()?;
    let mut lc = LIFECYCLE.lock();
    if lc.init_count > 0 {
        let rts = current().expect("initialised");
        if rts.config != config {
            return Err(CallInError::InitMismatch {
                detail: format!(
                    "{} capabilities, {} byte nurseries, policy {}; asked for {} capabilities, {} byte nurseries, policy {}",
                    rts.config.n_capabilities,
                    rts.config.nursery_bytes,
                    rts.config.policy,
                    config.n_capabilities,
                    config.nursery_bytes,
                    config.policy
                ),
            });
        }
        lc.init_count += 1;
        return Ok(rts);
    }
    lc.generation += 1;
    let rts: &'static Rts = Box::leak(Box::new(Rts::new(config, lc.generation)));
    // ORDERING: Release publishes the fully built instance to `current()`.
    CURRENT.store(rts as *const Rts as *mut Rts, Ordering::Release);
    lc.init_count = 1;
    Ok(rts)
}

/// A nested `hs_init` from C: if the RTS is running, count the call and return true. GHC's
/// `hs_init_ghc` does only this (`hs_init_count > 1`: return), without looking at the
/// arguments; the Rust [`init`] instead checks that the configurations agree.
pub(crate) fn count_nested_init() -> bool {
    let mut lc = LIFECYCLE.lock();
    if lc.init_count == 0 {
        return false;
    }
    lc.init_count += 1;
    true
}

/// `hs_exit`: the last matching call shuts the instance down. Returns false if not initialised.
pub fn exit() -> bool {
    let mut lc = LIFECYCLE.lock();
    if lc.init_count == 0 {
        return false;
    }
    lc.init_count -= 1;
    if lc.init_count == 0 {
        current().expect("initialised").shutdown();
    }
    true
}

/// `setNumCapabilities(n)`.
pub fn set_num_capabilities(n: u32) -> Result<(), CallInError> {
    let lc = LIFECYCLE.lock();
    let rts = match current() {
        Some(r) if lc.init_count > 0 => r,
        _ => {
            return Err(CallInError::NotInitialised {
                call: "setNumCapabilities",
            });
        }
    };
    if n == 0 || n > rts.caps.len() as u32 {
        return Err(CallInError::BadArgument {
            call: "setNumCapabilities",
            detail: format!("{n} capabilities requested; must be 1..={}", rts.caps.len()),
        });
    }
    rts.set_capabilities(n);
    Ok(())
}
