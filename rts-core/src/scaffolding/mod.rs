//! Bench and test scaffolding, not the model's API: what the harness's benches and profiler and
//! rts-core's own integration and loom tests reach inside the model for. Hidden from the docs;
//! nothing on the call-in path uses it.
//!
//! - [`phases`]: each phase of the call-in path driven alone, in a loop;
//! - selection alone on an instance outside the `hs_init` lifecycle ([`standalone`],
//!   [`select_free`]);
//! - the global thread list ([`thread_list`]);
//! - the Task and InCall bookkeeping and the limits the tests check against;
//! - `loom_model` (under `--cfg rts_loom`): the capability protocols for the loom models.

pub mod phases;

#[cfg(rts_loom)]
pub mod loom_model;

#[cfg(not(rts_loom))]
pub use crate::capability::SPIN;
pub use crate::capability::{CapOwned, CapabilityGuard};
pub use crate::incall::{MAX_SPARE_INCALLS, live_incalls};
pub use crate::nursery::HEADROOM_WORDS;
pub use crate::rts::standalone;
pub use crate::rts_flags::number_of_processors;
pub use crate::sched::threads::THREAD_LIST_PRUNE_BATCH;
pub use crate::select::{SelectError, SelectedCap};
pub use crate::task::{Registry, Task, free_my_task, get_my_task, live_tasks, my_task, registry};

use crate::rts::Rts;

/// Take a free capability for a task on `node` the way `rts`'s policy would, without a Task or
/// a wait (`Rts::select_free`), for placement tests and the `selection` bench.
pub fn select_free(rts: &Rts, node: u32) -> Result<SelectedCap<'_>, SelectError> {
    rts.select_free(node)
}

/// A copy of `rts`'s global thread list, oldest first (`ThreadIds::GlobalLock`; empty
/// otherwise): ids of threads whose calls have not ended, plus finished ones not yet pruned.
pub fn thread_list(rts: &Rts) -> Vec<u64> {
    rts.thread_list()
}
