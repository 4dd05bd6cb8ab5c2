//! Task: one per OS thread that calls in, found through a thread-local, plus the registry of all
//! tasks. This module is the one home of a thread's call state: `MY_TASK` (its Task) and
//! `TOP_INCALL` (its running call-in, a mirror of `Task::incall`).
//!
//! Port of `rts/Task.c` (`getMyTask`, `newTask`, `freeMyTask`). Ownership: a Task is owned by
//! its OS thread. Every field but the registry slot is touched only by that thread, so they are
//! `Cell`s; other threads only ever see a Task's address (registry, `Capability::running_task`).
//! Deliberate difference from GHC: the Task is freed when its thread exits, by the thread-local's
//! destructor (GHC keeps it until `hs_exit` unless the thread calls `hs_thread_done`, #8124).

use std::cell::Cell;
use std::ptr::{self, NonNull};

use crate::error::CallInError;
use crate::incall::InCall;
use crate::stats;
use crate::sync::atomic::{AtomicPtr, AtomicUsize, Ordering};
use crate::sync::process_atomic;

/// Where a Task last held a capability: the fast-path hint of `find_capability_for_task`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CapHint {
    /// `Rts::generation` of the RTS instance the index belongs to.
    pub generation: u64,
    pub index: u32,
}

/// Port of `Task` (`rts/Task.h`), reduced to what a bound (foreign) task uses.
#[derive(Debug)]
pub struct Task {
    /// Task number, in creation order (GHC: the pthread id; ours is stable across reuse).
    pub id: u64,
    /// Top of the InCall stack; null when no call-in is active (`stopped`).
    pub(crate) incall: Cell<*mut InCall>,
    /// Recycled InCalls (GHC `spare_incalls`), singly linked through `InCall::next`.
    pub(crate) spare_incalls: Cell<*mut InCall>,
    pub(crate) n_spare_incalls: Cell<usize>,
    /// Capability this task last held (GHC keeps `task->cap`).
    pub(crate) last_cap: Cell<Option<CapHint>>,
    /// GHC `preferred_capability`: -1, or the index given to `rts_setInCallCapability`.
    pub(crate) preferred_capability: Cell<i32>,
    /// GHC `task->node`: the NUMA node this task prefers capabilities on.
    pub(crate) node: Cell<u32>,
    /// Whether `node` was set explicitly (`rts_pinThreadToNumaNode` or a bound thread).
    pub(crate) node_set: Cell<bool>,
    /// Index of this task's slot in the registry.
    slot: usize,
}

impl Task {
    /// Whether no call-in is active on this task (GHC `task->stopped`).
    pub fn is_stopped(&self) -> bool {
        self.incall.get().is_null()
    }

    /// InCalls on this task's spare list (at most `MAX_SPARE_INCALLS`).
    pub fn spare_incall_count(&self) -> usize {
        self.n_spare_incalls.get()
    }

    /// Depth of the InCall stack (nested call-ins).
    pub fn incall_depth(&self) -> usize {
        let mut n = 0;
        let mut p = self.incall.get();
        while !p.is_null() {
            n += 1;
            // SAFETY: InCalls on the stack are owned by this task and live until popped.
            p = unsafe { (*p).prev_stack };
        }
        n
    }
}

/// The thread-local slot; its destructor frees the Task when the OS thread exits.
struct TaskSlot(Cell<*mut Task>);

impl Drop for TaskSlot {
    fn drop(&mut self) {
        let t = self.0.replace(ptr::null_mut());
        let Some(t) = NonNull::new(t) else { return };
        // A thread that left in the middle of a call-in (an unwind through C, or `pthread_exit`
        // from a body) keeps its Task: its InCalls may still be referenced, as GHC keeps every
        // Task. Never panic in a thread-local destructor.
        // SAFETY: the slot held the only owning pointer, created by `new_task_cold`.
        if unsafe { t.as_ref() }.is_stopped() {
            // SAFETY: the thread is exiting and no call-in is active on its Task.
            unsafe { free_task(t) };
        }
    }
}

