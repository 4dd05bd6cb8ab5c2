//! Per-capability nursery: pre-allocated buffers, a bump pointer, and the reset rule.
//!
//! Port of the allocation side of `rts/sm/Storage.c` (`allocNursery`, `allocate`,
//! `resetNurseries`). A nursery is reached only through the capability that owns it
//! (`CapabilityGuard::nursery`), so the bump pointer needs no atomics. Only the buffers' pin
//! counts are atomic: a suspended call may unpin a buffer while holding a different capability.
//!
//! Note [nursery reuse never clobbers a live call]
//! ---------------------------------------
//! GHC reclaims nursery memory by copying live data out (a minor GC). The model copies nothing,
//! so it must only reuse memory that no live call can still read. The objects of a call are:
//!   (a) in the buffer that was current while the call held capability C, and
//!   (b) only ever reachable from that call (its argument, thunks, TSO, stack and result).
//! Rules:
//!   1. A buffer is reset or reused only by the holder of its capability, and only in
//!      `on_acquire`, i.e. right after a call (re)acquired C and before it allocated on C.
//!   2. A call that gives up C while it still has objects in C's current buffer (a safe foreign
//!      call: `suspend`), pins that buffer first; it unpins when the call ends (`rts_unlock`),
//!      before it releases the capability it then holds.
//!   3. A call whose allocation does not fit mid-call pins the current buffer for itself and
//!      continues in another buffer (`alloc_cold`); it never resets the buffer it is using.
//!   4. A pinned buffer is never reset: `on_acquire` moves on to an unpinned buffer (or a new
//!      one: GHC's "remote memory is better than GC" `getNewNursery`) and keeps the pinned one.
//!
//! By 1, the running call of C has allocated nothing in C's current buffer when it resets it,
//! except through an earlier tenure of C in the same call, which pinned that buffer by 2.
//! Nested call-ins are suspended outer calls (2), to any depth, on any capability.
//! Unpinning uses Release and reuse checks with Acquire, so the last reads of a finished call
//! happen-before the first write of the call that reuses its memory.

use std::alloc::{Layout, alloc_zeroed, dealloc, handle_alloc_error};
use std::ptr::NonNull;

use crate::heap::{WORD_BYTES, Word};
use crate::sync::atomic::{AtomicU32, Ordering};

/// A call starting on a capability expects this much room; with less, `on_acquire` resets first.
/// 8 KiB covers a GHC-mode call (1,104 bytes of TSO + stack + closures) several times over.
pub const HEADROOM_WORDS: usize = 8192 / WORD_BYTES;
/// GHC's `BLOCK_SIZE`: the block of `NurseryLayout::Blocks` (`with_blocks`).
pub const BLOCK_BYTES: usize = 4096;
/// Nursery buffers are aligned to a cache line (and so to any closure alignment).
const BUFFER_ALIGN: usize = 64;

/// One contiguous block of nursery memory.
#[derive(Debug)]
pub struct Buffer {
    base: NonNull<Word>,
    words: usize,
    /// Calls that still have objects here while not holding the owning capability.
    /// Written: `pin` by the capability holder, `unpin` by the pinning call (any thread).
    /// Read: the holder, before reusing the buffer (Acquire; pairs with `unpin`'s Release).
    pins: AtomicU32,
}

// SAFETY: the memory behind `base` is owned by this Buffer; writes happen only through the owning
// capability's guard (Note [nursery reuse never clobbers a live call]); `pins` is atomic.
unsafe impl Send for Buffer {}
// SAFETY: shared access is limited to `pins` (atomic) and address-range checks on `base`.
unsafe impl Sync for Buffer {}

impl Buffer {
    fn new(words: usize) -> Box<Buffer> {
        let layout = Self::layout(words);
        // SAFETY: `layout` has non-zero size (words >= 1, checked by `Nursery::new`).
        let raw = unsafe { alloc_zeroed(layout) } as *mut Word;
        let Some(base) = NonNull::new(raw) else {
            handle_alloc_error(layout)
        };
        Box::new(Buffer {
            base,
            words,
            pins: AtomicU32::new(0),
        })
    }

    fn layout(words: usize) -> Layout {
        Layout::from_size_align(words * WORD_BYTES, BUFFER_ALIGN).expect("nursery size overflows")
    }

    /// Whether `addr` lies in `[base, base + words)`.
    pub fn contains(&self, addr: usize) -> bool {
        let start = self.base.as_ptr() as usize;
        (start..start + self.words * WORD_BYTES).contains(&addr)
    }

    fn is_pinned(&self) -> bool {
        // ORDERING: Acquire pairs with `unpin`'s Release: a reuse after the last unpin sees every
        // access the pinning call made to this memory.
        self.pins.load(Ordering::Acquire) != 0
    }

