//! Shared helpers for the tests that build C programs against `include/` and `librts_core.a`:
//! tool checks that skip with a printed reason, the static library, its native link flags, and
//! compiling and running a C program under `CARGO_TARGET_TMPDIR`.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;

#[path = "../common/skip.rs"]
mod skip;
pub use skip::skip;

/// Whether `name` runs; prints `SKIP: ...` naming the tool when it does not.
pub fn tool(name: &str) -> bool {
    let ok = Command::new(name)
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !ok {
        skip(&format!(
            "`{name}` is not installed (scripts/setup.sh installs it with apt-get)"
        ));
    }
    ok
}

/// `tests/c/<name>` copied into `dir`, for `ghc`, which writes a C file's object beside it
/// (not under `-outputdir`): generated files stay under the target dir.
pub fn c_source_in(dir: &Path, name: &str) -> PathBuf {
    let src = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/c")
        .join(name);
    let copy = dir.join(name);
    std::fs::copy(&src, &copy).unwrap_or_else(|e| panic!("copying {}: {e}", src.display()));
    copy
}

/// The Haskell program of the GHC baseline (`ghc/` at the top of the repository): `Fun.hs`
/// (`foo x = return (x + 1)`) and `Export.hs` (`foreign export ccall "c_function" foo`).
pub fn haskell_program() -> [PathBuf; 2] {
    let ghc = Path::new(env!("CARGO_MANIFEST_DIR")).join("../ghc");
    [ghc.join("Fun.hs"), ghc.join("Export.hs")]
}

/// `rts-core/include`.
pub fn include_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("include")
}

/// A fresh scratch directory under the target dir (`target/tmp/<name>`).
pub fn scratch_dir(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("creating {}: {e}", dir.display()));
    dir
}

/// The profile directory this test executable runs from (`target/<profile>`).
fn profile_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("test executable path");
    // Test executables live in `target/<profile>/deps/`.
    exe.parent()
        .and_then(Path::parent)
        .expect("test executable is in target/<profile>/deps")
        .to_path_buf()
}

/// `librts_core.a` for this profile, built once per test binary with `cargo build -p rts-core
/// --lib` (a `cargo test` run builds rts-core as an rlib for the tests, not always the staticlib).
pub fn staticlib() -> &'static Path {
    static LIB: OnceLock<PathBuf> = OnceLock::new();
    LIB.get_or_init(|| {
        let dir = profile_dir();
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let mut cmd = Command::new(cargo);
        cmd.args(["build", "-q", "-p", "rts-core", "--lib"]);
        if dir.ends_with("release") {
            cmd.arg("--release");
        }
        let st = cmd.status().expect("cargo runs");
        assert!(st.success(), "cargo build -p rts-core --lib failed");
        let lib = dir.join("librts_core.a");
        assert!(lib.exists(), "{} was not built", lib.display());
        lib
    })
}

/// The system libraries a Rust staticlib needs on this target (`-lgcc_s -lpthread ...`), as
/// rustc reports them for an empty staticlib (`--print native-static-libs`). rts-core links no
/// native library of its own, so std's list is the whole list.
pub fn native_static_libs() -> &'static [String] {
    static LIBS: OnceLock<Vec<String>> = OnceLock::new();
    LIBS.get_or_init(|| {
        let dir = scratch_dir("native-static-libs");
        let src = dir.join("empty.rs");
        std::fs::write(&src, "").unwrap();
        let rustc = std::env::var("RUSTC").unwrap_or_else(|_| "rustc".into());
        let out = Command::new(rustc)
            .args(["--crate-type", "staticlib", "--crate-name", "probe"])
            .arg("--print")
            .arg("native-static-libs")
            .arg("-o")
            .arg(dir.join("libprobe.a"))
            .arg(&src)
            .output()
            .expect("rustc runs");
        let text = String::from_utf8_lossy(&out.stderr);
        let line = text
            .lines()
            .find_map(|l| l.split("native-static-libs:").nth(1))
            .unwrap_or_else(|| panic!("rustc printed no native-static-libs note: {text}"));
        line.split_whitespace().map(str::to_owned).collect()
    })
}

/// Compile and link `sources` with `-I include`, warnings as errors (an undeclared function is
/// an error, not an implicit declaration), against `librts_core.a`.
pub fn build_c_program(sources: &[&Path], exe: &Path) {
    let out = Command::new("cc")
        .args([
            "-std=gnu11",
            "-O1",
            "-Wall",
            "-Wextra",
            "-Werror",
            "-pthread",
        ])
        .arg("-I")
        .arg(include_dir())
        .args(sources)
        .arg(staticlib())
        .args(native_static_libs())
        .arg("-o")
        .arg(exe)
        .output()
        .expect("cc runs");
    assert!(
        out.status.success(),
        "cc {sources:?}:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Run `exe` with `args`; returns its output (never panics on a non-zero exit).
pub fn run(exe: &Path, args: &[&str]) -> Output {
    Command::new(exe)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("running {}: {e}", exe.display()))
}

/// `stdout` and `stderr` of `out` for assertion messages.
pub fn show(out: &Output) -> String {
    format!(
        "status {:?}\n--- stdout\n{}--- stderr\n{}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}
