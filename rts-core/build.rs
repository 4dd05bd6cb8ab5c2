//! Compiles the C side of the model: the `c_function` stub (see `stub/`).
fn main() {
    println!("cargo:rerun-if-changed=build.rs");
}