    /// Drop one pin taken by `Nursery::pin_current` or `alloc_cold`.
    pub fn unpin(&self) {
        // ORDERING: Release pairs with the Acquire in `is_pinned` (see above).
        let before = self.pins.fetch_sub(1, Ordering::Release);
        debug_assert!(before > 0, "unpin of an unpinned nursery buffer");
    }
}

impl Drop for Buffer {
    fn drop(&mut self) {
        // SAFETY: `base` was allocated in `Buffer::new` with this same layout.
        unsafe { dealloc(self.base.as_ptr() as *mut u8, Self::layout(self.words)) }
    }
}

/// Buffers pinned by one call (GHC has no equivalent; its GC would copy instead).
pub type PinList = Vec<NonNull<Buffer>>;

/// What `on_acquire` did, for stats and probes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reclaim {
    /// Enough room: nothing done.
    None,
    /// The current buffer was reset in place (a per-capability "minor GC").
    ResetInPlace,
    /// The current buffer is pinned; allocation moved to another buffer.
    SwitchedBuffer,
}

/// A capability's nursery (GHC: `nursery` + `rCurrentAlloc`).
#[derive(Debug)]
pub struct Nursery {
    cur: Box<Buffer>,
    /// Next free word index in `cur`; invariant `free <= cur.words`.
    free: usize,
    /// Other buffers: pinned ones waiting for their calls, and unpinned ones kept for reuse.
    #[allow(clippy::vec_box)] // boxed so a buffer's address (pins) survives Vec growth
    others: Vec<Box<Buffer>>,
    /// GHC's block structure: objects never straddle a block of this many words (0 = off).
    block_words: usize,
}

impl Nursery {
    /// Allocate a nursery of `bytes` (rounded down to words, at least one word).
    pub fn new(bytes: usize) -> Nursery {
        let words = (bytes / WORD_BYTES).max(1);
        Nursery {
            cur: Buffer::new(words),
            free: 0,
            others: Vec::new(),
            block_words: 0,
        }
    }

    /// Lay allocation out in GHC's 4 KiB blocks: an object that does not fit in the rest of the
    /// current block starts at the next one, leaving slop (`allocate`, `rts/sm/Storage.c`).
    pub fn with_blocks(mut self, block_bytes: usize) -> Nursery {
        self.block_words = block_bytes / WORD_BYTES;
        self
    }

    /// Size of one buffer in bytes (GHC's `-A`).
    pub fn size_bytes(&self) -> usize {
        self.cur.words * WORD_BYTES
    }

    /// Words still free in the current buffer.
    pub fn remaining_words(&self) -> usize {
        self.cur.words - self.free
    }

    /// Buffers owned by this nursery (1 unless calls pinned buffers).
    pub fn buffer_count(&self) -> usize {
        1 + self.others.len()
    }

    /// Bump-allocate `n` words, or `None` if the current buffer has no room.
    #[inline]
    pub fn alloc(&mut self, n: usize) -> Option<NonNull<Word>> {
        if self.block_words != 0 {
            self.skip_to_block_fitting(n);
        }
        let new_free = self.free.checked_add(n)?;
        if new_free > self.cur.words {
            return None;
        }
        // SAFETY: `free + n <= words`, so `base + free` is in bounds of the buffer.
        let p = unsafe { self.cur.base.as_ptr().add(self.free) };
        self.free = new_free;
        NonNull::new(p)
    }

    fn skip_to_block_fitting(&mut self, n: usize) {
        let b = self.block_words;
        let used_in_block = self.free % b;
        if n <= b && used_in_block != 0 && used_in_block + n > b {
            self.free = (self.free - used_in_block + b).min(self.cur.words);
        }
    }

    /// Called by a call right after it (re)acquired this nursery's capability and before it
    /// allocates here: make room if the current buffer is nearly full. Rule 1 of the Note.
    #[inline]
    pub fn on_acquire(&mut self) -> Reclaim {
        if self.remaining_words() >= HEADROOM_WORDS.min(self.cur.words) {
            return Reclaim::None;
        }
        self.reclaim_cold()
    }

    /// Reset everything that is unpinned, now (GHC-mode stop-the-world GC calls this on every
    /// capability while it holds them all). Same rules as `on_acquire`.
    pub fn reclaim_now(&mut self) -> Reclaim {
        if self.free == 0 {
            return Reclaim::None;
        }
        self.reclaim_cold()
    }

    #[cold]
    fn reclaim_cold(&mut self) -> Reclaim {
        if !self.cur.is_pinned() {
            self.free = 0;
            return Reclaim::ResetInPlace;
        }
        self.switch_buffer();
        Reclaim::SwitchedBuffer
    }

