//! `hs_init`'s argument handling matches GHC's (`rts/RtsFlags.c`, checked against GHC 9.0.2):
//! `+RTS ... -RTS` removed from argc/argv, `--RTS` and `--`, bare `-N`, bad `-N` values and
//! unknown options (messages, usage text, exit code 1). The C program `tests/c/argv_driver.c`
//! runs as a child on rts-core and, when ghc is installed, on GHC's RTS, and the outputs are
//! compared; the in-process tests observe the exit hook, nested `hs_init` and odd argv shapes.

#[path = "c/support.rs"]
mod support;

use std::ffi::{CStr, CString, c_char, c_int};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::ptr;
use std::sync::{Mutex, MutexGuard, OnceLock};

use rts_core::scaffolding::number_of_processors;
use rts_core::{ExitEvent, ExitKind};

fn c_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/c")
}

/// argv_driver.c linked with rts-core, or None (printed reason) without a C compiler.
fn rts_core_driver() -> Option<&'static Path> {
    static EXE: OnceLock<Option<PathBuf>> = OnceLock::new();
    EXE.get_or_init(|| {
        if !support::tool("cc") {
            return None;
        }
        let exe = support::scratch_dir("argv-driver-rts-core").join("argv_driver");
        support::build_c_program(&[&c_dir().join("argv_driver.c")], &exe);
        Some(exe)
    })
    .as_deref()
}

/// argv_driver.c linked with GHC's RTS (`-threaded`), or None (printed reason) without ghc.
fn ghc_driver() -> Option<&'static Path> {
    static EXE: OnceLock<Option<PathBuf>> = OnceLock::new();
    EXE.get_or_init(|| {
        if !support::tool("ghc") {
            return None;
        }
        let dir = support::scratch_dir("argv-driver-ghc");
        let exe = dir.join("argv_driver");
        let out = Command::new("ghc")
            .args(["-v0", "-threaded", "-no-hs-main", "-outputdir"])
            .arg(&dir)
            .arg("-o")
            .arg(&exe)
            .args(support::haskell_program())
            .arg(support::c_source_in(&dir, "argv_driver.c"))
            .output()
            .expect("ghc runs");
        assert!(out.status.success(), "ghc: {}", support::show(&out));
        Some(exe)
    })
    .as_deref()
}

/// What a run of argv_driver printed after `hs_init` accepted the arguments.
fn expected_stdout(program_args: &[&str]) -> String {
    let mut s = format!("argc={}\n", program_args.len() + 1);
    for (i, a) in program_args.iter().enumerate() {
        s += &format!("argv[{}]={a}\n", i + 1);
    }
    s + "argv[argc] is NULL\nc_function(41)=42\n"
}

/// Run both builds (GHC's if there is one) with `args`; check rts-core's run with `check` and
/// that GHC's run printed and exited the same.
fn on_both(args: &[&str], check: impl Fn(&Output)) {
    let Some(rts_core) = rts_core_driver() else {
        return;
    };
    let ours = support::run(rts_core, args);
    check(&ours);
    let Some(ghc) = ghc_driver() else {
        support::skip(&format!(
            "the comparison with GHC's RTS for {args:?} (ghc is not installed)"
        ));
        return;
    };
    let theirs = support::run(ghc, args);
    check(&theirs);
    assert_eq!(ours.status.code(), theirs.status.code(), "{args:?}");
    assert_eq!(ours.stdout, theirs.stdout, "{args:?}");
    assert_eq!(
        error_lines(&ours),
        error_lines(&theirs),
        "{args:?}: the messages before the usage text"
    );
}

/// The stderr lines before the usage text, without the `program: ` prefix.
fn error_lines(out: &Output) -> Vec<String> {
    String::from_utf8_lossy(&out.stderr)
        .lines()
        .map(|l| l.split_once(": ").map_or(l, |(_, m)| m).to_owned())
        .take_while(|l| !l.is_empty() && !l.starts_with("Usage:"))
        .collect()
}

fn accepted_with_program_args(want: &[&str]) -> impl Fn(&Output) {
    let want = expected_stdout(want);
    move |out: &Output| {
        assert!(out.status.success(), "{}", support::show(out));
        assert_eq!(String::from_utf8_lossy(&out.stdout), want);
    }
}

fn rejected_with(errors: &[&str]) -> impl Fn(&Output) {
    let errors: Vec<String> = errors.iter().map(|s| (*s).to_owned()).collect();
    move |out: &Output| {
        assert_eq!(out.status.code(), Some(1), "{}", support::show(out));
        assert!(out.stdout.is_empty(), "{}", support::show(out));
        assert_eq!(error_lines(out), errors, "{}", support::show(out));
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.contains(
                ": Usage: <prog> <args> [+RTS <rtsopts> | -RTS <args>] ... --RTS <args>\n"
            ),
            "the usage text follows: {err}"
        );
    }
}

