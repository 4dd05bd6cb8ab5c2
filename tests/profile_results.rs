//! `callin-bench profile` end to end: profile.json round-trips through the report schema, every
//! counter is a value or a reason, and callgrind counts repeat exactly (valgrind, which
//! `scripts/setup.sh` installs, is required).

use std::path::PathBuf;
use std::process::Command;

use callin_bench::profile::callgrind;
use callin_reports::schema::{ProfileResults, SCHEMA_VERSION};

fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_callin-bench")
}

#[test]
#[cfg_attr(not(target_os = "linux"), ignore)]
fn profile_json_round_trips_through_the_schema() {
    let path = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("profile_results/profile.json");
    let out = Command::new(bin())
        .args([
            "profile",
            "--systems",
            "default",
            "--threads",
            "1",
            "--calls",
            "2000",
        ])
        .args(["--iters", "10000", "--json"])
        .arg(&path)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("task_lookup"), "{stdout}");
    let text = std::fs::read_to_string(&path).unwrap();
    let parsed: ProfileResults = serde_json::from_str(&text).unwrap();
    assert_eq!(parsed.schema_version, SCHEMA_VERSION);
    let again: ProfileResults =
        serde_json::from_str(&serde_json::to_string(&parsed).unwrap()).unwrap();
    assert_eq!(again, parsed);
    assert_eq!(parsed.configs.len(), 1);
    let cfg = &parsed.configs[0];
    assert!(!cfg.phases.is_empty());
    for p in &cfg.phases {
        for c in &p.counters {
            assert!(c.value.is_some() != c.unavailable.is_some(), "{c:?}");
        }
    }
    if cfg!(feature = "probes") {
        assert!(parsed.probe_overhead_ns_per_boundary.is_some());
        assert!(cfg.end_to_end_ns.is_some() && cfg.phase_sum_ns.is_some());
    } else {
        assert!(stdout.contains("without the `probes` feature"), "{stdout}");
    }
}

#[test]
fn callgrind_counts_repeat_exactly_in_one_process_per_run() {
    if let Some(why) = callgrind::unavailable_reason() {
        panic!("{why}: run scripts/setup.sh (it installs valgrind)");
    }
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("profile_results/callgrind");
    let c = callgrind::count_system(bin().as_ref(), callin_vocab::System::Default, 500, 2, &dir)
        .unwrap();
    assert!(c.identical, "two runs differ: {c:?}");
    let names: Vec<&str> = c.phases.iter().map(|p| p.name).collect();
    assert_eq!(
        names,
        callgrind::region_names(callin_vocab::System::Default)
    );
    assert!(
        c.phases.iter().all(|p| p.runs_ir[0] > 0),
        "every region was collected"
    );
    for g in callin_vocab::PhaseGroup::ALL {
        assert!(
            c.groups.iter().any(|&(h, ir)| h == g && ir > 0.0),
            "{g}: no inclusive Ir from c_function's call graph: {:?}",
            c.groups
        );
    }
}
