//! The JSON schema of every file the suite writes: run results (`callin-bench run`), phase profiles
//! (`callin-bench profile`), topology (`callin-bench topology --json`) and NUMA experiments
//! (`callin-bench numa`).
//!
//! This module owns the serde types only; producers (the harness) fill them and the report reads
//! them. Rules that hold for every type here:
//! - every top-level file carries `schema_version` (= [`SCHEMA_VERSION`]); readers reject others;
//! - a field's unit is in its name (`_ns`, `_per_sec`, `_bytes`) and in its `///` doc;
//! - a number that may be missing is an `Option`, never a zero stand-in; a cell that was not
//!   measured says why in `skipped`;
//! - ratios are plain factors (2.0 = twice as long), shares and rates are fractions in `[0, 1]`.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Version of this schema; bump on any incompatible change and keep readers strict.
pub const SCHEMA_VERSION: u32 = 3;

// ---------------------------------------------------------------------------------------------
// Shared pieces
// ---------------------------------------------------------------------------------------------

/// Spread of one figure over repeated measurements (the unit is given by the field holding it).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Spread {
    /// Median over the repetitions.
    pub median: f64,
    /// Smallest repetition.
    pub min: f64,
    /// Largest repetition.
    pub max: f64,
    /// Number of repetitions the three figures above summarise (≥ 1).
    pub reps: u32,
}

/// Where a figure came from, so the report can say it next to the number.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Source {
    /// In-situ phase probes timed with the TSC (`rdtscp`), calibrated against the monotonic clock.
    ProbeTsc,
    /// In-situ phase probes timed with `std::time::Instant` (no usable TSC).
    ProbeInstant,
    /// A perf-event counter (`perf_event_open`), enabled around a batch and divided per call.
    PerfEvent,
    /// Valgrind callgrind instruction counts (deterministic, single-threaded).
    Callgrind,
    /// The harness driver's own wall clock (`Instant` around the timed loop).
    Driver,
    /// criterion's `estimates.json`.
    Criterion,
    /// Spans of the real GHC's C API calls, timed by wrappers of the baseline library (TSC).
    ApiSpan,
    /// Statistical sampling (perf events), nothing on the call path.
    Sampling,
    /// GHC's own runtime statistics (`getRTSStats` with `+RTS -T`).
    GhcStats,
}

impl Source {
    /// The label used in JSON and in the report (`probe-tsc`, `perf-event`, ...).
    pub fn label(self) -> &'static str {
        match self {
            Source::ProbeTsc => "probe-tsc",
            Source::ProbeInstant => "probe-instant",
            Source::PerfEvent => "perf-event",
            Source::Callgrind => "callgrind",
            Source::Driver => "driver",
            Source::Criterion => "criterion",
            Source::ApiSpan => "api-span",
            Source::Sampling => "sampling",
            Source::GhcStats => "ghc-stats",
        }
    }
}

// ---------------------------------------------------------------------------------------------
// RunResults: `callin-bench run`
// ---------------------------------------------------------------------------------------------

/// Everything one `callin-bench run` measured: the machine, the threads × caps × system matrix,
/// the floor and the policy ablation.
///
/// The matrix and the ablation run in paired rounds: each round measures every system of a
/// configuration once (order rotated round to round), so a ratio between two systems is taken
/// within each round ([`Cell::rounds_ns`], aligned by index) and then summarised
/// ([`RatioEstimate`]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunResults {
    /// Always [`SCHEMA_VERSION`].
    pub schema_version: u32,
    /// Identifier of the run, used as the report's directory name (`target/reports/<run_id>/`);
    /// e.g. `2025-01-31T12-00-00Z-1a2b3c4`. Must be a valid single path component.
    pub run_id: String,
    /// The machine and toolchain the run measured on.
    pub manifest: Manifest,
    /// One cell per (system, threads, capabilities, policy label).
    #[serde(default)]
    pub cells: Vec<Cell>,
    /// Floor measurements: the physical limits the report compares against.
    #[serde(default)]
    pub floor: Vec<FloorMeasurement>,
    /// Policy ablation: one design choice switched at a time.
    #[serde(default)]
    pub ablation: Vec<AblationRow>,
    /// Paired rounds of the matrix (count): every measured cell has this many `rounds_ns`.
    pub rounds: u32,
    /// The saved baseline this run was compared with (`--baseline NAME`), if any.
    pub baseline: Option<BaselineRef>,
}

