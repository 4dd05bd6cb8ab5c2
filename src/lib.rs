//! callin-bench harness: drivers, pinning, profiler, GHC baseline, results.

pub mod profile;
