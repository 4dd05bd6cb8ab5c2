//! The report crate's one error type: bad or unreadable input, and failed writes.

use std::fmt;
use std::path::{Path, PathBuf};

/// Why loading inputs or writing the report failed; every variant names the file.
#[derive(Debug)]
#[non_exhaustive]
pub enum ReportError {
    /// Reading or writing `path` failed.
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// `path` is not valid JSON of the expected shape.
    Json {
        /// The file.
        path: PathBuf,
        /// serde's message, with line and column.
        source: serde_json::Error,
    },
    /// `path` has a `schema_version` this build does not read.
    SchemaVersion {
        /// The file.
        path: PathBuf,
        /// The version found (`None` when the field is missing or not a number).
        found: Option<u64>,
        /// The version this build reads.
        expected: u32,
    },
    /// `path` is a text input (the main job's step log) whose content is not of its format.
    Malformed {
        /// The file.
        path: PathBuf,
        /// What is wrong, with the line.
        detail: String,
    },
    /// A run id that cannot be a single directory name.
    BadRunId(String),
}

impl ReportError {
    pub(crate) fn io(path: &Path, source: std::io::Error) -> Self {
        ReportError::Io {
            path: path.to_owned(),
            source,
        }
    }

    pub(crate) fn json(path: &Path, source: serde_json::Error) -> Self {
        ReportError::Json {
            path: path.to_owned(),
            source,
        }
    }
}

impl fmt::Display for ReportError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ReportError::Io { path, source } => write!(f, "{}: {source}", path.display()),
            ReportError::Json { path, source } => {
                write!(f, "{}: not a valid report input: {source}", path.display())
            }
            ReportError::SchemaVersion {
                path,
                found: Some(found),
                expected,
            } => write!(
                f,
                "{}: schema_version {found}, this build reads version {expected}",
                path.display()
            ),
            ReportError::SchemaVersion {
                path,
                found: None,
                expected,
            } => write!(
                f,
                "{}: no numeric schema_version field (expected {expected})",
                path.display()
            ),
            ReportError::Malformed { path, detail } => {
                write!(f, "{}: not a valid step log: {detail}", path.display())
            }
            ReportError::BadRunId(id) => write!(
                f,
                "run id {id:?} cannot be used as a directory name (empty, '.', '..' or contains '/' or '\\')"
            ),
        }
    }
}

impl std::error::Error for ReportError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            ReportError::Io { source, .. } => Some(source),
            ReportError::Json { source, .. } => Some(source),
            _ => None,
        }
    }
}
