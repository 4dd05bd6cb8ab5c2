//! A lock-free Rust model of the GHC RTS call-in machinery, with GHC's C API.
//!
//! What happens when C calls `c_function`, a Haskell function exported with
//! `foreign export ccall`: `rts_lock` finds the thread's [`task::Task`], pushes an
//! [`incall::InCall`] and acquires a [`capability::Capability`]; `rts_mkInt` and `rts_apply` build
//! the application in the capability's [`nursery::Nursery`]; `rts_inCall` runs a bound thread on
//! the scheduler ([`sched`]); `rts_checkSchedStatus`, `rts_getInt` and `rts_unlock` finish.
//! Every design choice on that path is a [`policy::PolicySet`] value, with GHC's own choices as
//! [`policy::PolicySet::ghc`]. `ffi.rs` is the only `extern "C"` surface; the C headers are in
//! `include/` and the compiled `c_function` stub in `stub/`.

pub mod api;
pub mod capability;
mod config;
pub mod error;
pub mod ffi;
pub mod foreign_exports;
mod gc;
pub mod heap;
pub mod incall;
pub mod numa;
pub mod nursery;
pub mod phases;
pub mod policy;
mod probe_macros;
#[cfg(feature = "probes")]
pub mod probes;
pub mod rts;
pub mod rts_flags;
pub mod sched;
mod select;
pub mod stats;
pub mod stub;
mod sync;
pub mod task;

pub use config::{Config, NumaConfig};
pub use error::{CallInError, ExitEvent, ExitHook, ExitKind, set_exit_hook};
pub use policy::PolicySet;
pub use rts::Rts;
pub use sched::SchedulerStatus;
pub use sched::safe_foreign_call;

/// `hs_init` from Rust with an explicit configuration (the C `hs_init` parses `+RTS` flags).
pub fn hs_init_with(config: Config) -> Result<&'static Rts, CallInError> {
    foreign_exports::process()?;
    rts::init(config)
}

/// `hs_exit` from Rust. Returns false if the RTS was not initialised.
pub fn hs_exit() -> bool {
    rts::exit()
}

/// Define the closure of an exported `Int -> IO Int` whose body is a Rust `fn(i64) -> i64`
/// (GHC would compile it from Haskell). A panic in the body is an uncaught exception (`Killed`).
///
/// ```ignore
/// rts_core::define_io_int_fun!(#[unsafe(no_mangle)] pub static MY_FOO_closure = my_foo);
/// ```
#[macro_export]
macro_rules! define_io_int_fun {
    ($(#[$m:meta])* $vis:vis static $name:ident = $body:path) => {
        $(#[$m])*
        $vis static $name: $crate::heap::StaticClosure<1> = {
            unsafe extern "C" fn __rtscore_body(x: i64) -> i64 {
                $crate::api::run_rust_body(x, $body)
            }
            $crate::heap::StaticClosure::io_int_fun(__rtscore_body)
        };
    };
}