crate::sync::rts_thread_local! {
    static MY_TASK: TaskSlot = const { TaskSlot(Cell::new(ptr::null_mut())) };
}

/// Port of `myTask()`: this thread's Task, if it has one. `Err` if thread-locals are gone.
#[inline]
pub fn my_task() -> Result<Option<NonNull<Task>>, CallInError> {
    MY_TASK
        .try_with(|s| NonNull::new(s.0.get()))
        .map_err(|_| CallInError::ThreadExiting { call: "rts_lock" })
}

/// Port of `getMyTask()`: this thread's Task, created (`newTask`) on the first call-in.
#[inline]
pub fn get_my_task() -> Result<NonNull<Task>, CallInError> {
    match my_task()? {
        Some(t) => Ok(t),
        None => new_task_cold(),
    }
}

#[cold]
fn new_task_cold() -> Result<NonNull<Task>, CallInError> {
    static NEXT_ID: process_atomic::AtomicU64 = process_atomic::AtomicU64::new(1);
    let slot = registry().reserve();
    let task = Box::new(Task {
        id: NEXT_ID.fetch_add(1, process_atomic::Ordering::Relaxed),
        incall: Cell::new(ptr::null_mut()),
        spare_incalls: Cell::new(ptr::null_mut()),
        n_spare_incalls: Cell::new(0),
        last_cap: Cell::new(None),
        preferred_capability: Cell::new(-1),
        node: Cell::new(0),
        node_set: Cell::new(false),
        slot,
    });
    let t = NonNull::from(Box::leak(task));
    registry().publish(slot, t);
    let stored = MY_TASK.try_with(|s| s.0.set(t.as_ptr()));
    if stored.is_err() {
        // SAFETY: `t` was just created and is referenced nowhere else.
        unsafe { free_task(t) };
        return Err(CallInError::ThreadExiting { call: "rts_lock" });
    }
    stats::task_created();
    Ok(t)
}

#[cfg(not(rts_loom))]
std::thread_local! {
    /// This thread's top InCall (null when no call-in is active): a mirror of `Task::incall`,
    /// written only by `rts_lock` and `rts_unlock` right after they push or pop (`api.rs`). No
    /// destructor, so reading it is one load, valid even while the thread's other thread-locals
    /// are destroyed (Note [one ownership check] in api.rs).
    static TOP_INCALL: Cell<*mut InCall> = const { Cell::new(ptr::null_mut()) };
}

/// This thread's top InCall, or null.
#[cfg(not(rts_loom))]
#[inline(always)]
pub(crate) fn top_incall() -> *mut InCall {
    TOP_INCALL.with(Cell::get)
}

/// Mirror `Task::incall` after a push or pop.
#[cfg(not(rts_loom))]
#[inline(always)]
pub(crate) fn set_top_incall(ic: *mut InCall) {
    TOP_INCALL.with(|t| t.set(ic));
}

/// Under loom, std thread-locals would be shared by the modelled threads: read the Task's.
#[cfg(rts_loom)]
pub(crate) fn top_incall() -> *mut InCall {
    match my_task() {
        // SAFETY: this thread's live Task.
        Ok(Some(t)) => unsafe { t.as_ref() }.incall.get(),
        _ => ptr::null_mut(),
    }
}

#[cfg(rts_loom)]
pub(crate) fn set_top_incall(_: *mut InCall) {}

/// Port of `freeMyTask()` (reached by `hs_thread_done`): free this thread's Task now.
pub fn free_my_task() -> Result<(), CallInError> {
    let t = MY_TASK
        .try_with(|s| s.0.get())
        .map_err(|_| CallInError::ThreadExiting {
            call: "hs_thread_done",
        })?;
    let Some(t) = NonNull::new(t) else {
        return Ok(());
    };
    // SAFETY: `t` is this thread's live Task.
    if !unsafe { t.as_ref() }.is_stopped() {
        return Err(CallInError::TaskNotStopped);
    }
    MY_TASK.with(|s| s.0.set(ptr::null_mut()));
    // SAFETY: the TLS slot no longer refers to `t` and no call-in is active on it.
    unsafe { free_task(t) };
    Ok(())
}

