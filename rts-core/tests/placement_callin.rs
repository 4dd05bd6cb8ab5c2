//! Placement through the real C API (`rts_lock`, `rts_pinThreadToNumaNode`,
//! `rts_setInCallCapability`, `setNumCapabilities`): a Task's node decides its capability, a
//! remote one only when its node is full, a wait only when every capability is held; binding
//! follows the configured node CPUs. Tests share the one RTS instance, so they run one at a time.

#[path = "common/skip.rs"]
mod skip;

use std::sync::Mutex;
use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::Duration;

use rts_core::Capability;
use rts_core::ForeignNode;
use rts_core::ffi::{rts_lock, rts_pinThreadToNumaNode, rts_setInCallCapability, rts_unlock};
use rts_core::{Config, NumaConfig, PolicySet};
use skip::skip;

static SERIAL: Mutex<()> = Mutex::new(());

fn init(n_caps: u32, numa: NumaConfig) -> std::sync::MutexGuard<'static, ()> {
    let guard = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    rts_core::hs_init_with(Config {
        n_capabilities: n_caps,
        max_capabilities: 8,
        nursery_bytes: 64 << 10,
        policy: PolicySet::DEFAULT,
        numa,
    })
    .expect("hs_init");
    guard
}

fn two_allowed_cpus() -> Option<[usize; 2]> {
    let cpus = rts_core::numa::allowed_cpus().unwrap_or_default();
    match cpus[..] {
        [a, b, ..] => Some([a, b]),
        _ => {
            skip(&format!(
                "needs 2 allowed CPUs to split into two nodes, have {cpus:?}"
            ));
            None
        }
    }
}

/// (capability number, capability node) of a held capability.
fn describe(cap: *const Capability) -> (u32, u32) {
    // SAFETY: `rts_lock` returned it; capabilities live as long as the instance (leaked).
    let c = unsafe { &*cap };
    (c.no, c.node)
}

/// A thread that pins its Task to `node`, holds a capability until told, then releases it.
struct Holder {
    got: mpsc::Receiver<(u32, u32)>,
    release: mpsc::Sender<()>,
    thread: JoinHandle<()>,
}

impl Holder {
    fn start(node: i32) -> Holder {
        let (got_tx, got) = mpsc::channel();
        let (release, release_rx) = mpsc::channel::<()>();
        let thread = std::thread::spawn(move || {
            // SAFETY: the RTS is initialised (the test holds it) and `node` exists.
            unsafe { rts_pinThreadToNumaNode(node) };
            // SAFETY: as above; released below on this thread.
            let cap = unsafe { rts_lock() };
            got_tx.send(describe(cap)).unwrap();
            release_rx.recv().unwrap();
            // SAFETY: held by this thread since `rts_lock`.
            unsafe { rts_unlock(cap) };
        });
        Holder {
            got,
            release,
            thread,
        }
    }

    fn held(&self) -> (u32, u32) {
        self.got.recv().expect("holder thread died")
    }

    fn finish(self) {
        self.release.send(()).unwrap();
        self.thread.join().unwrap();
    }
}

fn remote_acquires() -> u64 {
    rts_core::current().unwrap().stats().total().remote_acquires
}

#[test]
fn rts_lock_takes_own_node_then_remote_then_waits() {
    let _g = init(
        4,
        NumaConfig {
            n_nodes: 2,
            ..NumaConfig::default()
        },
    );
    let remote_before = remote_acquires();
    let a = Holder::start(0);
    let (a_no, a_node) = a.held();
    let b = Holder::start(0);
    let (_, b_node) = b.held();
    assert_eq!((a_node, b_node), (0, 0), "node 0 has two free capabilities");
    let c = Holder::start(0);
    assert_eq!(c.held().1, 1, "node 0 is full: the remote node");
    let d = Holder::start(1);
    assert_eq!(d.held().1, 1, "node 1 still has one free capability");
    if rts_core::stats::ENABLED {
        assert_eq!(
            remote_acquires() - remote_before,
            1,
            "only the third task went remote"
        );
    }

    let e = Holder::start(1);
    // All four capabilities are held, so `e` cannot have one, however long we look.
    let early = e.got.recv_timeout(Duration::from_millis(200));
    assert!(
        early.is_err(),
        "acquired {early:?} while every capability was held"
    );
    a.finish();
    assert_eq!(
        e.held(),
        (a_no, 0),
        "the waiter takes the capability just released"
    );
    for h in [b, c, d, e] {
        h.finish();
    }
    assert!(rts_core::hs_exit());
}

#[test]
fn foreign_threads_start_on_node_zero_by_default_even_when_bound_elsewhere() {
    let Some([cpu0, cpu1]) = two_allowed_cpus() else {
        return;
    };
    let _g = init(4, split_by_cpu(cpu0, cpu1, ForeignNode::Zero));
    assert_eq!(
        node_taken_when_bound_to(cpu1),
        0,
        "GHC: a foreign Task is on node 0"
    );
    assert!(rts_core::hs_exit());
}

