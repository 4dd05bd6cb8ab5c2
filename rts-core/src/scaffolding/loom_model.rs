//! Entry points for the loom models (`tests/loom_*.rs`, run by `scripts/loom.sh` under
//! `--cfg rts_loom`): the real acquire, park, hand-off and release code on a standalone
//! capability, with the model's knobs, and on a standalone instance of several.

use crate::capability::{Capability, CapabilityGuard};
use crate::config::Config;
use crate::heap::WORD_BYTES;
use crate::nursery::HEADROOM_WORDS;
use crate::policy::PolicySet;
use crate::rts::Rts;
use crate::task::get_my_task;
/// What a model varies (small numbers, so every branch is reached).
#[derive(Debug, Clone, Copy, Default)]
pub struct Knobs {
    /// Whether a queued waiter's park may time out (production: never). Timed parks
    /// explore a release finding the queue emptied under it; untimed parks turn a lost
    /// wake-up into a loom deadlock.
    pub timed_parks: bool,
}

pub fn new_capability(knobs: Knobs) -> Capability {
    Capability::for_model(knobs)
}

/// `WaitPolicy::SpinPark` acquisition, as `Rts::acquire_specific` does it.
pub fn acquire_spin_park(cap: &Capability) -> CapabilityGuard<'_> {
    cap.acquire_spin_park().0
}

/// `WaitPolicy::SpinPark` release; true if handed directly to a parked waiter.
pub fn release_spin_park(g: CapabilityGuard<'_>) -> bool {
    g.release_lockfree()
}

/// `WaitPolicy::Ghc` acquisition (`cap->lock`, FIFO of returning tasks, per-task condvar).
pub fn acquire_ghc(cap: &Capability) -> CapabilityGuard<'_> {
    cap.acquire_ghc().0
}

/// `WaitPolicy::Ghc` release (`releaseCapability_`).
pub fn release_ghc(g: CapabilityGuard<'_>) {
    g.release_ghc();
}

/// Whether an heir, on any capability, is about to sleep or asleep (it counted itself).
pub fn heirs_may_sleep() -> bool {
    Capability::heirs_may_sleep()
}

/// Whether `cap`'s heir sleeps now (`HEIR_ASLEEP`).
pub fn heir_is_asleep(cap: &Capability) -> bool {
    cap.heir_is_asleep()
}

/// `(LOCKED, PARKED, an heir is registered)` now.
pub fn state(cap: &Capability) -> (bool, bool, bool) {
    cap.state_bits()
}

/// An instance outside the `hs_init` lifecycle with `n` capabilities on one node, the lock-free
/// policies and the smallest nursery, for the models that span capabilities.
pub fn instance(n: u32) -> Rts {
    let config = Config {
        n_capabilities: n,
        max_capabilities: n,
        nursery_bytes: 2 * HEADROOM_WORDS * WORD_BYTES,
        policy: PolicySet::DEFAULT,
        ..Config::default()
    };
    crate::rts::standalone(config).expect("a valid configuration")
}

/// Capability `i` itself, waiting as long as it takes (`Rts::acquire_specific`).
pub fn acquire_specific(rts: &Rts, i: u32) -> CapabilityGuard<'_> {
    rts.acquire_specific(rts.cap(i))
}

/// `rts_lock`'s choice and acquisition for this thread's Task, whose last capability was
/// `last` (`Rts::acquire_for`: the hint, then the free bitmaps, then the wait).
pub fn acquire_after(rts: &Rts, last: u32) -> CapabilityGuard<'_> {
    let t = get_my_task().expect("a model thread has thread-locals");
    // SAFETY: this thread's live Task.
    let task = unsafe { t.as_ref() };
    task.last_cap.set(Some(rts.hint_for(rts.cap(last))));
    rts.acquire_for(task)
}

/// `rts_unlock`'s release (`Rts::release`: the state word, then the free bit, then the nudge).
pub fn release(rts: &Rts, g: CapabilityGuard<'_>) {
    rts.release(g);
}
