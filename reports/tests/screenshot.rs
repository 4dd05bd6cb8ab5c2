//! Renders the fixture report and screenshots it with headless Chromium through
//! `scripts/screenshot-report.sh`. Chromium is required (`scripts/setup.sh` installs it): without
//! it the test fails naming it.

use callin_reports::{ReportInputs, write_report};
use std::path::Path;
use std::process::Command;

fn chromium_installed() -> bool {
    ["chromium", "chromium-browser"].iter().any(|b| {
        Command::new("sh")
            .args(["-c", &format!("command -v {b}")])
            .output()
            .is_ok_and(|o| o.status.success())
    })
}

/// Width and height from a PNG's IHDR chunk.
fn png_size(bytes: &[u8]) -> (u32, u32) {
    assert_eq!(&bytes[..8], b"\x89PNG\r\n\x1a\n", "not a PNG");
    let be = |i: usize| u32::from_be_bytes(bytes[i..i + 4].try_into().unwrap());
    (be(16), be(20))
}

#[test]
fn fixture_report_screenshot() {
    assert!(
        chromium_installed(),
        "chromium is not installed: run scripts/setup.sh (it installs the Debian package chromium)"
    );
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    let fixtures = manifest.join("fixtures");
    let workspace = manifest.parent().unwrap();
    let inputs = ReportInputs::load_from_dir(&fixtures, &fixtures.join("criterion")).unwrap();
    let root = Path::new(env!("CARGO_TARGET_TMPDIR")).join("report-screenshot");
    let written = write_report(&inputs, &root, &fixtures.join("criterion")).unwrap();
    let png = workspace.join("target/screenshots/fixture-report.png");
    let out = Command::new(workspace.join("scripts/screenshot-report.sh"))
        .arg(&written.html)
        .arg(&png)
        .output()
        .expect("run scripts/screenshot-report.sh");
    assert!(
        out.status.success(),
        "screenshot script failed: {}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let (w, h) = png_size(&std::fs::read(&png).unwrap());
    assert_eq!((w, h), (1400, 4000), "window size from the script");
    println!(
        "screenshot of {}: {}",
        written.html.display(),
        png.display()
    );
}
