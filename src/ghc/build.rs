//! Building Haskell sources into a baseline library: owns the one way the harness turns `.hs`
//! (and optional `.c`) files into a shared library linked against a toolchain's threaded RTS,
//! caching it by a content hash, checking the toolchain's `RtsConfig` layout, and reading the
//! exports GHC's generated `*_stub.h` headers declare.
//!
//! A [`LibrarySpec`] is everything that decides the library: the project's baseline
//! ([`LibrarySpec::project`]), a user's `--hs` files, or a variant with extra C sources and link
//! flags (e.g. `-optl-Wl,--wrap=rts_lock` plus a C file defining `__wrap_rts_lock`). The cache
//! key is a SHA-256 over the spec's file contents, flags, the toolchain's version and location
//! and [`BUILDER_VERSION`]; the library lives in `<dir>/<key>/` with a `build.json` saying what
//! it is, where `<dir>` is `<target>/ghc-libs/` on the host and `/var/cache/callin-bench/ghc-libs/`
//! inside a rooted toolchain's root (itself under `<target>/`).
//!
//! Compile errors are GHC's own output (paths of copied sources mapped back to the originals).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::GhcError;
use super::toolchain::Toolchain;
use crate::driver::{CType, Signature, type_list};

/// Bump when the build command or `build.json` changes, so cached libraries are rebuilt.
const BUILDER_VERSION: u32 = 1;

/// The C program printing `RtsConfig`'s layout against a toolchain's own headers.
const LAYOUT_PROGRAM: &str = "ghc/rtsconfig_layout.c";

/// What to build.
#[derive(Debug, Clone)]
pub struct LibrarySpec {
    /// Names the library file (`lib<name>.so`) and messages: `callin_ghc`, `user`, ...
    pub name: String,
    /// Haskell sources, in the order given to ghc.
    pub hs_sources: Vec<PathBuf>,
    /// C sources compiled and linked into the library (e.g. `--wrap` wrappers).
    pub c_sources: Vec<PathBuf>,
    /// Extra ghc flags (`-optc-O2`, `-DPROFILE`, ...).
    pub ghc_flags: Vec<String>,
    /// Extra link flags, passed as given (`-optl-Wl,--wrap=rts_lock`, `-lm`).
    pub link_flags: Vec<String>,
}

impl LibrarySpec {
    /// The project's baseline: `ghc/Fun.hs` + `ghc/Export.hs`, exporting `c_function`.
    pub fn project() -> LibrarySpec {
        let root = super::artifact::package_root();
        LibrarySpec {
            name: "callin_ghc".into(),
            hs_sources: vec![root.join("ghc/Fun.hs"), root.join("ghc/Export.hs")],
            c_sources: Vec::new(),
            ghc_flags: Vec::new(),
            link_flags: Vec::new(),
        }
    }

    /// A user's sources (`--hs`), as given.
    pub fn user(hs_sources: Vec<PathBuf>) -> LibrarySpec {
        LibrarySpec {
            name: "user".into(),
            hs_sources,
            c_sources: Vec::new(),
            ghc_flags: Vec::new(),
            link_flags: Vec::new(),
        }
    }

    fn sources(&self) -> impl Iterator<Item = &PathBuf> {
        self.hs_sources.iter().chain(&self.c_sources)
    }
}

/// One `extern` declaration of a `*_stub.h`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StubDecl {
    pub name: String,
    /// C result type as declared (`HsInt`, `void`, ...).
    pub ret: String,
    /// C argument types as declared (empty for `void`).
    pub args: Vec<String>,
    /// The header that declares it.
    pub header: String,
}

impl StubDecl {
    /// The driver signature of this export, or why the driver cannot call it.
    pub fn signature(&self) -> Result<Signature, String> {
        let decl = format!("{} {}({})", self.ret, self.name, self.args.join(", "));
        let ty = |c: &str, what: &str| {
            CType::from_c_name(c).ok_or_else(|| {
                format!(
                    "`{decl}` ({}): its {what} is {c}; the driver passes {}",
                    self.header,
                    type_list()
                )
            })
        };
        match &self.args[..] {
            [one] => Ok(Signature {
                arg: ty(one, "argument")?,
                ret: ty(&self.ret, "result")?,
            }),
            args => Err(format!(
                "`{decl}` ({}) takes {} arguments; the driver passes exactly one",
                self.header,
                args.len()
            )),
        }
    }
}

