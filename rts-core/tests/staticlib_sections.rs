//! The info table C programs link against (`rtscore_fun_io_int_info`) is read-only data in
//! `librts_core.a`, like GHC's info tables: `.rodata` or `.data.rel.ro` (relocated at load
//! time, then read-only under RELRO), never writable `.data`.

#[path = "c/support.rs"]
mod support;

use std::process::Command;

/// The section `objdump -t` gives the definition of `symbol` in `lib`.
fn section_of(lib: &std::path::Path, symbol: &str) -> String {
    let out = Command::new("objdump")
        .arg("-t")
        .arg(lib)
        .output()
        .expect("objdump runs");
    assert!(out.status.success(), "objdump: {}", support::show(&out));
    let table = String::from_utf8_lossy(&out.stdout);
    // A definition: `<addr> g     O <section>\t<size> <name>` (undefined uses say *UND*).
    let line = table
        .lines()
        .find(|l| l.ends_with(&format!(" {symbol}")) && !l.contains("*UND*"))
        .unwrap_or_else(|| panic!("{symbol} is not defined in {}", lib.display()));
    let fields: Vec<&str> = line.split_whitespace().collect();
    fields[fields.len() - 3].to_owned()
}

#[test]
fn the_exported_info_table_is_read_only() {
    if !support::tool("objdump") {
        return;
    }
    let section = section_of(support::staticlib(), "rtscore_fun_io_int_info");
    assert!(
        section.starts_with(".rodata") || section.starts_with(".data.rel.ro"),
        "rtscore_fun_io_int_info is in {section}, a writable section"
    );
}
