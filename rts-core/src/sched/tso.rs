//! Thread state objects: the TSO and STACK words `createThread` writes, built fresh in the
//! nursery or kept per InCall and rebuilt in place.
//!
//! Port of the layout parts of `createThread` (`rts/Threads.c`) and `createStrictIOThread`
//! (`rts/RtsAPI.c`). Ownership: a thread's words belong to the call that created it (its
//! nursery allocation, or its InCall's [`TsoStorage`]) until the call ends.

use std::ptr::NonNull;

use crate::heap::{self, ClosurePtr, Word};

/// `sizeofW(StgTSO)` in GHC 9.0.2.
pub const TSO_WORDS: usize = 15;
/// The STACK object of a new thread: `initialStkSize` (128 words) minus the TSO: 113 words.
pub const STACK_WORDS: usize = 113;

// TSO word layout (model): what createThread initialises.
const TSO_ID: usize = 1;
pub(super) const TSO_LINK: usize = 2;
const TSO_BOUND: usize = 3;
const TSO_STACKOBJ: usize = 4;
const TSO_WHAT_NEXT: usize = 5;
const TSO_CAP: usize = 6;
const TSO_DIRTY: usize = 7;
// STACK layout: [info, stack_size, sp, ...frames growing down from the top].
const STACK_SIZE: usize = 1;
const STACK_SP: usize = 2;
/// `ThreadRunGHC`.
const THREAD_RUN_GHC: Word = 1;
/// `ThreadComplete`.
const THREAD_COMPLETE: Word = 3;

/// Frame markers pushed by `createStrictIOThread` (the model's stand-ins for GHC's info pointers).
mod frame {
    pub const STOP: usize = 0x5700;
    pub const FORCE_IO: usize = 0xF0CE;
    pub const AP_V: usize = 0xA9F;
    pub const ENTER: usize = 0xE47E;
}

/// Storage for one reusable TSO + stack (`ThreadObjects::ReusePerInCall`).
#[derive(Debug, Default)]
pub struct TsoStorage {
    words: Option<Box<[Word]>>,
    /// The words hold a thread built by `init_thread` and touched since only by
    /// `reinit_thread` / `bind_thread` / the run queue / `finish_thread`.
    built: bool,
}

impl TsoStorage {
    pub const fn new() -> TsoStorage {
        TsoStorage {
            words: None,
            built: false,
        }
    }

    /// The TSO and STACK words, allocated on the first call on this InCall and reused after.
    /// The caller may write them freely (they must be rebuilt with `init_thread`).
    pub(crate) fn get(&mut self) -> (NonNull<Word>, NonNull<Word>) {
        self.built = false;
        self.words_mut()
    }

    /// A thread evaluating `closure`, built in full the first time and afterwards only
    /// re-initialised where a finished thread differs from a new one (`reinit_thread`).
    /// `id_for` gets the TSO's address and gives the thread id.
    #[inline]
    pub(crate) fn new_thread(
        &mut self,
        id_for: impl FnOnce(usize) -> u64,
        cap_no: u32,
        closure: ClosurePtr,
    ) -> TsoPtr {
        let (tso, stack) = self.words_mut();
        let id = id_for(tso.as_ptr() as usize);
        // SAFETY: the storage has TSO_WORDS + STACK_WORDS words owned by this InCall; when
        // `built`, they hold a thread made by `init_thread` on these same words.
        unsafe {
            if self.built {
                reinit_thread(tso, id, cap_no, closure);
            } else {
                init_thread(tso, stack, id, cap_no, closure);
                self.built = true;
            }
        }
        tso
    }

    #[inline]
    fn words_mut(&mut self) -> (NonNull<Word>, NonNull<Word>) {
        let w = self
            .words
            .get_or_insert_with(|| vec![0; TSO_WORDS + STACK_WORDS].into_boxed_slice());
        let base = w.as_mut_ptr();
        // SAFETY: the slice has TSO_WORDS + STACK_WORDS words; both pointers are in bounds.
        unsafe {
            (
                NonNull::new_unchecked(base),
                NonNull::new_unchecked(base.add(TSO_WORDS)),
            )
        }
    }
}

