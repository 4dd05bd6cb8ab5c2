//! `callin-bench run`: parses the arguments of the end-to-end matrix (systems, sizes, real-GHC
//! systems, baselines) and calls [`crate::matrix`], which measures in paired rounds; writes one
//! `RunResults` JSON, prints the table and the headline comparisons, and applies the regression
//! gate.

use std::path::PathBuf;
use std::time::Duration;

use callin_reports::schema::{BaselineRef, System};
use clap::Args;

use crate::driver::Signature;
use crate::matrix::baseline::{self, Verdict};
use crate::matrix::contender::Launch;
use crate::matrix::plan::{self, Plan};
use crate::matrix::real_ghc::RealGhcOptions;
use crate::matrix::run::{self as experiment, RunOptions};
use crate::matrix::{self, table, worker};

/// Arguments of `callin-bench run`.
#[derive(Debug, Args)]
#[command(after_long_help = LIB_HELP)]
pub struct RunArgs {
    /// Short run: 9 rounds of 100 ms per system and cell (full: 20 rounds of 350 ms).
    #[arg(long)]
    pub quick: bool,
    /// Thread counts, comma-separated (default 1,2,4).
    #[arg(long, value_delimiter = ',', value_parser = positive)]
    pub threads: Option<Vec<u32>>,
    /// Capability counts, comma-separated (default 1,2).
    #[arg(long, value_delimiter = ',', value_parser = positive)]
    pub caps: Option<Vec<u32>>,
    /// Systems, comma-separated, in order: default, ghc-mode, real-ghc (default all three, or
    /// real-ghc alone with --hs/--lib). A system given twice is measured twice: `default,default`
    /// is an A/A run whose ratio shows the noise floor.
    #[arg(long, value_delimiter = ',')]
    pub systems: Option<Vec<System>>,
    /// Paired rounds: each round measures every system of every cell once, order rotated
    /// (default 20, 9 with --quick; a 95 % interval needs at least 6).
    #[arg(long, alias = "reps", value_parser = rounds_arg)]
    pub rounds: Option<u32>,
    /// Milliseconds each system runs per round and cell (default 350, 100 with --quick).
    #[arg(long, alias = "cell-ms", value_parser = round_ms_arg)]
    pub round_ms: Option<u32>,
    /// Skip the policy ablation.
    #[arg(long)]
    pub no_ablation: bool,
    /// Skip the floor measurements.
    #[arg(long)]
    pub no_floor: bool,
    /// Where to write the results JSON (baselines go to `baselines/` beside it).
    #[arg(long, default_value_os_t = crate::paths::result_file(callin_reports::input::RUN_FILE))]
    pub out: PathBuf,

    /// A ghc to build with and run on (repeatable: one real-GHC system each): an executable,
    /// or a directory holding a root file system with /usr/bin/ghc (scripts/ghc-root.sh makes a
    /// Debian 13 one with GHC 9.6.6), whose cells then run inside that root. Default: ghc on PATH.
    #[arg(long = "ghc", value_name = "PATH")]
    pub ghcs: Vec<PathBuf>,
    /// RTS settings of one real-GHC system (repeatable: one system per string, labelled with
    /// it), e.g. --ghc-rts "-A1m" --ghc-rts "-A4m -qg". -N comes from --caps.
    #[arg(long = "ghc-rts", value_name = "SETTINGS", allow_hyphen_values = true)]
    pub ghc_rts: Vec<String>,
    /// Haskell source of your own export (repeatable; all files form one library), built with
    /// the chosen ghc into a cached library under the target directory.
    #[arg(long = "hs", value_name = "PATH.hs")]
    pub hs: Vec<PathBuf>,
    /// An already built library to drive instead of sources (see the requirements below).
    #[arg(long, value_name = "PATH.so", conflicts_with = "hs")]
    pub lib: Option<PathBuf>,
    /// The `foreign export ccall` to drive (repeatable: one system each). Its C type comes from
    /// GHC's generated *_stub.h for --hs; one argument and one result, each Int, CInt, Word or
    /// Double.
    #[arg(long = "export", value_name = "NAME")]
    pub exports: Vec<String>,
    /// The export's type, e.g. "Double -> IO Int": required knowledge for --lib (default
    /// Int -> IO Int; a shared library records no types), checked against the stub for --hs.
    #[arg(long, value_parser = Signature::parse)]
    pub signature: Option<Signature>,
    /// The argument every call of your export passes (default 1). The driver cannot know your
    /// function's right answer: it checks that every result equals a reference call's.
    #[arg(long, allow_hyphen_values = true)]
    pub arg: Option<String>,
    /// Build the real-GHC libraries this run would drive, print them, and measure nothing.
    #[arg(long)]
    pub build_only: bool,