#[test]
fn rts_options_are_removed_from_argv() {
    on_both(
        &["a", "+RTS", "-N2", "-RTS", "b"],
        accepted_with_program_args(&["a", "b"]),
    );
    on_both(&["x", "+RTS", "-N1"], accepted_with_program_args(&["x"]));
    on_both(
        &["+RTS", "-N2", "-RTS", "+RTS", "-N1", "-RTS", "y"],
        accepted_with_program_args(&["y"]),
    );
    on_both(
        &["+RTS", "-N1", "-RTS", "-N2"],
        accepted_with_program_args(&["-N2"]),
    );
    on_both(&["-RTS", "+RTS"], accepted_with_program_args(&[]));
}

#[test]
fn double_dash_rts_passes_everything_after_it_to_the_program() {
    on_both(
        &["a", "--RTS", "+RTS", "-N2", "-RTS", "b"],
        accepted_with_program_args(&["a", "+RTS", "-N2", "-RTS", "b"]),
    );
    on_both(
        &["+RTS", "-N1", "--RTS", "-N0"],
        accepted_with_program_args(&["-N0"]),
    );
}

#[test]
fn double_dash_is_kept_and_ends_rts_processing() {
    on_both(
        &["a", "--", "+RTS", "-N0"],
        accepted_with_program_args(&["a", "--", "+RTS", "-N0"]),
    );
    on_both(
        &["+RTS", "-N1", "--", "x"],
        accepted_with_program_args(&["--", "x"]),
    );
}

#[test]
fn n_values_are_read_like_strtol() {
    on_both(
        &["+RTS", "-N", "-RTS", "z"],
        accepted_with_program_args(&["z"]),
    );
    on_both(&["+RTS", "-N1x", "-RTS"], accepted_with_program_args(&[]));
    on_both(
        &["+RTS", "-N0", "-RTS"],
        rejected_with(&["bad value for -N"]),
    );
    on_both(&["+RTS", "-N-1"], rejected_with(&["bad value for -N"]));
    on_both(&["+RTS", "-Nx"], rejected_with(&["bad value for -N"]));
}

#[test]
fn every_bad_option_is_reported_before_the_usage_text() {
    on_both(
        &["+RTS", "-Q", "foo", "-N0", "-RTS"],
        rejected_with(&[
            "unknown RTS option: -Q",
            "unexpected RTS argument: foo",
            "bad value for -N",
        ]),
    );
    on_both(&["+RTS", "-?"], rejected_with(&[]));
}

// ---- in-process: the exit hook, nested hs_init, odd argv shapes ----

static SERIAL: Mutex<()> = Mutex::new(());
static EVENTS: Mutex<Vec<ExitEvent>> = Mutex::new(Vec::new());

fn serial() -> MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}

fn record(e: &ExitEvent) {
    EVENTS.lock().unwrap().push(e.clone());
}

/// A C-style argv (strings + NULL) that `hs_init` may rewrite.
struct CArgv {
    _strings: Vec<CString>,
    ptrs: Vec<*mut c_char>,
}

impl CArgv {
    fn new(args: &[&str]) -> CArgv {
        let strings: Vec<CString> = args.iter().map(|a| CString::new(*a).unwrap()).collect();
        let mut ptrs: Vec<*mut c_char> = strings.iter().map(|s| s.as_ptr().cast_mut()).collect();
        ptrs.push(ptr::null_mut());
        CArgv {
            _strings: strings,
            ptrs,
        }
    }

    /// `hs_init(&argc, &argv)`; returns argc and argv[0..argc] afterwards.
    fn hs_init(&mut self) -> Vec<String> {
        let mut argc = (self.ptrs.len() - 1) as c_int;
        let mut argv = self.ptrs.as_mut_ptr();
        // SAFETY: argv holds argc C strings and a NULL, all alive for the call.
        unsafe { rts_core::ffi::hs_init(&mut argc, &mut argv) };
        assert_eq!(argv, self.ptrs.as_mut_ptr(), "argv is rewritten in place");
        assert!(self.ptrs[argc as usize].is_null(), "argv[argc] is NULL");
        self.ptrs[..argc as usize]
            .iter()
            // SAFETY: the entries are our own CStrings, moved within the array.
            .map(|&p| unsafe { CStr::from_ptr(p) }.to_str().unwrap().to_owned())
            .collect()
    }
}

