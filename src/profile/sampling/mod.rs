//! Statistical sampling of the call-in with nothing on the call path: owns sampling the driver
//! threads with perf events (`cycles` where a PMU exists, else the `cpu-clock` software timer;
//! the result says which and why), attributing every sample to a phase group, and the per-group
//! shares with their binomial error.
//!
//! Attribution, in order (each sample counts once, under the first rule that decides it):
//! 1. **call chain** — a return address of one of `c_function`'s C API calls on the sampled
//!    thread's user stack (a copy of its top [`STACK_BYTES`] bytes taken by the kernel with the
//!    sample, `PERF_SAMPLE_STACK_USER`) names the API call the thread is inside, however deep
//!    and in whatever code (GHC's RTS, libc's `pthread_mutex_lock`, the kernel's futex path):
//!    see [`callsites`]. The highest such address on the stack is the outermost live call;
//! 2. **stub glue** — an instruction pointer inside `c_function` itself belongs to the API call
//!    that follows it, as in the API spans;
//! 3. **table** — the leaf function's name through the system's table ([`table`]), for samples
//!    whose stack copy holds no API return address (a stack deeper than the copy);
//! 4. otherwise the sample is **other**, listed by its top leaf functions, never dropped.
//!
//! The sampled threads run the plain call: for the real GHC the unwrapped baseline library, for
//! rts-core a binary built without the `probes` feature (the sampling child checks
//! `cfg!(feature = "probes")` and refuses otherwise). The kernel copies the stack at each
//! sample's interrupt, outside the call's own instructions; at [`FREQUENCY_HZ`] that costs the
//! sampled thread one [`STACK_BYTES`] copy every 250 µs.

pub mod callsites;
pub mod symbols;
pub mod table;

use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use callin_vocab::{PhaseGroup, System};
use perf_event::events::{Hardware, Software};
use perf_event::{Builder, SampleFlag, Sampler};
use serde::{Deserialize, Serialize};

use crate::driver::RunHooks;
use crate::profile::counters::describe_open_error;
use callsites::CallSites;
use symbols::Symbolizer;

/// Samples per second per thread (perf's frequency mode).
pub const FREQUENCY_HZ: u64 = 4_000;

/// Bytes of user stack copied with each sample. GHC's `StgRun` reserves 16 KiB of C stack
/// below its caller for the code it runs (`RESERVED_C_STACK_BYTES`, rts/StgRun.c), so a sample
/// in Haskell code sits more than 16 KiB below `c_function`'s frame: with 8 KiB, 12 % of the
/// real-GHC samples at 1 thread × 1 capability found no C API return address; 24 KiB covers
/// that and the scheduler's frames above it. A sample whose copy still ends before the stub's
/// frame falls to the table ([`SamplingResult::attribution`] counts them).
pub const STACK_BYTES: u32 = 24 * 1024;

/// Ring buffer bytes per sampled thread (a power of two): 340 samples of 24 KiB, drained every
/// [`DRAIN_EVERY`], about 85 ms worth at [`FREQUENCY_HZ`].
const RING_BYTES: usize = 8 << 20;

/// How often the reader thread empties the ring buffers.
const DRAIN_EVERY: Duration = Duration::from_millis(5);

/// How a sample was attributed (module docs).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Attribution {
    CallChain,
    StubGlue,
    Table,
    Other,
}

/// Samples of one group.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GroupSamples {
    pub group: PhaseGroup,
    pub samples: u64,
    /// `samples / all samples`, in `[0, 1]`.
    pub share: f64,
    /// Binomial standard error of `share`: `sqrt(share (1 - share) / all samples)`.
    pub share_stderr: f64,
    /// Most frequent leaf functions of this group's samples, with their counts.
    pub top_functions: Vec<(String, u64)>,
}

