//! Compiles the C side of the model: the `c_function` stub, foo's closure and the floor
//! function (`stub/`), against the GHC-compatible headers in `include/`.
fn main() {
    for dir in ["stub", "include"] {
        println!("cargo:rerun-if-changed={dir}");
    }
    let objects = cc::Build::new()
        .include("include")
        .files(["stub/c_function.c", "stub/foo.c", "stub/floor.c"])
        .opt_level(2)
        .flag("-fno-strict-aliasing")
        .warnings(true)
        .extra_warnings(true)
        .compile_intermediates();
    for o in &objects {
        if o.to_string_lossy().contains("c_function") {
            println!("cargo:rustc-env=RTSCORE_STUB_OBJECT={}", o.display());
        }
    }
    cc::Build::new()
        .include("include")
        .objects(&objects)
        .compile("rtscore_stub");
}
