//! The one place that names synchronisation primitives: std / parking_lot normally,
//! loom under `--cfg rts_loom`, so the loom models in `tests/loom_*.rs` exercise the real code.
//!
//! Owns: the atomics, `UnsafeCell`, thread-locals, `Mutex`/`Condvar` (parking_lot's API) and the
//! address-keyed parking lot ([`park`]) that the rest of the crate uses. Under loom every one of
//! them is a loom object, so loom sees every synchronising step of the capability hand-off, the
//! GHC wait queue and the task registry.

#[cfg(all(rts_loom, not(debug_assertions)))]
compile_error!(
    "loom models need debug assertions (the invariants are checked by them): run scripts/loom.sh"
);

#[cfg(rts_loom)]
pub(crate) use loom::sync::atomic;
#[cfg(not(rts_loom))]
pub(crate) use std::sync::atomic;

/// Process-wide counters and ids that are not part of any model (task ids, stats totals): std
/// atomics even under loom, because a `static` cannot hold a loom atomic. They order nothing.
/// (The one process-wide atomic that orders something, the sleeping-heir count of
/// capability/handoff.rs, is a loom atomic under loom.)
pub(crate) mod process_atomic {
    pub(crate) use std::sync::atomic::{AtomicPtr, AtomicU64, AtomicUsize, Ordering};
}

/// The point between the write and the read of one side of a SeqCst pair (capability/README.md,
/// "The SeqCst pairs"): nothing, since the SeqCst accesses alone order the pair.
#[cfg(not(rts_loom))]
#[inline(always)]
pub(crate) fn seqcst_pair_point() {}

/// FIXME(loom): loom orders SeqCst loads and stores per location only, not in one total order
/// across locations (tokio-rs/loom#180), so both sides of a store-then-load pair may read stale
/// values there, which the C++ model rules out. Under loom the pair point is a SeqCst fence,
/// which loom does order globally and which gives the pair the same guarantee.
#[cfg(rts_loom)]
pub(crate) fn seqcst_pair_point() {
    atomic::fence(atomic::Ordering::SeqCst);
}

#[cfg(rts_loom)]
pub(crate) use loom::thread::yield_now as spin_yield;
/// A pause inside a spin loop; under loom it is a yield so the model can make progress.
#[cfg(not(rts_loom))]
#[inline]
pub(crate) fn spin_yield() {
    std::hint::spin_loop();
}

#[cfg(not(rts_loom))]
pub(crate) use self::std_cell::UnsafeCell;
#[cfg(rts_loom)]
pub(crate) use loom::cell::UnsafeCell;

#[cfg(rts_loom)]
pub(crate) use self::loom_lock::{Condvar, Mutex};
#[cfg(not(rts_loom))]
pub(crate) use parking_lot::{Condvar, Mutex};

/// `thread_local!` from std, or from loom under `rts_loom` (loom runs its threads on one OS
/// thread, so a std thread-local would be shared by every modelled thread).
/// FIXME(loom): loom's macro has no `const { }` initialiser; the loom arm strips it.
#[cfg(not(rts_loom))]
macro_rules! rts_thread_local {
    ($($tts:tt)+) => { std::thread_local! { $($tts)+ } };
}
#[cfg(rts_loom)]
macro_rules! rts_thread_local {
    ($(#[$a:meta])* static $name:ident: $t:ty = const { $init:expr };) => {
        loom::thread_local! { $(#[$a])* static $name: $t = $init; }
    };
}
pub(crate) use rts_thread_local;

#[cfg(not(rts_loom))]
mod std_cell {
    /// `std::cell::UnsafeCell` with loom's closure-based API, so call sites are identical.
    #[derive(Debug, Default)]
    pub(crate) struct UnsafeCell<T>(std::cell::UnsafeCell<T>);

    impl<T> UnsafeCell<T> {
        pub(crate) const fn new(value: T) -> Self {
            Self(std::cell::UnsafeCell::new(value))
        }
        #[inline(always)]
        #[allow(dead_code)] // API parity with loom's UnsafeCell
        pub(crate) fn with<R>(&self, f: impl FnOnce(*const T) -> R) -> R {
            f(self.0.get())
        }
        #[inline(always)]
        pub(crate) fn with_mut<R>(&self, f: impl FnOnce(*mut T) -> R) -> R {
            f(self.0.get())
        }
    }
}

/// loom's `Mutex`/`Condvar` behind parking_lot's API (no poisoning, `wait(&mut guard)`).
#[cfg(rts_loom)]
mod loom_lock {
    use std::ops::{Deref, DerefMut};

    pub(crate) struct Mutex<T>(loom::sync::Mutex<T>);
    pub(crate) struct MutexGuard<'a, T>(Option<loom::sync::MutexGuard<'a, T>>);
    #[derive(Debug, Default)]
    pub(crate) struct Condvar(loom::sync::Condvar);

    impl<T> Mutex<T> {
        pub(crate) fn new(value: T) -> Self {
            Mutex(loom::sync::Mutex::new(value))
        }
        pub(crate) fn lock(&self) -> MutexGuard<'_, T> {
            MutexGuard(Some(self.0.lock().expect("loom mutex poisoned")))
        }
    }
    impl<T: Default> Default for Mutex<T> {
        fn default() -> Self {
            Mutex::new(T::default())
        }
    }
    impl<T> std::fmt::Debug for Mutex<T> {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("Mutex { .. }")
        }
    }
    impl<T> Deref for MutexGuard<'_, T> {
        type Target = T;
        fn deref(&self) -> &T {
            self.0
                .as_ref()
                .expect("guard present outside Condvar::wait")
        }
    }
    impl<T> DerefMut for MutexGuard<'_, T> {
        fn deref_mut(&mut self) -> &mut T {
            self.0
                .as_mut()
                .expect("guard present outside Condvar::wait")
        }
    }
    impl Condvar {
        pub(crate) fn wait<T>(&self, g: &mut MutexGuard<'_, T>) {
            let inner = g.0.take().expect("guard present");
            g.0 = Some(self.0.wait(inner).expect("loom mutex poisoned"));
        }
        pub(crate) fn notify_one(&self) {
            self.0.notify_one();
        }
    }
}