/// What one sampling run saw.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SamplingResult {
    /// The sampling event (`cycles` or `cpu-clock`).
    pub event: String,
    /// Why `cycles` was not used, when it was not.
    pub event_note: Option<String>,
    pub frequency_hz: u64,
    /// Samples in kernel mode were taken too (needs root or `perf_event_paranoid` ≤ 1).
    pub includes_kernel: bool,
    /// Every sample of the driver threads.
    pub samples: u64,
    /// Samples the kernel reported lost (ring buffer full).
    pub lost: u64,
    /// Calls the sampled threads made during the run.
    pub calls: u64,
    pub groups: Vec<GroupSamples>,
    /// Samples no rule attributed, with their top leaf functions: `other: <top symbols>`.
    pub other: GrouplessSamples,
    /// Samples per attribution rule.
    pub attribution: Vec<(Attribution, u64)>,
    /// Mapped files without `.symtab` (their hidden functions show as `<file>+0x<offset>`).
    pub stripped_files: Vec<String>,
}

/// The "other" row.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GrouplessSamples {
    pub samples: u64,
    pub share: f64,
    pub share_stderr: f64,
    pub top_functions: Vec<(String, u64)>,
}

/// One sample, attributed at read time (the stack copy is not kept).
#[derive(Debug, Clone, Copy)]
struct Taken {
    ip: u64,
    group: Option<PhaseGroup>,
    via: Attribution,
}

/// A sampler per driver thread, enabled around the timed part of a driver run
/// ([`RunHooks`]), drained by a reader thread.
pub struct SamplingHooks {
    system: System,
    threads: usize,
    sites: CallSites,
    include_kernel: bool,
    open: Option<OpenSamplers>,
    taken: Vec<Taken>,
    lost: u64,
    error: Option<String>,
}

struct OpenSamplers {
    stop: std::sync::Arc<AtomicBool>,
    reader: Option<std::thread::JoinHandle<(Vec<Taken>, u64)>>,
    event: String,
    event_note: Option<String>,
    samplers: std::sync::Arc<Mutex<Vec<Sampler>>>,
}

impl SamplingHooks {
    /// Hooks that will sample the `threads` driver threads of the next run on `system`, whose
    /// `c_function` call sites are `sites`.
    pub fn new(system: System, threads: usize, sites: CallSites) -> SamplingHooks {
        SamplingHooks {
            system,
            threads,
            sites,
            include_kernel: true,
            open: None,
            taken: Vec::new(),
            lost: 0,
            error: None,
        }
    }

    fn open_all(&mut self) -> Result<OpenSamplers, String> {
        let tids = driver_tids(self.threads)?;
        let (mut samplers, mut event, mut note) = (Vec::new(), String::new(), None);
        for &tid in &tids {
            let (s, e, n) = open_sampler(tid, &mut self.include_kernel)?;
            samplers.push(s);
            (event, note) = (e, n);
        }
        for s in &mut samplers {
            s.enable().map_err(|e| format!("enabling a sampler: {e}"))?;
        }
        let samplers = std::sync::Arc::new(Mutex::new(samplers));
        let stop = std::sync::Arc::new(AtomicBool::new(false));
        let (s2, stop2) = (samplers.clone(), stop.clone());
        let sites = self.sites.clone();
        let reader = std::thread::Builder::new()
            .name("sampling-reader".into())
            .spawn(move || read_loop(&s2, &stop2, &sites))
            .map_err(|e| format!("spawning the sample reader: {e}"))?;
        Ok(OpenSamplers {
            stop,
            reader: Some(reader),
            event,
            event_note: note,
            samplers,
        })
    }

    /// The result of the run, with `calls` the calls the sampled threads made.
    pub fn finish(self, calls: u64) -> Result<SamplingResult, String> {
        if let Some(e) = self.error {
            return Err(e);
        }
        let open = self
            .open
            .ok_or("the sampling hooks never ran (no driver run)")?;
        let mut syms = Symbolizer::new().map_err(|e| format!("reading /proc/self/maps: {e}"))?;
        let table = table::Table::of(self.system);
        Ok(summarise(
            &self.taken,
            &mut syms,
            &table,
            SummaryHead {
                event: open.event,
                event_note: open.event_note,
                includes_kernel: self.include_kernel,
                lost: self.lost,
                calls,
            },
        ))
    }
}

impl RunHooks for SamplingHooks {
    fn before(&mut self) {
        match self.open_all() {
            Ok(o) => self.open = Some(o),
            Err(e) => self.error = Some(e),
        }
    }

