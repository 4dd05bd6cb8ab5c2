//! The compiled C stub (`stub/c_function.c`): results from several threads, the call order in
//! its object code, and GHC's own generated stub compiled against `include/`.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::start;
use rts_core::PolicySet;

#[test]
fn compiled_stub_returns_x_plus_one_from_1_2_and_8_threads() {
    let f = rts_core::stub::c_function();
    for p in [PolicySet::lockfree(), PolicySet::ghc()] {
        let _rts = start(2, p);
        for threads in [1i64, 2, 8] {
            let hs: Vec<_> = (0..threads)
                .map(|t| {
                    std::thread::spawn(move || {
                        (0..5_000).all(|i| {
                            // SAFETY: the stub may be called from any thread once the RTS runs.
                            unsafe { f(t << 32 | i) == (t << 32 | i) + 1 }
                        })
                    })
                })
                .collect();
            assert!(
                hs.into_iter().all(|h| h.join().unwrap()),
                "{threads} threads, policy {p}"
            );
        }
    }
}

fn tool(name: &str) -> bool {
    let ok = Command::new(name)
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !ok {
        eprintln!("SKIP: `{name}` is not installed (scripts/test.sh installs it with apt-get)");
    }
    ok
}

/// The targets of the calls (PLT32 relocations) in `func`, in order.
fn calls_in(obj: &str, func: &str) -> Vec<String> {
    let out = Command::new("objdump")
        .args(["-dr", "--no-show-raw-insn", obj])
        .output()
        .expect("objdump runs");
    let text = String::from_utf8_lossy(&out.stdout);
    let body = text
        .split(&format!("<{func}>:"))
        .nth(1)
        .expect("function in object");
    let body = body.split("\n\n").next().unwrap_or(body);
    body.lines()
        .filter(|l| l.contains("R_X86_64_PLT32"))
        .filter_map(|l| l.split_whitespace().last())
        .map(|s| s.split(['-', '+']).next().unwrap_or(s).to_owned())
        .collect()
}

#[test]
#[cfg_attr(not(target_arch = "x86_64"), ignore)]
fn stub_object_calls_in_the_seeds_order() {
    if !tool("objdump") {
        return;
    }
    let obj = env!("RTSCORE_STUB_OBJECT");
    let calls = calls_in(obj, "c_function");
    let expected = [
        "rts_lock",
        "rts_mkInt",
        "rts_apply",
        "rts_apply",
        "rts_inCall",
        "rts_checkSchedStatus",
        "rts_getInt",
        "rts_unlock",
    ];
    assert_eq!(calls, expected, "call relocations of c_function in {obj}");
    let init = Command::new("objdump")
        .args(["-r", "-j", ".init_array", obj])
        .output()
        .unwrap();
    assert!(
        String::from_utf8_lossy(&init.stdout).contains("R_X86_64_64"),
        ".init_array holds the constructor"
    );
    assert_eq!(
        calls_in(obj, "stginit_export_Export"),
        ["registerForeignExports"]
    );
}

const FUN_HS: &str = "module Fun where\nfoo :: Int -> IO Int\nfoo x = return (x + 1)\n";
const EXPORT_HS: &str = "{-# LANGUAGE ForeignFunctionInterface #-}\nmodule GhcExport where\nimport Fun (foo)\nforeign export ccall \"ghc_c_function\" foo :: Int -> IO Int\n";
const MAIN_C: &str = r#"
#include <pthread.h>
#include <stdio.h>
#include "RtsCoreExport.h"
HsInt ghc_c_function(HsInt);
static HsInt foo_impl(HsInt x) { return x + 1; }
RTSCORE_DEFINE_IO_INT_FUN(GhcExport_zdfstableZZC0ZZCmainZZCGhcExportZZCfoo_closure, foo_impl);
static void *worker(void *arg) {
    long base = (long)arg, bad = 0;
    for (long i = 0; i < 20000; i++) if (ghc_c_function(base + i) != base + i + 1) bad++;
    return (void *)bad;
}
int main(int argc, char **argv) {
    hs_init(&argc, &argv);
    pthread_t t[2]; long bad = 0;
    for (long i = 0; i < 2; i++) pthread_create(&t[i], 0, worker, (void *)(i << 32));
    for (int i = 0; i < 2; i++) { void *r; pthread_join(t[i], &r); bad += (long)r; }
    hs_exit();
    printf("wrong=%ld\n", bad);
    return bad != 0;
}
"#;

