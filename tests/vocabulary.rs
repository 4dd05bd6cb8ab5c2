//! One vocabulary (`callin_vocab`): systems, phases, phase groups and policy sets are spelled
//! the same by the CLI, rts-core, the JSON schema and the bench ids. The types are shared, so what
//! can drift is a parser or a hand-written list: each is held to the vocabulary here.

use std::process::Command;

use callin_vocab::{POLICY_SET_DEFAULT, POLICY_SET_GHC, Phase, PhaseGroup, System};
use rts_core::PolicySet;

fn callin_bench(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_callin-bench"))
        .args(args)
        .output()
        .expect("run callin-bench")
}

#[test]
fn the_cli_takes_exactly_the_system_names() {
    for cmd in ["run", "profile"] {
        let out = callin_bench(&[cmd, "--systems", "lockfree"]);
        assert!(!out.status.success(), "{cmd} --systems lockfree is refused");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.contains("expected default, ghc-mode or real-ghc"),
            "{cmd}: the error lists the system names: {err}"
        );
    }
}

#[test]
fn rts_core_systems_run_policy_sets_rts_core_parses_and_labels_alike() {
    for system in System::ALL {
        let Some(set) = system.policy_set() else {
            continue;
        };
        let policy = PolicySet::parse(set).expect("the vocabulary's policy set parses");
        assert_eq!(policy.label(), set, "{system}: label == vocabulary name");
        assert_eq!(System::of_policy_set(&policy.label()), Some(system));
    }
    assert_eq!(PolicySet::DEFAULT.label(), POLICY_SET_DEFAULT);
    assert_eq!(PolicySet::GHC.label(), POLICY_SET_GHC);
}

#[test]
fn json_spells_every_name_as_the_vocabulary_does() {
    for s in System::ALL {
        assert_eq!(
            serde_json::to_string(&s).unwrap(),
            format!("\"{}\"", s.name())
        );
    }
    for p in Phase::ALL {
        let json = serde_json::to_string(&p).unwrap();
        assert_eq!(json, format!("\"{}\"", p.name()));
        assert_eq!(serde_json::from_str::<Phase>(&json).unwrap(), p);
    }
    for g in PhaseGroup::ALL {
        assert_eq!(
            serde_json::to_string(&g).unwrap(),
            format!("\"{}\"", g.name())
        );
    }
    assert!(serde_json::from_str::<System>("\"rts_core_default\"").is_err());
}