    fn after(&mut self) {
        let Some(open) = self.open.as_mut() else {
            return;
        };
        for s in open
            .samplers
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter_mut()
        {
            let _ = s.disable();
        }
        // ORDERING: Relaxed — the join below orders everything the reader did before it.
        open.stop.store(true, Ordering::Relaxed);
        match open.reader.take().map(|r| r.join()) {
            None => {}
            Some(Ok((taken, lost))) => {
                self.taken = taken;
                self.lost = lost;
            }
            Some(Err(_)) => self.error = Some("the sample reader panicked".into()),
        }
    }
}

/// Stack bytes each sampled driver thread pre-faults before its first call ([`prefault_stack`]).
const PREFAULT_BYTES: usize = 64 * 1024;

/// Touch the [`PREFAULT_BYTES`] of stack below the caller, so every page of it is resident.
/// The kernel copies a sample's user stack without faulting pages in and stops at the first
/// page that is not resident; GHC's `StgRun` reserves 16 KiB of C stack that Haskell code barely
/// touches, so without this the copy of a sample in Haskell code ended after about 2 KiB
/// (measured: 209 of 240 unattributed samples at 1 thread × 1 capability), short of the stub's
/// frame. The driver calls it on each thread before the warm-up calls, outside the call path
/// ([`crate::driver::CallTarget::with_thread_start`]).
#[inline(never)]
pub fn prefault_stack() {
    let mut buf = [0u8; PREFAULT_BYTES];
    for i in (0..PREFAULT_BYTES).step_by(4096) {
        // SAFETY: `i < PREFAULT_BYTES`, inside `buf`; volatile so the writes are not elided.
        unsafe { std::ptr::write_volatile(buf.as_mut_ptr().add(i), 1) };
    }
    std::hint::black_box(&buf);
}

/// Thread ids of the driver's threads `driver-0 .. driver-(n-1)` (the names `crate::driver`
/// gives them), from `/proc/self/task`.
pub fn driver_tids(n: usize) -> Result<Vec<libc::pid_t>, String> {
    let mut found = vec![None; n];
    let dir = std::fs::read_dir("/proc/self/task").map_err(|e| format!("/proc/self/task: {e}"))?;
    for e in dir.flatten() {
        let Ok(tid) = e.file_name().to_string_lossy().parse::<libc::pid_t>() else {
            continue;
        };
        let comm = std::fs::read_to_string(e.path().join("comm")).unwrap_or_default();
        if let Some(i) = comm
            .trim()
            .strip_prefix(crate::driver::THREAD_NAME_PREFIX)
            .and_then(|i| i.parse::<usize>().ok())
            && i < n
        {
            found[i] = Some(tid);
        }
    }
    found
        .into_iter()
        .enumerate()
        .map(|(i, t)| t.ok_or_else(|| format!("driver thread {i} not found in /proc/self/task")))
        .collect()
}

/// A sampler on thread `tid`: `cycles` if the PMU has it, else `cpu-clock`; kernel samples when
/// permitted (clears `include_kernel` otherwise).
fn open_sampler(
    tid: libc::pid_t,
    include_kernel: &mut bool,
) -> Result<(Sampler, String, Option<String>), String> {
    let build = |hw: bool, kernel: bool| {
        let mut b = if hw {
            Builder::new(Hardware::CPU_CYCLES)
        } else {
            Builder::new(Software::CPU_CLOCK)
        };
        b.observe_pid(tid)
            .any_cpu()
            .inherit(false)
            .enabled(false)
            .exclude_kernel(!kernel)
            .exclude_hv(true)
            .sample_frequency(FREQUENCY_HZ)
            .sample(SampleFlag::IP | SampleFlag::TID | SampleFlag::STACK_USER)
            .sample_stack_user(STACK_BYTES);
        b.build()
    };
    let mut note = None;
    let mut attempt = |hw: bool| -> Result<perf_event::Counter, std::io::Error> {
        match build(hw, *include_kernel) {
            Err(e) if *include_kernel && e.raw_os_error() == Some(libc::EACCES) => {
                *include_kernel = false;
                build(hw, false)
            }
            r => r,
        }
    };
    let (counter, event) = match attempt(true) {
        Ok(c) => (c, "cycles"),
        Err(e) => {
            note = Some(format!(
                "cycles unavailable: {}",
                describe_open_error(&e, true)
            ));
            let c = attempt(false).map_err(|e| {
                format!(
                    "cpu-clock sampling unavailable: {}",
                    describe_open_error(&e, false)
                )
            })?;
            (c, "cpu-clock")
        }
    };
    let sampler = counter
        .sampled(RING_BYTES)
        .map_err(|e| format!("mapping the sample ring buffer: {e}"))?;
    Ok((sampler, event.to_owned(), note))
}

