//! Heap objects as real words: info tables, static closures (`runIO`, the small-`Int` table) and
//! the layouts `rts_mkInt` / `rts_apply` / `createThread` write into a nursery.
//!
//! A closure is a pointer to a word holding its info pointer, followed by its payload, as in GHC
//! (`StgClosure` = `StgHeader` + payload). The info tables here are the model's own: GHC's are
//! generated code, ours only carry what the model's evaluator needs (kind, arity, name).
//! Pointers to `I#` constructors are tagged with 1, like GHC's `TAG_CLOSURE(1, p)`.

use std::ffi::{CStr, c_char};

/// One heap word (`StgWord`).
pub type Word = usize;
/// Bytes per heap word.
pub const WORD_BYTES: usize = std::mem::size_of::<Word>();

/// What a closure is; the first field of every info table.
#[repr(u32)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClosureKind {
    /// `I#` constructor: payload = [value].
    IntCon = 1,
    /// A function `Int -> IO Int`: payload = [C entry `HsInt (*)(HsInt)`].
    FunIoInt = 2,
    /// `stg_ap_2_upd` application thunk: payload = [smp padding, f, arg].
    Ap = 3,
    /// `GHC.TopHandler.runIO`, a static function of arity 1.
    RunIo = 4,
    /// A thread state object created by `createThread`.
    Tso = 5,
    /// A stack object created by `createThread`.
    Stack = 6,
}

/// Port of `StgInfoTable`, reduced to what the model reads. `#[repr(C)]` because C code takes
/// the address of [`rtscore_fun_io_int_info`] (see `include/RtsCoreExport.h`).
#[repr(C)]
#[derive(Debug)]
pub struct InfoTable {
    pub kind: ClosureKind,
    pub arity: u32,
    pub name: *const c_char,
}

// SAFETY: an `InfoTable` is immutable after construction and `name` points to a `'static` C string.
unsafe impl Sync for InfoTable {}

impl InfoTable {
    const fn new(kind: ClosureKind, arity: u32, name: &'static CStr) -> Self {
        Self {
            kind,
            arity,
            name: name.as_ptr(),
        }
    }
}

/// `ghczmprim_GHCziTypes_Izh_con_info`.
pub static IZH_CON_INFO: InfoTable = InfoTable::new(ClosureKind::IntCon, 0, c"I#");
/// `stg_ap_2_upd_info`.
pub static AP_2_UPD_INFO: InfoTable = InfoTable::new(ClosureKind::Ap, 0, c"stg_ap_2_upd");
/// Info table of `runIO`.
pub static RUNIO_INFO: InfoTable = InfoTable::new(ClosureKind::RunIo, 1, c"runIO");
/// `stg_TSO_info`.
pub static TSO_INFO: InfoTable = InfoTable::new(ClosureKind::Tso, 0, c"TSO");
/// `stg_STACK_info`.
pub static STACK_INFO: InfoTable = InfoTable::new(ClosureKind::Stack, 0, c"STACK");

/// Info table of an exported `Int -> IO Int` function whose body is a C function; used by
/// `RTSCORE_DEFINE_IO_INT_FUN` and [`define_io_int_fun!`](crate::define_io_int_fun).
/// Read-only like GHC's info tables: no interior mutability, so rustc puts it in
/// `.data.rel.ro` (it holds a pointer, relocated at load time, then read-only under RELRO);
/// C sees it as `extern const` (`RtsCoreExport.h`). `tests/staticlib_sections.rs` checks.
#[unsafe(no_mangle)]
#[allow(non_upper_case_globals)]
pub static rtscore_fun_io_int_info: InfoTable =
    InfoTable::new(ClosureKind::FunIoInt, 1, c"Int -> IO Int");

/// The body of an exported `Int -> IO Int` function.
pub type IoIntFn = unsafe extern "C" fn(i64) -> i64;

/// A closure with `N` payload words in static memory (GHC: a `_closure` symbol).
#[repr(C)]
#[derive(Debug)]
pub struct StaticClosure<const N: usize> {
    pub info: *const InfoTable,
    /// Payload words, typed as pointers so constant initialisers may hold function addresses.
    pub payload: [*const (); N],
}

// SAFETY: static closures are never written after construction; the info pointer is 'static.
unsafe impl<const N: usize> Sync for StaticClosure<N> {}

impl StaticClosure<1> {
    /// The closure of an `Int -> IO Int` function with body `f`.
    pub const fn io_int_fun(f: IoIntFn) -> Self {
        Self {
            info: &rtscore_fun_io_int_info,
            payload: [f as *const ()],
        }
    }
}

/// `base_GHCziTopHandler_runIO_closure` (GHC 9.0.2's `runIO_closure`).
#[unsafe(no_mangle)]
#[allow(non_upper_case_globals)]
pub static base_GHCziTopHandler_runIO_closure: StaticClosure<1> = StaticClosure {
    info: &RUNIO_INFO,
    payload: [std::ptr::null()],
};

/// `MIN_INTLIKE` (`rts/include/rts/Constants.h`).
pub const MIN_INTLIKE: i64 = -16;
/// `MAX_INTLIKE`.
pub const MAX_INTLIKE: i64 = 255;
const N_INTLIKE: usize = (MAX_INTLIKE - MIN_INTLIKE + 1) as usize;

