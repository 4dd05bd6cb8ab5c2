//! The policy ablation: the default set with one design choice ([`Axis`]) switched to GHC's at a
//! time, and the `ghc` set with one choice switched to the default's. A set's id is its policy
//! label (`default+wait=ghc`, `ghc+gc=default`), as `PolicySet::label` spells it everywhere.

use std::time::Duration;

use callin_reports::paired;
use callin_reports::schema::{AblationDirection, AblationRow, Cell, System};
use indicatif::ProgressBar;
use rts_core::PolicySet;
use rts_core::policy::Axis;

use super::contender::Contender;
use super::rounds::{self, Rounds};

/// (threads, capabilities) the ablation measures: one caller, and two on two capabilities.
pub const CONFIGS: &[(u32, u32)] = &[(1, 1), (2, 2)];

/// One policy set of the ablation.
#[derive(Debug, Clone, Copy)]
pub struct AblationSet {
    /// The design choice switched.
    pub axis: Axis,
    pub direction: AblationDirection,
    pub policy: PolicySet,
}

impl AblationSet {
    /// Bench id part and results label: the policy label.
    pub fn id(&self) -> String {
        self.policy.label()
    }
}

/// Every ablation set: first the default set with each GHC choice, then the reverse.
pub fn sets() -> Vec<AblationSet> {
    let (d, g) = (PolicySet::DEFAULT, PolicySet::GHC);
    let one_way = |direction, base, from| {
        Axis::ALL.map(move |axis| AblationSet {
            axis,
            direction,
            policy: axis.switch(base, from),
        })
    };
    let mut v = one_way(AblationDirection::DefaultWithGhcChoice, d, g).to_vec();
    v.extend(one_way(AblationDirection::GhcWithDefaultChoice, g, d));
    v
}

/// The ablation's systems: the all-default and all-`ghc` sets, then every [`sets`] entry, each
/// labelled with its policy label.
pub fn contenders() -> Vec<Contender> {
    let mut v = vec![
        Contender::rts_core(
            System::Default,
            &PolicySet::DEFAULT.label(),
            PolicySet::DEFAULT,
        ),
        Contender::rts_core(System::GhcMode, &PolicySet::GHC.label(), PolicySet::GHC),
    ];
    v.extend(sets().iter().map(|s| {
        let system = match s.direction {
            AblationDirection::DefaultWithGhcChoice => System::Default,
            AblationDirection::GhcWithDefaultChoice => System::GhcMode,
        };
        Contender::rts_core(system, &s.id(), s.policy)
    }));
    v
}

/// Progress steps of [`rows`].
pub fn steps(rounds: u32) -> u64 {
    u64::from(rounds) * (CONFIGS.len() * contenders().len()) as u64
}

/// Every set at every [`CONFIGS`] entry in paired rounds with the all-default and all-`ghc` sets;
/// one row per (set, config) with its ratios to both.
pub fn rows(rounds: u32, round: Duration, bar: &ProgressBar) -> anyhow::Result<Vec<AblationRow>> {
    let all = contenders();
    let cells = rounds::measure(
        &Rounds {
            contenders: &all,
            configs: CONFIGS,
            rounds,
            round,
        },
        bar,
    )?;
    let find = |label: &str, t: u32, c: u32| {
        cells
            .iter()
            .find(|x| x.label == label && x.threads == t && x.capabilities == c)
    };
    let ratio = |a: &Cell, b: Option<&Cell>| {
        let b = b.filter(|b| b.skipped.is_none())?;
        a.skipped
            .is_none()
            .then(|| paired::paired_ratio(&a.rounds_ns, &b.rounds_ns))
            .flatten()
    };
    let (d, g) = (PolicySet::DEFAULT.label(), PolicySet::GHC.label());
    let mut rows = Vec::new();
    for set in sets() {
        for &(threads, caps) in CONFIGS {
            let cell = find(&set.id(), threads, caps).expect("measured every contender");
            rows.push(AblationRow {
                switched: set.axis.name().to_owned(),
                direction: set.direction,
                threads,
                capabilities: caps,
                ns_per_call: cell.ns_per_call,
                ratio_to_default: ratio(cell, find(&d, threads, caps)),
                ratio_to_ghc: ratio(cell, find(&g, threads, caps)),
                skipped: cell.skipped.clone(),
            });
        }
    }
    Ok(rows)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_set_differs_from_its_base_in_one_choice_only() {
        let all = sets();
        assert_eq!(all.len(), 2 * Axis::ALL.len());
        for s in &all {
            let base = match s.direction {
                AblationDirection::DefaultWithGhcChoice => PolicySet::DEFAULT,
                AblationDirection::GhcWithDefaultChoice => PolicySet::GHC,
            };
            assert_ne!(s.policy, base, "{}", s.id());
            let back = s.axis.switch(s.policy, base);
            assert_eq!(back, base, "{} switches only {}", s.id(), s.axis.name());
            assert_eq!(
                PolicySet::parse(&s.id()),
                Ok(s.policy),
                "the id parses back"
            );
        }
    }
}
