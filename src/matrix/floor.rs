//! The floor: primitives the call-in path cannot beat (an empty C call through a pointer, a
//! thread-local read, an uncontended CAS + release store, an uncontended mutex pair), each as a
//! loop of `iters` operations that the caller times.

use std::cell::Cell;
use std::hint::black_box;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use callin_reports::schema::FloorMeasurement;
use indicatif::ProgressBar;

use crate::stats::spread;

/// One floor primitive.
#[derive(Debug, Clone, Copy)]
pub struct FloorOp {
    /// Bench id part (`empty_c_call`, ...).
    pub id: &'static str,
    /// Human name, as in `callin_reports::schema::FloorMeasurement::name`.
    pub name: &'static str,
    /// Runs exactly `iters` operations.
    pub run: fn(u64),
}

/// Every floor primitive, cheapest first.
pub const OPS: &[FloorOp] = &[
    FloorOp {
        id: "tls_read",
        name: "thread-local read",
        run: tls_read,
    },
    FloorOp {
        id: "empty_c_call",
        name: "empty C call via fn pointer",
        run: empty_c_call,
    },
    FloorOp {
        id: "cas_release_store",
        name: "uncontended CAS + release store",
        run: cas_release_store,
    },
    FloorOp {
        id: "mutex_pair",
        name: "uncontended pthread mutex lock+unlock",
        run: mutex_pair,
    },
];

/// Every floor primitive, `reps` times about `budget` each, median and range in ns per operation.
pub fn measure(reps: u32, budget: Duration, bar: &ProgressBar) -> Vec<FloorMeasurement> {
    OPS.iter()
        .map(|op| {
            bar.set_message(format!("floor {}", op.id));
            let iters = calibrate(op.run, budget);
            let ns: Vec<f64> = (0..reps.max(1))
                .map(|_| {
                    let t0 = Instant::now();
                    (op.run)(iters);
                    t0.elapsed().as_nanos() as f64 / iters as f64
                })
                .collect();
            bar.inc(1);
            FloorMeasurement {
                name: op.name.to_owned(),
                ns_per_op: spread(&ns),
            }
        })
        .collect()
}

/// Iterations of `run` that take about `budget`.
fn calibrate(run: fn(u64), budget: Duration) -> u64 {
    let mut iters = 1000u64;
    loop {
        let t0 = Instant::now();
        run(iters);
        let el = t0.elapsed();
        if el >= budget / 8 || iters >= 1 << 34 {
            let per = el.as_secs_f64() / iters as f64;
            return ((budget.as_secs_f64() / per.max(1e-12)) as u64).clamp(1000, 1 << 34);
        }
        iters *= 4;
    }
}

fn empty_c_call(iters: u64) {
    let f = black_box(rts_core::stub::floor_empty());
    for i in 0..iters as i64 {
        // SAFETY: `rtscore_floor_empty` (stub/floor.c) returns its argument; callable anywhere.
        black_box(unsafe { f(black_box(i)) });
    }
}

std::thread_local! {
    static TLS_WORD: Cell<usize> = const { Cell::new(7) };
}

fn tls_read(iters: u64) {
    for _ in 0..iters {
        black_box(TLS_WORD.with(|c| c.get()));
    }
}

fn cas_release_store(iters: u64) {
    let word = AtomicUsize::new(0);
    let w = black_box(&word);
    for _ in 0..iters {
        // ORDERING: Acquire/Release as a capability grab and release pair (rts-core's
        // capability/handoff.rs).
        let _ = w.compare_exchange(0, 1, Ordering::Acquire, Ordering::Relaxed);
        // ORDERING: Release, as a capability release.
        w.store(0, Ordering::Release);
    }
}

/// A pthread mutex, as GHC's `cap->lock` and `sched_mutex` are.
struct PthreadMutex(std::cell::UnsafeCell<libc::pthread_mutex_t>);

// SAFETY: a pthread mutex is made to be shared between threads; only used through its API.
unsafe impl Sync for PthreadMutex {}

static MUTEX: PthreadMutex =
    PthreadMutex(std::cell::UnsafeCell::new(libc::PTHREAD_MUTEX_INITIALIZER));

fn mutex_pair(iters: u64) {
    let m = MUTEX.0.get();
    for _ in 0..iters {
        // SAFETY: `m` is a statically initialised mutex that is never moved or destroyed; each
        // lock is followed by an unlock on the same thread.
        unsafe {
            libc::pthread_mutex_lock(m);
            libc::pthread_mutex_unlock(m);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_op_runs_and_leaves_the_mutex_free() {
        for op in OPS {
            (op.run)(0);
            (op.run)(1000);
        }
        // SAFETY: static mutex; a successful trylock is followed by an unlock.
        unsafe {
            assert_eq!(libc::pthread_mutex_trylock(MUTEX.0.get()), 0);
            libc::pthread_mutex_unlock(MUTEX.0.get());
        }
    }
}