/// Drain every sampler until `stop`, attributing each sample as it is read.
fn read_loop(
    samplers: &Mutex<Vec<Sampler>>,
    stop: &AtomicBool,
    sites: &CallSites,
) -> (Vec<Taken>, u64) {
    let mut taken = Vec::new();
    let mut lost = 0;
    loop {
        // ORDERING: Relaxed — a late observation only means one more drain.
        let last = stop.load(Ordering::Relaxed);
        {
            let mut all = samplers.lock().unwrap_or_else(|e| e.into_inner());
            for s in all.iter_mut() {
                while let Some(rec) = s.next_record() {
                    match rec.parse_record() {
                        Ok(perf_event::data::Record::Sample(sample)) => {
                            let ip = sample.ip().unwrap_or(0);
                            let stack = sample.stack_user().unwrap_or(&[]);
                            taken.push(attribute_stack(ip, stack, sites));
                        }
                        Ok(perf_event::data::Record::Lost(l)) => lost += l.lost,
                        _ => {}
                    }
                }
            }
        }
        if last {
            return (taken, lost);
        }
        std::thread::sleep(DRAIN_EVERY);
    }
}

/// Rules 1 and 2 of the module docs; the table is applied later, with the symbols.
fn attribute_stack(ip: u64, stack: &[u8], sites: &CallSites) -> Taken {
    let (lo, size) = sites.function_range;
    let hi = lo + size;
    let mut outermost = None;
    for w in stack.chunks_exact(8) {
        let v = u64::from_le_bytes(w.try_into().expect("8-byte chunk"));
        if v > lo
            && v <= hi
            && let Some(site) = sites.by_return_addr(v)
        {
            outermost = Some(site.group);
        }
    }
    if let Some(group) = outermost {
        return Taken {
            ip,
            group: Some(group),
            via: Attribution::CallChain,
        };
    }
    if let Some(group) = sites.glue_group(ip) {
        return Taken {
            ip,
            group: Some(group),
            via: Attribution::StubGlue,
        };
    }
    Taken {
        ip,
        group: None,
        via: Attribution::Other,
    }
}

struct SummaryHead {
    event: String,
    event_note: Option<String>,
    includes_kernel: bool,
    lost: u64,
    calls: u64,
}

/// Leaf functions most often seen, at most this many per row.
const TOP_FUNCTIONS: usize = 6;