#[test]
fn where_bound_policy_takes_the_node_the_thread_is_bound_to() {
    let Some([cpu0, cpu1]) = two_allowed_cpus() else {
        return;
    };
    let _g = init(4, split_by_cpu(cpu0, cpu1, ForeignNode::WhereBound));
    assert_eq!(node_taken_when_bound_to(cpu1), 1);
    assert_eq!(node_taken_when_bound_to(cpu0), 0);
    assert!(rts_core::hs_exit());
}

/// On a fresh thread bound to `cpu`: the node of the capability `rts_lock` takes.
fn node_taken_when_bound_to(cpu: usize) -> u32 {
    std::thread::spawn(move || {
        assert!(core_bind(cpu), "binding to CPU {cpu}");
        // SAFETY: the RTS is initialised by the caller; released just below.
        let cap = unsafe { rts_lock() };
        let node = describe(cap).1;
        // SAFETY: held by this thread.
        unsafe { rts_unlock(cap) };
        node
    })
    .join()
    .unwrap()
}

fn core_bind(cpu: usize) -> bool {
    // SAFETY: all-zero is a valid empty cpu_set_t.
    let mut set: libc::cpu_set_t = unsafe { std::mem::zeroed() };
    // SAFETY: `cpu` comes from sched_getaffinity, so it is below CPU_SETSIZE.
    unsafe { libc::CPU_SET(cpu, &mut set) };
    // SAFETY: valid set of the size passed; pid 0 = calling thread.
    unsafe { libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set) == 0 }
}

/// Two nodes with `cpu1` on node 1 and every other CPU on node 0, as far as the CPU → node map
/// goes (`cpu_nodes`); the nodes' CPU sets (`node_cpus`) stay unknown.
fn split_by_cpu(cpu0: usize, cpu1: usize, foreign_node: ForeignNode) -> NumaConfig {
    let mut cpu_nodes = vec![0; cpu0.max(cpu1) + 1];
    cpu_nodes[cpu1] = 1;
    NumaConfig {
        n_nodes: 2,
        cpu_nodes,
        foreign_node,
        ..NumaConfig::default()
    }
}

/// The same split with the nodes' CPU sets known: node 0 is `cpu0`, node 1 is `cpu1`.
fn split_numa(cpu0: usize, cpu1: usize) -> NumaConfig {
    NumaConfig {
        node_cpus: vec![vec![cpu0], vec![cpu1]],
        ..split_by_cpu(cpu0, cpu1, ForeignNode::default())
    }
}

#[test]
fn pin_to_numa_node_binds_the_thread_and_steers_selection() {
    let Some([cpu0, cpu1]) = two_allowed_cpus() else {
        return;
    };
    let _g = init(4, split_numa(cpu0, cpu1));
    let (allowed, node) = std::thread::spawn(|| {
        // SAFETY: the RTS is initialised; node 1 exists.
        unsafe { rts_pinThreadToNumaNode(1) };
        let allowed = rts_core::numa::allowed_cpus();
        // SAFETY: as above; released just below.
        let cap = unsafe { rts_lock() };
        let node = describe(cap).1;
        // SAFETY: held by this thread.
        unsafe { rts_unlock(cap) };
        (allowed, node)
    })
    .join()
    .unwrap();
    assert_eq!(allowed, Some(vec![cpu1]));
    assert_eq!(node, 1);
    assert!(rts_core::hs_exit());
}

#[test]
fn set_incall_capability_with_affinity_binds_to_the_capability_cpus() {
    let Some([cpu0, cpu1]) = two_allowed_cpus() else {
        return;
    };
    let _g = init(4, split_numa(cpu0, cpu1));
    let (allowed, no) = std::thread::spawn(|| {
        // SAFETY: the RTS is initialised; capability 3 exists (node 1).
        unsafe { rts_setInCallCapability(3, 1) };
        let allowed = rts_core::numa::allowed_cpus();
        // SAFETY: as above; released just below.
        let cap = unsafe { rts_lock() };
        let no = describe(cap).0;
        // SAFETY: held by this thread.
        unsafe { rts_unlock(cap) };
        (allowed, no)
    })
    .join()
    .unwrap();
    assert_eq!(allowed, Some(vec![cpu1]), "capability 3 is on node 1");
    assert_eq!(no, 3);
    assert!(rts_core::hs_exit());
}

#[test]
fn set_num_capabilities_places_new_nurseries_on_their_nodes() {
    let Some([cpu0, cpu1]) = two_allowed_cpus() else {
        return;
    };
    let _g = init(2, split_numa(cpu0, cpu1));
    rts_core::set_num_capabilities(5).expect("grow to 5");
    rts_core::set_num_capabilities(3).expect("shrink to 3");
    rts_core::set_num_capabilities(6).expect("grow to 6");
    let homes = rts_core::current().unwrap().nursery_homes();
    assert_eq!(homes.len(), 6);
    for (i, h) in homes.iter().enumerate() {
        assert_eq!(h.capability, i as u32);
        assert_eq!(h.node, i as u32 % 2);
        let want = if i % 2 == 0 { cpu0 } else { cpu1 };
        assert_eq!(
            h.touched_on_cpus,
            Some(vec![want]),
            "nursery of capability {i}"
        );
    }
    assert!(rts_core::hs_exit());
}