fn target_dir() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    exe.ancestors()
        .find(|p| {
            p.join("librts_core.a").exists() || p.ends_with("debug") || p.ends_with("release")
        })
        .unwrap()
        .to_path_buf()
}

fn build_staticlib() -> PathBuf {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let st = Command::new(cargo)
        .args(["build", "-q", "-p", "rts-core", "--lib"])
        .status()
        .expect("cargo runs");
    assert!(st.success(), "building librts_core.a");
    let lib = target_dir().join("librts_core.a");
    assert!(lib.exists(), "{} exists", lib.display());
    lib
}

/// GHC 9.0.2 writes the stub with `rts_evalIO`; GHC 9.2+ writes the same text with `rts_inCall`
/// (GHC-CALLIN.md §0.1), so the 9.2+ form is derived by that one substitution.
#[test]
fn ghc_generated_stub_compiles_unmodified_and_runs_on_rts_core() {
    if !tool("ghc") || !tool("cc") {
        return;
    }
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("ghc-stub");
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(dir.join("tmp")).unwrap();
    std::fs::write(dir.join("Fun.hs"), FUN_HS).unwrap();
    std::fs::write(dir.join("GhcExport.hs"), EXPORT_HS).unwrap();
    let st = Command::new("ghc")
        .current_dir(&dir)
        .args([
            "-c",
            "-keep-tmp-files",
            "-tmpdir",
            "tmp",
            "Fun.hs",
            "GhcExport.hs",
        ])
        .output()
        .unwrap();
    assert!(
        st.status.success(),
        "ghc: {}",
        String::from_utf8_lossy(&st.stderr)
    );
    let stub = walk(&dir.join("tmp"))
        .into_iter()
        .find(|p| {
            p.extension().is_some_and(|e| e == "c")
                && std::fs::read_to_string(p)
                    .unwrap()
                    .contains("ghc_c_function")
        })
        .expect("GHC left its generated stub in the tmp dir");
    let text90 = std::fs::read_to_string(&stub).unwrap();
    assert!(text90.contains("rts_evalIO(&cap"), "GHC 9.0 stub form");
    let lib = build_staticlib();
    let inc = Path::new(env!("CARGO_MANIFEST_DIR")).join("include");
    for (form, text) in [
        ("ghc90", text90.clone()),
        ("ghc92", text90.replace("rts_evalIO(", "rts_inCall(")),
    ] {
        let src = dir.join(format!("stub_{form}.c"));
        std::fs::write(&src, text).unwrap();
        std::fs::write(dir.join("main.c"), MAIN_C).unwrap();
        let exe = dir.join(format!("prog_{form}"));
        let cc = Command::new("cc")
            .arg("-I")
            .arg(&inc)
            .arg(&src)
            .arg(dir.join("main.c"))
            .arg(&lib)
            .args(["-lpthread", "-ldl", "-lm", "-lgcc_s", "-o"])
            .arg(&exe)
            .output()
            .unwrap();
        assert!(
            cc.status.success(),
            "{form}: cc: {}",
            String::from_utf8_lossy(&cc.stderr)
        );
        let run = Command::new(&exe).output().unwrap();
        assert!(
            run.status.success(),
            "{form}: {}",
            String::from_utf8_lossy(&run.stderr)
        );
        assert_eq!(
            String::from_utf8_lossy(&run.stdout).trim(),
            "wrong=0",
            "{form}"
        );
    }
}

fn walk(d: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(d).into_iter().flatten().flatten() {
        let p = e.path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else {
            out.push(p);
        }
    }
    out
}
