//! Worker processes: owns the protocol between a run and the processes that hold one runtime
//! each (an rts-core instance, or GHC's RTS with one library, `-N` and RTS settings), kept alive
//! across all rounds of a run.
//!
//! GHC's RTS starts once per process with its options, and rts-core one instance at a time, so
//! every (system, capability count) of a run is its own process: this binary as
//! `callin-bench run --worker`, inside the toolchain's root for a rooted GHC. Protocol, one JSON
//! value per line:
//! 1. parent → child: a [`WorkerSpec`]; child → parent: [`Reply::Ready`] once the runtime is up
//!    (and, for a user's export, its reference call made), or [`Reply::Failed`];
//! 2. then any number of [`Request::Measure`] (threads, milliseconds), each answered by
//!    [`Reply::Measured`] (one [`RoundResult`]) or [`Reply::Failed`];
//! 3. [`Request::Exit`] or end of input: the child exits (never `hs_exit`: see `crate::ghc`).
//!
//! The child writes replies to a duplicate of its original stdout and points fd 1 at stderr, so
//! anything the measured code prints cannot corrupt the protocol. The parent reads replies on a
//! thread and waits for each with a timeout, so a function that never returns ends in a named
//! error and a killed worker, never a hang; stderr is kept (last lines) for error messages.

use std::collections::VecDeque;
use std::io::{BufRead, BufReader, Write};
use std::os::fd::FromRawFd;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Stdio};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use rts_core::PolicySet;
use serde::{Deserialize, Serialize};

use super::cells::RoundResult;
use super::contender::{GhcCheck, GhcLaunch, Launch};
use super::{plan, rts_core_cell};
use crate::driver::{self, CallTarget, Expect, Signature};
use crate::ghc::GhcRts;

/// Where the harness binary is mounted inside a toolchain's root.
const EXE_IN_ROOT: &str = "/opt/callin-bench/callin-bench";
/// How long a worker may take to start (build nothing; load, start the RTS, reference call).
const START_TIMEOUT: Duration = Duration::from_secs(60);
/// Slack beyond a measurement's own duration before the worker is declared stuck.
const MEASURE_SLACK: Duration = Duration::from_secs(60);
/// Lines of a worker's stderr kept for error messages.
const STDERR_LINES: usize = 8;

/// What a worker runs.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub enum WorkerSpec {
    RtsCore {
        policy: String,
        caps: u32,
    },
    RealGhc {
        library: PathBuf,
        rts_args: Vec<String>,
        caps: u32,
        export: String,
        signature: Signature,
        check: GhcCheck,
        /// Refuse unless `rts_lock` resolves into a file named like GHC `<version>`'s threaded RTS.
        rts_version: Option<String>,
    },
}

/// Parent → child after the spec.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub enum Request {
    Measure { threads: u32, ms: u64 },
    Exit,
}

/// Child → parent.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub enum Reply {
    Ready { detail: String },
    Measured(RoundResult),
    Failed(String),
}

// ------------------------------------------------------------------------------ child side

/// `callin-bench run --worker`: serve one runtime until told to exit.
pub fn serve() -> anyhow::Result<()> {
    // SAFETY: dup/dup2 on the process's own standard descriptors, before any other thread exists.
    let proto = unsafe {
        let fd = libc::dup(1);
        if fd < 0 || libc::dup2(2, 1) < 0 {
            bail!(
                "worker: cannot set up its reply channel: {}",
                std::io::Error::last_os_error()
            );
        }
        // SAFETY: `fd` is a fresh descriptor owned by nobody else.
        std::fs::File::from_raw_fd(fd)
    };
    let mut out = std::io::LineWriter::new(proto);
    let mut lines = std::io::stdin().lock().lines();
    let spec: WorkerSpec = match lines.next() {
        Some(line) => serde_json::from_str(&line?).context("worker: bad spec line")?,
        None => return Ok(()),
    };
    let mut reply = |r: &Reply| -> anyhow::Result<()> {
        writeln!(out, "{}", serde_json::to_string(r)?)?;
        Ok(())
    };
    let mut serve_with = |target: CallTarget, expect: Expect, stats: bool, detail: String| {
        reply(&Reply::Ready { detail })?;
        for line in lines.by_ref() {
            match serde_json::from_str::<Request>(&line?)? {
                Request::Exit => break,
                Request::Measure { threads, ms } => {
                    let cfg = plan::driver_config(threads, Duration::from_millis(ms), expect);
                    let r = if stats {
                        rts_core_cell::drive(&cfg).map(|(r, s)| RoundResult::from_report(&r, s))
                    } else {
                        driver::run(target, &cfg)
                            .map(|r| RoundResult::from_report(&r, Default::default()))
                            .map_err(anyhow::Error::from)
                    };
                    reply(&match r {
                        Ok(m) => Reply::Measured(m),
                        Err(e) => Reply::Failed(format!("{e:#}")),
                    })?;
                }
            }
        }
        anyhow::Ok(())
    };
    match spec {
        WorkerSpec::RtsCore { policy, caps } => {
            let policy =
                PolicySet::parse(&policy).map_err(|e| anyhow::anyhow!("policy {policy}: {e}"))?;
            rts_core_cell::with_instance(policy, caps, || {
                serve_with(
                    rts_core_cell::c_function_target(),
                    Expect::PlusOne,
                    true,
                    format!("rts-core {policy} on {caps} capabilities"),
                )
            })?
        }
        WorkerSpec::RealGhc {
            library,
            rts_args,
            caps,
            export,
            signature,
            check,
            rts_version,
        } => {
            match start_ghc(
                &library,
                &rts_args,
                caps,
                &export,
                signature,
                check,
                rts_version.as_deref(),
            ) {
                Ok((target, expect, detail)) => serve_with(target, expect, false, detail),
                Err(e) => reply(&Reply::Failed(format!("{e:#}"))),
            }
        }
    }
}

