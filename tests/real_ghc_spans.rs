//! The wrapped baseline library (`ghc/wrap/rts_spans.c` linked with `-Wl,--wrap=rts_*`): it still
//! runs on GHC's own RTS (not rts-core), returns `x + 1` for every call, and records eight
//! contiguous API spans per call in the stub's order. Its own test binary: GHC's RTS starts once
//! per process.

use callin_bench::driver::{self, DriverConfig, RunHooks, RunMode};
use callin_bench::profile::groups;
use callin_bench::profile::real_ghc::{build, spans::SpanRecorder};
use callin_vocab::PhaseGroup;

struct Record<'a>(
    &'a SpanRecorder,
    usize,
    Option<Vec<callin_bench::profile::real_ghc::spans::ThreadSpans>>,
);

impl RunHooks for Record<'_> {
    fn before(&mut self) {
        self.0.start(2, self.1).unwrap();
    }
    fn after(&mut self) {
        self.2 = Some(self.0.stop().unwrap());
    }
}

#[test]
fn wrapped_library_runs_on_ghcs_rts_and_records_contiguous_spans() {
    let pair = match build::ensure_built().expect("building the baselines") {
        Ok(p) => p,
        Err(reason) => panic!(
            "the real-GHC baselines cannot be built ({reason}): scripts/setup.sh installs ghc"
        ),
    };
    callin_bench::ghc::check_layout(&pair.plain.c_layout).unwrap();
    let rts = callin_bench::ghc::GhcRts::init(&pair.wrapped, &["-N2"]).unwrap();
    let origin = rts.rts_lock_origin().expect("rts_lock resolves");
    assert!(
        origin.to_string_lossy().contains("libHSrts_thr"),
        "rts_lock comes from {}",
        origin.display()
    );
    let rec = SpanRecorder::open(&pair.wrapped).unwrap();
    let calls = 500;
    let cfg = DriverConfig {
        threads: 2,
        mode: RunMode::Calls(calls),
        ..DriverConfig::default()
    };
    let mut hooks = Record(&rec, calls as usize * 8 + 8, None);
    let report = driver::run_with_hooks(rts.c_function().unwrap(), &cfg, &mut hooks).unwrap();
    report.ensure_correct().expect("every call returned x + 1");
    let threads = hooks.2.unwrap();
    assert_eq!(threads.len(), 2, "both driver threads recorded");
    let order = [
        PhaseGroup::Lock,
        PhaseGroup::MkInt,
        PhaseGroup::Apply,
        PhaseGroup::Apply,
        PhaseGroup::Eval,
        PhaseGroup::CheckStatus,
        PhaseGroup::GetInt,
        PhaseGroup::Unlock,
    ];
    for t in &threads {
        assert_eq!(t.dropped, 0);
        let calls_of = groups::split_calls(&t.spans);
        // Warm-up calls come before the gate, where recording starts: exactly the timed calls.
        assert_eq!(calls_of.len() as u64, calls);
        for c in &calls_of {
            let g: Vec<PhaseGroup> = c.iter().map(|s| s.group).collect();
            assert_eq!(g, order, "the stub's order");
            assert!(
                groups::contiguous(c),
                "spans of one call are contiguous: {c:?}"
            );
        }
    }
    // Off again: a run without recording leaves nothing behind.
    driver::run(rts.c_function().unwrap(), &cfg)
        .unwrap()
        .ensure_correct()
        .unwrap();
}
