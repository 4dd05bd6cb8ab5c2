//! A system of a run as the round engine sees it: owns its one label (unique in the run, ` #2`
//! for a system given twice), the kind of `callin_vocab::System` it is, and how a worker
//! process starts it ([`Launch`]: an rts-core policy set, or a real-GHC library, export and RTS
//! settings on some toolchain).

use std::path::PathBuf;

use callin_reports::schema::{RealGhcVariant, System};
use rts_core::PolicySet;
use serde::{Deserialize, Serialize};

use crate::driver::{Signature, Value};
use crate::ghc::Toolchain;

/// What the driver checks of a real-GHC export's results.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub enum GhcCheck {
    /// The project's `foo`: `x + 1` for distinct `x` per call.
    PlusOne,
    /// A user's export: every call passes `arg` and must return what a reference call with
    /// `arg` returned (determinism, not correctness: the driver cannot know the right answer).
    SameAsReference { arg: Value },
}

impl GhcCheck {
    pub fn label(&self) -> String {
        match self {
            GhcCheck::PlusOne => "x+1 (distinct x per call)".into(),
            GhcCheck::SameAsReference { arg } => {
                format!(
                    "argument {arg} every call; result equal to a reference call's (determinism)"
                )
            }
        }
    }
}

/// How to start a real-GHC system in a worker.
#[derive(Debug, Clone)]
pub struct GhcLaunch {
    pub toolchain: Toolchain,
    /// The library as the worker opens it (inside the toolchain's root, if any).
    pub library: PathBuf,
    /// RTS options besides `-N`.
    pub rts_args: Vec<String>,
    pub export: String,
    pub signature: Signature,
    pub check: GhcCheck,
    /// For `--lib`: the worker checks that `rts_lock` comes from this toolchain's threaded RTS.
    pub check_rts_file: bool,
}

/// How a worker starts the system, or why it cannot.
#[derive(Debug, Clone)]
pub enum Launch {
    RtsCore(PolicySet),
    RealGhc(Box<GhcLaunch>),
    Unavailable(String),
}

/// One system of a run.
#[derive(Debug, Clone)]
pub struct Contender {
    /// Unique in the run: what CLI, JSON (`Cell::label`) and report call it.
    pub label: String,
    pub system: System,
    /// rts-core policy label (empty for real GHC, whose cells say `ghc -N<caps>`).
    pub policy: String,
    pub variant: Option<RealGhcVariant>,
    pub launch: Launch,
    /// Asked for explicitly (`--hs`, `--lib`, `--ghc`, `--ghc-rts`): a start failure stops the
    /// run before anything is measured, instead of skipping the system's cells.
    pub required: bool,
}

impl Contender {
    /// An rts-core system running `policy`, labelled with `label`.
    pub fn rts_core(system: System, label: &str, policy: PolicySet) -> Contender {
        Contender {
            label: label.to_owned(),
            system,
            policy: policy.label(),
            variant: None,
            launch: Launch::RtsCore(policy),
            required: false,
        }
    }
}

/// Makes labels unique: the second `default` becomes `default #2`, the third `default #3`.
pub fn dedup_labels(contenders: &mut [Contender]) {
    for i in 0..contenders.len() {
        let base = contenders[i].label.clone();
        let n = contenders[..i]
            .iter()
            .filter(|c| c.label == base || c.label.starts_with(&format!("{base} #")))
            .count();
        if n > 0 {
            contenders[i].label = format!("{base} #{}", n + 1);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repeated_systems_get_numbered_labels() {
        let d = || Contender::rts_core(System::Default, "default", PolicySet::DEFAULT);
        let mut v = vec![
            d(),
            Contender::rts_core(System::GhcMode, "ghc-mode", PolicySet::GHC),
            d(),
            d(),
        ];
        dedup_labels(&mut v);
        let labels: Vec<&str> = v.iter().map(|c| c.label.as_str()).collect();
        assert_eq!(labels, ["default", "ghc-mode", "default #2", "default #3"]);
    }
}