fn start_ghc(
    library: &Path,
    rts_args: &[String],
    caps: u32,
    export: &str,
    signature: Signature,
    check: GhcCheck,
    rts_version: Option<&str>,
) -> anyhow::Result<(CallTarget, Expect, String)> {
    let mut args = vec![format!("-N{caps}")];
    args.extend(rts_args.iter().cloned());
    let refs: Vec<&str> = args.iter().map(String::as_str).collect();
    // Resolve the export before starting the RTS, so a missing one is named without side effects.
    let rts = GhcRts::init(library, &refs)?;
    let origin = rts.rts_lock_origin();
    if let Some(v) = rts_version {
        let version = crate::ghc::GhcVersion::parse(v).context("rts version")?;
        let file = origin
            .as_ref()
            .and_then(|p| p.file_name())
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        if !version.is_threaded_rts_file(&file) {
            bail!(
                "{} takes rts_lock from {} ({}), not GHC {v}'s threaded RTS: a --lib must link \
                 GHC's threaded RTS (ghc -threaded -dynamic -shared, plus -lHSrts_thr-ghc<ver> or \
                 -flink-rts)",
                library.display(),
                if file.is_empty() {
                    "nowhere".to_owned()
                } else {
                    file
                },
                origin.map_or_else(String::new, |p| p.display().to_string())
            );
        }
    }
    let target = rts.export(export, signature)?;
    let expect = match check {
        GhcCheck::PlusOne => Expect::PlusOne,
        GhcCheck::SameAsReference { arg } => {
            // The reference call runs on a thread of its own that then frees its GHC Task.
            let result = std::thread::scope(|s| {
                s.spawn(|| {
                    let r = target.call_value(arg);
                    target.finish_thread();
                    r
                })
                .join()
            })
            .map_err(|_| anyhow::anyhow!("the reference call of {export} panicked"))??;
            Expect::Same { arg, result }
        }
    };
    let detail = format!(
        "{export} :: {signature} in {} on GHC's RTS {} (+RTS {} -RTS), check: {}",
        library.display(),
        rts.rts_lock_origin()
            .map_or_else(|| "?".into(), |p| p.display().to_string()),
        args.join(" "),
        expect.label()
    );
    Ok((target, expect, detail))
}

// ------------------------------------------------------------------------------ parent side

/// A running worker.
pub struct Worker {
    child: Child,
    stdin: Option<ChildStdin>,
    replies: Receiver<Result<Reply, String>>,
    stderr: Arc<Mutex<VecDeque<String>>>,
    /// What the worker said it runs.
    pub detail: String,
}

