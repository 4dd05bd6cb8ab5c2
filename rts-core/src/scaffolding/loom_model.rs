//! Entry points for the loom models (`tests/loom_*.rs`, run by `scripts/loom.sh` under
//! `--cfg rts_loom`): the real acquire, park, hand-off and release code on a standalone
//! capability, with the model's knobs.

use crate::capability::{Capability, CapabilityGuard};

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

/// `(LOCKED, PARKED, an heir is registered)` now.
pub fn state(cap: &Capability) -> (bool, bool, bool) {
    cap.state_bits()
}