/// Port of `stg_INTLIKE_closure`: static `I#` closures for small values, so `rts_mkInt` of a small
/// value allocates nothing.
static INTLIKE: [StaticClosure<1>; N_INTLIKE] = {
    let mut table = [const {
        StaticClosure {
            info: &IZH_CON_INFO,
            payload: [std::ptr::null()],
        }
    }; N_INTLIKE];
    let mut i = 0;
    while i < N_INTLIKE {
        table[i].payload[0] = std::ptr::without_provenance((i as i64 + MIN_INTLIKE) as usize);
        i += 1;
    }
    table
};

/// Words of an `I#` (`CONSTR_sizeW(0,1)`).
pub const INT_WORDS: usize = 2;
/// Words of an application thunk (`sizeofW(StgThunk) + 2`).
pub const AP_WORDS: usize = 4;
/// Pointer tag of an evaluated `I#` (constructor tag 1).
const INT_TAG: usize = 1;

/// A (possibly tagged) pointer to a closure.
pub type ClosurePtr = *const Word;

/// The static `I#` closure for `i` if it is in the small-int table, tagged.
#[inline]
pub fn intlike(i: i64) -> Option<ClosurePtr> {
    if (MIN_INTLIKE..=MAX_INTLIKE).contains(&i) {
        let c: *const StaticClosure<1> = &INTLIKE[(i - MIN_INTLIKE) as usize];
        Some((c as usize | INT_TAG) as ClosurePtr)
    } else {
        None
    }
}

/// Whether `p` (untagged) points into the static small-int table.
#[inline]
pub fn is_intlike(p: ClosurePtr) -> bool {
    let start = INTLIKE.as_ptr() as usize;
    let end = start + std::mem::size_of_val(&INTLIKE);
    (start..end).contains(&untag(p))
}

/// Strip the pointer tag (`UNTAG_CLOSURE`).
#[inline(always)]
pub fn untag(p: ClosurePtr) -> usize {
    p as usize & !(WORD_BYTES - 1)
}

/// Write an `I#` at `at` (2 words) and return the tagged closure pointer.
///
/// # Safety
/// `at` must be valid for writes of [`INT_WORDS`] words.
#[inline]
pub unsafe fn write_int(at: *mut Word, value: i64) -> ClosurePtr {
    // SAFETY: caller guarantees 2 writable words at `at`.
    unsafe {
        at.write(&IZH_CON_INFO as *const InfoTable as Word);
        at.add(1).write(value as Word);
    }
    (at as usize | INT_TAG) as ClosurePtr
}

/// Write an `stg_ap_2_upd` thunk applying `f` to `arg` at `at` (4 words).
///
/// # Safety
/// `at` must be valid for writes of [`AP_WORDS`] words.
#[inline]
pub unsafe fn write_ap(at: *mut Word, f: ClosurePtr, arg: ClosurePtr) -> ClosurePtr {
    // SAFETY: caller guarantees 4 writable words at `at`.
    unsafe {
        at.write(&AP_2_UPD_INFO as *const InfoTable as Word);
        at.add(1).write(0); // SMP padding word of StgThunk
        at.add(2).write(f as Word);
        at.add(3).write(arg as Word);
    }
    at as ClosurePtr
}

/// The info table of a closure the model created or defined.
///
/// # Safety
/// `p` must point (after untagging) to a readable closure header.
#[inline]
pub unsafe fn info_of(p: ClosurePtr) -> *const InfoTable {
    // SAFETY: caller guarantees a readable header word.
    unsafe { *(untag(p) as *const Word) as *const InfoTable }
}

/// Payload word `i` of a closure.
///
/// # Safety
/// `p` must point (after untagging) to a closure with more than `i` payload words.
#[inline]
pub unsafe fn payload(p: ClosurePtr, i: usize) -> Word {
    // SAFETY: caller guarantees the payload word exists.
    unsafe { *(untag(p) as *const Word).add(1 + i) }
}

/// Whether `info` is one of the info tables this model knows; a closure with any other header
/// is not something the evaluator can run.
pub fn is_known_info(info: *const InfoTable) -> bool {
    [
        &IZH_CON_INFO,
        &AP_2_UPD_INFO,
        &RUNIO_INFO,
        &rtscore_fun_io_int_info,
    ]
    .iter()
    .any(|k| std::ptr::eq(*k, info))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn intlike_table_holds_every_small_value() {
        for i in MIN_INTLIKE..=MAX_INTLIKE {
            let p = intlike(i).expect("small value");
            assert!(is_intlike(p));
            // SAFETY: `p` points into the static table.
            unsafe {
                assert!(std::ptr::eq(info_of(p), &IZH_CON_INFO));
                assert_eq!(payload(p, 0) as i64, i);
            }
        }
        assert!(intlike(MAX_INTLIKE + 1).is_none());
        assert!(intlike(MIN_INTLIKE - 1).is_none());
    }

    #[test]
    fn written_objects_read_back() {
        let mut words = [0usize; 6];
        // SAFETY: `words` has room for an I# (2) and an AP (4).
        unsafe {
            let i = write_int(words.as_mut_ptr(), 1234);
            assert_eq!(i as usize & 7, 1, "I# pointers are tagged");
            let ap = write_ap(words.as_mut_ptr().add(2), i, i);
            assert!(std::ptr::eq(info_of(ap), &AP_2_UPD_INFO));
            assert_eq!(payload(ap, 1), i as usize);
            assert_eq!(payload(i, 0), 1234);
        }
    }
}
