//! The C API as a C program sees it: `tests/c/api.c` is compiled against `include/` with
//! warnings as errors and linked with `librts_core.a`, so every declaration in the headers must
//! match a symbol the library exports. Its modes check the calls' behaviour from C: results,
//! nested call-ins, `+RTS` options, and the failure paths through GHC's `exitFn`.

#[path = "c/support.rs"]
mod support;

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

/// `tests/c/api.c` built once per test binary; `None` (after a printed SKIP) without `cc`.
fn api_program() -> Option<&'static Path> {
    static EXE: OnceLock<Option<PathBuf>> = OnceLock::new();
    EXE.get_or_init(|| {
        if !support::tool("cc") {
            return None;
        }
        let dir = support::scratch_dir("c-api");
        let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/c/api.c");
        let exe = dir.join("api");
        support::build_c_program(&[&src], &exe);
        Some(exe)
    })
    .as_deref()
}

fn stderr_of(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn every_declared_call_links_and_works_from_c() {
    let Some(exe) = api_program() else { return };
    for policy in ["default", "ghc"] {
        let opt = format!("--policy={policy}");
        let out = support::run(exe, &["surface", "+RTS", "-N2", "-A64k", &opt, "-RTS"]);
        assert!(
            out.status.success(),
            "policy {policy}: {}",
            support::show(&out)
        );
        assert_eq!(
            String::from_utf8_lossy(&out.stdout),
            "ok\n",
            "policy {policy}"
        );
    }
}

#[test]
fn uncaught_exception_in_the_body_exits_1_through_exit_fn() {
    let Some(exe) = api_program() else { return };
    let out = support::run(exe, &["throw", "+RTS", "-N1", "-RTS"]);
    let err = stderr_of(&out);
    assert_eq!(out.status.code(), Some(1), "{}", support::show(&out));
    assert!(
        err.contains("throw_c_function: uncaught exception: boom from C"),
        "GHC's message names the site and the exception: {err}"
    );
    assert!(err.contains("exitFn(1)"), "exitFn ran with the code: {err}");
    assert!(!err.contains("not reached"), "{err}");
}

#[test]
fn heap_exhausted_body_exits_251_through_exit_fn() {
    let Some(exe) = api_program() else { return };
    let out = support::run(exe, &["heap", "+RTS", "-N1", "-A64k", "-RTS"]);
    let err = stderr_of(&out);
    assert_eq!(out.status.code(), Some(251), "{}", support::show(&out));
    assert!(
        err.contains("hog_c_function: Return code (4) not ok (heap exhausted)"),
        "{err}"
    );
    assert!(
        err.contains("exitFn(251)"),
        "exitFn ran with the code: {err}"
    );
}

#[test]
fn bad_rts_option_is_named_in_the_error() {
    let Some(exe) = api_program() else { return };
    let out = support::run(exe, &["surface", "+RTS", "-Nlots", "-RTS"]);
    let err = stderr_of(&out);
    assert!(!out.status.success(), "{}", support::show(&out));
    assert!(
        err.contains("bad value for -N\n"),
        "GHC's message for the option: {err}"
    );
    assert_eq!(out.status.code(), Some(1), "{}", support::show(&out));
}
