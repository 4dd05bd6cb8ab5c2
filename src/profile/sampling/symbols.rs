//! Symbols of the code mapped into this process: owns reading `/proc/self/maps`, the ELF symbol
//! tables (`.symtab` and `.dynsym`, with sizes) of every mapped file through the `object` crate,
//! each file's load bias, and looking an address up as `(file, function)`. An address inside a
//! file but outside every symbol's `[start, start + size)` is named `<file>+0x<offset>`, never
//! the nearest preceding symbol: a stripped library (Debian's `libHSrts_thr` keeps only
//! `.dynsym`) then shows as unnamed code, not as a wrong function.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use object::{Object, ObjectSegment, ObjectSymbol, SymbolKind};

/// One executable mapping of `/proc/self/maps`.
#[derive(Debug, Clone)]
struct Mapping {
    start: u64,
    end: u64,
    offset: u64,
    path: PathBuf,
}

/// A function symbol of one file, at its link-time address.
#[derive(Debug, Clone)]
struct Sym {
    addr: u64,
    size: u64,
    name: String,
}

/// One mapped ELF file's functions and where it is loaded.
#[derive(Debug)]
struct FileSyms {
    /// `runtime address - link-time address`.
    bias: u64,
    /// Sorted by address.
    syms: Vec<Sym>,
    /// `.symtab` was present (false: only `.dynsym`, a stripped file).
    has_symtab: bool,
}

/// What an address is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resolved {
    /// File name (last path component), `[kernel]`, or `[unknown]`.
    pub file: String,
    /// Demangled function name, or `<file>+0x<offset>` for unnamed code.
    pub function: String,
    /// Start of the function (runtime address) and its size, when named.
    pub range: Option<(u64, u64)>,
}

/// Symbols of every file mapped executable in this process when [`Symbolizer::new`] ran.
pub struct Symbolizer {
    maps: Vec<Mapping>,
    files: BTreeMap<PathBuf, Option<FileSyms>>,
}

impl Symbolizer {
    /// Read this process's executable mappings (symbol tables are read lazily, per file).
    pub fn new() -> std::io::Result<Symbolizer> {
        let text = std::fs::read_to_string("/proc/self/maps")?;
        Ok(Symbolizer {
            maps: parse_maps(&text),
            files: BTreeMap::new(),
        })
    }

    /// Names of the files whose symbol tables lack `.symtab` (stripped), among those looked up.
    pub fn stripped_files(&self) -> Vec<String> {
        self.files
            .iter()
            .filter(|(_, f)| f.as_ref().is_some_and(|f| !f.has_symtab))
            .map(|(p, _)| file_name(p))
            .collect()
    }

    /// The function containing `addr`.
    pub fn resolve(&mut self, addr: u64) -> Resolved {
        if addr >= 0xffff_8000_0000_0000 {
            return Resolved {
                file: "[kernel]".into(),
                function: "[kernel]".into(),
                range: None,
            };
        }
        let Some(m) = self
            .maps
            .iter()
            .find(|m| m.start <= addr && addr < m.end)
            .cloned()
        else {
            return Resolved {
                file: "[unknown]".into(),
                function: format!("[unknown]+0x{addr:x}"),
                range: None,
            };
        };
        let file = file_name(&m.path);
        let syms = self
            .files
            .entry(m.path.clone())
            .or_insert_with(|| load(&m).ok());
        let Some(fs) = syms else {
            return Resolved {
                function: format!("{file}+0x{:x}", addr - m.start + m.offset),
                file,
                range: None,
            };
        };
        let vaddr = addr.wrapping_sub(fs.bias);
        let i = fs.syms.partition_point(|s| s.addr <= vaddr);
        let hit = i.checked_sub(1).map(|k| &fs.syms[k]).filter(|s| {
            let end = if s.size > 0 {
                s.addr + s.size
            } else {
                fs.syms.get(i).map_or(u64::MAX, |n| n.addr)
            };
            vaddr < end
        });
        match hit {
            Some(s) => Resolved {
                function: s.name.clone(),
                range: Some((s.addr.wrapping_add(fs.bias), s.size)),
                file,
            },
            None => Resolved {
                function: format!("{file}+0x{vaddr:x}"),
                file,
                range: None,
            },
        }
    }

    /// Runtime address and size of the function named `name` in the file containing `near`
    /// (an address of that file), if its symbol table defines it.
    pub fn find_in_file_of(&mut self, near: u64, name: &str) -> Option<(u64, u64)> {
        let m = self
            .maps
            .iter()
            .find(|m| m.start <= near && near < m.end)?
            .clone();
        let fs = self
            .files
            .entry(m.path.clone())
            .or_insert_with(|| load(&m).ok())
            .as_ref()?;
        fs.syms
            .iter()
            .find(|s| s.name == name)
            .map(|s| (s.addr.wrapping_add(fs.bias), s.size))
    }

