//! The resolved plan of a `callin-bench run`: owns the sizes (threads, capabilities, rounds,
//! time per system per round, for the full, `--quick` and `--smoke`-sized runs), the driver
//! configuration every cell uses, and the configuration recorded in the results' manifest.

use std::collections::BTreeMap;
use std::time::Duration;

use crate::driver::{DriverConfig, Expect, RunMode};
use crate::pin::PinPolicy;

/// Rounds of a full run: 20 gives the sign-test 95 % interval [r₍₆₎, r₍₁₅₎] of each ratio.
pub const ROUNDS_FULL: u32 = 20;
/// Milliseconds each system runs per round in a full run: 20 × 350 ms = 7 s per system and
/// cell, the measuring time the matrix had before it ran in rounds (7 repetitions of 1 s).
pub const ROUND_MS_FULL: u32 = 350;
/// `--quick`: 9 rounds (the fewest whose interval drops both extremes: [r₍₂₎, r₍₈₎]).
pub const ROUNDS_QUICK: u32 = 9;
/// `--quick`: 100 ms per system per round.
pub const ROUND_MS_QUICK: u32 = 100;

/// The ablation's time per policy set per round: a tenth of the matrix's, at least 5 ms (it
/// measures 12 sets at 2 configurations; at full size 20 × 12 × 2 × 35 ms = 17 s).
pub fn ablation_round(round: Duration) -> Duration {
    (round / 10).max(Duration::from_millis(5))
}

/// What one run measures.
#[derive(Debug, Clone)]
pub struct Plan {
    pub threads: Vec<u32>,
    pub caps: Vec<u32>,
    pub rounds: u32,
    /// How long each system runs per round in each cell.
    pub round: Duration,
    pub quick: bool,
}

impl Plan {
    /// (threads, caps) of every cell, caps-major, as the table lists them.
    pub fn configs(&self) -> Vec<(u32, u32)> {
        self.caps
            .iter()
            .flat_map(|&c| self.threads.iter().map(move |&t| (t, c)))
            .collect()
    }

    /// The driver configuration of one measurement at `threads`.
    pub fn driver_config(&self, threads: u32, round: Duration, expect: Expect) -> DriverConfig {
        driver_config(threads, round, expect)
    }

    /// The run configuration as the manifest records it.
    pub fn config_map(&self) -> BTreeMap<String, String> {
        let list = |v: &[u32]| v.iter().map(u32::to_string).collect::<Vec<_>>().join(",");
        BTreeMap::from([
            ("quick".into(), self.quick.to_string()),
            ("threads".into(), list(&self.threads)),
            ("capabilities".into(), list(&self.caps)),
            ("rounds".into(), self.rounds.to_string()),
            ("ms_per_round".into(), self.round.as_millis().to_string()),
            ("pinning".into(), PinPolicy::CoresRoundRobin.label().into()),
            (
                "ns_per_call".into(),
                "sum of per-thread wall time / calls (what one caller sees)".into(),
            ),
            (
                "rts_core_stats".into(),
                rts_core::stats::ENABLED.to_string(),
            ),
        ])
    }
}

/// The driver configuration of every measurement of the matrix: `threads` pinned round-robin to
/// cores, calling for `round`, one call in 64 timed, 1000 warm-up calls.
pub fn driver_config(threads: u32, round: Duration, expect: Expect) -> DriverConfig {
    DriverConfig {
        threads: threads as usize,
        mode: RunMode::Duration(round),
        pin: PinPolicy::CoresRoundRobin,
        sample_every: 64,
        warmup_calls: 1000,
        expect,
    }
}
