//! Shared by the loom models that run whole call-ins: the stub's call sequence, an RTS instance
//! per loom execution, and the wait for thread-local destructors that loom's `join` skips.
#![allow(dead_code)]

use rts_core::{Config, PolicySet};

// The exported function and the stub's call sequence are the integration tests' own.
#[path = "../common/mod.rs"]
mod common;
#[allow(unused_imports)] // the models that make no whole call-in (loom_moving.rs) use neither
pub use common::{FOO, call};

/// The smallest RTS: one capability (so every call contends), a 16 KiB nursery (the minimum:
/// two `HEADROOM_WORDS`, so a reclaim is one large allocation away), the lock-free policies.
pub fn init_small() {
    rts_core::hs_init_with(Config {
        n_capabilities: 1,
        max_capabilities: 1,
        nursery_bytes: 2 * rts_core::scaffolding::HEADROOM_WORDS * rts_core::heap::WORD_BYTES,
        policy: PolicySet::DEFAULT,
        ..Config::default()
    })
    .expect("hs_init");
}

/// FIXME(loom): loom's `join` returns before the thread's locals are dropped (std's waits for
/// them). Wait until every Task is freed; a leak spins here until loom's branch limit fails.
pub fn wait_for_task_destructors() {
    while rts_core::scaffolding::live_tasks() != 0 {
        loom::thread::yield_now();
    }
}
