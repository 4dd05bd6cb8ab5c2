//! The round engine: owns measuring a set of systems over a set of (threads, caps)
//! configurations in paired rounds. Every (system, capability count) gets one worker process
//! ([`super::worker`]), started before the first round and kept until the last; each round
//! measures every system of every configuration once, in an order rotated by one position per
//! round (round r starts with system r mod n), so no system always runs first or right after
//! the same neighbour. A cell whose worker cannot start, or fails in a round, is skipped with
//! the reason; a `required` system that cannot start stops the run before anything is measured.

use std::collections::BTreeMap;
use std::time::Duration;

use callin_reports::schema::Cell;
use indicatif::ProgressBar;

use super::cells::{self, RoundResult};
use super::contender::Contender;
use super::worker::Worker;

/// A cell's rounds so far, or why it failed.
type CellRounds = Result<Vec<RoundResult>, String>;

/// What to measure.
pub struct Rounds<'a> {
    pub contenders: &'a [Contender],
    pub configs: &'a [(u32, u32)],
    pub rounds: u32,
    pub round: Duration,
}

/// Index of the system measured `k`-th in round `r` of `n` systems.
pub fn rotation(k: usize, r: u32, n: usize) -> usize {
    (k + r as usize) % n
}

/// Measure; cells in (config, contender) order. `Err` only for a required system that could
/// not start, naming it.
pub fn measure(m: &Rounds<'_>, bar: &ProgressBar) -> anyhow::Result<Vec<Cell>> {
    let n = m.contenders.len();
    let mut caps: Vec<u32> = m.configs.iter().map(|&(_, c)| c).collect();
    caps.sort_unstable();
    caps.dedup();
    // (contender, caps) -> worker, or why there is none.
    let mut workers: BTreeMap<(usize, u32), Result<Worker, String>> = BTreeMap::new();
    for (i, c) in m.contenders.iter().enumerate() {
        for &cap in &caps {
            bar.set_message(format!("starting {} -N{cap}", c.label));
            let w = Worker::start(&c.launch, cap);
            if let (Err(e), true) = (&w, c.required) {
                anyhow::bail!("{} at {cap} capabilities cannot start: {e}", c.label);
            }
            workers.insert((i, cap), w);
        }
    }
    // (contender, config) -> rounds so far, or why the cell failed.
    let mut results: BTreeMap<(usize, (u32, u32)), CellRounds> = BTreeMap::new();
    for r in 0..m.rounds {
        for &(threads, cap) in m.configs {
            for k in 0..n {
                let i = rotation(k, r, n);
                let entry = results
                    .entry((i, (threads, cap)))
                    .or_insert_with(|| Ok(Vec::new()));
                let Ok(done) = entry else { continue };
                bar.set_message(format!(
                    "round {}/{} {} {}",
                    r + 1,
                    m.rounds,
                    m.contenders[i].label,
                    super::config_id(threads, cap)
                ));
                let got = match workers.get_mut(&(i, cap)).expect("started above") {
                    Ok(w) => w.measure(threads, m.round),
                    Err(why) => Err(why.clone()),
                };
                match got {
                    Ok(one) => done.push(one),
                    Err(e) => {
                        let why = if r == 0 {
                            e
                        } else {
                            format!("round {}: {e}", r + 1)
                        };
                        *entry = Err(why);
                    }
                }
                bar.inc(1);
            }
        }
    }
    drop(workers);
    let mut out = Vec::new();
    for &(threads, cap) in m.configs {
        for (i, c) in m.contenders.iter().enumerate() {
            out.push(match results.remove(&(i, (threads, cap))) {
                Some(Ok(rounds)) if !rounds.is_empty() => {
                    cells::cell_from_rounds(c, threads, cap, &rounds)
                }
                Some(Err(why)) => cells::skipped_cell(c, threads, cap, &why),
                _ => cells::skipped_cell(c, threads, cap, "no rounds were run"),
            });
        }
    }
    Ok(out)
}

/// Progress steps of `m`.
pub fn steps(m: &Rounds<'_>) -> u64 {
    u64::from(m.rounds) * (m.configs.len() * m.contenders.len()) as u64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rotation_starts_each_round_one_system_later() {
        let order = |r| (0..3).map(|k| rotation(k, r, 3)).collect::<Vec<_>>();
        assert_eq!(order(0), [0, 1, 2]);
        assert_eq!(order(1), [1, 2, 0]);
        assert_eq!(order(2), [2, 0, 1]);
        assert_eq!(order(3), [0, 1, 2]);
    }
}
