//! `hs_init`'s command line: the split of `argv` into program and RTS arguments and the parse
//! of the RTS options into a [`Config`], after GHC's `rts/RtsFlags.c` (`setupRtsFlags`,
//! `procRtsOpts`, `errorUsage`; behaviour checked against GHC 9.0.2's `hs_init`).
//!
//! Note [RTS argument split]
//! -------------------------
//! `argv[0]` always stays. After it, `+RTS` starts RTS options and `-RTS` ends them (both
//! dropped; an unclosed `+RTS` runs to the end); `--RTS` is dropped and everything after it is
//! a program argument; `--` is kept and ends RTS processing too (it and everything after it go
//! to the program, even inside `+RTS`). Program arguments keep their order.
//!
//! Note [RTS option errors]
//! ------------------------
//! Like `procRtsOpts`, every option is looked at; each bad one adds a message (`bad value for
//! -N`, `unknown RTS option: -Q`, `unexpected RTS argument: foo`), and if there was any (or a
//! `-?`) the messages are followed by the usage text and the process exits with
//! `EXIT_FAILURE` ([`CallInError::RtsOptions`]). rts-core's `hs_init` accepts what GHC's
//! `hs_init_with_rtsopts` accepts (`RtsOptsAll`): GHC's plain `hs_init` is `RtsOptsSafeOnly`
//! and refuses `-A` and a `-N` above the processor count, which rts-core's benchmarks need.
//! Options GHC has and rts-core does not model (`-s`, `-qg`, `-K`, ...) are unknown options
//! here, never silently ignored; `--policy=` is rts-core's own.

use crate::config::Config;
use crate::error::CallInError;
use crate::policy::PolicySet;

/// Where `hs_init`'s arguments go (Note [RTS argument split]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArgSplit {
    /// Indices into `argv` of the program's arguments, in order (`0` first).
    pub program: Vec<usize>,
    /// The RTS options, in order.
    pub rts: Vec<String>,
}

/// Split `args` (all of `argv`, `args[0]` the program name) as GHC's `setupRtsFlags` does.
pub fn split_args(args: &[String]) -> ArgSplit {
    let mut program: Vec<usize> = (0..args.len().min(1)).collect();
    let mut rts = Vec::new();
    let mut in_rts = false;
    let mut i = 1;
    while i < args.len() {
        match args[i].as_str() {
            "--RTS" => {
                i += 1;
                break;
            }
            "--" => break,
            "+RTS" => in_rts = true,
            "-RTS" => in_rts = false,
            a if in_rts => rts.push(a.to_owned()),
            _ => program.push(i),
        }
        i += 1;
    }
    program.extend(i..args.len());
    ArgSplit { program, rts }
}

/// rts-core's usage text, laid out like GHC's `usage_text` (its first lines are GHC's).
const USAGE: &[&str] = &[
    "",
    "Usage: <prog> <args> [+RTS <rtsopts> | -RTS <args>] ... --RTS <args>",
    "",
    "   +RTS    Indicates run time system options follow",
    "   -RTS    Indicates program arguments follow",
    "  --RTS    Indicates that ALL subsequent arguments will be given to the",
    "           program (including any of these RTS flags)",
    "",
    "The following run time system options are available (rts-core):",
    "",
    "  -?       Prints this message and exits; the program is not executed",
    "  -N[<n>]    Use <n> capabilities (-N alone: the number of processors this",
    "             process may run on; default: the available parallelism)",
    "  -maxN[<n>] Use up to <n> capabilities (at most the number of processors)",
    "  -A<size>   Nursery size per capability, <size>[k|m|g] (default 1m)",
    "  --policy=<default|ghc|<set>+<axis>=<set>...>",
    "             rts-core's design choices: lock-free (default) or GHC's",
    "",
];

/// The error messages followed by the usage text, one line each (`errorUsage`).
pub fn usage_report(errors: &[String]) -> String {
    let mut lines: Vec<&str> = errors.iter().map(String::as_str).collect();
    lines.extend(USAGE);
    lines.join("\n")
}

/// C's `strtol(s, NULL, 10)` as GHC uses it: leading blanks, an optional sign, then as many
/// digits as there are (none gives 0; overflow saturates like `LONG_MAX`/`LONG_MIN`).
fn strtol(s: &str) -> i64 {
    let s = s.trim_start_matches([' ', '\t', '\n', '\r', '\x0b', '\x0c']);
    let (neg, digits) = match s.as_bytes().first() {
        Some(b'-') => (true, &s[1..]),
        Some(b'+') => (false, &s[1..]),
        _ => (false, s),
    };
    let mut v: i64 = 0;
    for d in digits.bytes().take_while(u8::is_ascii_digit) {
        let d = i64::from(d - b'0');
        v = v.saturating_mul(10);
        v = if neg {
            v.saturating_sub(d)
        } else {
            v.saturating_add(d)
        };
    }
    v
}

