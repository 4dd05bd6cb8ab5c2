//! A lock-free Rust model of the GHC RTS call-in machinery, with GHC's C API.
//!
//! What happens when C calls `c_function`, a Haskell function exported with
//! `foreign export ccall`: `rts_lock` finds the thread's Task (`task.rs`), pushes an InCall
//! (`incall.rs`) and selects and acquires a [`Capability`] (`select.rs`, `capability/`);
//! `rts_mkInt` and `rts_apply` build the application in the capability's nursery (`nursery.rs`,
//! [`heap`]); `rts_inCall` runs a bound thread on the scheduler (`sched/`);
//! `rts_checkSchedStatus`, `rts_getInt` and `rts_unlock` finish (`api.rs` holds these
//! operations). An exhausted nursery is collected by `gc.rs`. The instance itself and its
//! lifecycle (`hs_init`, `hs_exit`, `setNumCapabilities`) are `rts.rs`, its configuration
//! `config.rs` and `rts_flags.rs`, the NUMA placement of threads and nurseries [`numa`].
//! Every design choice on that path is a [`PolicySet`] value, with GHC's own choices as
//! [`PolicySet::GHC`]. [`ffi`] is the only `extern "C"` surface; the C headers are in
//! `include/` and the compiled `c_function` stub in `stub/` ([`stub`]).
//!
//! The public API is what a Rust host needs (the C API, [`hs_init_with`], the configuration,
//! [`stats`], `probes` with the feature of that name); bench and test scaffolding is in the hidden
//! `scaffolding` module.

mod api;
mod capability;
mod config;
mod error;
pub mod ffi;
mod foreign_exports;
mod gc;
pub mod heap;
mod incall;
pub mod numa;
mod nursery;
pub mod policy;
mod probe_macros;
#[cfg(feature = "probes")]
pub mod probes;
mod rts;
mod rts_flags;
#[doc(hidden)]
pub mod scaffolding;
mod sched;
mod select;
pub mod stats;
pub mod stub;
mod sync;
mod task;

#[doc(hidden)]
pub use api::run_rust_body;
pub use capability::Capability;
pub use config::{
    Config, DEFAULT_MAX_CAPABILITIES, DEFAULT_NURSERY_BYTES, ForeignNode, MAX_NUMA_NODES,
    NumaConfig,
};
pub use error::{CallInError, ExitEvent, ExitHook, ExitKind, set_exit_hook};
pub use policy::PolicySet;
pub use rts::{Rts, current, set_num_capabilities};
pub use sched::{SchedulerStatus, safe_foreign_call};

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
                $crate::run_rust_body(x, $body)
            }
            $crate::heap::StaticClosure::io_int_fun(__rtscore_body)
        };
    };
}
