//! Report generator: results JSON and criterion data to one self-contained HTML page.
