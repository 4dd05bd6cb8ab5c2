//! Renders reports from the hand-written fixtures in `reports/fixtures/` and checks what the page
//! says: every section present, numbers with units, "not measured" blocks for missing inputs,
//! baseline regressions marked, errors that name the bad file.

use callin_reports::input::{Input, NUMA_FILE, PROFILE_FILE, RUN_FILE, STEPS_FILE};
use callin_reports::schema::{
    NurseryAccess, POLICY_SET_DEFAULT, POLICY_SET_GHC, RunResults, Spread, System,
};
use callin_reports::{
    ChangeStatus, ReportError, ReportInputs, SECTIONS, compare_runs, render, write_report,
};
use std::path::{Path, PathBuf};

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures")
}

fn fixture_inputs() -> ReportInputs {
    ReportInputs::load_from_dir(&fixtures(), &fixtures().join("criterion")).expect("fixtures load")
}

/// A fresh scratch directory under target/ for this test.
fn scratch(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join("report-tests")
        .join(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn section_html<'a>(page: &'a str, id: &str) -> &'a str {
    let start = page
        .find(&format!("<section id=\"{id}\">"))
        .unwrap_or_else(|| panic!("section {id} missing"));
    let end = page[start..].find("</section>").expect("section closed") + start;
    &page[start..end]
}

/// The visible text of a section: tags removed, so checks read like the page does.
fn section_text(page: &str, id: &str) -> String {
    let mut out = String::new();
    let mut in_tag = false;
    for c in section_html(page, id).chars() {
        match c {
            '<' => in_tag = true,
            '>' => in_tag = false,
            _ if !in_tag => out.push(c),
            _ => {}
        }
    }
    out
}

#[test]
fn fixture_report_has_every_section_with_content() {
    let page = render(&fixture_inputs());
    for (id, title) in SECTIONS {
        let body = section_text(&page, id);
        assert!(body.contains(title), "section {id} lacks its title");
        assert!(
            !body.contains(" not found;"),
            "section {id} says its input is missing although it is loaded:\n{body}"
        );
    }
}

#[test]
fn numbers_carry_units() {
    let page = render(&fixture_inputs());
    let headline = section_html(&page, "headline");
    // real GHC at 1 thread, 2 threads on 2 caps, 2 threads on 1 cap; the model default at 1 thread.
    for figure in ["152.3 ns", "903.0 ns", "11.7 µs", "12.4 ns", "1.90 ns"] {
        assert!(headline.contains(figure), "headline lacks {figure}");
    }
    assert!(headline.contains("n = 7"), "headline lacks the round count");
    assert!(
        headline.contains("12.3×"),
        "real GHC ÷ default at 1 thread (152.3 / 12.4)"
    );
    let phases = section_html(&page, "phases");
    assert!(
        phases.contains("0.45 ns per phase boundary"),
        "probe overhead with unit"
    );
    assert!(
        phases.contains("probe-tsc") && phases.contains("perf-event"),
        "sources named"
    );
    assert!(
        phases.contains("ENOENT"),
        "unavailable counters keep their reason"
    );
    let latency = section_html(&page, "latency");
    assert!(latency.contains("(1 in 64)"), "sampling rate shown");
    let scaling = section_html(&page, "scaling");
    assert!(scaling.contains("calls/s"), "throughput has its unit");
    assert!(scaling.contains("<svg"), "scaling chart is inline SVG");
}

#[test]
fn skipped_cells_say_why_instead_of_zero() {
    let page = render(&fixture_inputs());
    let scaling = section_text(&page, "scaling");
    assert!(scaling.contains("not measured: fixture: 4 threads on 1 capability skipped"));
    let numa = section_text(&page, "numa");
    assert!(numa.contains("not measured: cross-node cells need a multi-node machine"));
    let phases = section_text(&page, "phases");
    assert!(phases.contains("not measured: fixture: configuration left unprofiled"));
}

