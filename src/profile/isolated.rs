//! Phase-isolated measurement: owns driving each `rts_core::scaffolding::phases::IsolatedPhase` alone in a
//! batch of ≥ [`MIN_BATCH_ITERS`] operations with the hardware and software counter sets enabled
//! around the batch, giving wall time and every counter per operation, per phase.
//!
//! The RTS must already be initialised (`hs_init_with`) with the policy and capabilities being
//! profiled; everything runs on the calling thread (counters follow only the thread that opened
//! them; the `cap_contended` helper thread is not counted, only its effect on this thread).

use callin_vocab::Phase;
use rts_core::scaffolding::phases::{IsolatedPhase, PhaseLoop};
use serde::Serialize;

use super::counters::{CounterReading, CounterSet, MIN_BATCH_ITERS, ProfileError, measure_run};

/// Operations run before each batch (outside counting) so first-touch costs are excluded.
pub const WARMUP_OPS: u64 = 1_000;

/// One isolated phase's batch: wall time and counters per operation.
#[derive(Debug, Clone, Serialize)]
pub struct IsolatedResult {
    /// The isolated variant's name (`task_lookup_hot`, …).
    pub name: &'static str,
    /// The call-in phase it measures.
    pub phase: Phase,
    /// Operations in the batch.
    pub iters: u64,
    /// Wall time per operation (ns), `Instant` around the batch.
    pub wall_ns_per_op: f64,
    /// Every event of the hardware and software sets, per operation (value or reason).
    pub per_op: Vec<CounterReading>,
}

/// Why an isolated phase could not be measured.
#[derive(Debug)]
pub enum IsolatedError {
    /// `PhaseLoop::new` refused (RTS not initialised, thread inside a call-in, …).
    SetUp(IsolatedPhase, rts_core::CallInError),
    /// Counter control failed or the batch was too small.
    Counters(IsolatedPhase, ProfileError),
}

impl std::fmt::Display for IsolatedError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            IsolatedError::SetUp(p, e) => write!(f, "setting up phase {}: {e}", p.name()),
            IsolatedError::Counters(p, e) => write!(f, "measuring phase {}: {e}", p.name()),
        }
    }
}

impl std::error::Error for IsolatedError {}

/// Measure every phase of `phases` on the calling thread, `iters` operations each.
pub fn measure_phases(
    phases: &[IsolatedPhase],
    iters: u64,
) -> Result<Vec<IsolatedResult>, IsolatedError> {
    let mut sets = [CounterSet::hardware(), CounterSet::software()];
    phases
        .iter()
        .map(|&p| measure_phase(&mut sets, p, iters))
        .collect()
}

/// Measure one phase with `sets` enabled around a batch of `iters` operations.
pub fn measure_phase(
    sets: &mut [CounterSet],
    phase: IsolatedPhase,
    iters: u64,
) -> Result<IsolatedResult, IsolatedError> {
    if iters < MIN_BATCH_ITERS {
        return Err(IsolatedError::Counters(
            phase,
            ProfileError::BatchTooSmall { iters },
        ));
    }
    let mut lp = PhaseLoop::new(phase).map_err(|e| IsolatedError::SetUp(phase, e))?;
    lp.run(WARMUP_OPS);
    let batch =
        measure_run(sets, iters, |n| lp.run(n)).map_err(|e| IsolatedError::Counters(phase, e))?;
    Ok(IsolatedResult {
        name: phase.name(),
        phase: phase.phase(),
        iters: batch.iters,
        wall_ns_per_op: batch.wall_ns_per_op,
        per_op: batch.per_op,
    })
}

/// The variant that stands for `phase` in a steady-state call with `threads` callers on
/// `caps` capabilities: a hot Task, a spare InCall, a capability contended only when callers
/// outnumber capabilities. `None` for phases with no isolated variant (`cap_release` and
/// `incall_pop` are inside the `cap_*` and `incall_*` pairs).
pub fn representative(phase: Phase, threads: u32, caps: u32) -> Option<IsolatedPhase> {
    Some(match phase {
        Phase::TaskLookup => IsolatedPhase::TaskLookupHot,
        Phase::IncallPush => IsolatedPhase::IncallSpare,
        Phase::CapAcquire if threads > caps => IsolatedPhase::CapContended,
        Phase::CapAcquire => IsolatedPhase::CapUncontended,
        Phase::CapRelease | Phase::IncallPop => return None,
        other => *IsolatedPhase::ALL.iter().find(|p| p.phase() == other)?,
    })
}
