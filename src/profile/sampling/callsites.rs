//! The C API call sites of a compiled `c_function`: owns finding, in this process's memory, every
//! `call` instruction of the stub that reaches one of GHC's C API functions (directly, through a
//! PLT entry, or through a GOT slot), and the return address each pushes. A return address of
//! `c_function` found on a sampled thread's stack says which C API call the thread is inside,
//! however deep, whatever the callee's symbols: this is how a sample is attributed to its phase
//! group without frame pointers or unwind tables (the stub GHC generates and GHC's RTS are built
//! without frame pointers, and Debian strips the RTS's own symbols).
//!
//! Decoding is by pattern, not by a disassembler: an `E8 rel32` (or `FF 15 disp32`) whose
//! resolved target is exactly one of the API functions' addresses. A byte pattern that only
//! looks like a call would have to land on one of seven addresses by chance; [`find`] also
//! checks the count of sites per function against the stub's shape (`rts_apply` twice, every
//! other function once) and fails otherwise, so a miss is an error, not a silent attribution.

use callin_vocab::PhaseGroup;

use super::symbols::Symbolizer;

/// One call of a C API function from `c_function`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallSite {
    /// Address of the instruction after the call: what the call pushes.
    pub return_addr: u64,
    /// Address of the call instruction.
    pub call_addr: u64,
    /// The C API function called.
    pub function: String,
    pub group: PhaseGroup,
}

/// Every API call site of one `c_function`, in address order.
#[derive(Debug, Clone)]
pub struct CallSites {
    /// Start and size of `c_function`.
    pub function_range: (u64, u64),
    pub sites: Vec<CallSite>,
}

impl CallSites {
    /// The call site whose return address is `addr`.
    pub fn by_return_addr(&self, addr: u64) -> Option<&CallSite> {
        self.sites.iter().find(|s| s.return_addr == addr)
    }

    /// For an instruction pointer inside `c_function` itself: the group of the API call that
    /// follows it (the stub's code between two calls belongs to the next call, as in the API
    /// spans, Note [contiguous API spans]); `None` before the first call's span starts or after
    /// the last call returned (the stub's prologue and epilogue are outside every span).
    pub fn glue_group(&self, ip: u64) -> Option<PhaseGroup> {
        let (start, size) = self.function_range;
        if ip < start || ip >= start + size {
            return None;
        }
        let first = self.sites.first()?;
        if ip <= first.call_addr {
            return None;
        }
        self.sites
            .iter()
            .find(|s| ip <= s.call_addr)
            .map(|s| s.group)
    }
}

/// Calls of each group the stub GHC generates makes (`rts_apply` twice, the rest once).
pub fn expected_calls(group: PhaseGroup) -> usize {
    if group == PhaseGroup::Apply { 2 } else { 1 }
}

/// The call sites in the `c_function` at `c_function` (an address of this process) of the
/// functions `names`, each function's runtime address given by `address_of` (with this
/// process's symbols at hand).
pub fn find_in_process(
    c_function: u64,
    names: &[&str],
    mut address_of: impl FnMut(&mut Symbolizer, &str) -> anyhow::Result<u64>,
) -> anyhow::Result<CallSites> {
    let mut syms = Symbolizer::new()?;
    let range = syms
        .resolve(c_function)
        .range
        .ok_or_else(|| anyhow::anyhow!("c_function has no symbol with a size"))?;
    let targets = names
        .iter()
        .map(|&n| Ok((n.to_owned(), address_of(&mut syms, n)?)))
        .collect::<anyhow::Result<Vec<_>>>()?;
    find(&syms, range, &targets)
}

/// Find the call sites in `c_function` (`range`) of the functions `targets` (name, runtime
/// address). Every memory read is checked against the process's mappings first.
pub fn find(
    syms: &Symbolizer,
    range: (u64, u64),
    targets: &[(String, u64)],
) -> anyhow::Result<CallSites> {
    let (start, size) = range;
    anyhow::ensure!(
        size >= 5 && syms.is_mapped(start, size),
        "c_function at 0x{start:x} (+{size}) is not mapped or too small"
    );
    let code = read(start, size as usize);
    let mut sites = Vec::new();
    for i in 0..code.len().saturating_sub(4) {
        let Some((target, len)) = decode_call(syms, &code, i, start) else {
            continue;
        };
        let resolved = resolve_plt(syms, target).unwrap_or(target);
        if let Some((name, _)) = targets.iter().find(|(_, a)| *a == resolved || *a == target) {
            let group = PhaseGroup::of_c_function(name)
                .ok_or_else(|| anyhow::anyhow!("{name} is not a C API function of a group"))?;
            sites.push(CallSite {
                return_addr: start + (i + len) as u64,
                call_addr: start + i as u64,
                function: name.clone(),
                group,
            });
        }
    }
    for (name, _) in targets {
        let group = PhaseGroup::of_c_function(name)
            .ok_or_else(|| anyhow::anyhow!("{name} is not a C API function of a group"))?;
        let n = sites.iter().filter(|s| &s.function == name).count();
        anyhow::ensure!(
            n == expected_calls(group),
            "found {n} calls of {name} in c_function, expected {}: the call-site scan does not \
             understand this stub",
            expected_calls(group)
        );
    }
    Ok(CallSites {
        function_range: range,
        sites,
    })
}

/// Copy `len` bytes of mapped memory at `addr`.
fn read(addr: u64, len: usize) -> Vec<u8> {
    // SAFETY: every caller checked with `Symbolizer::is_mapped` that the range lies inside one
    // readable mapping of this process; code and relro pages are not unmapped while we run.
    unsafe { std::slice::from_raw_parts(addr as usize as *const u8, len) }.to_vec()
}

fn rel32(code: &[u8], at: usize) -> Option<i64> {
    let b: [u8; 4] = code.get(at..at + 4)?.try_into().ok()?;
    Some(i64::from(i32::from_le_bytes(b)))
}

/// A call at `code[i]` (`E8 rel32`, or `FF 15 disp32` through a GOT slot): its target and length.
fn decode_call(syms: &Symbolizer, code: &[u8], i: usize, base: u64) -> Option<(u64, usize)> {
    let pc = base + i as u64;
    match code.get(i..i + 2)? {
        [0xE8, _] => Some(((pc as i64 + 5 + rel32(code, i + 1)?) as u64, 5)),
        [0xFF, 0x15] => {
            let slot = (pc as i64 + 6 + rel32(code, i + 2)?) as u64;
            Some((read_slot(syms, slot)?, 6))
        }
        _ => None,
    }
}

fn read_slot(syms: &Symbolizer, slot: u64) -> Option<u64> {
    if !syms.is_mapped(slot, 8) {
        return None;
    }
    let b: [u8; 8] = read(slot, 8).try_into().ok()?;
    Some(u64::from_le_bytes(b))
}

/// If `target` is a PLT entry (`[endbr64] [bnd] jmp *disp32(%rip)`), the address its GOT slot
/// holds (resolved: the library was opened with `RTLD_NOW`).
fn resolve_plt(syms: &Symbolizer, target: u64) -> Option<u64> {
    if !syms.is_mapped(target, 16) {
        return None;
    }
    let code = read(target, 16);
    let mut i = 0;
    if code.starts_with(&[0xF3, 0x0F, 0x1E, 0xFA]) {
        i = 4;
    }
    if code.get(i) == Some(&0xF2) {
        i += 1;
    }
    if code.get(i..i + 2) != Some(&[0xFF, 0x25]) {
        return None;
    }
    let slot = (target as i64 + i as i64 + 6 + rel32(&code, i + 2)?) as u64;
    read_slot(syms, slot)
}