    /// Whether `[addr, addr + len)` lies inside one mapping of this process (any permissions
    /// readable: the mapping list holds executable and, for the GOT, data mappings).
    pub fn is_mapped(&self, addr: u64, len: u64) -> bool {
        self.maps
            .iter()
            .any(|m| m.start <= addr && addr.saturating_add(len) <= m.end)
    }
}

fn file_name(p: &Path) -> String {
    p.file_name().map_or_else(
        || p.display().to_string(),
        |n| n.to_string_lossy().into_owned(),
    )
}

/// Readable file-backed mappings of a `/proc/<pid>/maps` text.
fn parse_maps(text: &str) -> Vec<Mapping> {
    text.lines()
        .filter_map(|l| {
            let mut f = l.split_whitespace();
            let range = f.next()?;
            let perms = f.next()?;
            let offset = u64::from_str_radix(f.next()?, 16).ok()?;
            let _dev = f.next()?;
            let _inode = f.next()?;
            let path = f.next()?;
            if !perms.starts_with('r') || !(path.starts_with('/') || path == "[vdso]") {
                return None;
            }
            let (a, b) = range.split_once('-')?;
            Some(Mapping {
                start: u64::from_str_radix(a, 16).ok()?,
                end: u64::from_str_radix(b, 16).ok()?,
                offset,
                path: PathBuf::from(path),
            })
        })
        .collect()
}

/// The smallest page size a loader aligns segments to.
const PAGE: u64 = 4096;

/// Read `m.path`'s function symbols and the bias of the mapping `m`.
fn load(m: &Mapping) -> Result<FileSyms, String> {
    let data = std::fs::read(&m.path).map_err(|e| e.to_string())?;
    let obj = object::File::parse(&*data).map_err(|e| e.to_string())?;
    // The segment this mapping maps: the mapping's offset is the segment's file offset rounded
    // down to a page, so it may lie inside the segment before it; take the last segment whose
    // page-aligned start is at or before it.
    let seg = obj
        .segments()
        .filter(|s| {
            let (off, len) = s.file_range();
            off & !(PAGE - 1) <= m.offset && m.offset < off + len.max(1)
        })
        .max_by_key(|s| s.file_range().0)
        .ok_or("no segment maps that offset")?;
    let (seg_off, _) = seg.file_range();
    // runtime(o) = start + (o - map offset); link(o) = vaddr + (o - segment offset).
    let bias = m
        .start
        .wrapping_sub(m.offset)
        .wrapping_sub(seg.address())
        .wrapping_add(seg_off);
    let mut syms: Vec<Sym> = obj
        .symbols()
        .chain(obj.dynamic_symbols())
        .filter(|s| s.is_definition() && matches!(s.kind(), SymbolKind::Text | SymbolKind::Unknown))
        .filter(|s| s.address() != 0)
        .filter_map(|s| {
            let name = s.name().ok()?;
            (!name.is_empty()).then(|| Sym {
                addr: s.address(),
                size: s.size(),
                name: rustc_demangle::demangle(name).to_string(),
            })
        })
        .collect();
    syms.sort_by(|a, b| a.addr.cmp(&b.addr).then(b.size.cmp(&a.size)));
    syms.dedup_by(|b, a| a.addr == b.addr);
    Ok(FileSyms {
        bias,
        has_symtab: obj.symbols().next().is_some(),
        syms,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[inline(never)]
    #[unsafe(no_mangle)]
    extern "C" fn callin_bench_symbolizer_probe() -> u64 {
        std::hint::black_box(7)
    }

    #[test]
    fn maps_lines_parse() {
        let m = parse_maps(
            "55d0-55e0 r-xp 00001000 08:01 42 /usr/bin/x\n7f00-7f10 rw-p 00000000 00:00 0 \n",
        );
        assert_eq!(m.len(), 1);
        assert_eq!(
            (m[0].start, m[0].end, m[0].offset),
            (0x55d0, 0x55e0, 0x1000)
        );
    }

    #[test]
    fn a_function_of_this_binary_resolves_to_its_name() {
        let addr = callin_bench_symbolizer_probe as *const () as usize as u64;
        let mut s = Symbolizer::new().unwrap();
        let r = s.resolve(addr + 1);
        assert_eq!(r.function, "callin_bench_symbolizer_probe");
        let (start, size) = r.range.unwrap();
        assert_eq!(start, addr);
        assert!(size > 0);
        assert_eq!(
            s.find_in_file_of(addr, "callin_bench_symbolizer_probe"),
            Some((start, size))
        );
        assert_eq!(s.resolve(0xffff_ffff_8100_0000).function, "[kernel]");
    }
}
