//! A safe foreign call from the body of an exported function: give the capability up for its
//! duration (it may call in again on this thread) and take one back after.
//!
//! Port of `suspendThread` / `resumeThread` (`rts/Schedule.c`). Ownership: the suspended call
//! holds no capability, only pins on the nursery buffer its objects are in (rule 2 of Note
//! [nursery reuse never clobbers a live call] in nursery.rs), and prefers the capability it gave
//! up when it resumes (GHC `suspended_cap`).

use std::ptr;

use crate::error::CallInError;
use crate::incall::{CallPhase, Ctx};

/// Port of `suspendThread` + `resumeThread` around a safe foreign call made by the body of an
/// exported function: release the capability, run `f` (which may call in again), reacquire.
pub fn safe_foreign_call<R>(f: impl FnOnce() -> R) -> Result<R, CallInError> {
    let mut cx = Ctx::of_body("rtscore_safe_ccall")?;
    let rts = cx.rts();
    let mut g = cx.guard();
    let cap = g.cap();
    g.nursery().pin_current(&mut cx.ic().pins);
    cx.task().last_cap.set(Some(rts.hint_for(cap)));
    {
        let ic = cx.ic();
        ic.suspended_cap = ic.cap;
        ic.cap = ptr::null();
        ic.phase = CallPhase::Suspended;
    }
    rts.suspended_inc();
    rts.release(g);
    let r = f();
    rts.suspended_dec();
    let prefer = cx.ic().suspended_cap;
    let g = rts.reacquire_for(cx.task(), prefer);
    cx.ic().cap = g.cap();
    let (g, ready) = rts.prepare_nursery(g);
    if ready {
        cx.ic().phase = CallPhase::Running;
    } else {
        cx.detach(g);
    }
    Ok(r)
}
