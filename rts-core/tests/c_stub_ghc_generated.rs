//! The stub GHC itself generates for `foreign export ccall`, compiled unmodified against
//! `include/` and linked with `librts_core.a`: both the GHC 9.0 form (`rts_evalIO`, what the
//! installed ghc 9.0.2 writes) and the 9.2+ form (`rts_inCall`).
//!
//! GHC 9.2's stub generator (`mkFExportCBits`) changed exactly one thing: it calls `rts_inCall`
//! where 9.0 calls `rts_evalIO` (GHC commit 50e9df49b7). The 9.2+ form is therefore derived
//! from 9.0.2's output by that one substitution; everything else is GHC's text, byte for byte.
//! GHC's output is generated at test time under `target/tmp/ghc-stub/` and never committed.
//! The Haskell program is the baseline's (`ghc/`), with the export renamed.

#[path = "c/support.rs"]
mod support;

use std::path::{Path, PathBuf};
use std::process::Command;

/// The closure symbol GHC's stub references for `foo` in module `GhcExport`.
const FOO_STABLE_CLOSURE: &str = "GhcExport_zdfstableZZC0ZZCmainZZCGhcExportZZCfoo_closure";

/// `ghc/Export.hs` as module `GhcExport` exporting `ghc_c_function`: the names must differ from
/// `stub/c_function.c`'s (`Export`, `c_function`), which `librts_core.a` already defines.
fn renamed_export(export_hs: &str) -> String {
    let renamed = export_hs
        .replace("module Export ", "module GhcExport ")
        .replace("\"c_function\"", "\"ghc_c_function\"");
    assert!(
        renamed.contains("module GhcExport ") && renamed.contains("\"ghc_c_function\""),
        "ghc/Export.hs no longer declares `module Export` exporting \"c_function\": {export_hs}"
    );
    renamed
}

/// Compile the two modules with ghc, keeping its temporary files; return the stub's text.
fn ghc_generated_stub(dir: &Path) -> String {
    let tmp = dir.join("tmp");
    std::fs::create_dir_all(&tmp).unwrap();
    let [fun_hs, export_hs] = support::haskell_program();
    std::fs::copy(&fun_hs, dir.join("Fun.hs")).unwrap();
    let export_hs = std::fs::read_to_string(&export_hs).unwrap();
    std::fs::write(dir.join("GhcExport.hs"), renamed_export(&export_hs)).unwrap();
    let out = Command::new("ghc")
        .current_dir(dir)
        .args([
            "-c",
            "-keep-tmp-files",
            "-tmpdir",
            "tmp",
            "Fun.hs",
            "GhcExport.hs",
        ])
        .output()
        .expect("ghc runs");
    assert!(out.status.success(), "ghc -c: {}", support::show(&out));
    let stub = files_under(&tmp)
        .into_iter()
        .filter(|p| p.extension().is_some_and(|e| e == "c"))
        .find(|p| std::fs::read_to_string(p).is_ok_and(|t| t.contains("ghc_c_function")))
        .unwrap_or_else(|| panic!("ghc left no generated stub (*.c) in {}", tmp.display()));
    eprintln!("GHC's generated stub: {}", stub.display());
    std::fs::read_to_string(stub).unwrap()
}

fn files_under(d: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(d).into_iter().flatten().flatten() {
        let p = e.path();
        if p.is_dir() {
            out.extend(files_under(&p));
        } else {
            out.push(p);
        }
    }
    out
}

/// A C main that supplies foo's closure (GHC would compile it from Fun.hs), starts the RTS and
/// calls the GHC-generated `ghc_c_function` from two pthreads.
fn main_c() -> String {
    format!(
        r#"#include <pthread.h>
#include <stdio.h>
#include "RtsCoreExport.h"

HsInt ghc_c_function(HsInt);

static HsInt foo_impl(HsInt x) {{ return x + 1; }}
RTSCORE_DEFINE_IO_INT_FUN({FOO_STABLE_CLOSURE}, foo_impl);

static void *worker(void *arg) {{
    HsInt base = (HsInt)(intptr_t)arg, wrong = 0;
    for (HsInt i = -300; i < 20000; i++)
        if (ghc_c_function(base + i) != base + i + 1) wrong++;
    return (void *)(intptr_t)wrong;
}}

int main(int argc, char **argv) {{
    hs_init(&argc, &argv);
    pthread_t t[2];
    long wrong = 0;
    for (intptr_t i = 0; i < 2; i++) pthread_create(&t[i], NULL, worker, (void *)(i << 32));
    for (int i = 0; i < 2; i++) {{ void *r; pthread_join(t[i], &r); wrong += (long)(intptr_t)r; }}
    hs_exit();
    printf("calls=%d wrong=%ld\n", 2 * 20300, wrong);
    return wrong != 0;
}}
"#
    )
}

#[test]
fn ghc_generated_stub_compiles_unmodified_and_returns_x_plus_one() {
    if !support::tool("ghc") || !support::tool("cc") {
        return;
    }
    let dir = support::scratch_dir("ghc-stub");
    let text90 = ghc_generated_stub(&dir);
    assert!(text90.contains("rts_evalIO(&cap"), "GHC 9.0 form: {text90}");
    assert!(
        text90.contains(FOO_STABLE_CLOSURE),
        "stub references {FOO_STABLE_CLOSURE}"
    );
    let text92 = text90.replace("rts_evalIO(", "rts_inCall(");
    assert!(!text92.contains("rts_evalIO") && text92.contains("rts_inCall(&cap"));
    let main = dir.join("main.c");
    std::fs::write(&main, main_c()).unwrap();
    for (form, text) in [("ghc90_rts_evalIO", text90), ("ghc92_rts_inCall", text92)] {
        let stub = dir.join(format!("stub_{form}.c"));
        std::fs::write(&stub, text).unwrap();
        let exe = dir.join(format!("prog_{form}"));
        support::build_c_program(&[&stub, &main], &exe);
        let out = support::run(&exe, &[]);
        assert!(out.status.success(), "{form}: {}", support::show(&out));
        assert_eq!(
            String::from_utf8_lossy(&out.stdout).trim(),
            "calls=40600 wrong=0",
            "{form}"
        );
    }
}