#[test]
fn missing_inputs_render_not_measured_blocks() {
    let empty = scratch("missing-inputs");
    let inputs = ReportInputs::load_from_dir(&empty, &empty.join("criterion")).unwrap();
    let page = render(&inputs);
    for (id, _) in SECTIONS {
        let body = section_html(&page, id);
        assert!(
            body.contains("not measured: "),
            "section {id} has no not-measured block"
        );
    }
    assert!(
        page.contains(&format!("{RUN_FILE} not found")),
        "the reason names the file"
    );
    assert!(
        page.contains("callin-bench run"),
        "the reason names the command"
    );
    assert!(!page.contains("<svg"), "no empty chart");
    assert!(
        !page.contains(" 0.0 ns") && !page.contains(">0<"),
        "no zero stand-ins"
    );
}

#[test]
fn only_the_missing_parts_are_marked() {
    let mut inputs = fixture_inputs();
    inputs.profile = Input::Missing("profiler not run (test)".into());
    let page = render(&inputs);
    assert!(section_text(&page, "phases").contains("not measured: profiler not run (test)"));
    assert!(section_html(&page, "headline").contains("152.3 ns"));
}

#[test]
fn baseline_regressions_are_marked_with_the_threshold() {
    let page = render(&fixture_inputs());
    let body = section_html(&page, "baseline");
    assert!(body.contains("more than 10.0 %"), "the threshold is stated");
    let row = body
        .split("<tr")
        .find(|r| r.starts_with(" class=\"regression\""))
        .expect("a regression row");
    assert!(row.contains(">default<") && row.contains("2 / 2"), "{row}");
    assert!(
        row.contains("+30.7 %") && row.contains("▲ regression"),
        "{row}"
    );
    assert!(
        body.contains("▼ improvement"),
        "improvements are marked too"
    );
}

#[test]
fn comparison_classifies_each_cell() {
    let inputs = fixture_inputs();
    let (now, then) = (
        inputs.run.loaded().unwrap(),
        inputs.baseline.loaded().unwrap(),
    );
    let changes = compare_runs(now, then, callin_reports::REGRESSION_THRESHOLD);
    let status = |system, t, c| {
        changes
            .iter()
            .find(|x| x.system == system && x.threads == t && x.capabilities == c)
            .map(|x| x.status)
    };
    assert_eq!(
        status(System::Default, 2, 2),
        Some(ChangeStatus::Regression)
    );
    assert_eq!(
        status(System::GhcMode, 2, 1),
        Some(ChangeStatus::Improvement)
    );
    assert_eq!(status(System::RealGhc, 1, 1), Some(ChangeStatus::Unchanged));
    assert_eq!(
        status(System::RealGhc, 4, 1),
        None,
        "skipped cells are not compared"
    );
}

#[test]
fn page_is_self_contained() {
    let page = render(&fixture_inputs());
    assert!(!page.contains("<script"), "no scripts");
    for attr in ["src=\"http", "href=\"http", "url(http", "@import", "<link"] {
        assert!(!page.contains(attr), "external reference {attr}");
    }
}

#[test]
fn write_report_writes_page_json_and_working_links() {
    let root = scratch("write");
    let criterion = fixtures().join("criterion");
    let written = write_report(&fixture_inputs(), &root.join("reports"), &criterion).unwrap();
    assert_eq!(written.dir, root.join("reports/fixture-run-2core"));
    let page = std::fs::read_to_string(&written.html).unwrap();
    let href = page
        .split("href=\"")
        .map(|s| &s[..s.find('"').unwrap()])
        .find(|h| h.ends_with("threads_1_caps_1/report/index.html"))
        .expect("link to criterion's page");
    assert!(
        written.dir.join(href).is_file(),
        "link {href} resolves to criterion's page"
    );
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&written.json).unwrap()).unwrap();
    assert_eq!(json["run_id"], "fixture-run-2core");
    assert_eq!(
        json["inputs"]["run"]["loaded"]["run_id"],
        "fixture-run-2core"
    );
    let changes = json["baseline_comparison"].as_array().unwrap();
    assert!(changes.iter().any(|c| c["status"] == "regression"));
}

