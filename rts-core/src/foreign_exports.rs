//! `registerForeignExports`: the lists that module constructors register before `main`.
//!
//! Port of `rts/ForeignExports.c`. Registration runs from `.init_array`, possibly before libc
//! and the Rust runtime are ready (#18548), so it only pushes onto an intrusive lock-free list:
//! no allocation, no lock. `hs_init` walks the list (`processForeignExports`) and checks that
//! every export is a closure the model can run.

use std::ffi::c_int;
use std::ptr;
use std::sync::atomic::{AtomicPtr, Ordering};

use crate::error::CallInError;
use crate::heap::{self, ClosureKind, Word};

/// Layout of GHC 9.0's `struct ForeignExportsList` (`rts/ForeignExports.h`).
#[repr(C)]
#[derive(Debug)]
pub struct ForeignExportsList {
    pub next: *mut ForeignExportsList,
    pub n_entries: c_int,
    pub oc: *mut (),
    pub stable_ptrs: *mut *mut (),
    /// Flexible array of `StgPtr exports[]` (we read `n_entries` of them).
    pub exports: [*const Word; 0],
}

static PENDING: AtomicPtr<ForeignExportsList> = AtomicPtr::new(ptr::null_mut());

/// Port of `registerForeignExports`.
///
/// # Safety
/// `list` must point to a static `ForeignExportsList` that lives for the whole program.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn registerForeignExports(list: *mut ForeignExportsList) {
    if list.is_null() {
        return;
    }
    let mut head = PENDING.load(Ordering::Relaxed);
    loop {
        // SAFETY: `list` is a live static list owned by its module (contract); not yet shared.
        unsafe { (*list).next = head };
        // ORDERING: Release publishes `next` (and the list contents) to `process`'s Acquire.
        match PENDING.compare_exchange_weak(head, list, Ordering::Release, Ordering::Relaxed) {
            Ok(_) => return,
            Err(h) => head = h,
        }
    }
}

/// Port of `processForeignExports`: take the pending lists and check every export.
pub(crate) fn process() -> Result<(), CallInError> {
    // ORDERING: Acquire pairs with the Release in `registerForeignExports`.
    let mut p = PENDING.swap(ptr::null_mut(), Ordering::Acquire);
    while !p.is_null() {
        // SAFETY: registered lists are static (contract of `registerForeignExports`).
        let list = unsafe { &*p };
        let n = usize::try_from(list.n_entries).unwrap_or(0);
        for i in 0..n {
            // SAFETY: the flexible array holds `n_entries` closure pointers.
            let c = unsafe { *list.exports.as_ptr().add(i) };
            check_export(c)?;
        }
        p = list.next;
    }
    Ok(())
}

fn check_export(c: *const Word) -> Result<(), CallInError> {
    let bad = || CallInError::BadArgument {
        call: "registerForeignExports",
        detail: format!("export {c:p} is not an `Int -> IO Int` closure of this RTS"),
    };
    if c.is_null() {
        return Err(bad());
    }
    // SAFETY: a registered, non-null export is a static closure (GHC's contract for the list).
    let info = unsafe { heap::info_of(c) };
    // SAFETY: only dereferenced after `is_known_info` confirmed it is one of ours.
    if !heap::is_known_info(info) || unsafe { (*info).kind } != ClosureKind::FunIoInt {
        return Err(bad());
    }
    Ok(())
}