    /// Save this run's results as baseline NAME (`baselines/NAME.json` beside --out).
    #[arg(long, value_name = "NAME")]
    pub save_baseline: Option<String>,
    /// Compare with saved baseline NAME, cell by cell, with a 95 % interval per change.
    #[arg(long, value_name = "NAME")]
    pub baseline: Option<String>,
    /// With --baseline: exit 3, one line per cell, when a cell is slower by more than PCT
    /// percent with an interval that excludes no change.
    #[arg(long, value_name = "PCT", value_parser = percent, requires = "baseline")]
    pub fail_on_regression: Option<f64>,
    /// Compare even when machine or configuration differ from the baseline's.
    #[arg(long, requires = "baseline")]
    pub force: bool,

    /// Internal: serve one runtime to a parent run over stdin/stdout.
    #[arg(long, hide = true)]
    pub worker: bool,
}

const LIB_HELP: &str = "\
A library given with --lib must: export NAME (a `foreign export ccall` of one argument and one \
result, each Int, CInt, Word or Double; give its type with --signature unless it is Int -> IO Int); \
be a shared library linked against GHC's threaded RTS (ghc -threaded -dynamic -shared -fPIC, with \
-lHSrts_thr-ghc<version> (up to 9.2) or -lHSrts-<rts version>_thr-ghc<version> (9.4 and later), \
with an rpath to it), built by the ghc given with --ghc (default: ghc on PATH), whose RtsConfig \
layout is checked; not start the RTS itself: the harness starts it with hs_init_ghc(+RTS -N<caps> \
<--ghc-rts settings> -RTS) and rts_opts_enabled = RtsOptsAll, once per worker process, and never \
calls hs_exit. The worker refuses a library whose rts_lock does not come from that GHC's threaded \
RTS, and names a missing export before anything is measured.";

fn positive(s: &str) -> Result<u32, String> {
    match s.trim().parse::<u32>() {
        Ok(0) => Err("must be at least 1".into()),
        Ok(n) => Ok(n),
        Err(_) => Err(format!("{s:?} is not a positive integer")),
    }
}

/// At most 10,000 rounds (the report keeps every round's figure per cell).
fn rounds_arg(s: &str) -> Result<u32, String> {
    positive(s).and_then(|n| {
        if n <= 10_000 {
            Ok(n)
        } else {
            Err(format!("{n} rounds: at most 10000"))
        }
    })
}

/// At most 600,000 ms (10 minutes) per system per round.
fn round_ms_arg(s: &str) -> Result<u32, String> {
    positive(s).and_then(|n| {
        if n <= 600_000 {
            Ok(n)
        } else {
            Err(format!("{n} ms: at most 600000"))
        }
    })
}

fn percent(s: &str) -> Result<f64, String> {
    match s.trim().trim_end_matches('%').parse::<f64>() {
        Ok(p) if p > 0.0 && p.is_finite() => Ok(p),
        _ => Err(format!("{s:?} is not a positive percentage")),
    }
}

impl RunArgs {
    fn options(&self) -> RunOptions {
        let sorted = |v: &Option<Vec<u32>>, d: &[u32]| {
            let mut v = v.clone().unwrap_or_else(|| d.to_vec());
            v.sort_unstable();
            v.dedup();
            v
        };
        let ghc = RealGhcOptions {
            ghcs: self.ghcs.clone(),
            rts: self.ghc_rts.clone(),
            hs: self.hs.clone(),
            lib: self.lib.clone(),
            exports: self.exports.clone(),
            signature: self.signature,
            arg: self.arg.clone(),
        };
        let systems = match &self.systems {
            Some(s) => s.clone(),
            None if ghc.user_code() => vec![System::RealGhc],
            None => System::ALL.to_vec(),
        };
        let (rounds, ms) = if self.quick {
            (plan::ROUNDS_QUICK, plan::ROUND_MS_QUICK)
        } else {
            (plan::ROUNDS_FULL, plan::ROUND_MS_FULL)
        };
        RunOptions {
            plan: Plan {
                threads: sorted(&self.threads, matrix::THREADS),
                caps: sorted(&self.caps, matrix::CAPABILITIES),
                rounds: self.rounds.unwrap_or(rounds),
                round: Duration::from_millis(u64::from(self.round_ms.unwrap_or(ms))),
                quick: self.quick,
            },
            systems,
            ghc,
            ablation: !self.no_ablation,
            floor: !self.no_floor,
        }
    }
}