#[test]
fn malformed_input_is_an_error_naming_the_file() {
    let dir = scratch("malformed");
    std::fs::write(
        dir.join(PROFILE_FILE),
        "{ \"schema_version\": 1, \"configs\": [ }",
    )
    .unwrap();
    let err = ReportInputs::load_from_dir(&dir, &dir.join("criterion")).unwrap_err();
    assert!(matches!(err, ReportError::Json { .. }), "{err}");
    assert!(err.to_string().contains(PROFILE_FILE), "{err}");
}

#[test]
fn wrong_schema_version_is_rejected() {
    let dir = scratch("version");
    std::fs::write(dir.join(NUMA_FILE), "{ \"schema_version\": 99 }").unwrap();
    let err = ReportInputs::load_from_dir(&dir, &dir.join("criterion")).unwrap_err();
    assert!(err.to_string().contains("schema_version 99"), "{err}");
}

#[test]
fn results_round_trip_through_json() {
    let text = std::fs::read_to_string(fixtures().join(RUN_FILE)).unwrap();
    let run: RunResults = serde_json::from_str(&text).unwrap();
    let again: RunResults = serde_json::from_str(&serde_json::to_string(&run).unwrap()).unwrap();
    assert_eq!(run, again);
}

/// The legend (`ul.legend`) of the first chart in a section, as text.
fn first_legend_text(section: &str) -> String {
    let start = section.find("<ul class=\"legend\">").expect("a legend");
    let end = section[start..].find("</ul>").expect("legend closed") + start;
    section[start..end]
        .split('<')
        .filter_map(|part| part.split_once('>').map(|(_, text)| text))
        .collect()
}

#[test]
fn scaling_chart_draws_every_system_under_the_producers_policy_labels() {
    let mut inputs = fixture_inputs();
    let Input::Loaded(run) = &mut inputs.run else {
        panic!("fixture run loads")
    };
    // Label every cell exactly as `callin-bench run` does (PolicySet::label(), real GHC: `ghc -N<caps>`).
    for cell in &mut run.cells {
        cell.policy = match cell.system {
            System::Default => POLICY_SET_DEFAULT.to_owned(),
            System::GhcMode => POLICY_SET_GHC.to_owned(),
            System::RealGhc => format!("ghc -N{}", cell.capabilities),
        };
    }
    assert_eq!(POLICY_SET_DEFAULT, "default", "the producers' label");
    let page = render(&inputs);
    let legend = first_legend_text(section_html(&page, "scaling"));
    for label in [
        "default, 1 cap",
        "ghc-mode, 2 caps",
        "real-ghc 9.0.2, 1 cap",
    ] {
        assert!(
            legend.contains(label),
            "scaling legend lacks {label}: {legend}"
        );
    }
    let headline = section_text(&page, "headline");
    assert!(
        !headline.contains("no such cell"),
        "headline finds every system's cells: {headline}"
    );
}

#[test]
fn phase_bars_and_sum_use_per_call_means_with_gc_amortised() {
    let page = render(&fixture_inputs());
    let phases = section_text(&page, "phases");
    // default 1/1: gc's median when it happens is 50 ns, its mean over all calls 0.1 ns; the
    // bar's total is the sum of means (12.1 ns), not of medians (62.0 ns).
    assert!(
        phases.contains("default: 1 thread / 1 cap, mean (12.1 ns)"),
        "bar label with the sum of means:\n{phases}"
    );
    assert!(!phases.contains("62.0 ns"), "no sum of medians");
    // A profile without means falls back to medians and says so.
    // (SVG text: plotters writes the label's '-' as an entity, so the system name is left out.)
    assert!(phases.contains("2 threads / 1 cap, medians"), "{phases}");
    assert!(phases.contains("Sum of the per-phase means per call 12.1 ns vs the end-to-end mean"));
    assert!(!phases.contains("Sum of phase medians"));
}

