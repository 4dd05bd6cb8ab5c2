//! Capability placement and NUMA-aware selection on 1-, 2-, 4- and 8-node layouts (the maps hwloc
//! synthetic topologies produce; tests/topology.rs in the root crate builds them from hwloc).
//! Every decision is checked against an oracle: own node first, then the nearest node with a
//! free capability, `AllBusy` only when every capability is held, never a busy one.

#[path = "common/skip.rs"]
mod skip;

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicBool, Ordering};

use rts_core::policy::PolicySet;
use rts_core::scaffolding::{self, SelectError, SelectedCap};
use rts_core::{Config, NumaConfig, Rts};
use skip::skip;

const NODE_COUNTS: [u32; 4] = [1, 2, 4, 8];

fn config(n_caps: u32, numa: NumaConfig, policy: PolicySet) -> Config {
    Config {
        n_capabilities: n_caps,
        max_capabilities: n_caps,
        nursery_bytes: 64 << 10,
        policy,
        numa,
    }
}

fn nodes(n: u32) -> NumaConfig {
    NumaConfig {
        n_nodes: n,
        ..NumaConfig::default()
    }
}

/// Two "packages" by parity, so nearest-by-distance differs from nearest-by-number:
/// 10 local, 16 same parity, 32 otherwise.
fn parity_distances(n: u32) -> Vec<Vec<u32>> {
    (0..n)
        .map(|a| {
            (0..n)
                .map(|b| match (a, b) {
                    _ if a == b => 10,
                    _ if a % 2 == b % 2 => 16,
                    _ => 32,
                })
                .collect()
        })
        .collect()
}

fn standalone(cfg: Config) -> Rts {
    scaffolding::standalone(cfg).expect("valid configuration")
}

/// What selection must return for a task on `node`, given the held capabilities: a free one on
/// the first node (own, then `order`) that has any, or None when all are held.
fn oracle_node(rts: &Rts, node: u32, held: &BTreeSet<u32>) -> Option<u32> {
    let numa = &rts.config().numa;
    let free_on =
        |n: u32| (0..rts.n_capabilities()).any(|i| numa.node_of_cap(i) == n && !held.contains(&i));
    std::iter::once(node)
        .chain(numa.nearest_from(node))
        .find(|&n| free_on(n))
}

#[test]
fn nearest_order_follows_distances_not_node_numbers() {
    let numa = NumaConfig {
        n_nodes: 8,
        distances: Some(parity_distances(8)),
        ..NumaConfig::default()
    };
    assert_eq!(numa.nearest_from(0), vec![2, 4, 6, 1, 3, 5, 7]);
    assert_eq!(numa.nearest_from(5), vec![1, 3, 7, 0, 2, 4, 6]);
    assert_eq!(
        nodes(4).nearest_from(2),
        vec![0, 1, 3],
        "no distances: by number"
    );
}

#[test]
fn every_capability_is_on_node_i_mod_n() {
    for n in NODE_COUNTS {
        let rts = standalone(config(3 * n + 1, nodes(n), PolicySet::DEFAULT));
        for i in 0..rts.n_capabilities() {
            assert_eq!(rts.cap(i).node, i % n, "{n} nodes, capability {i}");
        }
        for h in rts.nursery_homes() {
            assert_eq!(
                h.node,
                h.capability % n,
                "{n} nodes: nursery of {}",
                h.capability
            );
            assert_eq!(
                h.touched_on_cpus, None,
                "no node CPUs given: allocated unbound"
            );
        }
        assert_eq!(rts.nursery_homes().len(), rts.n_capabilities() as usize);
    }
}

#[test]
fn an_explicit_map_places_capabilities_and_nurseries() {
    let map = vec![3, 3, 0, 1, 2, 0];
    let numa = NumaConfig {
        n_nodes: 4,
        cap_nodes: Some(map.clone()),
        ..NumaConfig::default()
    };
    let rts = standalone(config(6, numa, PolicySet::DEFAULT));
    for (i, &want) in map.iter().enumerate() {
        assert_eq!(rts.cap(i as u32).node, want, "capability {i}");
        assert_eq!(rts.nursery_homes()[i].node, want, "nursery {i}");
    }
}

#[test]
fn a_map_naming_a_missing_node_is_rejected() {
    let numa = NumaConfig {
        n_nodes: 2,
        cap_nodes: Some(vec![0, 2]),
        ..NumaConfig::default()
    };
    let err = scaffolding::standalone(config(2, numa, PolicySet::DEFAULT)).unwrap_err();
    assert!(err.to_string().contains("names node 2"), "{err}");
}

/// Fill the machine from each node in turn: own node while it has a free capability, then the
/// nearest, then `AllBusy`; never a held capability.
#[test]
fn selection_takes_own_node_then_nearest_then_reports_all_busy() {
    for n in NODE_COUNTS {
        for caps in [n, 2 * n, 3 * n + 1] {
            let numa = NumaConfig {
                n_nodes: n,
                distances: Some(parity_distances(n)),
                ..NumaConfig::default()
            };
            let rts = standalone(config(caps, numa, PolicySet::DEFAULT));
            for task_node in 0..n {
                fill_from(&rts, task_node);
            }
        }
    }
}