/// GHC's `getNumberOfProcessors()` on Linux: the CPUs in this process's affinity mask (what
/// `-N` alone and `-maxN` use), or the online CPUs if the mask cannot be read.
pub fn number_of_processors() -> u32 {
    // SAFETY: `set` is a plain bit set that sched_getaffinity fills; CPU_COUNT only reads it.
    let from_mask = unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        if libc::sched_getaffinity(0, size_of::<libc::cpu_set_t>(), &mut set) == 0 {
            libc::CPU_COUNT(&set)
        } else {
            0
        }
    };
    if from_mask > 0 {
        return from_mask as u32;
    }
    // SAFETY: sysconf has no memory-safety preconditions.
    let online = unsafe { libc::sysconf(libc::_SC_NPROCESSORS_ONLN) };
    u32::try_from(online).ok().filter(|&n| n > 0).unwrap_or(1)
}

/// `<size>[k|m|g]` in bytes (rts-core's `-A`).
fn parse_size(s: &str) -> Option<usize> {
    let (num, mult) = match s.as_bytes().last()? {
        b'k' | b'K' => (&s[..s.len() - 1], 1 << 10),
        b'm' | b'M' => (&s[..s.len() - 1], 1 << 20),
        b'g' | b'G' => (&s[..s.len() - 1], 1 << 30),
        _ => (s, 1),
    };
    num.parse::<usize>().ok()?.checked_mul(mult)
}

/// Capabilities for `-N<rest>`: GHC's `strtol` value, which must be positive.
fn capabilities_n(rest: &str) -> Result<u32, String> {
    if rest.is_empty() {
        return Ok(number_of_processors());
    }
    match strtol(rest) {
        n if n <= 0 => Err("bad value for -N".into()),
        n => Ok(u32::try_from(n).unwrap_or(u32::MAX)),
    }
}

/// Capabilities for `-maxN<rest>`: at most the processor count, and positive.
fn capabilities_max_n(rest: &str) -> Result<u32, String> {
    match strtol(rest).min(i64::from(number_of_processors())) {
        n if n <= 0 => Err("bad value for -maxN".into()),
        n => Ok(n as u32),
    }
}

/// Apply one RTS option to `cfg`; `Err` is the message GHC's `errorBelch` would print (an
/// empty message for `-?`, which only asks for the usage text).
fn apply_option(cfg: &mut Config, opt: &str) -> Result<(), String> {
    if !opt.starts_with('-') {
        return Err(format!("unexpected RTS argument: {opt}"));
    }
    if opt.starts_with("-?") {
        return Err(String::new());
    }
    if let Some(rest) = opt.strip_prefix("-maxN") {
        cfg.n_capabilities = capabilities_max_n(rest)?;
    } else if let Some(rest) = opt.strip_prefix("-N") {
        cfg.n_capabilities = capabilities_n(rest)?;
    } else if let Some(rest) = opt.strip_prefix("-A") {
        cfg.nursery_bytes =
            parse_size(rest).ok_or_else(|| format!("bad value for -A: {opt} (-A<size>[k|m|g])"))?;
    } else if let Some(rest) = opt.strip_prefix("--policy=") {
        cfg.policy =
            PolicySet::parse(rest).map_err(|e| format!("bad value for --policy: {opt}: {e}"))?;
    } else {
        return Err(format!("unknown RTS option: {opt}"));
    }
    Ok(())
}