fn summarise(
    taken: &[Taken],
    syms: &mut Symbolizer,
    table: &table::Table,
    head: SummaryHead,
) -> SamplingResult {
    let n = taken.len() as u64;
    let mut names: HashMap<u64, String> = HashMap::new();
    let mut by_group: HashMap<Option<PhaseGroup>, HashMap<String, u64>> = HashMap::new();
    let mut attribution: HashMap<Attribution, u64> = HashMap::new();
    for t in taken {
        let name = names
            .entry(t.ip)
            .or_insert_with(|| syms.resolve(t.ip).function)
            .clone();
        let (group, via) = match t.group {
            Some(g) => (Some(g), t.via),
            None => match table.group_of(&name) {
                Some(g) => (Some(g), Attribution::Table),
                None => (None, Attribution::Other),
            },
        };
        *attribution.entry(via).or_default() += 1;
        *by_group.entry(group).or_default().entry(name).or_default() += 1;
    }
    let share = |k: u64| if n > 0 { k as f64 / n as f64 } else { 0.0 };
    let stderr = |p: f64| {
        if n > 0 {
            (p * (1.0 - p) / n as f64).sqrt()
        } else {
            0.0
        }
    };
    let top = |m: Option<&HashMap<String, u64>>| {
        let mut v: Vec<(String, u64)> = m
            .map(|m| m.clone().into_iter().collect())
            .unwrap_or_default();
        v.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
        v.truncate(TOP_FUNCTIONS);
        v
    };
    let count = |m: Option<&HashMap<String, u64>>| m.map_or(0, |m| m.values().sum::<u64>());
    let groups = PhaseGroup::ALL
        .iter()
        .map(|&g| {
            let m = by_group.get(&Some(g));
            let k = count(m);
            GroupSamples {
                group: g,
                samples: k,
                share: share(k),
                share_stderr: stderr(share(k)),
                top_functions: top(m),
            }
        })
        .collect();
    let other = by_group.get(&None);
    let k = count(other);
    let mut attribution: Vec<(Attribution, u64)> = attribution.into_iter().collect();
    attribution.sort_by_key(|(a, _)| *a as u8);
    SamplingResult {
        event: head.event,
        event_note: head.event_note,
        frequency_hz: FREQUENCY_HZ,
        includes_kernel: head.includes_kernel,
        samples: n,
        lost: head.lost,
        calls: head.calls,
        groups,
        other: GrouplessSamples {
            samples: k,
            share: share(k),
            share_stderr: stderr(share(k)),
            top_functions: top(other),
        },
        attribution,
        stripped_files: syms.stripped_files(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use callsites::CallSite;

    fn sites() -> CallSites {
        let site = |ret: u64, group| CallSite {
            return_addr: ret,
            call_addr: ret - 5,
            function: String::new(),
            group,
        };
        CallSites {
            function_range: (1000, 100),
            sites: vec![
                site(1010, PhaseGroup::Lock),
                site(1030, PhaseGroup::Eval),
                site(1050, PhaseGroup::Unlock),
            ],
        }
    }

    fn stack(words: &[u64]) -> Vec<u8> {
        words.iter().flat_map(|w| w.to_le_bytes()).collect()
    }

    #[test]
    fn the_outermost_api_return_address_decides() {
        // A stale rts_lock return address deeper in the stack, the live rts_evalIO one above it.
        let s = stack(&[7, 1010, 99, 1030, 5000]);
        let t = attribute_stack(0xdead, &s, &sites());
        assert_eq!(
            (t.group, t.via),
            (Some(PhaseGroup::Eval), Attribution::CallChain)
        );
    }

    #[test]
    fn stub_code_belongs_to_the_next_call_and_the_epilogue_to_none() {
        let t = attribute_stack(1020, &stack(&[1, 2]), &sites());
        assert_eq!(
            (t.group, t.via),
            (Some(PhaseGroup::Eval), Attribution::StubGlue)
        );
        let t = attribute_stack(1060, &stack(&[1, 2]), &sites());
        assert_eq!((t.group, t.via), (None, Attribution::Other));
        let t = attribute_stack(1001, &[], &sites());
        assert_eq!(t.group, None, "the prologue, before rts_lock's span");
    }

    #[test]
    fn shares_sum_to_one_with_other_and_errors_are_binomial() {
        let mut syms = Symbolizer::new().unwrap();
        let taken: Vec<Taken> = (0..100)
            .map(|i| Taken {
                ip: 1,
                group: (i < 75).then_some(PhaseGroup::Eval),
                via: if i < 75 {
                    Attribution::CallChain
                } else {
                    Attribution::Other
                },
            })
            .collect();
        let head = SummaryHead {
            event: "cpu-clock".into(),
            event_note: None,
            includes_kernel: false,
            lost: 0,
            calls: 10,
        };
        let r = summarise(&taken, &mut syms, &table::Table::of(System::RealGhc), head);
        let total: f64 = r.groups.iter().map(|g| g.share).sum::<f64>() + r.other.share;
        assert!((total - 1.0).abs() < 1e-12);
        let eval = r
            .groups
            .iter()
            .find(|g| g.group == PhaseGroup::Eval)
            .unwrap();
        assert_eq!(eval.samples, 75);
        assert!((eval.share_stderr - (0.75f64 * 0.25 / 100.0).sqrt()).abs() < 1e-12);
        assert_eq!(r.other.samples, 25);
        assert!(
            !r.other.top_functions.is_empty(),
            "other names its functions"
        );
    }
}