/// A saved baseline a run was compared with.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BaselineRef {
    /// The name given to `--save-baseline` / `--baseline`.
    pub name: String,
    /// Its file, relative to the results directory (`baselines/<name>.json`).
    pub file: String,
}

/// A real-GHC system: which GHC, which RTS settings, which export of which library. Its
/// [`label`](RealGhcVariant::label) is the one name of the system in CLI output, JSON and report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RealGhcVariant {
    /// `ghc --numeric-version` of the compiler that built the library (e.g. `9.6.6`).
    pub ghc_version: String,
    /// Which ghc: its path, and the root file system it runs in when not the host.
    pub ghc: String,
    /// RTS options besides `-N<caps>` (e.g. `["-A4m", "-qg"]`); empty = GHC's defaults.
    #[serde(default)]
    pub rts_args: Vec<String>,
    /// The exported C function driven (e.g. `c_function`).
    pub export: String,
    /// Its signature (e.g. `Int -> IO Int`).
    pub signature: String,
    /// True for the project's own `foo x = return (x + 1)` (`ghc/Fun.hs`, `ghc/Export.hs`).
    pub project_export: bool,
    /// SHA-256 (hex) of the Haskell sources, or of the library file for `--lib`.
    pub source_hash: String,
    /// The library driven (as the worker process opened it).
    pub library: String,
    /// What the driver checks of each result (e.g. `x+1`, `same as reference call`).
    pub check: String,
}

impl RealGhcVariant {
    /// `real-ghc 9.0.2`, `real-ghc 9.6.6 -A4m -qg`, `real-ghc 9.0.2 export=loop`: the system
    /// name, the GHC version, the RTS settings, and the export unless it is the project's.
    pub fn label(&self) -> String {
        let mut parts = vec![System::RealGhc.name().to_owned(), self.ghc_version.clone()];
        parts.extend(self.rts_args.iter().cloned());
        if !self.project_export {
            parts.push(format!("export={}", self.export));
        }
        parts.join(" ")
    }
}

/// A ratio of two systems' ns per call (`numerator ÷ denominator`; > 1 = the numerator is
/// slower), summarised over paired rounds (or, between runs, over all pairs of rounds).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct RatioEstimate {
    /// Median of the per-round ratios (factor).
    pub median: f64,
    /// Lower end of the 95 % interval (factor); `None` with too few rounds for one.
    pub low: Option<f64>,
    /// Upper end of the 95 % interval (factor).
    pub high: Option<f64>,
    /// Rounds (or pairs of rounds) the estimate summarises (count).
    pub rounds: u32,
}

/// The machine, toolchain and counter availability of a run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    /// CPU model name as `/proc/cpuinfo` gives it (e.g. `AMD EPYC 7B13`).
    pub cpu_model: String,
    /// Logical CPUs online (count).
    pub cores: u32,
    /// Physical cores (count), when known.
    pub physical_cores: Option<u32>,
    /// NUMA nodes on the host (count).
    pub numa_nodes: u32,
    /// Kernel release (`uname -r`).
    pub kernel: String,
    /// `rustc --version` output, or the version the harness was built with.
    pub rustc: String,
    /// The GHC used for the real-GHC baseline, or why there is none.
    pub ghc: GhcInfo,
    /// `git rev-parse HEAD` of the measured tree, when known.
    pub git_commit: Option<String>,
    /// Whether the work tree had uncommitted changes, when known.
    pub git_dirty: Option<bool>,
    /// When the run started, RFC 3339 UTC (e.g. `2025-01-31T12:00:00Z`).
    pub date: String,
    /// Every counter the harness tried, with why it was unavailable.
    #[serde(default)]
    pub counters: Vec<CounterAvailability>,
    /// Free-form run configuration (e.g. `calls_per_thread` → `1000000`, `quick` → `true`).
    #[serde(default)]
    pub config: BTreeMap<String, String>,
}