/// # Safety
/// `t` came from `new_task_cold`, is stopped, and no other pointer to it will be dereferenced.
unsafe fn free_task(t: NonNull<Task>) {
    // SAFETY: caller guarantees exclusive ownership of a Task made by `Box::leak`.
    let task = unsafe { Box::from_raw(t.as_ptr()) };
    crate::incall::free_spares(&task);
    registry().remove(task.slot);
    stats::task_freed();
}

/// Slots per registry segment.
#[cfg(not(rts_loom))]
const SEGMENT_SLOTS: usize = 64;
/// One under loom, so a model with two tasks appends a segment (small sizes under loom reach
/// every branch, as tokio's `LOCAL_QUEUE_CAPACITY` of 4 does).
#[cfg(rts_loom)]
const SEGMENT_SLOTS: usize = 1;

/// One fixed block of registry slots; segments are appended, never freed.
struct Segment {
    slots: [AtomicPtr<Task>; SEGMENT_SLOTS],
    /// Slot reserved (a task is being created or lives here). Reservation is a CAS on this.
    taken: [AtomicUsize; SEGMENT_SLOTS],
    next: AtomicPtr<Segment>,
}

/// Lock-free registry of all live tasks (GHC: `all_tasks` under `all_tasks_mutex`).
///
/// Insert reserves a slot with a CAS and publishes the task pointer; removal clears the slot.
/// Readers only count or compare addresses, never dereference, so a Task can be freed right
/// after its slot is cleared. Segments are never freed, so slot addresses stay valid.
pub struct Registry {
    head: Segment,
    live: AtomicUsize,
}

impl Segment {
    #[cfg(not(rts_loom))]
    const fn new() -> Segment {
        Segment {
            slots: [const { AtomicPtr::new(ptr::null_mut()) }; SEGMENT_SLOTS],
            taken: [const { AtomicUsize::new(0) }; SEGMENT_SLOTS],
            next: AtomicPtr::new(ptr::null_mut()),
        }
    }

    /// FIXME(loom): loom atomics have no `const fn new`, so the loom registry is built lazily.
    #[cfg(rts_loom)]
    fn new() -> Segment {
        Segment {
            slots: std::array::from_fn(|_| AtomicPtr::new(ptr::null_mut())),
            taken: std::array::from_fn(|_| AtomicUsize::new(0)),
            next: AtomicPtr::new(ptr::null_mut()),
        }
    }
}

impl Registry {
    fn segments(&self) -> impl Iterator<Item = &Segment> {
        let mut seg: Option<&Segment> = Some(&self.head);
        std::iter::from_fn(move || {
            let s = seg?;
            // ORDERING: Acquire pairs with the Release CAS that appended the next segment, so its
            // initialised contents are visible.
            let next = s.next.load(Ordering::Acquire);
            // SAFETY: segments are leaked boxes, never freed.
            seg = unsafe { next.as_ref() };
            Some(s)
        })
    }

    /// Reserve a free slot, appending a segment if all are taken. Returns the global index.
    fn reserve(&self) -> usize {
        loop {
            for (si, seg) in self.segments().enumerate() {
                for (i, taken) in seg.taken.iter().enumerate() {
                    // ORDERING: Acquire pairs with the Release in `remove`: the slot's last
                    // owner cleared `slots[i]` before freeing it, so our `publish` comes later
                    // in that slot's modification order and cannot be overwritten by the
                    // stale null (it would hide a live task from the registry).
                    if taken.load(Ordering::Relaxed) == 0
                        && taken
                            .compare_exchange(0, 1, Ordering::Acquire, Ordering::Relaxed)
                            .is_ok()
                    {
                        self.live.fetch_add(1, Ordering::Relaxed);
                        return si * SEGMENT_SLOTS + i;
                    }
                }
            }
            self.append_segment();
        }
    }