#[test]
fn bad_options_go_through_the_exit_hook_after_argv_is_rewritten() {
    let _s = serial();
    EVENTS.lock().unwrap().clear();
    rts_core::set_exit_hook(Some(record));
    let mut argv = CArgv::new(&["prog", "a", "+RTS", "-N0", "-Q", "-RTS", "b"]);
    let left = argv.hs_init();
    rts_core::set_exit_hook(None);
    assert_eq!(left, ["prog", "a", "b"]);
    let events = EVENTS.lock().unwrap().clone();
    assert_eq!(events.len(), 1, "{events:?}");
    assert_eq!(events[0].kind, ExitKind::Process(1));
    let lines: Vec<&str> = events[0].message.split('\n').collect();
    assert_eq!(
        lines[..4],
        [
            "bad value for -N",
            "unknown RTS option: -Q",
            "",
            "Usage: <prog> <args> [+RTS <rtsopts> | -RTS <args>] ... --RTS <args>"
        ]
    );
    assert!(!rts_core::hs_exit(), "the RTS was not started");
}

/// Set this thread's CPU affinity mask.
fn set_affinity(set: &libc::cpu_set_t) {
    // SAFETY: `set` is a valid cpu_set_t of the size passed; the call only reads it.
    let rc = unsafe { libc::sched_setaffinity(0, size_of_val(set), set) };
    assert_eq!(rc, 0, "sched_setaffinity");
}

#[test]
fn bare_n_is_the_number_of_processors_this_thread_may_run_on() {
    let _s = serial();
    // SAFETY: a zeroed cpu_set_t is a valid empty set; the calls read/write only `old`/`one`.
    let (old, one) = unsafe {
        let mut old: libc::cpu_set_t = std::mem::zeroed();
        assert_eq!(libc::sched_getaffinity(0, size_of_val(&old), &mut old), 0);
        let mut one: libc::cpu_set_t = std::mem::zeroed();
        let first = (0..libc::CPU_SETSIZE as usize)
            .find(|&c| libc::CPU_ISSET(c, &old))
            .expect("some CPU is allowed");
        libc::CPU_SET(first, &mut one);
        (old, one)
    };
    let all = number_of_processors();
    let mut argv = CArgv::new(&["prog", "+RTS", "-N", "-RTS"]);
    assert_eq!(argv.hs_init(), ["prog"]);
    let caps = rts_core::current().unwrap().n_capabilities();
    rts_core::hs_exit();
    assert_eq!(caps, all);
    // GHC's getNumberOfProcessors counts the affinity mask (GHC 9.0.2: `taskset -c 0 prog +RTS
    // -N -s` reports "using -N1"); so does rts-core's.
    set_affinity(&one);
    let mut argv = CArgv::new(&["prog", "+RTS", "-N", "-RTS"]);
    argv.hs_init();
    let pinned = rts_core::current().unwrap().n_capabilities();
    rts_core::hs_exit();
    set_affinity(&old);
    assert_eq!(pinned, 1);
}

#[test]
fn a_nested_hs_init_leaves_argv_alone_and_zero_or_null_argv_is_fine() {
    let _s = serial();
    let mut first = CArgv::new(&["prog", "+RTS", "-N1", "-RTS", "x"]);
    assert_eq!(first.hs_init(), ["prog", "x"]);
    // GHC's nested hs_init only counts: argv untouched, options not looked at (not even bad
    // ones; GHC 9.0.2 behaves the same).
    let mut nested = CArgv::new(&["inner", "+RTS", "-N2", "-N0", "-RTS"]);
    assert_eq!(nested.hs_init(), ["inner", "+RTS", "-N2", "-N0", "-RTS"]);
    assert_eq!(rts_core::current().unwrap().n_capabilities(), 1);
    // SAFETY: null argc/argv are allowed (GHC uses a dummy program name).
    unsafe { rts_core::ffi::hs_init(ptr::null_mut(), ptr::null_mut()) };
    assert!(rts_core::hs_exit() && rts_core::hs_exit() && rts_core::hs_exit());
    // argc 0: GHC writes the terminator over argv[0].
    let mut empty = CArgv::new(&["keep"]);
    let mut argc: c_int = 0;
    let mut argv = empty.ptrs.as_mut_ptr();
    // SAFETY: argv has at least argc + 1 slots.
    unsafe { rts_core::ffi::hs_init(&mut argc, &mut argv) };
    assert_eq!(argc, 0);
    assert!(empty.ptrs[0].is_null());
    assert!(rts_core::hs_exit());
}
