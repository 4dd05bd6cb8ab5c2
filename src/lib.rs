//! callin-bench harness: drivers, pinning, profiler, GHC baseline, results.

pub mod driver;
pub mod pin;
pub mod profile;