    /// Make an unpinned buffer current (reusing one if possible) and keep the old one.
    fn switch_buffer(&mut self) {
        let next = match self.others.iter().position(|b| !b.is_pinned()) {
            Some(i) => self.others.swap_remove(i),
            None => Buffer::new(self.cur.words),
        };
        let old = std::mem::replace(&mut self.cur, next);
        self.others.push(old);
        self.free = 0;
    }

    /// Pin the current buffer for a call that gives up the capability (rule 2), unless the
    /// call already holds a pin on it.
    pub fn pin_current(&mut self, pins: &mut PinList) {
        let cur = NonNull::from(&*self.cur);
        if pins.last() == Some(&cur) {
            return;
        }
        self.cur.pins.fetch_add(1, Ordering::Relaxed);
        pins.push(cur);
    }

    /// Allocation that did not fit mid-call (rule 3): pin the current buffer for this call,
    /// switch, and retry. `None` if `n` exceeds a whole buffer (GHC: heap overflow).
    #[cold]
    pub fn alloc_cold(&mut self, n: usize, pins: &mut PinList) -> Option<NonNull<Word>> {
        if n > self.cur.words {
            return None;
        }
        if self.free > 0 {
            self.pin_current(pins);
            self.switch_buffer();
        }
        self.alloc(n)
    }

    /// Whether `addr` is in an allocated part of this nursery (current buffer below `free`, or
    /// any other buffer), for `rts_getInt`'s checks.
    pub fn owns(&self, addr: usize) -> bool {
        let base = self.cur.base.as_ptr() as usize;
        (base..base + self.free * WORD_BYTES).contains(&addr)
            || self.others.iter().any(|b| b.contains(addr))
    }

    /// Whether `addr` is in this nursery's current buffer but past the allocation pointer, i.e.
    /// memory that was reset since the object was made.
    pub fn is_stale(&self, addr: usize) -> bool {
        self.cur.contains(addr) && !self.owns(addr)
    }

    /// Whether any buffer is still pinned by a call.
    pub fn any_pinned(&self) -> bool {
        self.cur.is_pinned() || self.others.iter().any(|b| b.is_pinned())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bump_allocation_stays_in_bounds_and_reset_reuses() {
        let mut n = Nursery::new(HEADROOM_WORDS * WORD_BYTES * 2);
        let a = n.alloc(4).unwrap();
        let b = n.alloc(4).unwrap();
        assert_eq!(b.as_ptr() as usize - a.as_ptr() as usize, 4 * WORD_BYTES);
        while n.alloc(HEADROOM_WORDS / 2).is_some() {}
        assert!(n.remaining_words() < HEADROOM_WORDS);
        assert_eq!(n.on_acquire(), Reclaim::ResetInPlace);
        assert_eq!(
            n.alloc(4).unwrap(),
            a,
            "reset reuses the buffer from its start"
        );
        assert_eq!(n.buffer_count(), 1);
    }

    #[test]
    fn pinned_buffer_is_never_reset() {
        let mut n = Nursery::new(HEADROOM_WORDS * WORD_BYTES * 2);
        let mut pins = PinList::new();
        let live = n.alloc(2).unwrap();
        n.pin_current(&mut pins);
        while n.alloc(HEADROOM_WORDS / 2).is_some() {}
        assert_eq!(n.on_acquire(), Reclaim::SwitchedBuffer);
        let fresh = n.alloc(2).unwrap();
        assert_ne!(fresh, live);
        assert!(n.owns(live.as_ptr() as usize), "pinned buffer is kept");
        // Unpin: the old buffer becomes reusable at the next reclaim.
        // SAFETY: the pinned buffer is owned by `n`, which is alive.
        unsafe { pins[0].as_ref() }.unpin();
        while n.alloc(HEADROOM_WORDS / 2).is_some() {}
        assert_eq!(n.on_acquire(), Reclaim::ResetInPlace);
        assert_eq!(n.buffer_count(), 2);
    }

    #[test]
    fn oversized_allocation_fails_instead_of_overflowing() {
        let mut n = Nursery::new(1024);
        let mut pins = PinList::new();
        assert!(n.alloc(1024).is_none());
        assert!(n.alloc_cold(1024, &mut pins).is_none());
        assert!(pins.is_empty());
    }

    #[test]
    fn mid_call_overflow_pins_and_switches() {
        let mut n = Nursery::new(64 * WORD_BYTES);
        let mut pins = PinList::new();
        let first = n.alloc(60).unwrap();
        assert!(n.alloc(8).is_none());
        let second = n.alloc_cold(8, &mut pins).unwrap();
        assert_eq!(pins.len(), 1);
        assert!(n.owns(first.as_ptr() as usize));
        assert!(n.owns(second.as_ptr() as usize));
        assert!(n.any_pinned());
    }
}
