//! Writing a command's results file: every JSON the suite writes (`run.json`, `profile.json`,
//! `topology.json`, `numa.json`, under [`crate::paths::results_dir`] by default) goes through
//! [`write_json`], so they share one format and one error message.

use std::path::Path;

use anyhow::Context;

/// Write `value` as pretty JSON (with a final newline) to `path`, creating its directory.
///
/// # Errors
/// The directory cannot be created or the file cannot be written; the error names the path.
pub fn write_json<T: serde::Serialize>(path: &Path, value: &T) -> anyhow::Result<()> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    let text = serde_json::to_string_pretty(value)?;
    std::fs::write(path, text + "\n").with_context(|| format!("writing {}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_pretty_json_into_a_new_directory_and_names_a_bad_path() {
        let dir = std::env::temp_dir().join(format!("callin-results-{}", std::process::id()));
        let path = dir.join("nested/out.json");
        write_json(&path, &serde_json::json!({ "a": 1 })).unwrap();
        assert_eq!(
            std::fs::read_to_string(&path).unwrap(),
            "{\n  \"a\": 1\n}\n"
        );
        // A file where the directory should be.
        let err = write_json(&path.join("x.json"), &1).unwrap_err();
        assert!(format!("{err:#}").contains("out.json"), "{err:#}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