/// The installed GHC, or the reason the baseline is absent. Exactly one field is `Some`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GhcInfo {
    /// `ghc --numeric-version` (e.g. `9.0.2`).
    pub version: Option<String>,
    /// Why there is no GHC baseline (e.g. `ghc not found on PATH`).
    pub absent_reason: Option<String>,
}

/// Whether a hardware or software counter could be opened on this machine.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CounterAvailability {
    /// Counter name (e.g. `cycles`, `instructions`, `task-clock`).
    pub name: String,
    /// True when the counter opened and was read.
    pub available: bool,
    /// The OS error or other reason when unavailable (e.g. `ENOENT: no PMU in this KVM guest`).
    pub unavailable_reason: Option<String>,
}

pub use callin_vocab::{POLICY_SET_DEFAULT, POLICY_SET_GHC, Phase, PhaseGroup, System};

/// One measured (or skipped) configuration of the end-to-end matrix.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Cell {
    /// Which implementation was driven.
    pub system: System,
    /// The system's name in this run, unique per configuration: the system name for rts-core
    /// (`default`, `ghc-mode`), [`RealGhcVariant::label`] for real GHC, with ` #2`, ` #3` for a
    /// system given twice (an A/A run).
    pub label: String,
    /// Which GHC, RTS settings and export, for real GHC.
    pub variant: Option<RealGhcVariant>,
    /// OS threads calling `c_function` concurrently (count).
    pub threads: u32,
    /// RTS capabilities (`-N`) (count).
    pub capabilities: u32,
    /// Policy label (`PolicySet::label`: `default`, `ghc`, or a mixed set such as `default+wait=ghc`).
    pub policy: String,
    /// How driver threads were pinned (e.g. `cores`, `node:0`, `unpinned`), when recorded.
    pub pinning: Option<String>,
    /// Calls each thread made per repetition (count).
    pub calls_per_thread: Option<u64>,
    /// Wall time per call in nanoseconds: per-thread wall time / calls, spread over rounds.
    pub ns_per_call: Option<Spread>,
    /// ns per call in each round, in round order (empty when skipped): the paired samples every
    /// ratio is computed from.
    #[serde(default)]
    pub rounds_ns: Vec<f64>,
    /// Aggregate throughput in calls per second (all threads), median over repetitions.
    pub calls_per_sec: Option<f64>,
    /// Per-call latency percentiles from the sampled histogram.
    pub latency: Option<LatencyPercentiles>,
    /// Calls completed per thread, to judge fairness under oversubscription.
    pub fairness: Option<Fairness>,
    /// Calls whose result failed the driver's check (count; `x + 1` for the project's export,
    /// equal to a reference call for a user's); `None` when not checked.
    pub wrong_results: Option<u64>,
    /// Model statistics (rts-core `stats` feature): name → value, e.g. `gcs_per_call`,
    /// `bytes_allocated_per_call`, `lock_acquisitions_per_call`. Absent for real GHC.
    pub model_stats: Option<BTreeMap<String, f64>>,
    /// Why this cell was not measured (e.g. `ghc not installed`); all figures are `None` then.
    pub skipped: Option<String>,
}

impl Cell {
    /// More threads than capabilities: callers queue for a capability.
    pub fn is_oversubscribed(&self) -> bool {
        self.threads > self.capabilities
    }
}

