//! callin-bench harness: drivers, pinning, profiler, topology and NUMA experiments, GHC
//! baseline, results.

pub mod cli;
pub mod driver;
#[cfg(unix)]
pub mod ghc;
pub mod matrix;
pub mod numa;
pub mod paths;
pub mod pin;
pub mod profile;
pub mod results;
pub mod stats;
pub mod topology;
