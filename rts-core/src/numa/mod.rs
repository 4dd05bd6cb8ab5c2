//! Thread and memory placement on NUMA nodes: binding the calling thread to a capability's or a
//! node's CPUs (`rts_setInCallCapability`, `rts_pinThreadToNumaNode`), finding the node a thread
//! is bound to, and placing nurseries (`placement.rs`).
//!
//! Port of `rts_setInCallCapability` / `rts_pinThreadToNumaNode` (`rts/RtsAPI.c`) and
//! `setThreadAffinity` / `setThreadNode` (`rts/posix/OSThreads.c`). [`bind_current_thread`] is
//! the one binding primitive, also the harness's. The CPU sets come
//! from the configuration (`NumaConfig::node_cpus`, filled by the harness from hwloc); without
//! them, a capability binds to CPU `cap mod ncpus` as GHC's `-qa` does, and a node has no CPU set
//! to bind to (the Task's node is still set, so selection honours it). On a synthetic topology
//! the harness leaves `node_cpus` empty, so binding is a no-op there.

use crate::config::NumaConfig;
use crate::error::CallInError;
use crate::rts;
use crate::task;

mod placement;
pub use placement::NurseryHome;

/// Bind the calling thread to the CPUs of `cpus` (Linux `sched_setaffinity`); `call` names the
/// caller in the error. The harness binds its driver threads through this too.
pub fn bind_current_thread(cpus: &[usize], call: &'static str) -> Result<(), CallInError> {
    // SAFETY: an all-zero cpu_set_t is a valid empty set.
    let mut set: libc::cpu_set_t = unsafe { std::mem::zeroed() };
    for &c in cpus {
        if c >= libc::CPU_SETSIZE as usize {
            return Err(CallInError::BadArgument {
                call,
                detail: format!("CPU {c} is beyond CPU_SETSIZE"),
            });
        }
        // SAFETY: `c` is below CPU_SETSIZE, so the bit is inside `set`.
        unsafe { libc::CPU_SET(c, &mut set) };
    }
    // SAFETY: `set` is a valid cpu_set_t of the size passed; pid 0 is the calling thread.
    let rc = unsafe { libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set) };
    if rc != 0 {
        let err = std::io::Error::last_os_error();
        return Err(CallInError::BadArgument {
            call,
            detail: format!("sched_setaffinity({cpus:?}) failed: {err}"),
        });
    }
    Ok(())
}

/// Port of `rts_setInCallCapability(pref, affinity)`: this thread's calls prefer capability
/// `pref` (modulo the enabled ones, GHC's `preferred_capability`); with `affinity`, the thread is
/// also bound to that capability's CPUs.
pub(crate) fn set_incall_capability(pref: i32, affinity: bool) -> Result<(), CallInError> {
    let call = "rts_setInCallCapability";
    if pref < 0 {
        return Err(CallInError::BadArgument {
            call,
            detail: format!("capability index {pref} is negative"),
        });
    }
    let t = task::get_my_task().map_err(|_| CallInError::ThreadExiting { call })?;
    // SAFETY: this thread's live Task.
    unsafe { t.as_ref() }.preferred_capability.set(pref);
    if affinity {
        bind_to_capability(pref as u32)?;
    }
    Ok(())
}

/// Port of `rts_pinThreadToNumaNode(node)`: this thread's Task prefers capabilities on `node`
/// (GHC `task->node`), and the thread is bound to the node's CPUs when they are known.
pub(crate) fn pin_thread_to_numa_node(node: i32) -> Result<(), CallInError> {
    let call = "rts_pinThreadToNumaNode";
    let rts = rts::current()
        .filter(|r| !r.is_exited())
        .ok_or(CallInError::NotInitialised { call })?;
    let n_nodes = rts.config().numa.n_nodes as i32;
    if !(0..n_nodes).contains(&node) {
        return Err(CallInError::BadArgument {
            call,
            detail: format!("NUMA node {node} does not exist (nodes 0..{})", n_nodes - 1),
        });
    }
    let t = task::get_my_task().map_err(|_| CallInError::ThreadExiting { call })?;
    // SAFETY: this thread's live Task.
    let task = unsafe { t.as_ref() };
    task.node.set(node as u32);
    task.node_set.set(true);
    bind_to_node(node as u32)
}

/// `rts_setInCallCapability`'s binding: to the capability's node's CPUs, else to CPU
/// `cap mod ncpus` as GHC's `-qa` does.
fn bind_to_capability(cap: u32) -> Result<(), CallInError> {
    let call = "rts_setInCallCapability";
    let Some(rts) = rts::current() else {
        return Err(CallInError::NotInitialised { call });
    };
    let numa = &rts.config().numa;
    let node = numa.node_of_cap(cap % rts.n_capabilities().max(1));
    match numa.node_cpus.get(node as usize) {
        Some(cpus) if !cpus.is_empty() => bind_current_thread(cpus, call),
        _ => {
            let n = std::thread::available_parallelism().map_or(1, |n| n.get());
            bind_current_thread(&[cap as usize % n], call)
        }
    }
}

/// `rts_pinThreadToNumaNode`'s binding: to the node's CPUs when they are known.
fn bind_to_node(node: u32) -> Result<(), CallInError> {
    let call = "rts_pinThreadToNumaNode";
    let Some(rts) = rts::current() else {
        return Err(CallInError::NotInitialised { call });
    };
    match rts.config().numa.node_cpus.get(node as usize) {
        Some(cpus) if !cpus.is_empty() => bind_current_thread(cpus, call),
        _ => Ok(()),
    }
}

/// CPUs the calling thread may run on (`sched_getaffinity`), ascending; `None` if unreadable.
pub fn allowed_cpus() -> Option<Vec<usize>> {
    // SAFETY: an all-zero cpu_set_t is a valid empty set.
    let mut set: libc::cpu_set_t = unsafe { std::mem::zeroed() };
    // SAFETY: `set` is a live, writable cpu_set_t of the size passed; pid 0 = calling thread.
    let rc =
        unsafe { libc::sched_getaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &mut set) };
    if rc != 0 {
        return None;
    }
    let max = libc::CPU_SETSIZE as usize;
    // SAFETY: `c < CPU_SETSIZE`, inside `set`, which the kernel filled above.
    Some(
        (0..max)
            .filter(|&c| unsafe { libc::CPU_ISSET(c, &set) })
            .collect(),
    )
}

/// The node the calling thread is bound to (`ForeignNode::WhereBound`): the node holding all of
/// its allowed CPUs, else the node of the CPU it runs on now; `None` without `cpu_nodes` or when
/// the CPU is not in the map.
pub(crate) fn node_of_calling_thread(numa: &NumaConfig) -> Option<u32> {
    let node_of = |cpu: usize| numa.cpu_nodes.get(cpu).copied();
    if let Some(cpus) = allowed_cpus()
        && let Some((&first, rest)) = cpus.split_first()
        && let Some(n) = node_of(first)
        && rest.iter().all(|&c| node_of(c) == Some(n))
    {
        return Some(n);
    }
    // SAFETY: sched_getcpu has no preconditions.
    let cpu = unsafe { libc::sched_getcpu() };
    usize::try_from(cpu).ok().and_then(node_of)
}