#[test]
fn phase_section_shows_probe_cost_inflation_and_corrected_figures() {
    let page = render(&fixture_inputs());
    let phases = section_text(&page, "phases");
    assert!(phases.contains("Probe cost: 0.45 ns per phase boundary"));
    // default 1/1: probed 13.1 ns, unprobed 8.42 ns.
    assert!(phases.contains("end-to-end mean 8.42 ns"), "{phases}");
    assert!(phases.contains("the probes add 4.68 ns per call (+55.6 %)"));
    assert!(phases.contains("taken off every span: 7.00 ns"));
    // check_status (0.3 ns) is below the 0.45 ns correction: clamped and starred.
    assert!(phases.contains("0.00 ns *"), "flagged correction");
    assert!(phases.contains("the probe-cost correction exceeds the raw figure"));
    assert!(phases.contains("spans are contiguous from rts_lock's entry to rts_unlock's exit"));
}

#[test]
fn counter_columns_only_for_counters_available_somewhere() {
    let page = render(&fixture_inputs());
    let phases = section_html(&page, "phases");
    assert!(phases.contains("task-clock per op (ns)"));
    assert!(
        !phases.contains("cycles per op (") && !phases.contains("instructions per op ("),
        "no column of counters unavailable in every phase"
    );
    assert!(
        phases.contains("<code>cycles</code>: "),
        "unavailable counter listed with its reason"
    );
    assert!(phases.contains("callgrind Ir/op"), "Ir/op column");
}

#[test]
fn ablation_rows_compare_with_the_ghc_set_too() {
    let page = render(&fixture_inputs());
    let ablation = section_text(&page, "ablation");
    assert!(ablation.contains("÷ all-ghc"));
    // ghc set with the default's waiting, 1/1: 83.8 ns over the ghc-mode cell's 118.0 ns.
    assert!(ablation.contains("0.71×"), "{ablation}");
    // A skipped row has no ratio, never a zero.
    assert!(ablation.contains("not measured: "));
}

#[test]
fn a_starved_thread_keeps_its_fairness_digits() {
    let mut inputs = fixture_inputs();
    let Input::Loaded(run) = &mut inputs.run else {
        panic!("fixture run loads")
    };
    let cell = run
        .cells
        .iter_mut()
        .find(|c| c.fairness.is_some())
        .expect("a cell with fairness");
    cell.fairness.as_mut().unwrap().min_max_ratio = 1_856.0 / 999_872.0;
    let latency = section_text(&render(&inputs), "latency");
    assert!(latency.contains("0.00186"), "{latency}");
}

#[test]
fn numa_section_shows_memory_access_local_and_not_measured_remote() {
    let page = render(&fixture_inputs());
    let numa = section_text(&page, "numa");
    assert!(numa.contains("Memory access: local vs remote"));
    for figure in ["95.3 ns", "93.9 ns – 97.8 ns, n = 5", "64.0 MiB"] {
        assert!(
            numa.contains(figure),
            "memory access lacks {figure}:\n{numa}"
        );
    }
    assert!(
        numa.contains("move_pages"),
        "the source of the page check is named"
    );
    assert!(
        numa.contains(
            "not measured: remote access from node 0 to memory on node 1: \
             fixture: needs a multi-node machine"
        ),
        "{numa}"
    );
    assert!(numa.contains("Capability selection cost"));
    assert!(numa.contains("3.10 ns"), "selection cost with its unit");
}

/// Hand-written two-node memory-access cells (test data, not a measurement): local, remote on
/// the intended node, remote whose pages landed elsewhere, and remote with unreadable pages.
fn two_node_access() -> Vec<NurseryAccess> {
    let cell = |memory_node, pages_on_node, median| NurseryAccess {
        thread_node: 0,
        memory_node,
        pages_on_node,
        bytes: 64 << 20,
        ns_per_access: Some(Spread {
            median,
            min: median - 1.0,
            max: median + 1.0,
            reps: 5,
        }),
        skipped: None,
    };
    vec![
        cell(0, Some(0), 100.0),
        cell(1, Some(1), 160.0),
        cell(2, Some(0), 101.0),
        cell(3, None, 250.0),
    ]
}

