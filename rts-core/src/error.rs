//! C-API misuse and call failures: one error enum, GHC's wording, and the exit path.
//!
//! Library code never exits the process by itself. Every failure is a
//! [`CallInError`]; the C surface (`ffi.rs`) turns it into GHC's behaviour through
//! [`report_and_exit`]: `errorBelch`-style message on stderr, then the exit hook. The hook is
//! GHC's `exitFn` for C programs plus a Rust hook for tests, so every misuse case can be observed
//! in-process without undefined behaviour.

use std::fmt;
use std::sync::atomic::{AtomicPtr, Ordering};

/// Everything that can go wrong on the call-in path, named after the call that went wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum CallInError {
    /// GHC: "newBoundTask: RTS is not initialised; call hs_init() first".
    NotInitialised { call: &'static str },
    /// The RTS was shut down by `hs_exit` and not initialised again.
    AfterExit { call: &'static str },
    /// `hs_init` again with a different configuration while the RTS is running.
    InitMismatch { detail: String },
    /// `rts_lock` from inside a call that still holds its capability (an `unsafe` foreign call
    /// re-entering Haskell). GHC: "schedule: re-entered unsafely."
    ReenteredUnsafely,
    /// A `Capability *` this thread does not hold (or a call with no call-in in progress).
    NotHeld { call: &'static str, detail: String },
    /// A null pointer where the C API needs one.
    NullArgument {
        call: &'static str,
        what: &'static str,
    },
    /// `rts_getInt` of something that is not an `I#` closure of this call.
    NotAnInt { call: &'static str, detail: String },
    /// An argument out of range (`setNumCapabilities`, `rts_setInCallCapability`, NUMA node).
    BadArgument { call: &'static str, detail: String },
    /// A call-in from a thread whose thread-locals are being destroyed (`try_with` failed).
    ThreadExiting { call: &'static str },
    /// `hs_thread_done` while a call-in is still active on this thread (GHC ignores it).
    TaskNotStopped,
    /// `hs_exit` from inside a call-in (it would wait for its own capability forever).
    ExitFromCallIn,
    /// Bad `+RTS` options (or `-?`): GHC's messages, then its usage text (`errorUsage`).
    RtsOptions { errors: Vec<String> },
}

impl fmt::Display for CallInError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NotInitialised { call } => {
                write!(f, "{call}: RTS is not initialised; call hs_init() first")
            }
            Self::AfterExit { call } => write!(
                f,
                "{call}: the RTS has been shut down by hs_exit(); call hs_init() first"
            ),
            Self::InitMismatch { detail } => write!(f, "hs_init: already initialised with {detail}"),
            Self::ReenteredUnsafely => f.write_str(
                "schedule: re-entered unsafely.\n   Perhaps a 'foreign import unsafe' should be 'safe'?",
            ),
            Self::NotHeld { call, detail } => write!(f, "{call}: {detail}"),
            Self::NullArgument { call, what } => write!(f, "{call}: {what} is NULL"),
            Self::NotAnInt { call, detail } => write!(f, "{call}: {detail}"),
            Self::BadArgument { call, detail } => write!(f, "{call}: {detail}"),
            Self::ThreadExiting { call } => write!(
                f,
                "{call}: this OS thread is exiting (its thread-locals are being destroyed)"
            ),
            Self::TaskNotStopped => {
                f.write_str("hs_thread_done: a call-in is still active on this thread; ignored")
            }
            Self::ExitFromCallIn => {
                f.write_str("hs_exit: called from inside a call-in, which still holds a capability")
            }
            Self::RtsOptions { errors } => f.write_str(&crate::rts_flags::usage_report(errors)),
        }
    }
}

impl std::error::Error for CallInError {}

/// The call path's operations return their error boxed (`api.rs`), so that their `Result` fits
/// in two registers and the common case pays nothing for the error's size.
impl From<Box<CallInError>> for CallInError {
    fn from(e: Box<CallInError>) -> CallInError {
        *e
    }
}

/// GHC's `EXIT_FAILURE` as used by `stg_exit` on misuse.
pub const EXIT_FAILURE: i32 = 1;
/// GHC's `EXIT_HEAPOVERFLOW` (`rts/include/rts/Main.h`).
pub const EXIT_HEAPOVERFLOW: i32 = 251;

/// What GHC would do next after printing the message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExitKind {
    /// `stg_exit(code)`: the whole process exits.
    Process(i32),
    /// `shutdownThread()`: only the calling OS thread exits (`pthread_exit`); GHC does this for a
    /// call-in interrupted by `hs_exit` (commit 674cf902fb).
    Thread,
}

/// One exit request, as handed to the Rust exit hook.
#[derive(Debug, Clone)]
pub struct ExitEvent {
    pub kind: ExitKind,
    pub message: String,
}

/// A Rust exit hook. If it returns, the RTS carries on in a defined way (the failed call's
/// remaining API calls return safe values); used by tests to observe GHC's exit path.
pub type ExitHook = fn(&ExitEvent);

static RUST_EXIT_HOOK: AtomicPtr<()> = AtomicPtr::new(std::ptr::null_mut());

/// Install (or with `None` remove) the Rust exit hook. It takes precedence over `exitFn`.
pub fn set_exit_hook(hook: Option<ExitHook>) {
    let p = hook.map_or(std::ptr::null_mut(), |h| h as *mut ());
    // ORDERING: Release pairs with the Acquire in `report_and_exit`, publishing the fn pointer.
    RUST_EXIT_HOOK.store(p, Ordering::Release);
}

fn rust_exit_hook() -> Option<ExitHook> {
    // ORDERING: Acquire pairs with the Release in `set_exit_hook`.
    let p = RUST_EXIT_HOOK.load(Ordering::Acquire);
    if p.is_null() {
        None
    } else {
        // SAFETY: only `set_exit_hook` stores non-null values here, and they are `ExitHook`s.
        Some(unsafe { std::mem::transmute::<*mut (), ExitHook>(p) })
    }
}

/// Whether a Rust exit hook is installed (then exits are observed, not carried out).
pub(crate) fn has_rust_hook() -> bool {
    rust_exit_hook().is_some()
}

/// `errorBelch` + GHC's exit path for a process exit. Returns only if a Rust hook is installed
/// (and returned). A thread exit returns to the caller, which must end the thread itself when no
/// hook is installed (`ffi::shutdown_thread`, with no destructors left on the stack).
#[cold]
pub(crate) fn report_and_exit(kind: ExitKind, message: String) {
    eprintln!("{}: {message}", program_name());
    exit_after_report(kind, message);
}

/// The exit path once the message is printed: the Rust hook if installed, else `exitFn` and
/// the process exit (a thread exit is left to the caller, as in [`report_and_exit`]).
fn exit_after_report(kind: ExitKind, message: String) {
    if let Some(hook) = rust_exit_hook() {
        hook(&ExitEvent { kind, message });
        return;
    }
    drop(message);
    if let ExitKind::Process(code) = kind {
        crate::ffi::call_exit_fn(code);
        std::process::exit(code);
    }
}

/// Report a misuse error the GHC way (`errorBelch` then `stg_exit(EXIT_FAILURE)`).
#[cold]
pub(crate) fn misuse(err: &CallInError) {
    let kind = ExitKind::Process(EXIT_FAILURE);
    match err {
        // `errorUsage` belches each line on its own, so each carries the program name.
        CallInError::RtsOptions { .. } => {
            let message = err.to_string();
            let prog = program_name();
            for line in message.split('\n') {
                eprintln!("{prog}: {line}");
            }
            exit_after_report(kind, message);
        }
        _ => report_and_exit(kind, err.to_string()),
    }
}

fn program_name() -> String {
    std::env::args_os()
        .next()
        .and_then(|a| {
            std::path::Path::new(&a)
                .file_name()
                .map(|s| s.to_string_lossy().into_owned())
        })
        .unwrap_or_else(|| "rts-core".to_owned())
}
