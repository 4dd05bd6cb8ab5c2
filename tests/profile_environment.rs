//! Prints what the profiler can use on this machine (run with `--nocapture`): which events
//! opened and which did not with the reason, the TSC calibration and the timestamp cost.

use callin_bench::profile::{ProfileEnvironment, hardware_events, software_events};

#[test]
#[cfg_attr(not(target_os = "linux"), ignore)]
fn print_profile_environment() {
    let env = ProfileEnvironment::detect();
    println!("{env}");
    assert_eq!(
        env.events.len(),
        hardware_events().len() + software_events().len()
    );
    for e in &env.events {
        if let Some(why) = &e.unavailable {
            assert!(!why.is_empty(), "{} unavailable without a reason", e.name);
        }
    }
    assert!(!env.read_costs.is_empty());
    let json = serde_json::to_string(&env).expect("environment serialises");
    assert!(json.contains("\"read_costs\""));
}
