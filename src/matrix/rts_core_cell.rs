//! Driving rts-core's `c_function` (the compiled C stub) at one policy set and capability
//! count: start an RTS instance, run the driver, shut the instance down.

use std::collections::BTreeMap;

use rts_core::stats::CapCounters;
use rts_core::{Config, PolicySet};

use crate::driver::{self, CallTarget, DriverConfig, RunHooks, RunReport};

/// rts-core's `c_function` as a driver target.
pub fn c_function_target() -> CallTarget {
    // SAFETY: the stub is callable from any thread with any i64 once `hs_init` ran, which every
    // caller of this target ensures (`with_instance`); C code, it does not unwind.
    unsafe { CallTarget::from_unsafe(rts_core::stub::c_function()) }
}

/// Run `f` with an rts-core instance of `policy` on `caps` capabilities, then `hs_exit`.
pub fn with_instance<R>(policy: PolicySet, caps: u32, f: impl FnOnce() -> R) -> anyhow::Result<R> {
    rts_core::hs_init_with(Config {
        n_capabilities: caps,
        policy,
        ..Config::default()
    })
    .map_err(|e| anyhow::anyhow!("hs_init with {caps} capabilities, policy {policy}: {e}"))?;
    struct Exit;
    impl Drop for Exit {
        fn drop(&mut self) {
            rts_core::hs_exit();
        }
    }
    let _exit = Exit;
    Ok(f())
}

/// Model counters before and after the timed part of a run.
#[derive(Default)]
struct StatsHooks {
    before: CapCounters,
    after: CapCounters,
}

impl RunHooks for StatsHooks {
    fn before(&mut self) {
        self.before = current_totals();
    }
    fn after(&mut self) {
        self.after = current_totals();
    }
}

fn current_totals() -> CapCounters {
    rts_core::current()
        .map(|r| r.stats().total())
        .unwrap_or_default()
}

/// One driver run on the current instance, with the model's counters per timed call.
pub fn drive(config: &DriverConfig) -> anyhow::Result<(RunReport, BTreeMap<String, f64>)> {
    let mut hooks = StatsHooks::default();
    // Wrong results are recorded in the report (and the cell), not turned into an error.
    let report = driver::run_with_hooks(c_function_target(), config, &mut hooks)?;
    let d = hooks.after - hooks.before;
    let calls = report.total_calls.max(1) as f64;
    let mut stats = BTreeMap::new();
    if rts_core::stats::ENABLED {
        let per_call = |v: u64| v as f64 / calls;
        stats.insert("bytes_allocated_per_call".into(), per_call(d.nursery_bytes));
        stats.insert(
            "lock_acquisitions_per_call".into(),
            per_call(d.lock_acquisitions),
        );
        stats.insert("stw_gcs_per_call".into(), per_call(d.stw_gcs));
        stats.insert("nursery_resets_per_call".into(), per_call(d.nursery_resets));
        stats.insert("waits_per_call".into(), per_call(d.waits));
        stats.insert("parks_per_call".into(), per_call(d.parks));
        stats.insert("handoffs_per_call".into(), per_call(d.handoffs));
    }
    Ok((report, stats))
}
