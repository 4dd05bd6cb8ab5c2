//! How a test that cannot run here says so: a `SKIP: <reason>` line that `cargo test` shows.
//! libtest captures `print!`/`eprint!` of a passing test, so the line goes to the process's
//! stderr directly.

use std::io::Write;

/// Print `SKIP: <reason>` where `cargo test` shows it; the caller then returns.
pub fn skip(reason: &str) {
    let _ = writeln!(std::io::stderr(), "SKIP: {reason}");
}
