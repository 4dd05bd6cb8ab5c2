//! The policy ablation: the default set with one design choice ([`Axis`]) switched to GHC's at a
//! time, and the `ghc` set with one choice switched to the default's. A set's id is its policy
//! label (`default+wait=ghc`, `ghc+gc=default`), as `PolicySet::label` spells it everywhere.

use callin_reports::schema::AblationDirection;
use rts_core::PolicySet;
use rts_core::policy::Axis;

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
    let (d, g) = (PolicySet::lockfree(), PolicySet::ghc());
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_set_differs_from_its_base_in_one_choice_only() {
        let all = sets();
        assert_eq!(all.len(), 2 * Axis::ALL.len());
        for s in &all {
            let base = match s.direction {
                AblationDirection::DefaultWithGhcChoice => PolicySet::lockfree(),
                AblationDirection::GhcWithDefaultChoice => PolicySet::ghc(),
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