/// A library the builder made (or found in its cache).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct BuiltLibrary {
    /// The library as the worker process opens it (inside the toolchain's root, if any).
    pub library: PathBuf,
    /// SHA-256 of the sources (file names and contents), hex: what results call the source hash.
    pub source_hash: String,
    /// The cache key (sources, flags, toolchain, builder version), hex.
    pub key: String,
    pub ghc_version: String,
    /// The RTS the library links (inside path).
    pub rts_library: PathBuf,
    /// Every export the stub headers declare, by C name.
    pub exports: BTreeMap<String, StubDecl>,
    /// `rtsconfig_*` keys printed by `ghc/rtsconfig_layout.c` against the toolchain's header.
    pub c_layout: BTreeMap<String, usize>,
}

impl BuiltLibrary {
    /// The signature of export `name`, or an error naming what the stubs declare instead.
    pub fn export_signature(&self, name: &str) -> Result<Signature, GhcError> {
        let decl = self.exports.get(name).ok_or_else(|| GhcError::BadExport {
            export: name.to_owned(),
            why: if self.exports.is_empty() {
                "the sources declare no `foreign export ccall`".to_owned()
            } else {
                format!(
                    "not exported; GHC's stubs declare {}",
                    self.exports.keys().cloned().collect::<Vec<_>>().join(", ")
                )
            },
        })?;
        decl.signature().map_err(|why| GhcError::BadExport {
            export: name.to_owned(),
            why,
        })
    }
}

fn sha256_hex(parts: &[&[u8]]) -> String {
    let mut h = Sha256::new();
    for p in parts {
        // Length-prefixed, so ("ab", "c") and ("a", "bc") differ.
        h.update((p.len() as u64).to_le_bytes());
        h.update(p);
    }
    h.finalize().iter().map(|b| format!("{b:02x}")).collect()
}

fn read_source(p: &Path) -> Result<Vec<u8>, GhcError> {
    std::fs::read(p).map_err(|e| GhcError::Build(format!("cannot read {}: {e}", p.display())))
}

/// The cache directory of `toolchain` (host path).
fn cache_dir(toolchain: &Toolchain) -> PathBuf {
    match &toolchain.root {
        Some(_) => toolchain.host_path(Path::new("/var/cache/callin-bench/ghc-libs")),
        None => super::artifact::package_root()
            .join(crate::paths::target_dir())
            .join("ghc-libs"),
    }
}

/// Build `spec` with `toolchain`, or return the cached build.
pub fn build(toolchain: &Toolchain, spec: &LibrarySpec) -> Result<BuiltLibrary, GhcError> {
    let mut contents = Vec::new();
    for p in spec.sources() {
        let name = p
            .file_name()
            .map_or(Vec::new(), |n| n.as_encoded_bytes().to_vec());
        contents.push(name);
        contents.push(read_source(p)?);
    }
    let layout = read_source(&super::artifact::package_root().join(LAYOUT_PROGRAM))?;
    let refs: Vec<&[u8]> = contents.iter().map(Vec::as_slice).collect();
    let source_hash = sha256_hex(&refs);
    let mut key_parts = vec![
        BUILDER_VERSION.to_string().into_bytes(),
        source_hash.clone().into_bytes(),
        toolchain.version.to_string().into_bytes(),
        toolchain.ghc.as_os_str().as_encoded_bytes().to_vec(),
        toolchain
            .root
            .as_ref()
            .map_or(Vec::new(), |r| r.as_os_str().as_encoded_bytes().to_vec()),
        spec.name.clone().into_bytes(),
        layout,
    ];
    key_parts.extend(
        spec.ghc_flags
            .iter()
            .chain(&spec.link_flags)
            .map(|f| f.clone().into_bytes()),
    );
    let key_refs: Vec<&[u8]> = key_parts.iter().map(Vec::as_slice).collect();
    let key = sha256_hex(&key_refs)[..16].to_owned();
    let dir = cache_dir(toolchain).join(&key);
    let record = dir.join("build.json");
    if let Ok(text) = std::fs::read_to_string(&record)
        && let Ok(built) = serde_json::from_str::<BuiltLibrary>(&text)
        && toolchain.host_path(&built.library).exists()
    {
        return Ok(built);
    }
    let built = build_fresh(toolchain, spec, &dir, key, source_hash)?;
    let text = serde_json::to_string_pretty(&built).expect("BuiltLibrary serialises");
    std::fs::write(&record, text)
        .map_err(|e| GhcError::Build(format!("cannot write {}: {e}", record.display())))?;
    Ok(built)
}