/// Per-call latency percentiles in nanoseconds, from an hdrhistogram of sampled calls.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct LatencyPercentiles {
    /// Median latency of one call (ns).
    pub p50_ns: f64,
    /// 99th percentile (ns).
    pub p99_ns: f64,
    /// 99.9th percentile (ns).
    pub p999_ns: f64,
    /// Calls recorded in the histogram (count).
    pub samples: u64,
    /// One call in this many was timed (1 = every call).
    pub sample_every: u64,
}

/// Calls completed per thread in one repetition.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Fairness {
    /// Calls completed by each thread, in thread order (count).
    pub per_thread_calls: Vec<u64>,
    /// min(per_thread_calls) / max(per_thread_calls), in `[0, 1]`; 1 = perfectly fair.
    pub min_max_ratio: f64,
}

/// A floor measurement: the cost of a primitive the call-in path cannot beat.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FloorMeasurement {
    /// What was measured (e.g. `empty C call via fn pointer`, `thread-local read`,
    /// `uncontended CAS + release store`, `uncontended mutex lock+unlock`).
    pub name: String,
    /// Nanoseconds per operation, spread over repetitions.
    pub ns_per_op: Spread,
}

/// Which way an ablation row switched one choice.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AblationDirection {
    /// The default set with one choice switched to GHC's.
    DefaultWithGhcChoice,
    /// The `ghc` set with one choice switched to the default's.
    GhcWithDefaultChoice,
}

/// One row of the policy ablation: a policy set with one design choice switched.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AblationRow {
    /// The choice switched (e.g. `capability_selection`, `waiting`, `thread_objects`,
    /// `thread_ids`, `gc`).
    pub switched: String,
    /// Which base set, and which way.
    pub direction: AblationDirection,
    /// OS threads (count).
    pub threads: u32,
    /// Capabilities (count).
    pub capabilities: u32,
    /// Nanoseconds per call with the choice switched, spread over rounds.
    pub ns_per_call: Option<Spread>,
    /// This row ÷ the all-default set at the same threads and capabilities, over paired rounds
    /// (factor; > 1 = slower than default).
    pub ratio_to_default: Option<RatioEstimate>,
    /// This row ÷ the all-`ghc` set at the same threads and capabilities, over paired rounds.
    pub ratio_to_ghc: Option<RatioEstimate>,
    /// Why the row was not measured.
    pub skipped: Option<String>,
}

// ---------------------------------------------------------------------------------------------
// ProfileResults: `callin-bench profile`
// ---------------------------------------------------------------------------------------------

/// Everything one `callin-bench profile` measured.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProfileResults {
    /// Always [`SCHEMA_VERSION`].
    pub schema_version: u32,
    /// The run this profile belongs to, when produced as part of one.
    pub run_id: Option<String>,
    /// Calibrated TSC frequency in Hz, when the TSC was used.
    pub tsc_hz: Option<f64>,
    /// Cost of one probe (one timestamp into the per-thread buffer) in ns per phase boundary.
    pub probe_overhead_ns_per_boundary: Option<f64>,
    /// One entry per (system, threads, capabilities).
    #[serde(default)]
    pub configs: Vec<ProfileConfig>,
    /// Deterministic instruction counts per phase and per group, one entry per system.
    #[serde(default)]
    pub callgrind: Vec<CallgrindCounts>,
    /// Why callgrind counts are absent (e.g. `valgrind not installed`).
    pub callgrind_skipped: Option<String>,
}

