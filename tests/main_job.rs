//! The main job (`scripts/bench.sh`): its bench groups are listed once (the `[[bench]]` targets
//! of Cargo.toml) and the README and `benches/` agree with that list; and, after
//! `scripts/bench.sh --smoke` (run by scripts/test.sh), the report it printed has every section
//! and a criterion block with estimates for every group.

use std::path::{Path, PathBuf};

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// The `name`s of Cargo.toml's `[[bench]]` tables, in order (what bench.sh's awk reads).
fn cargo_bench_targets() -> Vec<String> {
    let toml = std::fs::read_to_string(root().join("Cargo.toml")).unwrap();
    let mut out = Vec::new();
    let mut in_bench = false;
    for line in toml.lines() {
        let line = line.trim();
        if line.starts_with('[') {
            in_bench = line == "[[bench]]";
        } else if in_bench && let Some(v) = line.strip_prefix("name") {
            let v = v
                .trim_start()
                .trim_start_matches('=')
                .trim()
                .trim_matches('"');
            out.push(v.to_owned());
            in_bench = false;
        }
    }
    out
}

#[test]
fn bench_groups_are_the_cargo_bench_targets_everywhere() {
    let groups = cargo_bench_targets();
    assert!(groups.len() >= 7, "bench targets found: {groups:?}");
    let mut files: Vec<String> = std::fs::read_dir(root().join("benches"))
        .unwrap()
        .filter_map(|e| {
            let p = e.unwrap().path();
            (p.extension()? == "rs").then(|| p.file_stem().unwrap().to_string_lossy().into_owned())
        })
        .collect();
    files.sort();
    let mut sorted = groups.clone();
    sorted.sort();
    assert_eq!(
        files, sorted,
        "every benches/*.rs is a [[bench]] target (autobenches is off) and vice versa"
    );
    let readme = std::fs::read_to_string(root().join("README.md")).unwrap();
    let start = readme
        .find("\nBench groups: ")
        .expect("README has a paragraph starting `Bench groups: `");
    let list = &readme[start..];
    let list = &list[..list.find('(').expect("the list ends at its parenthesis")];
    let named: Vec<&str> = list.split('`').skip(1).step_by(2).collect();
    assert_eq!(
        named, groups,
        "README's `Bench groups:` list names the [[bench]] targets in Cargo.toml order"
    );
}

/// The report `scripts/bench.sh --smoke` printed, from `CALLIN_SMOKE_REPORT`.
fn smoke_report() -> PathBuf {
    let path = std::env::var_os("CALLIN_SMOKE_REPORT")
        .expect("CALLIN_SMOKE_REPORT names the report of `scripts/bench.sh --smoke`");
    PathBuf::from(path)
}

#[test]
#[ignore = "needs the report of `scripts/bench.sh --smoke` in CALLIN_SMOKE_REPORT (scripts/test.sh sets it)"]
fn smoke_report_has_every_section_and_every_group() {
    let report = smoke_report();
    let page = std::fs::read_to_string(&report)
        .unwrap_or_else(|e| panic!("cannot read the smoke report {}: {e}", report.display()));
    for (id, title) in callin_reports::SECTIONS {
        assert!(
            page.contains(&format!("<section id=\"{id}\">")),
            "section {id} ({title}) missing from {}",
            report.display()
        );
    }
    let results = std::env::var_os("CALLIN_SMOKE_RESULTS")
        .map(PathBuf::from)
        .expect("CALLIN_SMOKE_RESULTS names the smoke job's results directory");
    let steps = callin_reports::input::load_steps(&results.join(callin_reports::input::STEPS_FILE))
        .expect("steps.tsv parses");
    let steps = steps.loaded().expect("the smoke job wrote steps.tsv");
    for s in steps {
        assert_ne!(
            s.status,
            callin_reports::input::StepStatus::Failed,
            "step {} failed: {}",
            s.step,
            s.detail
        );
    }
    let ran: Vec<&str> = steps.iter().filter_map(|s| s.criterion_group()).collect();
    assert_eq!(ran, cargo_bench_targets(), "the job ran every bench group");
    let criterion = &page[page.find("<section id=\"criterion\">").unwrap()..];
    let criterion = &criterion[..criterion.find("</section>").unwrap()];
    for g in ran {
        let block = criterion
            .split("<h3 id=\"criterion-")
            .find(|b| b.starts_with(&format!("{g}\"")))
            .unwrap_or_else(|| panic!("criterion section has no block for group {g}"));
        assert!(
            block.contains(&format!("<code>{g}/")),
            "group {g} has no benchmark estimates in the report"
        );
        assert!(!block.contains("not measured"), "group {g}: {block}");
    }
}