fn build_fresh(
    toolchain: &Toolchain,
    spec: &LibrarySpec,
    dir: &Path,
    key: String,
    source_hash: String,
) -> Result<BuiltLibrary, GhcError> {
    let io = |what: &str, p: &Path, e: std::io::Error| {
        GhcError::Build(format!("cannot {what} {}: {e}", p.display()))
    };
    // Start clean: a half-written directory from an interrupted build is never reused.
    if dir.exists() {
        std::fs::remove_dir_all(dir).map_err(|e| io("remove", dir, e))?;
    }
    let src = dir.join("src");
    std::fs::create_dir_all(&src).map_err(|e| io("create", &src, e))?;
    // Rooted toolchains see only the root: copy the sources in (names kept, so module lookup
    // and messages stay the same), and map the copies' paths in ghc's messages back.
    let mut sources = Vec::new();
    let mut renames = Vec::new();
    for p in spec.sources() {
        if toolchain.root.is_none() {
            sources.push(std::path::absolute(p).map_err(|e| io("resolve", p, e))?);
            continue;
        }
        let name = p
            .file_name()
            .ok_or_else(|| GhcError::Build(format!("{} is not a file", p.display())))?;
        let copy = src.join(name);
        if copy.exists() {
            return Err(GhcError::Build(format!(
                "two sources are named {}; a rooted build copies them into one directory",
                name.to_string_lossy()
            )));
        }
        std::fs::copy(p, &copy).map_err(|e| io("copy", p, e))?;
        let inside = toolchain.inside_path(&copy);
        renames.push((inside.display().to_string(), p.display().to_string()));
        sources.push(inside);
    }
    let inside = |p: &Path| toolchain.inside_path(p);
    let lib = dir.join(format!("lib{}.so", spec.name));
    let rts_dir = toolchain.rts_library.parent().unwrap_or(Path::new("/"));
    let rts_link = toolchain
        .rts_library
        .file_name()
        .and_then(|n| n.to_str())
        .and_then(|n| n.strip_prefix("lib"))
        .and_then(|n| n.strip_suffix(".so"))
        .expect("a libHSrts*.so file name");
    let mut args: Vec<String> = ["-O2", "-dynamic", "-shared", "-fPIC", "-threaded"]
        .map(String::from)
        .to_vec();
    let path_arg = |flag: &str, p: &Path| format!("{flag}{}", p.display());
    args.push(path_arg("-outputdir", &inside(&dir.join("build"))));
    args.push(path_arg("-stubdir", &inside(&dir.join("stubs"))));
    args.push("-o".into());
    args.push(inside(&lib).display().to_string());
    args.extend(spec.ghc_flags.iter().cloned());
    args.extend(sources.iter().map(|s| s.display().to_string()));
    args.push(path_arg("-L", rts_dir));
    args.push(format!("-l{rts_link}"));
    args.push(path_arg("-optl-Wl,-rpath,", rts_dir));
    args.extend(spec.link_flags.iter().cloned());
    run_ghc(toolchain, &args, &renames, "compiling")?;

    let exports = read_stubs(&dir.join("stubs"))?;
    let c_layout = rts_config_layout(toolchain)?;
    Ok(BuiltLibrary {
        library: inside(&lib),
        source_hash,
        key,
        ghc_version: toolchain.version.to_string(),
        rts_library: toolchain.rts_library.clone(),
        exports,
        c_layout,
    })
}

/// `RtsConfig`'s size and field offsets as `ghc/rtsconfig_layout.c` prints them, compiled by
/// `toolchain`'s ghc against its own `Rts.h` (cached per toolchain and program).
pub fn rts_config_layout(toolchain: &Toolchain) -> Result<BTreeMap<String, usize>, GhcError> {
    let program_path = super::artifact::package_root().join(LAYOUT_PROGRAM);
    let program = read_source(&program_path)?;
    let key = sha256_hex(&[
        &program,
        toolchain.version.to_string().as_bytes(),
        toolchain.ghc.as_os_str().as_encoded_bytes(),
        toolchain
            .root
            .as_deref()
            .map_or(&[][..], |r| r.as_os_str().as_encoded_bytes()),
    ])[..16]
        .to_owned();
    let dir = cache_dir(toolchain).join(format!("layout-{key}"));
    let record = dir.join("layout.json");
    if let Ok(text) = std::fs::read_to_string(&record)
        && let Ok(layout) = serde_json::from_str(&text)
    {
        return Ok(layout);
    }
    let io = |what: &str, p: &Path, e: std::io::Error| {
        GhcError::Build(format!("cannot {what} {}: {e}", p.display()))
    };
    std::fs::create_dir_all(&dir).map_err(|e| io("create", &dir, e))?;
    let src = dir.join("rtsconfig_layout.c");
    std::fs::write(&src, &program).map_err(|e| io("write", &src, e))?;
    let inside = |p: &Path| toolchain.inside_path(p);
    let exe = dir.join("rtsconfig_layout");
    let args = vec![
        "-no-hs-main".to_owned(),
        format!("-outputdir{}", inside(&dir.join("build")).display()),
        "-o".into(),
        inside(&exe).display().to_string(),
        inside(&src).display().to_string(),
    ];
    run_ghc(
        toolchain,
        &args,
        &[],
        "compiling the RtsConfig layout check",
    )?;
    let out = toolchain
        .command(&inside(&exe), &[])?
        .output()
        .map_err(|e| io("run", &exe, e))?;
    if !out.status.success() {
        return Err(GhcError::Build(format!(
            "{} failed: {}",
            exe.display(),
            out.status
        )));
    }
    let layout: BTreeMap<String, usize> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| {
            v.trim()
                .parse()
                .map(|n| (k.to_owned(), n))
                .map_err(|_| GhcError::Layout(format!("{k}={v} is not a number")))
        })
        .collect::<Result<_, _>>()?;
    let text = serde_json::to_string(&layout).expect("a map serialises");
    std::fs::write(&record, text).map_err(|e| io("write", &record, e))?;
    Ok(layout)
}

