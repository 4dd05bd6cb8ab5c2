//! A lock-free Rust model of the GHC RTS call-in machinery.
