//! `callin-bench`: the command-line entry point.
fn main() {}
