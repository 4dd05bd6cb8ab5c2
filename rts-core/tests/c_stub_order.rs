//! The compiled stub's object code (`stub/c_function.c`, compiled by build.rs): its calls come in
//! the order of the stub GHC generates for `foreign export ccall` (`mkFExportCBits`), and its
//! `.init_array` entry is the constructor that calls `registerForeignExports`.

#[path = "c/support.rs"]
mod support;

use std::process::Command;

/// The order of GHC's generated stub: C evaluates the nested arguments of `rts_inCall` inner
/// first (`rts_mkInt`, then the inner `rts_apply`, then the outer one).
const GHC_STUB_ORDER: [&str; 8] = [
    "rts_lock",
    "rts_mkInt",
    "rts_apply",
    "rts_apply",
    "rts_inCall",
    "rts_checkSchedStatus",
    "rts_getInt",
    "rts_unlock",
];

fn objdump(args: &[&str], obj: &str) -> String {
    let out = Command::new("objdump")
        .args(args)
        .arg(obj)
        .output()
        .expect("objdump runs");
    assert!(out.status.success(), "objdump {args:?} {obj}");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The targets of the call relocations (`R_X86_64_PLT32`, calls and tail-call jumps) in `func`,
/// in address order.
fn calls_in(obj: &str, func: &str) -> Vec<String> {
    let text = objdump(&["-dr", "--no-show-raw-insn"], obj);
    let body = text
        .split(&format!("<{func}>:\n"))
        .nth(1)
        .unwrap_or_else(|| panic!("no function {func} in {obj}"));
    let body = body.split("\n\n").next().unwrap_or(body);
    body.lines()
        .filter(|l| l.contains("R_X86_64_PLT32"))
        .filter_map(|l| l.split_whitespace().last())
        .map(|s| s.split(['-', '+']).next().unwrap_or(s).to_owned())
        .collect()
}

/// The functions the `.init_array` entries point at. A relocation names either the symbol or
/// `section[+0xoffset]`; the latter is resolved through the symbol table.
fn init_array_targets(obj: &str) -> Vec<String> {
    let relocs = objdump(&["-r", "-j", ".init_array"], obj);
    let symbols = objdump(&["-t"], obj);
    relocs
        .lines()
        .filter(|l| l.contains("R_X86_64_64"))
        .filter_map(|l| l.split_whitespace().last())
        .map(|target| resolve(&symbols, target))
        .collect()
}

fn resolve(symbols: &str, target: &str) -> String {
    let (section, offset) = match target.split_once('+') {
        Some((s, off)) => (
            s,
            u64::from_str_radix(off.trim_start_matches("0x"), 16).unwrap(),
        ),
        None => (target, 0),
    };
    // `objdump -t` rows: VALUE FLAGS... SECTION SIZE NAME; functions carry the flag `F`.
    symbols
        .lines()
        .filter(|l| l.contains(" F "))
        .find_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            let (value, sec, name) = (f[0], f[f.len() - 3], f[f.len() - 1]);
            let at = u64::from_str_radix(value, 16).ok()?;
            (name == target || (sec == section && at == offset)).then(|| name.to_owned())
        })
        .unwrap_or_else(|| target.to_owned())
}

#[test]
#[cfg_attr(not(target_arch = "x86_64"), ignore = "relocation names are x86-64's")]
fn c_function_calls_the_rts_in_the_order_of_ghcs_stub() {
    if !support::tool("objdump") {
        return;
    }
    let obj = env!("RTSCORE_STUB_OBJECT");
    let calls = calls_in(obj, "c_function");
    eprintln!("c_function call relocations in {obj}: {calls:?}");
    assert_eq!(
        calls, GHC_STUB_ORDER,
        "call relocations of c_function in {obj}"
    );
}

#[test]
#[cfg_attr(not(target_arch = "x86_64"), ignore = "relocation names are x86-64's")]
fn init_array_constructor_registers_the_export() {
    if !support::tool("objdump") {
        return;
    }
    let obj = env!("RTSCORE_STUB_OBJECT");
    let ctors = init_array_targets(obj);
    assert_eq!(ctors, ["stginit_export_Export"], ".init_array of {obj}");
    assert_eq!(
        calls_in(obj, "stginit_export_Export"),
        ["registerForeignExports"],
        "the constructor's calls"
    );
}