/// A thread state object, by address.
pub type TsoPtr = NonNull<Word>;

/// Initialise a TSO and its stack (`createThread` + `createStrictIOThread`): header words,
/// the stop frame and the four words that make the thread evaluate `closure` strictly.
///
/// # Safety
/// `tso` must be valid for `TSO_WORDS` words and `stack` for `STACK_WORDS` words, unaliased.
pub(crate) unsafe fn init_thread(
    tso: TsoPtr,
    stack: NonNull<Word>,
    id: u64,
    cap_no: u32,
    closure: ClosurePtr,
) {
    let t = tso.as_ptr();
    let s = stack.as_ptr();
    // SAFETY: in bounds per the contract (indices < TSO_WORDS / STACK_WORDS).
    unsafe {
        t.write(&heap::TSO_INFO as *const heap::InfoTable as Word);
        t.add(TSO_ID).write(id as Word);
        t.add(TSO_LINK).write(0);
        t.add(TSO_BOUND).write(0);
        t.add(TSO_STACKOBJ).write(s as Word);
        t.add(TSO_WHAT_NEXT).write(THREAD_RUN_GHC);
        t.add(TSO_CAP).write(cap_no as Word);
        t.add(TSO_DIRTY).write(1);
        s.write(&heap::STACK_INFO as *const heap::InfoTable as Word);
        s.add(STACK_SIZE).write(STACK_WORDS - 3);
        let top = STACK_WORDS - 1;
        s.add(top).write(frame::STOP);
        s.add(top - 1).write(frame::FORCE_IO);
        s.add(top - 2).write(frame::AP_V);
        s.add(top - 3).write(closure as Word);
        s.add(top - 4).write(frame::ENTER);
        s.add(STACK_SP).write(top - 4);
    }
}

/// Turn a finished thread built by [`init_thread`] on these words back into a new one: the
/// words `createThread` sets that differ between threads or that running and finishing
/// changed (id, link, bound, what_next, capability, dirty, the closure, sp). Header words,
/// the stack object pointer and size, and the constant frames are as `init_thread` left them.
///
/// # Safety
/// `tso` must have been initialised by `init_thread` and since been changed only by this
/// function, [`bind_thread`], a run queue and [`finish_thread`].
#[inline]
pub(crate) unsafe fn reinit_thread(tso: TsoPtr, id: u64, cap_no: u32, closure: ClosurePtr) {
    let t = tso.as_ptr();
    // SAFETY: per contract; indices are in bounds as in `init_thread`.
    unsafe {
        t.add(TSO_ID).write(id as Word);
        t.add(TSO_LINK).write(0);
        t.add(TSO_BOUND).write(0);
        t.add(TSO_WHAT_NEXT).write(THREAD_RUN_GHC);
        t.add(TSO_CAP).write(cap_no as Word);
        t.add(TSO_DIRTY).write(1);
        let s = *t.add(TSO_STACKOBJ) as *mut Word;
        let top = STACK_WORDS - 1;
        s.add(top - 3).write(closure as Word);
        s.add(STACK_SP).write(top - 4);
    }
}

/// The closure a thread was created to evaluate (read back from its stack).
///
/// # Safety
/// `tso` must have been initialised by `init_thread` and still be live.
pub(crate) unsafe fn thread_closure(tso: TsoPtr) -> ClosurePtr {
    // SAFETY: per contract; sp points at the ENTER frame, the closure is the next word.
    unsafe {
        let s = *tso.as_ptr().add(TSO_STACKOBJ) as *const Word;
        let sp = *s.add(STACK_SP);
        debug_assert_eq!(*s.add(sp), frame::ENTER);
        *s.add(sp + 1) as ClosurePtr
    }
}