impl Worker {
    /// Start a worker for `launch` at `caps` capabilities and wait until it is ready.
    pub fn start(launch: &Launch, caps: u32) -> Result<Worker, String> {
        let (spec, toolchain) = match launch {
            Launch::Unavailable(why) => return Err(why.clone()),
            Launch::RtsCore(p) => (
                WorkerSpec::RtsCore {
                    policy: p.label(),
                    caps,
                },
                None,
            ),
            Launch::RealGhc(g) => (ghc_spec(g, caps), Some(&g.toolchain)),
        };
        let exe = std::env::current_exe().map_err(|e| format!("locating this executable: {e}"))?;
        let mut cmd = match toolchain.filter(|t| t.root.is_some()) {
            Some(t) => t
                .command(Path::new(EXE_IN_ROOT), &[(exe, EXE_IN_ROOT.into())])
                .map_err(|e| e.to_string())?,
            None => std::process::Command::new(exe),
        };
        cmd.args(["run", "--worker"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = cmd
            .spawn()
            .map_err(|e| format!("starting a worker process: {e}"))?;
        let stdout = child.stdout.take().expect("piped");
        let stderr_pipe = child.stderr.take().expect("piped");
        let (tx, replies) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let msg = line.map_err(|e| e.to_string()).and_then(|l| {
                    serde_json::from_str::<Reply>(&l).map_err(|e| format!("bad reply {l:?}: {e}"))
                });
                if tx.send(msg).is_err() {
                    break;
                }
            }
        });
        let stderr = Arc::new(Mutex::new(VecDeque::new()));
        let keep = Arc::clone(&stderr);
        std::thread::spawn(move || {
            for line in BufReader::new(stderr_pipe).lines().map_while(Result::ok) {
                let mut q = keep.lock().unwrap_or_else(|e| e.into_inner());
                if q.len() == STDERR_LINES {
                    q.pop_front();
                }
                q.push_back(line);
            }
        });
        let mut w = Worker {
            child,
            stdin: None,
            replies,
            stderr,
            detail: String::new(),
        };
        w.stdin = w.child.stdin.take();
        w.send(&serde_json::to_string(&spec).expect("spec serialises"))?;
        match w.receive(START_TIMEOUT)? {
            Reply::Ready { detail } => {
                w.detail = detail;
                Ok(w)
            }
            Reply::Failed(e) => Err(e),
            Reply::Measured(_) => Err("worker answered a measurement before starting".into()),
        }
    }

    /// One measurement of `threads` for `round`.
    pub fn measure(&mut self, threads: u32, round: Duration) -> Result<RoundResult, String> {
        let req = Request::Measure {
            threads,
            ms: round.as_millis() as u64,
        };
        self.send(&serde_json::to_string(&req).expect("request serialises"))?;
        match self.receive(round + MEASURE_SLACK)? {
            Reply::Measured(m) => Ok(m),
            Reply::Failed(e) => Err(e),
            Reply::Ready { .. } => Err("worker sent a second ready".into()),
        }
    }

    fn send(&mut self, line: &str) -> Result<(), String> {
        let stdin = self.stdin.as_mut().ok_or("worker input closed")?;
        writeln!(stdin, "{line}")
            .and_then(|()| stdin.flush())
            .map_err(|e| self.died(&format!("cannot write to the worker: {e}")))
    }

    fn receive(&mut self, timeout: Duration) -> Result<Reply, String> {
        let deadline = Instant::now() + timeout;
        match self
            .replies
            .recv_timeout(deadline.saturating_duration_since(Instant::now()))
        {
            Ok(Ok(r)) => Ok(r),
            Ok(Err(e)) => Err(self.died(&e)),
            Err(RecvTimeoutError::Disconnected) => Err(self.died("the worker exited")),
            Err(RecvTimeoutError::Timeout) => {
                let _ = self.child.kill();
                Err(self.died(&format!(
                    "no answer within {} s (does the function return?); worker killed",
                    timeout.as_secs()
                )))
            }
        }
    }

    /// `what`, with the worker's exit status and the last lines of its stderr.
    fn died(&mut self, what: &str) -> String {
        // Give the stderr reader a moment to collect the last words.
        std::thread::sleep(Duration::from_millis(50));
        let status = match self.child.try_wait() {
            Ok(Some(s)) => format!(" ({s})"),
            _ => String::new(),
        };
        let tail: Vec<String> = self
            .stderr
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .cloned()
            .collect();
        if tail.is_empty() {
            format!("{what}{status}")
        } else {
            format!("{what}{status}: {}", tail.join(" | "))
        }
    }
}

impl Drop for Worker {
    fn drop(&mut self) {
        if let Some(mut stdin) = self.stdin.take() {
            let _ = writeln!(
                stdin,
                "{}",
                serde_json::to_string(&Request::Exit).expect("serialises")
            );
        }
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn ghc_spec(g: &GhcLaunch, caps: u32) -> WorkerSpec {
    WorkerSpec::RealGhc {
        library: g.library.clone(),
        rts_args: g.rts_args.clone(),
        caps,
        export: g.export.clone(),
        signature: g.signature,
        check: g.check,
        rts_version: g.check_rts_file.then(|| g.toolchain.version.to_string()),
    }
}
