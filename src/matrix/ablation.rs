//! The policy ablation: the default (lock-free) set with one design choice switched to GHC's at
//! a time, and the `ghc` set with one choice switched to the lock-free one.

use callin_reports::schema::AblationDirection;
use rts_core::PolicySet;

/// One design choice of [`PolicySet`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Choice {
    CapabilitySelection,
    Waiting,
    ThreadObjects,
    ThreadIds,
    Gc,
    NurseryLayout,
}

impl Choice {
    pub const ALL: [Choice; 6] = [
        Choice::CapabilitySelection,
        Choice::Waiting,
        Choice::ThreadObjects,
        Choice::ThreadIds,
        Choice::Gc,
        Choice::NurseryLayout,
    ];

    /// Name in results (`AblationRow::switched`) and bench ids.
    pub fn name(self) -> &'static str {
        match self {
            Choice::CapabilitySelection => "capability_selection",
            Choice::Waiting => "waiting",
            Choice::ThreadObjects => "thread_objects",
            Choice::ThreadIds => "thread_ids",
            Choice::Gc => "gc",
            Choice::NurseryLayout => "nursery_layout",
        }
    }

    /// `base` with this choice taken from `from`.
    pub fn switch(self, base: PolicySet, from: PolicySet) -> PolicySet {
        let mut p = base;
        match self {
            Choice::CapabilitySelection => p.select = from.select,
            Choice::Waiting => p.wait = from.wait,
            Choice::ThreadObjects => p.thread_objects = from.thread_objects,
            Choice::ThreadIds => p.thread_ids = from.thread_ids,
            Choice::Gc => p.gc = from.gc,
            Choice::NurseryLayout => p.layout = from.layout,
        }
        p
    }
}

/// One policy set of the ablation.
#[derive(Debug, Clone, Copy)]
pub struct AblationSet {
    pub choice: Choice,
    pub direction: AblationDirection,
    pub policy: PolicySet,
}

impl AblationSet {
    /// Bench id part: `default+ghc_<choice>` or `ghc+default_<choice>`.
    pub fn id(&self) -> String {
        match self.direction {
            AblationDirection::DefaultWithGhcChoice => {
                format!("default+ghc_{}", self.choice.name())
            }
            AblationDirection::GhcWithDefaultChoice => {
                format!("ghc+default_{}", self.choice.name())
            }
        }
    }
}

/// Every ablation set: first the default set with each GHC choice, then the reverse.
pub fn sets() -> Vec<AblationSet> {
    let (d, g) = (PolicySet::lockfree(), PolicySet::ghc());
    let one_way = |direction, base, from| {
        Choice::ALL.map(move |choice| AblationSet {
            choice,
            direction,
            policy: choice.switch(base, from),
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
        assert_eq!(all.len(), 12);
        for s in &all {
            let base = match s.direction {
                AblationDirection::DefaultWithGhcChoice => PolicySet::lockfree(),
                AblationDirection::GhcWithDefaultChoice => PolicySet::ghc(),
            };
            assert_ne!(s.policy, base, "{}", s.id());
            let back = s.choice.switch(s.policy, base);
            assert_eq!(back, base, "{} switches only {}", s.id(), s.choice.name());
        }
    }
}
