//! Report generator: results JSON and criterion data to one self-contained HTML page.
//!
//! [`schema`] owns the JSON types every suite command writes; the renderer reads them.

pub mod schema;
