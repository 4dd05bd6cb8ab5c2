//! The one place that names synchronisation primitives (STYLE.md R3): std normally, loom under
//! `--cfg rts_loom`, so the loom models in `tests/loom_*.rs` exercise the real code.

#[cfg(rts_loom)]
pub(crate) use loom::sync::atomic;
#[cfg(not(rts_loom))]
pub(crate) use std::sync::atomic;

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