#[test]
fn remote_memory_access_is_compared_with_local_and_misplaced_pages_are_flagged() {
    let mut inputs = fixture_inputs();
    let Input::Loaded(numa) = &mut inputs.numa else {
        panic!("the NUMA fixture loads")
    };
    numa.nursery_access = two_node_access();
    let page = render(&inputs);
    let text = section_text(&page, "numa");
    assert!(
        text.contains("160.0 ns") && text.contains("1.60×"),
        "{text}"
    );
    assert!(
        text.contains("250.0 ns") && text.contains("2.50×"),
        "{text}"
    );
    assert!(
        text.contains("0 (not node 2: first touch did not place them)"),
        "{text}"
    );
    assert!(text.contains("unknown (move_pages unreadable)"), "{text}");
    assert!(
        !text.contains("not measured: remote access"),
        "every cell was measured"
    );
}

#[test]
fn numa_results_without_memory_access_cells_say_so() {
    let mut inputs = fixture_inputs();
    let Input::Loaded(numa) = &mut inputs.numa else {
        panic!("the NUMA fixture loads")
    };
    numa.nursery_access.clear();
    numa.selection_cost.clear();
    let text = section_text(&render(&inputs), "numa");
    assert!(text.contains("not measured: the NUMA results have no memory-access cells"));
    assert!(text.contains("not measured: the NUMA results have no selection-cost figures"));
}

#[test]
fn criterion_median_and_mean_are_both_per_element() {
    let mut inputs = fixture_inputs();
    let Input::Loaded(benches) = &mut inputs.criterion else {
        panic!("fixture criterion loads")
    };
    let b = &mut benches[0];
    b.elements_per_iter = Some(2);
    b.median.point_estimate = 180.0;
    b.mean.point_estimate = 202.0;
    let id = b.id.clone();
    let section = section_html(&render(&inputs), "criterion").to_owned();
    let row_start = section.find(&id).expect("bench row");
    let row = &section[row_start..row_start + section[row_start..].find("</tr>").unwrap()];
    assert!(row.contains("90.0 ns"), "median per element: {row}");
    assert!(row.contains("101.0 ns"), "mean per element: {row}");
}

/// A results directory holding the fixtures' profile and a steps.tsv where `matrix` and
/// `criterion callin` failed and `numa` was skipped.
fn job_with_failures() -> PathBuf {
    let dir = scratch("job-with-failures");
    std::fs::copy(fixtures().join(PROFILE_FILE), dir.join(PROFILE_FILE)).unwrap();
    let rows = [
        "step\tstatus\tseconds\tproduces\tcommand\tdetail",
        "build\tok\t60.0\t\tbuild\t",
        "matrix\tfailed\t3.5\trun.json\tcallin-bench run\terror: real GHC child exited with status 134",
        "profile\tok\t20.0\tprofile.json\tprofile\t",
        "numa\tskipped\t0.0\tnuma.json\t\tthe build step failed",
        "criterion callin\tfailed\t1.0\t\tcargo bench -q --bench callin\terror: Unrecognized option: 'warm-up-time'",
        "criterion floor\tok\t5.0\t\tcargo bench -q --bench floor\t",
    ];
    std::fs::write(dir.join(STEPS_FILE), rows.join("\n") + "\n").unwrap();
    dir
}

#[test]
fn a_failed_step_names_itself_where_its_results_are_missing() {
    let dir = job_with_failures();
    let inputs = ReportInputs::load_from_dir(&dir, &fixtures().join("criterion")).unwrap();
    assert_eq!(
        inputs.run.get().unwrap_err(),
        "matrix failed: error: real GHC child exited with status 134"
    );
    assert_eq!(
        inputs.numa.get().unwrap_err(),
        "numa skipped: the build step failed"
    );
    assert!(
        inputs.profile.loaded().is_some(),
        "what the job has is shown"
    );
    let page = render(&inputs);
    assert!(
        section_text(&page, "headline")
            .contains("not measured: matrix failed: error: real GHC child exited with status 134")
    );
    let job = section_text(&page, "job");
    assert!(job.contains("matrix") && job.contains("failed") && job.contains("3.5 s"));
    assert!(page.contains("The main job had failed steps"));
}