/// The phase breakdown of one system at one thread configuration.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProfileConfig {
    /// The system profiled (`default`, `ghc-mode`: rts-core policy sets; `real-ghc`).
    pub system: System,
    /// OS threads calling concurrently (count).
    pub threads: u32,
    /// Capabilities (count).
    pub capabilities: u32,
    /// Per-phase figures, in call order.
    #[serde(default)]
    pub phases: Vec<PhaseProfile>,
    /// Mean end-to-end time of one `c_function` call with probes on (ns). Mean, not median:
    /// the probe clock (TSC) steps in 10 ns on some machines, where medians of short phases are
    /// whole steps and do not add up (see `callin_bench::profile::breakdown`).
    pub end_to_end_ns: Option<f64>,
    /// Sum of the per-phase means per call (ns); compare with `end_to_end_ns`. Each phase's
    /// `share` is its mean divided by this sum.
    pub phase_sum_ns: Option<f64>,
    /// `phase_sum_ns` with the calibrated probe cost taken off each span (ns).
    #[serde(default)]
    pub phase_sum_corrected_ns: Option<f64>,
    /// Mean end-to-end time of the same calls on threads that do not record probes (ns);
    /// `end_to_end_ns` minus this is what the probes add to a call.
    #[serde(default)]
    pub end_to_end_unprobed_ns: Option<f64>,
    /// Why this configuration was not profiled.
    pub skipped: Option<String>,
    /// Per phase group (the C API calls), every view side by side, in call order.
    #[serde(default)]
    pub groups: Vec<GroupProfile>,
    /// Why the span/probe view of the groups is absent (e.g. built without `probes`).
    #[serde(default)]
    pub spans_skipped: Option<String>,
    /// The sampling view's run: event, sample counts, the "other" row; or why it is absent.
    #[serde(default)]
    pub sampling: Option<SamplingSummary>,
    /// Counters per call of the whole call (context switches, futex calls, bytes allocated, ...),
    /// each with its source, or why it is unavailable.
    #[serde(default)]
    pub call_counters: Vec<CounterValue>,
}

/// One phase group of one configuration, every view side by side. Each view is `None` when
/// not measured (the configuration or the file says why).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GroupProfile {
    /// Which group.
    pub group: PhaseGroup,
    /// Mean ns per call in the group's spans (probes for rts-core, API spans for real GHC).
    pub span_ns_mean: Option<f64>,
    /// Median ns per call in the group's spans.
    pub span_ns_median: Option<f64>,
    /// 99th percentile ns per call in the group's spans.
    pub span_ns_p99: Option<f64>,
    /// The group's span mean over the sum of group means, in `[0, 1]`.
    pub span_share: Option<f64>,
    /// `span_ns_mean` with the calibrated cost of one boundary taken off each span, clamped at 0
    /// (ns).
    #[serde(default)]
    pub span_ns_mean_corrected: Option<f64>,
    /// `span_ns_mean_corrected` over the sum of the corrected group means, in `[0, 1]`: the share
    /// compared with sampling.
    #[serde(default)]
    pub span_share_corrected: Option<f64>,
    /// Where the span figures came from (`probe-tsc` or `api-span`).
    pub span_source: Option<Source>,
    /// Share of the driver threads' samples, in `[0, 1]`.
    pub sample_share: Option<f64>,
    /// Binomial standard error of `sample_share`.
    pub sample_share_stderr: Option<f64>,
    /// Samples in this group (count).
    pub samples: Option<u64>,
    /// `sample_share` × the unprobed end-to-end ns per call (ns).
    pub sample_ns_per_call: Option<f64>,
    /// Most frequent leaf functions of the group's samples (name, samples).
    #[serde(default)]
    pub sample_top_functions: Vec<(String, u64)>,
    /// The span and sampling shares differ by more than 2× (either way).
    #[serde(default)]
    pub views_disagree: bool,
}

/// How one configuration was sampled, and what no group took.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SamplingSummary {
    /// The sampling event (`cycles` where a PMU exists, else `cpu-clock`).
    pub event: Option<String>,
    /// Why the preferred event was not used (e.g. `cycles unavailable: ENOENT ...`).
    pub event_note: Option<String>,
    /// Samples per second per thread.
    pub frequency_hz: Option<u64>,
    /// Kernel-mode samples were taken too.
    pub includes_kernel: Option<bool>,
    /// Samples of the driver threads (count).
    pub samples: Option<u64>,
    /// Samples the kernel lost (count).
    pub lost: Option<u64>,
    /// Share of samples in no group (`other`), in `[0, 1]`.
    pub other_share: Option<f64>,
    /// Binomial standard error of `other_share`.
    pub other_share_stderr: Option<f64>,
    /// The top leaf functions of `other` (name, samples).
    #[serde(default)]
    pub other_top_functions: Vec<(String, u64)>,
    /// Samples per attribution rule (`call_chain`, `stub_glue`, `table`, `other`).
    #[serde(default)]
    pub attribution: BTreeMap<String, u64>,
    /// Mapped files without a full symbol table.
    #[serde(default)]
    pub stripped_files: Vec<String>,
    /// Why there is no sampling view.
    pub skipped: Option<String>,
}

