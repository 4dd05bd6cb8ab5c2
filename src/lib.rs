//! callin-bench harness: drivers, pinning, profiler, GHC baseline, results.