#[test]
fn criterion_section_lists_every_group_the_job_ran() {
    let dir = job_with_failures();
    let inputs = ReportInputs::load_from_dir(&dir, &fixtures().join("criterion")).unwrap();
    let page = render(&inputs);
    let html = section_html(&page, "criterion");
    for group in ["callin", "floor"] {
        assert!(
            html.contains(&format!("id=\"criterion-{group}\"")),
            "group {group} has its block"
        );
        assert!(html.contains(&format!("href=\"#criterion-{group}\"")));
    }
    let text = section_text(&page, "criterion");
    assert!(text.contains(
        "not measured: criterion callin failed: error: Unrecognized option: 'warm-up-time'"
    ));
    assert!(text.contains("floor/empty_c_call/fn_pointer"));
}

#[test]
fn a_malformed_step_log_is_an_error_naming_the_file_and_line() {
    let dir = scratch("malformed-steps");
    std::fs::write(
        dir.join(STEPS_FILE),
        "step\tstatus\tseconds\tproduces\tcommand\tdetail\nmatrix\tbroken\t1\t\t\t\n",
    )
    .unwrap();
    let err = ReportInputs::load_from_dir(&dir, &dir.join("criterion")).unwrap_err();
    let msg = err.to_string();
    assert!(
        msg.contains(STEPS_FILE) && msg.contains("line 2") && msg.contains("broken"),
        "{msg}"
    );
}

#[test]
fn the_summary_comes_first_and_states_each_comparison_with_its_interval() {
    let page = render(&fixture_inputs());
    assert!(page.find("id=\"summary\"").unwrap() < page.find("id=\"manifest\"").unwrap());
    let summary = section_text(&page, "summary");
    assert!(
        summary.contains("default ran 12.")
            && summary.contains("times faster than real-ghc 9.0.2 at 1 thread, 1 capability"),
        "{summary}"
    );
    assert!(
        summary.contains("95 % interval") && summary.contains("7 paired rounds"),
        "{summary}"
    );
    let headline = section_text(&page, "headline");
    assert!(
        headline.contains("real-ghc 9.0.2 ÷ default"),
        "ratio columns by label"
    );
    assert!(
        headline.contains("Real-GHC systems") && headline.contains("c_function"),
        "{headline}"
    );
    let change = section_text(&page, "baseline");
    assert!(
        change.contains("95 % interval") && change.contains("Moses"),
        "{change}"
    );
}

#[test]
fn phase_groups_line_the_three_systems_up_with_sources_and_disagreements() {
    let page = render(&fixture_inputs());
    let phases = section_text(&page, "phases");
    assert!(
        phases.contains("Phase groups, three systems side by side"),
        "{phases}"
    );
    assert!(phases.contains("1 thread × 1 capability"), "{phases}");
    for title in ["rts-core default", "real GHC"] {
        assert!(phases.contains(title), "the cell has a {title} column");
    }
    for g in callin_reports::schema::PhaseGroup::ALL {
        assert!(phases.contains(g.name()), "group {g} has a row");
    }
    assert!(
        phases.contains("api-span med"),
        "span figures name their source and spread"
    );
    assert!(phases.contains("probe-tsc med"));
    assert!(
        phases.contains("⚠"),
        "a group whose views disagree by more than 2x is marked"
    );
    assert!(phases.contains("other"), "the samples no group took");
    assert!(
        phases.contains("unavailable: fixture: forced unavailable"),
        "a counter without value says why"
    );
    assert!(phases.contains("bytes-allocated") && phases.contains("ghc-stats"));
}