/// One phase's time and counters.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PhaseProfile {
    /// Which phase.
    pub phase: Phase,
    /// Median time in this phase per call (ns).
    pub ns_median: Option<f64>,
    /// 99th percentile time in this phase per call (ns).
    pub ns_p99: Option<f64>,
    /// This phase's mean / `phase_sum_ns` (means: see `end_to_end_ns`), in `[0, 1]`.
    pub share: Option<f64>,
    /// Mean time in this phase per call, over all calls (ns; its term in `phase_sum_ns`).
    #[serde(default)]
    pub ns_mean: Option<f64>,
    /// `ns_median` with the calibrated probe cost taken off per span, clamped at 0 (ns).
    #[serde(default)]
    pub ns_median_corrected: Option<f64>,
    /// `ns_mean` with the calibrated probe cost taken off per span, clamped at 0 (ns).
    #[serde(default)]
    pub ns_mean_corrected: Option<f64>,
    /// The probe-cost correction exceeded the raw figure (the corrected one is clamped at 0).
    #[serde(default)]
    pub correction_exceeds_raw: bool,
    /// Where the time figures came from.
    pub time_source: Source,
    /// Counters per call in this phase (phase-isolated batches, divided per operation).
    #[serde(default)]
    pub counters: Vec<CounterValue>,
}

/// One counter's value per call, or why it is unavailable. Exactly one of `value`/`unavailable`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CounterValue {
    /// Counter name (e.g. `instructions`, `task-clock`, `context-switches`).
    pub name: String,
    /// Value per call (unit of the counter: events, or ns for `task-clock`).
    pub value: Option<f64>,
    /// Why there is no value (e.g. `ENOENT (os error 2)`).
    pub unavailable: Option<String>,
    /// Where the value came from.
    pub source: Source,
}

/// Callgrind instruction counts per phase and per group for one system, single-threaded.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CallgrindCounts {
    /// The system counted.
    pub system: System,
    /// Instructions per operation of each isolated phase (rts-core; count, Ir).
    #[serde(default)]
    pub phases: Vec<PhaseInstructions>,
    /// Instructions per call inside each C API call of the whole `c_function` (count, Ir).
    #[serde(default)]
    pub groups: Vec<GroupInstructions>,
    /// Instructions per whole `c_function` call (count, Ir).
    pub call_instructions: Option<f64>,
    /// Whether two runs gave identical counts, when checked.
    pub identical_across_runs: Option<bool>,
    /// Why this system has no counts.
    #[serde(default)]
    pub skipped: Option<String>,
}

/// Instructions per call inside one C API call, under callgrind (inclusive of its callees).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GroupInstructions {
    /// Which group.
    pub group: PhaseGroup,
    /// Instructions per call (count).
    pub instructions: f64,
}

/// Instructions retired per call in one phase, under callgrind.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PhaseInstructions {
    /// Which phase.
    pub phase: Phase,
    /// Instructions per call (count).
    pub instructions: f64,
}

// ---------------------------------------------------------------------------------------------
// TopologyResults and NumaResults: `callin-bench topology --json` and `callin-bench numa`
// ---------------------------------------------------------------------------------------------

