//! The vocabulary of callin-bench, defined once: the phases of a call-in, the groups they roll up
//! into where GHC's C API draws its boundaries, the systems the suite compares, and the names of
//! rts-core's policy sets. rts-core's probes, the harness, the JSON schema and the report all use
//! these types, so a name is spelled the same in code, on the command line, in JSON and on the
//! page. Each type's `name()` is its spelling everywhere; `from_name` is its only parser.
//!
//! The C stub GHC generates for `foreign export ccall "c_function" foo :: Int -> IO Int` is
//!
//! ```text
//! cap = rts_lock();                                       // lock:         task_lookup, incall_push, cap_acquire
//! rts_evalIO(&cap, rts_apply(cap, runIO_closure,          // apply (x2)
//!                  rts_apply(cap, &foo_closure,
//!                            rts_mkInt(cap, x))), &ret);  // mk_int; eval: create_thread, schedule, gc
//! rts_checkSchedStatus("c_function", cap);                // check_status
//! r = rts_getInt(ret);                                    // get_int
//! rts_unlock(cap);                                        // unlock:       cap_release, incall_pop
//! ```
//!
//! (`rts_inCall` instead of `rts_evalIO` from GHC 9.2). Phases are what the model can time one by
//! one; groups are what a wrapped `rts_*` call of the real GHC can time, so the three systems line
//! up group for group.

mod names;

pub use names::{Phase, PhaseGroup, System};

/// Name of rts-core's default policy set: every lock-free choice (system [`System::Default`]).
pub const POLICY_SET_DEFAULT: &str = "default";
/// Name of rts-core's `ghc` policy set: every choice as GHC makes it (system
/// [`System::GhcMode`]).
pub const POLICY_SET_GHC: &str = "ghc";

/// Names of the vocabulary's enums, for error messages: `a, b or c`.
pub fn one_of(names: &[&str]) -> String {
    match names {
        [] => String::new(),
        [one] => (*one).to_owned(),
        [init @ .., last] => format!("{} or {last}", init.join(", ")),
    }
}