fn fill_from(rts: &Rts, task_node: u32) {
    let mut held: Vec<SelectedCap<'_>> = Vec::new();
    let mut held_set = BTreeSet::new();
    loop {
        let want = oracle_node(rts, task_node, &held_set);
        match scaffolding::select_free(rts, task_node) {
            Ok(sel) => {
                let c = sel.cap();
                assert_eq!(
                    Some(c.node),
                    want,
                    "task on node {task_node}, held {held_set:?}"
                );
                assert!(
                    held_set.insert(c.no),
                    "capability {} returned while held",
                    c.no
                );
                held.push(sel);
            }
            Err(SelectError::AllBusy) => {
                assert_eq!(
                    want, None,
                    "AllBusy with a free capability, held {held_set:?}"
                );
                assert_eq!(held.len() as u32, rts.n_capabilities());
                return;
            }
            Err(e) => panic!("unexpected {e}"),
        }
    }
}

/// Random take/release sequences (deterministic xorshift) on every layout, checked step by step.
#[test]
fn random_take_and_release_sequences_follow_the_oracle() {
    let mut rng = 0x9E37_79B9_7F4A_7C15u64;
    let mut next = move |bound: u64| {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        rng % bound
    };
    for n in NODE_COUNTS {
        let numa = NumaConfig {
            n_nodes: n,
            distances: Some(parity_distances(n)),
            ..NumaConfig::default()
        };
        let rts = standalone(config(2 * n + 1, numa, PolicySet::DEFAULT));
        let mut held: Vec<SelectedCap<'_>> = Vec::new();
        for _ in 0..4000 {
            let held_set: BTreeSet<u32> = held.iter().map(|s| s.cap().no).collect();
            if !held.is_empty() && next(3) == 0 {
                held.swap_remove(next(held.len() as u64) as usize);
                continue;
            }
            let node = next(n as u64) as u32;
            let want = oracle_node(&rts, node, &held_set);
            match scaffolding::select_free(&rts, node) {
                Ok(sel) => {
                    assert_eq!(Some(sel.cap().node), want, "{n} nodes, task node {node}");
                    assert!(
                        !held_set.contains(&sel.cap().no),
                        "busy capability returned"
                    );
                    held.push(sel);
                }
                Err(SelectError::AllBusy) => assert_eq!(want, None, "{n} nodes: held {held_set:?}"),
                Err(e) => panic!("unexpected {e}"),
            }
        }
    }
}

/// GHC's `find_capability_for_task` never leaves the task's node: with node 0 all held it
/// queues (`AllBusy` here) although node 1 has free capabilities.
#[test]
fn ghc_selection_stays_on_the_task_node() {
    let rts = standalone(config(4, nodes(2), PolicySet::GHC));
    let a = scaffolding::select_free(&rts, 0).unwrap();
    let b = scaffolding::select_free(&rts, 0).unwrap();
    assert_eq!((a.cap().node, b.cap().node), (0, 0));
    assert_eq!(
        scaffolding::select_free(&rts, 0).unwrap_err(),
        SelectError::AllBusy
    );
    assert_eq!(scaffolding::select_free(&rts, 1).unwrap().cap().node, 1);
}

#[test]
fn selecting_on_a_missing_node_names_it() {
    let rts = standalone(config(2, nodes(2), PolicySet::DEFAULT));
    let err = scaffolding::select_free(&rts, 5).unwrap_err();
    assert_eq!(
        err,
        SelectError::NoSuchNode {
            node: 5,
            n_nodes: 2
        }
    );
    assert!(err.to_string().contains("node 5 does not exist"), "{err}");
}

/// Four threads take and release concurrently; each capability carries an "owned" flag that
/// its taker sets and checks: a capability handed to two holders at once would trip it.
#[test]
fn concurrent_selection_never_hands_out_a_held_capability() {
    for policy in [PolicySet::DEFAULT, PolicySet::GHC] {
        let rts = standalone(config(6, nodes(2), policy));
        let owned: Vec<AtomicBool> = (0..6).map(|_| AtomicBool::new(false)).collect();
        let taken = std::thread::scope(|s| {
            let workers: Vec<_> = (0..4u32)
                .map(|t| {
                    let (rts, owned) = (&rts, &owned);
                    s.spawn(move || {
                        let mut n = 0u64;
                        for _ in 0..20_000 {
                            if let Ok(sel) = scaffolding::select_free(rts, t % 2) {
                                let flag = &owned[sel.cap().no as usize];
                                assert!(!flag.swap(true, Ordering::SeqCst), "double holder");
                                std::hint::spin_loop();
                                flag.store(false, Ordering::SeqCst);
                                n += 1;
                            }
                        }
                        n
                    })
                })
                .collect();
            workers.into_iter().map(|w| w.join().unwrap()).sum::<u64>()
        });
        assert!(taken > 0, "{policy}: nothing was ever selected");
    }
}

/// `setNumCapabilities`-style growth places the new capabilities' nurseries on their nodes.
#[test]
fn nurseries_follow_their_capability_node_with_a_fake_two_node_split() {
    let cpus = rts_core::numa::allowed_cpus().unwrap_or_default();
    if cpus.len() < 2 {
        skip(&format!(
            "needs 2 allowed CPUs to split into two nodes, have {cpus:?}"
        ));
        return;
    }
    let numa = NumaConfig {
        n_nodes: 2,
        node_cpus: vec![vec![cpus[0]], vec![cpus[1]]],
        ..NumaConfig::default()
    };
    let rts = standalone(config(4, numa, PolicySet::DEFAULT));
    for h in rts.nursery_homes() {
        let want = cpus[h.capability as usize % 2];
        assert_eq!(h.bind_error, None);
        assert_eq!(
            h.touched_on_cpus,
            Some(vec![want]),
            "nursery of {}",
            h.capability
        );
        assert!(h.bytes >= 64 << 10 && h.base != 0);
    }
}
