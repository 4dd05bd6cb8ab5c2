//! Placeholder, replaced by the callin bench.
fn main() {}