/// The thread's id.
///
/// # Safety
/// As for [`thread_closure`].
pub(crate) unsafe fn thread_id(tso: TsoPtr) -> u64 {
    // SAFETY: per contract.
    unsafe { *tso.as_ptr().add(TSO_ID) as u64 }
}

/// Mark a thread finished and pop its frames (`ThreadComplete`).
///
/// # Safety
/// As for [`thread_closure`].
pub(crate) unsafe fn finish_thread(tso: TsoPtr) {
    // SAFETY: per contract.
    unsafe {
        *tso.as_ptr().add(TSO_WHAT_NEXT) = THREAD_COMPLETE;
        let s = *tso.as_ptr().add(TSO_STACKOBJ) as *mut Word;
        *s.add(STACK_SP) = STACK_WORDS - 1;
    }
}

/// Set the `bound` field (GHC `tso->bound = task->incall`).
///
/// # Safety
/// As for [`thread_closure`].
pub(crate) unsafe fn bind_thread(tso: TsoPtr, incall: *const ()) {
    // SAFETY: per contract.
    unsafe { *tso.as_ptr().add(TSO_BOUND) = incall as Word }
}

/// The `bound` field.
///
/// # Safety
/// As for [`thread_closure`].
pub(crate) unsafe fn bound_of(tso: TsoPtr) -> *const () {
    // SAFETY: per contract.
    unsafe { *tso.as_ptr().add(TSO_BOUND) as *const () }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sched::RunQueue;

    #[test]
    fn thread_stack_holds_the_closure_and_run_queue_is_fifo() {
        let mut a = TsoStorage::new();
        let mut b = TsoStorage::new();
        let (ta, sa) = a.get();
        let (tb, sb) = b.get();
        let c = heap::intlike(7).unwrap();
        // SAFETY: storages are sized for TSO + STACK.
        unsafe {
            init_thread(ta, sa, 1, 0, c);
            init_thread(tb, sb, 2, 0, c);
            assert_eq!(thread_closure(ta), c);
            let mut q = RunQueue::default();
            q.push_back(ta);
            q.push_back(tb);
            assert_eq!(q.len(), 2);
            assert_eq!(q.pop_front(), Some(ta));
            assert_eq!(q.pop_front(), Some(tb));
            assert!(q.pop_front().is_none());
            finish_thread(ta);
        }
    }

    #[test]
    fn a_rebuilt_thread_equals_a_fresh_one() {
        let c1 = heap::intlike(1).unwrap();
        let c2 = heap::intlike(2).unwrap();
        let mut reused = TsoStorage::new();
        let t = reused.new_thread(|_| 1, 0, c1);
        // SAFETY: `t` was built by `new_thread`; run and finish it as the scheduler does.
        unsafe {
            bind_thread(t, 0x1234 as *const ());
            let mut q = RunQueue::default();
            q.push_back(t);
            q.pop_front();
            finish_thread(t);
        }
        let t = reused.new_thread(|_| 2, 1, c2);
        let mut fresh = TsoStorage::new();
        let f = fresh.new_thread(|_| 2, 1, c2);
        let words = |p: TsoPtr| {
            // SAFETY: both storages hold TSO_WORDS + STACK_WORDS initialised words.
            unsafe { std::slice::from_raw_parts(p.as_ptr(), TSO_WORDS + STACK_WORDS).to_vec() }
        };
        let (mut a, mut b) = (words(t), words(f));
        // The stack-object pointers differ (two storages); compare them relative to the TSO.
        a[TSO_STACKOBJ] -= t.as_ptr() as usize;
        b[TSO_STACKOBJ] -= f.as_ptr() as usize;
        assert_eq!(a, b);
        // SAFETY: `t` is initialised.
        assert_eq!(unsafe { thread_closure(t) }, c2);
    }
}
