//! The model's stand-in for `StgRun`: evaluate the closure a call-in's bound thread was created
//! for, `runIO (f x)` with `f :: Int -> IO Int` and `x` an `I#`.
//!
//! It enters `runIO`, checks every info pointer against the model's tables, calls the function's
//! body and allocates the result `I#` as compiled Haskell would, through an [`EvalEnv`] the
//! scheduler provides. Ownership: nothing; it reads the closures of the running call.

use crate::heap::{self, ClosurePtr, IoIntFn, Word};

/// Why the bound thread did not produce a value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Failure {
    /// An exception escaped the exported function (status `Killed`).
    Exception(String),
    /// The nursery could not satisfy an allocation (status `HeapExhausted`).
    HeapOverflow,
    /// The RTS shut down while the call was suspended (status `Interrupted`).
    Interrupted,
}

/// What the evaluator needs from the call: run the body, allocate the result.
pub(crate) trait EvalEnv {
    /// Call the body of an exported function (it may suspend and resume the call).
    fn call_body(&mut self, f: IoIntFn, x: i64) -> Result<i64, Failure>;
    /// Allocate an `I#` holding `v` in the nursery of the capability held now.
    fn alloc_int(&mut self, v: i64) -> Result<ClosurePtr, Failure>;
}

/// The model's `StgRun`: evaluate `runIO (f x)` where `f :: Int -> IO Int`.
///
/// # Safety
/// `closure` and everything reachable from it must be closures created by this RTS (`rts_apply`,
/// `rts_mkInt`) or static closures with one of the model's info tables (the C API contract).
#[inline]
pub(crate) unsafe fn eval_io(
    closure: ClosurePtr,
    env: &mut impl EvalEnv,
) -> Result<ClosurePtr, Failure> {
    // SAFETY: per contract, each pointer below is a closure with a readable header and the
    // payload its kind implies; kinds are checked before payloads are read.
    unsafe {
        let (f, action) = expect_ap(closure, "the argument of rts_inCall")?;
        if !std::ptr::eq(heap::info_of(f), &heap::RUNIO_INFO) {
            return Err(not_runnable("rts_inCall expects `runIO io`", f));
        }
        let (fun, arg) = expect_ap(action, "the IO action")?;
        // The only known info table of kind FunIoInt (checked in `known_kinds_are_unique`).
        if !std::ptr::eq(heap::info_of(fun), &heap::rtscore_fun_io_int_info) {
            return Err(not_runnable(
                "the applied function is not an `Int -> IO Int` closure",
                fun,
            ));
        }
        let x = expect_int(arg)?;
        let body: IoIntFn = std::mem::transmute::<Word, IoIntFn>(heap::payload(fun, 0));
        let r = env.call_body(body, x)?;
        env.alloc_int(r)
    }
}

/// # Safety
/// `p` must be a readable closure.
#[inline]
unsafe fn expect_ap(p: ClosurePtr, what: &str) -> Result<(ClosurePtr, ClosurePtr), Failure> {
    // SAFETY: per contract; an Ap has 3 payload words.
    unsafe {
        // The only known info table of kind Ap (checked in `known_kinds_are_unique`).
        if !std::ptr::eq(heap::info_of(p), &heap::AP_2_UPD_INFO) {
            return Err(not_an_application(what, p));
        }
        Ok((
            heap::payload(p, 1) as ClosurePtr,
            heap::payload(p, 2) as ClosurePtr,
        ))
    }
}

/// # Safety
/// `p` must be a readable closure.
#[inline]
unsafe fn expect_int(p: ClosurePtr) -> Result<i64, Failure> {
    // SAFETY: per contract; an I# has 1 payload word.
    unsafe {
        let info = heap::info_of(p);
        if !std::ptr::eq(info, &heap::IZH_CON_INFO) {
            return Err(not_runnable("the argument is not an I#", p));
        }
        Ok(heap::payload(p, 0) as i64)
    }
}

#[cold]
fn not_an_application(what: &str, p: ClosurePtr) -> Failure {
    not_runnable(&format!("{what} is not an application"), p)
}

#[cold]
fn not_runnable(what: &str, p: ClosurePtr) -> Failure {
    Failure::Exception(format!("{what} (closure {p:p})"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::heap::ClosureKind;

    #[test]
    fn known_kinds_are_unique() {
        // The evaluator identifies applications and `Int -> IO Int` functions by info pointer.
        let known = [
            &heap::IZH_CON_INFO,
            &heap::AP_2_UPD_INFO,
            &heap::RUNIO_INFO,
            &heap::rtscore_fun_io_int_info,
        ];
        for kind in [ClosureKind::Ap, ClosureKind::FunIoInt] {
            assert_eq!(known.iter().filter(|i| i.kind == kind).count(), 1);
        }
        assert!(known.iter().all(|i| heap::is_known_info(*i)));
    }
}