    #[cold]
    fn append_segment(&self) {
        let last = self.segments().last().expect("registry has a head segment");
        let fresh = Box::into_raw(Box::new(Segment::new()));
        // ORDERING: Release publishes the new segment's initialised contents to `segments()`.
        if last
            .next
            .compare_exchange(ptr::null_mut(), fresh, Ordering::Release, Ordering::Relaxed)
            .is_err()
        {
            // SAFETY: `fresh` lost the race and was never shared.
            drop(unsafe { Box::from_raw(fresh) });
        }
    }

    #[cfg_attr(rts_loom, allow(clippy::modulo_one))] // SEGMENT_SLOTS is 1 under loom
    fn slot(&self, index: usize) -> (&AtomicPtr<Task>, &AtomicUsize) {
        let seg = self
            .segments()
            .nth(index / SEGMENT_SLOTS)
            .expect("registry slot exists");
        (
            &seg.slots[index % SEGMENT_SLOTS],
            &seg.taken[index % SEGMENT_SLOTS],
        )
    }

    fn publish(&self, index: usize, t: NonNull<Task>) {
        self.slot(index).0.store(t.as_ptr(), Ordering::Relaxed);
    }

    fn remove(&self, index: usize) {
        let (slot, taken) = self.slot(index);
        slot.store(ptr::null_mut(), Ordering::Relaxed);
        // ORDERING: Release pairs with the Acquire CAS in `reserve` (the slot's next owner).
        taken.store(0, Ordering::Release);
        self.live.fetch_sub(1, Ordering::Relaxed);
    }

    /// Tasks alive now (GHC `taskCount` for bound tasks).
    pub fn live(&self) -> usize {
        self.live.load(Ordering::Relaxed)
    }

    /// Whether `t` is registered (used by tests; compares addresses only).
    pub fn contains(&self, t: NonNull<Task>) -> bool {
        self.segments()
            .flat_map(|s| s.slots.iter())
            .any(|p| p.load(Ordering::Relaxed) == t.as_ptr())
    }
}

#[cfg(not(rts_loom))]
static REGISTRY: Registry = Registry {
    head: Segment::new(),
    live: AtomicUsize::new(0),
};

/// The process-wide task registry.
#[cfg(not(rts_loom))]
pub fn registry() -> &'static Registry {
    &REGISTRY
}

/// Under loom, statics cannot hold loom atomics: each model gets a fresh leaked registry.
#[cfg(rts_loom)]
pub fn registry() -> &'static Registry {
    loom::lazy_static! {
        static ref REGISTRY: Registry = Registry { head: Segment::new(), live: AtomicUsize::new(0) };
    }
    &REGISTRY
}

/// Number of live tasks in the registry.
pub fn live_tasks() -> usize {
    registry().live()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_lookup_creates_then_reuses() {
        std::thread::spawn(|| {
            assert!(my_task().unwrap().is_none());
            let a = get_my_task().unwrap();
            let b = get_my_task().unwrap();
            assert_eq!(a, b);
            assert!(registry().contains(a));
            free_my_task().unwrap();
            assert!(!registry().contains(a));
            assert!(my_task().unwrap().is_none());
        })
        .join()
        .unwrap();
    }

    // `thread_exit_frees_the_task` lives in tests/task_exit.rs, alone in its process: here a
    // concurrently running test could be handed the freed Task's address and make it look live.

    #[test]
    fn registry_grows_past_one_segment() {
        let handles: Vec<_> = (0..SEGMENT_SLOTS + 8)
            .map(|_| {
                let (tx, rx) = std::sync::mpsc::channel::<()>();
                let (ready_tx, ready_rx) = std::sync::mpsc::channel();
                let h = std::thread::spawn(move || {
                    let t = get_my_task().unwrap();
                    ready_tx.send(t.as_ptr() as usize).unwrap();
                    rx.recv().unwrap();
                });
                (h, tx, ready_rx.recv().unwrap())
            })
            .collect();
        for (_, _, t) in &handles {
            assert!(registry().contains(NonNull::new(*t as *mut Task).unwrap()));
        }
        for (h, tx, _) in handles {
            tx.send(()).unwrap();
            h.join().unwrap();
        }
    }
}