/// Run ghc; on failure the error is ghc's own output, with copied paths mapped back.
fn run_ghc(
    toolchain: &Toolchain,
    args: &[String],
    renames: &[(String, String)],
    what: &str,
) -> Result<(), GhcError> {
    let out = toolchain
        .command(&toolchain.ghc, &[])?
        .args(args)
        .output()
        .map_err(|e| GhcError::Build(format!("cannot run {}: {e}", toolchain.ghc.display())))?;
    if out.status.success() {
        return Ok(());
    }
    let mut text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    for (copy, original) in renames {
        text = text.replace(copy, original);
    }
    Err(GhcError::Compile {
        ghc: toolchain.describe(),
        what: what.to_owned(),
        output: text.trim().to_owned(),
    })
}

/// Every `extern T name(args);` in the `*_stub.h` files of `dir`.
fn read_stubs(dir: &Path) -> Result<BTreeMap<String, StubDecl>, GhcError> {
    let mut out = BTreeMap::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Ok(out); // no foreign export at all: ghc writes no stub
    };
    let mut files: Vec<PathBuf> = entries.filter_map(Result::ok).map(|e| e.path()).collect();
    files.sort();
    for f in files
        .iter()
        .filter(|f| f.to_string_lossy().ends_with("_stub.h"))
    {
        let text = std::fs::read_to_string(f)
            .map_err(|e| GhcError::Build(format!("cannot read {}: {e}", f.display())))?;
        let header = f
            .file_name()
            .unwrap_or_default()
            .to_string_lossy()
            .into_owned();
        for d in parse_stub_header(&text, &header) {
            out.insert(d.name.clone(), d);
        }
    }
    Ok(out)
}

/// The `extern` declarations of one stub header, e.g. `extern HsInt c_function(HsInt a1);`.
pub fn parse_stub_header(text: &str, header: &str) -> Vec<StubDecl> {
    text.lines()
        .filter_map(|line| {
            let decl = line.trim().strip_prefix("extern ")?.strip_suffix(");")?;
            let (head, args) = decl.split_once('(')?;
            let (ret, name) = head.trim().rsplit_once(char::is_whitespace)?;
            let args = args
                .split(',')
                .map(str::trim)
                .filter(|a| !a.is_empty() && *a != "void")
                .map(|a| {
                    a.rsplit_once(char::is_whitespace)
                        .map_or(a, |(t, _)| t)
                        .trim()
                        .to_owned()
                })
                .collect();
            Some(StubDecl {
                name: name.trim().to_owned(),
                ret: ret.trim().to_owned(),
                args,
                header: header.to_owned(),
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stub_headers_parse_into_signatures() {
        let text = "#include <HsFFI.h>\nextern \"C\" {\nextern HsInt c_function(HsInt a1);\n\
                    extern HsDouble scale(HsInt32 a1);\nextern HsInt add(HsInt a1, HsInt a2);\n\
                    extern void tick(void);\nextern HsFloat half(HsFloat a1);\n}\n";
        let d = parse_stub_header(text, "Export_stub.h");
        let names: Vec<&str> = d.iter().map(|d| d.name.as_str()).collect();
        assert_eq!(names, ["c_function", "scale", "add", "tick", "half"]);
        assert_eq!(d[0].signature(), Ok(Signature::INT_TO_INT));
        assert_eq!(d[1].signature().unwrap().to_string(), "CInt -> IO Double");
        assert!(d[2].signature().unwrap_err().contains("takes 2 arguments"));
        assert!(d[3].signature().unwrap_err().contains("takes 0 arguments"));
        let e = d[4].signature().unwrap_err();
        assert!(e.contains("HsFloat") && e.contains("Export_stub.h"), "{e}");
    }

    #[test]
    fn hashes_are_length_prefixed() {
        assert_ne!(sha256_hex(&[b"ab", b"c"]), sha256_hex(&[b"a", b"bc"]));
        assert_eq!(sha256_hex(&[b"x"]).len(), 64);
    }
}
