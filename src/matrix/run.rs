//! One `callin-bench run` from its resolved options to its results: owns choosing the systems
//! (rts-core sets and the real-GHC systems, labels made unique), measuring the matrix in paired
//! rounds, then the floor and the ablation, and assembling [`RunResults`] with the manifest.

use std::time::Instant;

use callin_reports::schema::{self, GhcInfo, RunResults, System};
use indicatif::{ProgressBar, ProgressStyle};
use rts_core::PolicySet;

use super::contender::{self, Contender, Launch};
use super::plan::{self, Plan};
use super::real_ghc::{self, RealGhcOptions};
use super::rounds::{self, Rounds};
use super::{ablation, floor, manifest};

/// Everything a run needs, parsed and checked.
#[derive(Debug, Clone)]
pub struct RunOptions {
    pub plan: Plan,
    /// The systems, in order; a system given twice is measured twice (an A/A run).
    pub systems: Vec<System>,
    pub ghc: RealGhcOptions,
    pub ablation: bool,
    pub floor: bool,
}

/// The systems of the run, in `systems` order: each real-GHC entry expands to every real-GHC
/// system the options ask for. Builds what needs building; bad input is an error.
pub fn contenders(o: &RunOptions) -> anyhow::Result<Vec<Contender>> {
    let ghc = if o.systems.contains(&System::RealGhc) {
        real_ghc::contenders(&o.ghc)?
    } else {
        if o.ghc.explicit() {
            anyhow::bail!(
                "--ghc/--ghc-rts/--hs/--lib ask for real-GHC systems, but --systems leaves out real-ghc"
            );
        }
        Vec::new()
    };
    let mut out = Vec::new();
    for &s in &o.systems {
        match s {
            System::Default => out.push(Contender::rts_core(s, s.name(), PolicySet::DEFAULT)),
            System::GhcMode => out.push(Contender::rts_core(s, s.name(), PolicySet::GHC)),
            System::RealGhc => out.extend(ghc.iter().cloned()),
        }
    }
    contender::dedup_labels(&mut out);
    Ok(out)
}

fn progress_bar(len: u64) -> ProgressBar {
    let bar = ProgressBar::new(len);
    bar.set_style(
        ProgressStyle::with_template("{spinner} [{elapsed_precise}] {bar:30} {pos}/{len} {msg}")
            .expect("static template")
            .progress_chars("=> "),
    );
    bar
}

/// The GHC the manifest names: the first real-GHC system's, why there is none, or the one on PATH.
fn ghc_info(contenders: &[Contender]) -> GhcInfo {
    for c in contenders {
        if let Some(v) = &c.variant {
            return GhcInfo {
                version: Some(v.ghc_version.clone()),
                absent_reason: None,
            };
        }
        if let Launch::Unavailable(why) = &c.launch {
            return GhcInfo {
                version: None,
                absent_reason: Some(why.clone()),
            };
        }
    }
    match manifest::command_line("ghc", &["--numeric-version"]) {
        Some(v) => GhcInfo {
            version: Some(v),
            absent_reason: None,
        },
        None => GhcInfo {
            version: None,
            absent_reason: Some("ghc not found on PATH".into()),
        },
    }
}

/// Measure everything `o` asks for.
pub fn execute(o: &RunOptions, contenders: &[Contender]) -> anyhow::Result<RunResults> {
    let started = Instant::now();
    let p = &o.plan;
    let configs = p.configs();
    let matrix = Rounds {
        contenders,
        configs: &configs,
        rounds: p.rounds,
        round: p.round,
    };
    let ablation_round = plan::ablation_round(p.round);
    let steps = rounds::steps(&matrix)
        + if o.ablation {
            ablation::steps(p.rounds)
        } else {
            0
        }
        + if o.floor { floor::OPS.len() as u64 } else { 0 };
    let bar = progress_bar(steps);
    let cells = rounds::measure(&matrix, &bar)?;
    let floor = if o.floor {
        floor::measure(p.rounds, p.round / 4, &bar)
    } else {
        Vec::new()
    };
    let ablation = if o.ablation {
        ablation::rows(p.rounds, ablation_round, &bar)?
    } else {
        Vec::new()
    };
    bar.finish_and_clear();
    let mut config = p.config_map();
    config.insert(
        "measuring_s".into(),
        format!("{:.1}", started.elapsed().as_secs_f64()),
    );
    let manifest = manifest::collect(ghc_info(contenders), config);
    Ok(RunResults {
        schema_version: schema::SCHEMA_VERSION,
        run_id: run_id(&manifest.date, manifest.git_commit.as_deref()),
        manifest,
        cells,
        floor,
        ablation,
        rounds: p.rounds,
        baseline: None,
    })
}

fn run_id(date: &str, commit: Option<&str>) -> String {
    let stamp = date.replace(':', "-");
    match commit {
        Some(c) => format!("{stamp}-{}", &c[..c.len().min(7)]),
        None => stamp,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn run_ids_are_one_path_component() {
        let id = run_id("2025-01-31T12:00:00Z", Some("1a2b3c4d5e"));
        assert_eq!(id, "2025-01-31T12-00-00Z-1a2b3c4");
        assert!(!id.contains('/') && !id.contains(':'));
    }
}