/// Entry point of `callin-bench run`.
pub fn main(args: &RunArgs) -> anyhow::Result<()> {
    if args.worker {
        return worker::serve();
    }
    let opts = args.options();
    // Everything that can be refused is refused before anything is measured.
    let saved = args
        .save_baseline
        .as_deref()
        .map(|n| baseline::path(&args.out, n))
        .transpose()?;
    let base = args
        .baseline
        .as_deref()
        .map(|n| baseline::load(&args.out, n))
        .transpose()?;
    let contenders = experiment::contenders(&opts)?;
    if args.build_only {
        for c in &contenders {
            match (&c.launch, &c.variant) {
                (Launch::RealGhc(g), Some(v)) => {
                    println!(
                        "{}: {} (sources {})",
                        c.label,
                        g.toolchain.host_path(&g.library).display(),
                        v.source_hash
                    )
                }
                (Launch::Unavailable(why), _) => {
                    println!("{}: SKIP: {why}", c.label);
                    std::process::exit(77);
                }
                _ => {}
            }
        }
        return Ok(());
    }
    for c in &contenders {
        if let Launch::Unavailable(why) = &c.launch {
            eprintln!("callin-bench run: {} skipped: {why}", c.label);
        }
    }
    let mut results = experiment::execute(&opts, &contenders)?;
    let verdict = base
        .as_ref()
        .map(|b| Verdict::of(&results, b, args.fail_on_regression, args.force));
    if let (Some(Ok(_)), Some(name)) = (&verdict, &args.baseline) {
        results.baseline = Some(BaselineRef {
            name: name.clone(),
            file: baseline::relative_file(name),
        });
    }
    crate::results::write_json(&args.out, &results)?;
    if let Some(path) = &saved {
        crate::results::write_json(path, &results)?;
    }
    print!("{}", table::render(&results));
    println!("summary:\n{}", table::sentences(&results));
    println!(
        "wrote {} ({} cells, {} rounds, {} s measuring)",
        args.out.display(),
        results.cells.len(),
        results.rounds,
        results
            .manifest
            .config
            .get("measuring_s")
            .map_or("?", String::as_str)
    );
    if let Some(path) = &saved {
        println!("saved baseline {}", path.display());
    }
    match verdict {
        None => Ok(()),
        Some(Err(e)) => Err(e.context(format!(
            "comparing with baseline {}",
            args.baseline.as_deref().unwrap_or("")
        ))),
        Some(Ok(v)) => report_verdict(&v, args.baseline.as_deref().unwrap_or("")),
    }
}

/// Print the comparison (mismatches first) and apply the gate: exit 3 naming each regression.
fn report_verdict(v: &Verdict, name: &str) -> anyhow::Result<()> {
    for m in &v.mismatches {
        println!("baseline {name}: NOT COMPARABLE (compared with --force): {m}");
    }
    println!("change against baseline {name} (current / baseline, 95 % interval):");
    for c in &v.changes {
        println!("  {}", c.line());
    }
    let regressed = v.regressions();
    if let Some(t) = v.fail_threshold {
        if regressed.is_empty() {
            println!("no cell regressed by more than {:.1} %", t * 100.0);
        } else {
            for c in &regressed {
                eprintln!("REGRESSION {}", c.line());
            }
            eprintln!(
                "callin-bench run: {} cell(s) slower than baseline {name} by more than {:.1} % with an interval excluding no change",
                regressed.len(),
                t * 100.0
            );
            std::process::exit(baseline::REGRESSION_EXIT_CODE);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positive_rejects_zero_and_words() {
        assert_eq!(positive("3"), Ok(3));
        assert!(positive("0").is_err());
        assert!(positive("x").unwrap_err().contains("\"x\""));
        assert_eq!(percent("10%"), Ok(10.0));
        assert!(rounds_arg("10001").unwrap_err().contains("at most"));
        assert!(round_ms_arg("600001").is_err());
        assert!(percent("-1").is_err());
    }
}