/// The address-keyed parking lot: parking_lot_core normally, a loom model under `rts_loom`.
/// Same signatures in both, so `capability/handoff.rs` has one parking protocol.
pub(crate) mod park {
    #[cfg(rts_loom)]
    pub(crate) use super::loom_park::*;
    #[cfg(not(rts_loom))]
    pub(crate) use parking_lot_core::{
        DEFAULT_PARK_TOKEN, ParkResult, UnparkToken, park, unpark_one,
    };
}

/// A parking lot on loom primitives with parking_lot_core's contract: `validate` and the unpark
/// callback run under one lot lock, so a park either sees the releaser's state change or is in
/// the queue when the releaser looks.
///
/// FIXME(loom): loom has no clock. An untimed park (`deadline == None`) blocks until unparked, so
/// a lost wake-up is a loom deadlock. A timed park models the timeout as "may fire as soon as
/// the waiter runs again": it yields once, then takes a hand-off if one arrived or leaves the
/// queue as timed out. That explores every order of hand-off against timeout, but cannot show
/// that a wake-up was needed; the untimed models cover that.
#[cfg(rts_loom)]
mod loom_park {
    use loom::sync::{Arc, Condvar, Mutex};
    use std::time::Instant;

    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub(crate) struct UnparkToken(pub usize);
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub(crate) struct ParkToken(pub usize);
    pub(crate) const DEFAULT_PARK_TOKEN: ParkToken = ParkToken(0);

    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub(crate) enum ParkResult {
        Unparked(UnparkToken),
        Invalid,
        TimedOut,
    }

    #[derive(Debug, Clone, Copy, Default)]
    pub(crate) struct UnparkResult {
        pub unparked_threads: usize,
        pub have_more_threads: bool,
    }

    struct Waiter {
        key: usize,
        token: Mutex<Option<UnparkToken>>,
        cond: Condvar,
    }

    loom::lazy_static! {
        static ref LOT: Mutex<Vec<Arc<Waiter>>> = Mutex::new(Vec::new());
    }

    /// # Safety
    /// Same contract as `parking_lot_core::park`: the callbacks must not park or unpark.
    pub(crate) unsafe fn park(
        key: usize,
        validate: impl FnOnce() -> bool,
        before_sleep: impl FnOnce(),
        timed_out: impl FnOnce(usize, bool),
        _token: ParkToken,
        deadline: Option<Instant>,
    ) -> ParkResult {
        let me = Arc::new(Waiter {
            key,
            token: Mutex::new(None),
            cond: Condvar::new(),
        });
        {
            let mut lot = LOT.lock().unwrap();
            if !validate() {
                return ParkResult::Invalid;
            }
            lot.push(Arc::clone(&me));
        }
        before_sleep();
        if deadline.is_none() {
            let mut tok = me.token.lock().unwrap();
            loop {
                if let Some(t) = *tok {
                    return ParkResult::Unparked(t);
                }
                tok = me.cond.wait(tok).unwrap();
            }
        }
        loom::thread::yield_now();
        let mut lot = LOT.lock().unwrap();
        if let Some(t) = *me.token.lock().unwrap() {
            return ParkResult::Unparked(t);
        }
        lot.retain(|w| !Arc::ptr_eq(w, &me));
        let was_last = !lot.iter().any(|w| w.key == key);
        timed_out(key, was_last);
        ParkResult::TimedOut
    }

    /// # Safety
    /// Same contract as `parking_lot_core::unpark_one`: the callback must not park or unpark.
    pub(crate) unsafe fn unpark_one(
        key: usize,
        callback: impl FnOnce(UnparkResult) -> UnparkToken,
    ) -> UnparkResult {
        let mut lot = LOT.lock().unwrap();
        let woken = lot.iter().position(|w| w.key == key).map(|i| lot.remove(i));
        let r = UnparkResult {
            unparked_threads: usize::from(woken.is_some()),
            have_more_threads: lot.iter().any(|w| w.key == key),
        };
        let token = callback(r);
        if let Some(w) = woken {
            *w.token.lock().unwrap() = Some(token);
            w.cond.notify_one();
        }
        r
    }
}
