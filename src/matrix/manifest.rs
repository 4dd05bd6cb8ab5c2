//! The machine manifest of a run: CPU, cores, NUMA nodes, kernel, toolchain, git state, date
//! and which perf counters open here. Every probe that fails records `None` or a reason.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;
use std::time::{SystemTime, UNIX_EPOCH};

use callin_reports::schema::{CounterAvailability, GhcInfo, Manifest};

use crate::profile::counters::CounterSet;

/// Collect the manifest; `ghc` comes from the caller (it knows whether the baseline built).
pub fn collect(ghc: GhcInfo, config: BTreeMap<String, String>) -> Manifest {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let (git_commit, git_dirty) = git_state();
    Manifest {
        cpu_model: cpu_model(&cpuinfo).unwrap_or_else(|| "unknown".into()),
        cores: std::thread::available_parallelism().map_or(1, |n| n.get() as u32),
        physical_cores: physical_cores(&cpuinfo),
        numa_nodes: numa_nodes(),
        kernel: read_trimmed("/proc/sys/kernel/osrelease").unwrap_or_else(|| "unknown".into()),
        rustc: command_line("rustc", &["--version"]).unwrap_or_else(|| "unknown".into()),
        ghc,
        git_commit,
        git_dirty,
        date: rfc3339_utc(SystemTime::now()),
        counters: counters(),
        config,
    }
}

fn cpu_model(cpuinfo: &str) -> Option<String> {
    cpuinfo
        .lines()
        .find(|l| l.starts_with("model name"))
        .and_then(|l| l.split_once(':'))
        .map(|(_, v)| v.trim().to_owned())
}

/// Distinct (physical id, core id) pairs, when `/proc/cpuinfo` lists them.
fn physical_cores(cpuinfo: &str) -> Option<u32> {
    let mut pairs = std::collections::BTreeSet::new();
    for block in cpuinfo.split("\n\n") {
        let field = |k: &str| {
            block
                .lines()
                .find(|l| l.starts_with(k))
                .and_then(|l| l.split_once(':'))
                .map(|(_, v)| v.trim().to_owned())
        };
        if let Some(core) = field("core id") {
            pairs.insert((field("physical id").unwrap_or_default(), core));
        }
    }
    (!pairs.is_empty()).then_some(pairs.len() as u32)
}

fn numa_nodes() -> u32 {
    let n = std::fs::read_dir("/sys/devices/system/node")
        .map(|d| {
            d.filter_map(Result::ok)
                .filter(|e| {
                    let name = e.file_name();
                    let name = name.to_string_lossy();
                    name.strip_prefix("node")
                        .is_some_and(|r| !r.is_empty() && r.bytes().all(|b| b.is_ascii_digit()))
                })
                .count()
        })
        .unwrap_or(0);
    n.max(1) as u32
}

fn read_trimmed(path: impl AsRef<Path>) -> Option<String> {
    std::fs::read_to_string(path)
        .ok()
        .map(|s| s.trim().to_owned())
}

/// First line of a command's stdout, if it ran and succeeded.
pub fn command_line(cmd: &str, args: &[&str]) -> Option<String> {
    let out = Command::new(cmd).args(args).output().ok()?;
    out.status.success().then(|| {
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .next()
            .unwrap_or("")
            .trim()
            .to_owned()
    })
}

fn git_state() -> (Option<String>, Option<bool>) {
    let root = env!("CARGO_MANIFEST_DIR");
    let commit = command_line("git", &["-C", root, "rev-parse", "HEAD"]);
    let dirty = Command::new("git")
        .args(["-C", root, "status", "--porcelain", "--untracked-files=no"])
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| !o.stdout.is_empty());
    (commit, dirty)
}

fn counters() -> Vec<CounterAvailability> {
    [CounterSet::hardware(), CounterSet::software()]
        .iter()
        .flat_map(|set| {
            set.statuses()
                .into_iter()
                .map(|(name, why)| CounterAvailability {
                    name: name.to_owned(),
                    available: why.is_none(),
                    unavailable_reason: why.map(str::to_owned),
                })
                .collect::<Vec<_>>()
        })
        .collect()
}

/// `YYYY-MM-DDTHH:MM:SSZ` for `t` (UTC).
pub fn rfc3339_utc(t: SystemTime) -> String {
    let secs = t.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
    let (days, rem) = (secs / 86_400, secs % 86_400);
    let (y, m, d) = civil_from_days(days as i64);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// Days since 1970-01-01 to (year, month, day), proleptic Gregorian (H. Hinnant's algorithm).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn dates_format_as_rfc3339() {
        assert_eq!(rfc3339_utc(UNIX_EPOCH), "1970-01-01T00:00:00Z");
        let t = UNIX_EPOCH + Duration::from_secs(1_709_210_096); // 2024-02-29 12:34:56
        assert_eq!(rfc3339_utc(t), "2024-02-29T12:34:56Z");
    }

    #[test]
    fn cpuinfo_fields_parse() {
        let text = "model name\t: Test CPU\nphysical id\t: 0\ncore id\t: 0\n\n\
                    model name\t: Test CPU\nphysical id\t: 0\ncore id\t: 1\n\n\
                    model name\t: Test CPU\nphysical id\t: 0\ncore id\t: 1\n";
        assert_eq!(cpu_model(text).as_deref(), Some("Test CPU"));
        assert_eq!(physical_cores(text), Some(2));
        assert_eq!(physical_cores(""), None);
    }
}