/// Parse the RTS options into a configuration (Note [RTS option errors]).
pub fn parse_options(opts: &[String]) -> Result<Config, CallInError> {
    let mut cfg = Config::default();
    let mut errors = Vec::new();
    let mut usage = false;
    for opt in opts {
        if let Err(msg) = apply_option(&mut cfg, opt) {
            usage = true;
            if !msg.is_empty() {
                errors.push(msg);
            }
        }
    }
    if usage {
        return Err(CallInError::RtsOptions { errors });
    }
    Ok(cfg)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strings(a: &[&str]) -> Vec<String> {
        a.iter().map(|s| (*s).to_owned()).collect()
    }

    fn split(a: &[&str]) -> (Vec<String>, Vec<String>) {
        let args = strings(a);
        let s = split_args(&args);
        (s.program.iter().map(|&i| args[i].clone()).collect(), s.rts)
    }

    #[test]
    fn rts_arguments_are_split_out_like_ghc() {
        let (p, r) = split(&["prog", "a", "+RTS", "-N2", "-RTS", "b"]);
        assert_eq!((p, r), (strings(&["prog", "a", "b"]), strings(&["-N2"])));
        let (p, r) = split(&["prog", "+RTS", "-N2", "-RTS", "+RTS", "-N1", "-RTS", "y"]);
        assert_eq!((p, r), (strings(&["prog", "y"]), strings(&["-N2", "-N1"])));
        let (p, r) = split(&["prog", "x", "+RTS", "-N2"]);
        assert_eq!((p, r), (strings(&["prog", "x"]), strings(&["-N2"])));
        let (p, r) = split(&["prog", "+RTS", "-N1", "-RTS", "-N2"]);
        assert_eq!((p, r), (strings(&["prog", "-N2"]), strings(&["-N1"])));
    }

    #[test]
    fn double_dash_rts_passes_the_rest_through() {
        let (p, r) = split(&["prog", "a", "--RTS", "+RTS", "-N2", "-RTS", "b"]);
        assert_eq!(p, strings(&["prog", "a", "+RTS", "-N2", "-RTS", "b"]));
        assert!(r.is_empty());
        let (p, r) = split(&["prog", "+RTS", "-N2", "--RTS", "-N1"]);
        assert_eq!((p, r), (strings(&["prog", "-N1"]), strings(&["-N2"])));
    }

    #[test]
    fn double_dash_is_kept_and_ends_rts_processing() {
        let (p, r) = split(&["prog", "a", "--", "+RTS", "-N2"]);
        assert_eq!(p, strings(&["prog", "a", "--", "+RTS", "-N2"]));
        assert!(r.is_empty());
        let (p, r) = split(&["prog", "+RTS", "-N2", "--", "x"]);
        assert_eq!((p, r), (strings(&["prog", "--", "x"]), strings(&["-N2"])));
    }

    #[test]
    fn empty_argv_splits_to_nothing() {
        assert_eq!(
            split_args(&[]),
            ArgSplit {
                program: vec![],
                rts: vec![]
            }
        );
    }

    #[test]
    fn options_parse_like_ghc() {
        let c = parse_options(&strings(&["-N3", "-A4m", "--policy=ghc"])).unwrap();
        assert_eq!(c.n_capabilities, 3);
        assert_eq!(c.nursery_bytes, 4 << 20);
        assert_eq!(c.policy, PolicySet::GHC);
        // strtol takes the leading digits, as GHC does.
        assert_eq!(
            parse_options(&strings(&["-N2x"])).unwrap().n_capabilities,
            2
        );
        let n = number_of_processors();
        assert!(n >= 1);
        assert_eq!(parse_options(&strings(&["-N"])).unwrap().n_capabilities, n);
        let max = parse_options(&strings(&["-maxN1000"])).unwrap();
        assert_eq!(max.n_capabilities, n);
    }

    fn errors_of(opts: &[&str]) -> Vec<String> {
        match parse_options(&strings(opts)) {
            Err(CallInError::RtsOptions { errors }) => errors,
            other => panic!("{opts:?}: expected RtsOptions, got {other:?}"),
        }
    }

    #[test]
    fn bad_options_are_all_reported_with_ghcs_words() {
        assert_eq!(errors_of(&["-N0"]), ["bad value for -N"]);
        assert_eq!(errors_of(&["-N-1"]), ["bad value for -N"]);
        assert_eq!(errors_of(&["-Nx"]), ["bad value for -N"]);
        assert_eq!(errors_of(&["-maxN0"]), ["bad value for -maxN"]);
        assert_eq!(
            errors_of(&["-Q", "foo", "-N0"]),
            [
                "unknown RTS option: -Q",
                "unexpected RTS argument: foo",
                "bad value for -N"
            ]
        );
        assert!(errors_of(&["-?"]).is_empty(), "-? prints only the usage");
        assert!(errors_of(&["-Ax"])[0].contains("-Ax"));
    }

    #[test]
    fn the_usage_report_follows_the_messages() {
        let text = usage_report(&["bad value for -N".into()]);
        let lines: Vec<&str> = text.split('\n').collect();
        assert_eq!(lines[0], "bad value for -N");
        assert_eq!(lines[1], "");
        assert_eq!(
            lines[2],
            "Usage: <prog> <args> [+RTS <rtsopts> | -RTS <args>] ... --RTS <args>"
        );
    }
}
