//! The start gate: owns the rendezvous between the driver's main thread and its workers. Workers
//! arrive (pinned and warmed up) and block; the main thread waits until all have arrived, runs
//! the "before" hook, then releases them together. Unlike `std::sync::Barrier` the gate can be
//! aborted, so a failed spawn or a panicking hook never leaves workers blocked forever.

use std::sync::{Condvar, Mutex, MutexGuard};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum GateState {
    Closed,
    Open,
    Aborted,
}

#[derive(Debug)]
struct Inner {
    arrived: usize,
    state: GateState,
}

/// A one-shot start gate for a fixed number of workers.
#[derive(Debug)]
pub(crate) struct StartGate {
    inner: Mutex<Inner>,
    cv: Condvar,
}

impl StartGate {
    pub(crate) fn new() -> StartGate {
        StartGate {
            inner: Mutex::new(Inner {
                arrived: 0,
                state: GateState::Closed,
            }),
            cv: Condvar::new(),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // A poisoned gate only means a thread panicked while holding it; the counters are
        // still consistent (each critical section is a single field update).
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Worker side: count this worker in, then block until released. Returns false when the
    /// run was aborted (the worker must then return without calling the target).
    pub(crate) fn arrive_and_wait(&self) -> bool {
        let mut g = self.lock();
        g.arrived += 1;
        self.cv.notify_all();
        while g.state == GateState::Closed {
            g = self.cv.wait(g).unwrap_or_else(|e| e.into_inner());
        }
        g.state == GateState::Open
    }

    /// Main side: block until `n` workers have arrived.
    pub(crate) fn wait_for_arrivals(&self, n: usize) {
        let mut g = self.lock();
        while g.arrived < n {
            g = self.cv.wait(g).unwrap_or_else(|e| e.into_inner());
        }
    }

    /// Main side: release every waiting worker at once.
    pub(crate) fn open(&self) {
        self.set_state(GateState::Open);
    }

    /// Main side: tell every worker (waiting now or arriving later) to give up.
    pub(crate) fn abort(&self) {
        self.set_state(GateState::Aborted);
    }

    fn set_state(&self, s: GateState) {
        let mut g = self.lock();
        if g.state == GateState::Closed {
            g.state = s;
        }
        self.cv.notify_all();
    }
}

/// Aborts the gate when dropped unless disarmed: the main thread holds one while it spawns
/// workers and runs the hook, so an early return or a panic releases the workers.
pub(crate) struct AbortOnDrop<'a> {
    gate: &'a StartGate,
}

impl<'a> AbortOnDrop<'a> {
    pub(crate) fn new(gate: &'a StartGate) -> AbortOnDrop<'a> {
        AbortOnDrop { gate }
    }
}

impl Drop for AbortOnDrop<'_> {
    fn drop(&mut self) {
        // A no-op after `open()`: the state only leaves Closed once.
        self.gate.abort();
    }
}