/// The NUMA topology rts-core uses, and where it puts each capability.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TopologyResults {
    /// Always [`SCHEMA_VERSION`].
    pub schema_version: u32,
    /// hwloc synthetic spec (e.g. `pack:2 numa:2 core:4 pu:1`) or XML path when not the host.
    pub synthetic: Option<String>,
    /// NUMA nodes.
    #[serde(default)]
    pub nodes: Vec<NumaNode>,
    /// Node distance matrix (relative, 10 = local, as hwloc/ACPI SLIT report), indexed
    /// `[from][to]` in `nodes` order, when known.
    pub distances: Option<Vec<Vec<u32>>>,
    /// Capability → node → CPUs map.
    #[serde(default)]
    pub capabilities: Vec<CapabilityPlacement>,
}

/// One NUMA node.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NumaNode {
    /// OS node index.
    pub id: u32,
    /// Logical CPU (PU) OS indices on this node.
    pub cpus: Vec<u32>,
    /// Local memory in bytes, when known.
    pub memory_bytes: Option<u64>,
}

/// Where one capability lives.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CapabilityPlacement {
    /// Capability number.
    pub capability: u32,
    /// NUMA node of the capability and its nursery.
    pub node: u32,
    /// CPUs a thread bound to this capability runs on.
    pub cpus: Vec<u32>,
}

/// NUMA placement experiments.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NumaResults {
    /// Always [`SCHEMA_VERSION`].
    pub schema_version: u32,
    /// The run these belong to, when produced as part of one.
    pub run_id: Option<String>,
    /// NUMA nodes on the machine measured (count).
    pub nodes: u32,
    /// One row per (placement, policy).
    #[serde(default)]
    pub rows: Vec<NumaRow>,
    /// Capability selection cost at several sizes (synthetic topologies).
    #[serde(default)]
    pub selection_cost: Vec<SelectionCost>,
    /// Honest remarks, e.g. `cross-node cells need a multi-node machine`.
    #[serde(default)]
    pub notes: Vec<String>,
    /// Memory access cost from a pinned thread to memory first-touched on a given node.
    #[serde(default)]
    pub nursery_access: Vec<NurseryAccess>,
}

/// Latency of dependent loads (a random cache-line chase) from a thread on one node into
/// nursery-sized memory placed on another (or the same) node.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NurseryAccess {
    /// Node the reading thread was bound to.
    pub thread_node: u32,
    /// Node whose CPUs first touched the memory.
    pub memory_node: u32,
    /// Node the kernel reports for the memory's pages (`move_pages`), when readable.
    pub pages_on_node: Option<u32>,
    /// Bytes chased over.
    pub bytes: u64,
    /// Nanoseconds per dependent load, spread over repetitions.
    pub ns_per_access: Option<Spread>,
    /// Why the cell was not measured (e.g. `needs a multi-node machine`).
    pub skipped: Option<String>,
}

/// One NUMA placement experiment.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NumaRow {
    /// Thread placement (e.g. `pinned node 0`, `unpinned`).
    pub placement: String,
    /// Node the calling threads ran on, when pinned.
    pub thread_node: Option<u32>,
    /// Node of the capabilities and nurseries used, when fixed.
    pub capability_node: Option<u32>,
    /// Policy label.
    pub policy: String,
    /// OS threads (count).
    pub threads: u32,
    /// Capabilities (count).
    pub capabilities: u32,
    /// Nanoseconds per call, spread over repetitions.
    pub ns_per_call: Option<Spread>,
    /// Remote (cross-node) acquisitions / all acquisitions, in `[0, 1]`.
    pub remote_acquisition_rate: Option<f64>,
    /// Why the row was not measured (e.g. `needs a multi-node machine`).
    pub skipped: Option<String>,
}

/// Capability selection cost on a topology of a given size.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SelectionCost {
    /// Capabilities (count).
    pub capabilities: u32,
    /// NUMA nodes (count).
    pub nodes: u32,
    /// Policy label.
    pub policy: String,
    /// Nanoseconds per selection, spread over repetitions.
    pub ns_per_select: Spread,
}
