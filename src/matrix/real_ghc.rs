//! The real-GHC systems of a run: owns turning `--ghc`, `--ghc-rts`, `--hs`, `--lib`,
//! `--export`, `--signature` and `--arg` into one [`Contender`] per (GHC, export, RTS settings),
//! building what needs building and naming every bad input (a file that does not compile, a
//! missing export, a signature the driver cannot call, an unsupported GHC) before anything is
//! measured.

use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use callin_reports::schema::{RealGhcVariant, System};
use sha2::{Digest, Sha256};

use super::contender::{Contender, GhcCheck, GhcLaunch, Launch};
use crate::driver::Signature;
use crate::ghc::{self, GhcError, LibrarySpec, Toolchain, build};

/// The real-GHC part of the command line.
#[derive(Debug, Clone, Default)]
pub struct RealGhcOptions {
    /// `--ghc`: executables or GHC roots; empty = the ghc on PATH.
    pub ghcs: Vec<PathBuf>,
    /// `--ghc-rts`: one settings string per system; empty = GHC's defaults.
    pub rts: Vec<String>,
    /// `--hs`: Haskell sources of the user's export(s).
    pub hs: Vec<PathBuf>,
    /// `--lib`: an already built library.
    pub lib: Option<PathBuf>,
    /// `--export`: exports to drive (default `c_function` of the project's library).
    pub exports: Vec<String>,
    /// `--signature`: the C type of a `--lib` export (checked against the stub for `--hs`).
    pub signature: Option<Signature>,
    /// `--arg`: the argument every call of a user's export passes (default 1).
    pub arg: Option<String>,
}

impl RealGhcOptions {
    /// Anything asked for beyond the default real-GHC system.
    pub fn explicit(&self) -> bool {
        !self.ghcs.is_empty() || !self.rts.is_empty() || self.user_code()
    }

    /// A user's export (`--hs` or `--lib`) rather than the project's.
    pub fn user_code(&self) -> bool {
        !self.hs.is_empty() || self.lib.is_some()
    }
}

/// Split and check one `--ghc-rts` string.
fn rts_settings(s: &str) -> anyhow::Result<Vec<String>> {
    let words: Vec<String> = s.split_whitespace().map(str::to_owned).collect();
    if words.is_empty() {
        bail!("--ghc-rts {s:?}: empty; give RTS options such as \"-A4m -qg\"");
    }
    for w in &words {
        if w == "+RTS" || w == "-RTS" {
            bail!("--ghc-rts {s:?}: give the options only; +RTS/-RTS are added");
        }
        if !w.starts_with('-') {
            bail!("--ghc-rts {s:?}: {w:?} is not an RTS option (they start with '-')");
        }
        if w.starts_with("-N") {
            bail!("--ghc-rts {s:?}: {w} is set per cell from --caps");
        }
    }
    Ok(words)
}

fn file_hash(p: &Path) -> anyhow::Result<String> {
    let bytes =
        std::fs::read(p).with_context(|| format!("--lib {}: cannot read it", p.display()))?;
    Ok(Sha256::digest(&bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect())
}

/// One library on one toolchain, with the exports to drive.
struct Library {
    path: PathBuf,
    source_hash: String,
    exports: Vec<(String, Signature)>,
    project: bool,
    from_lib: bool,
}

fn library_for(t: &Toolchain, o: &RealGhcOptions) -> anyhow::Result<Library> {
    if let Some(lib) = &o.lib {
        if !lib.is_file() {
            bail!("--lib {}: no such file", lib.display());
        }
        let abs = std::path::absolute(lib)?;
        let inside = t.inside_path(&abs);
        if t.root.is_some() && inside == abs {
            bail!(
                "--lib {}: a library for {} must be inside its root",
                lib.display(),
                t.describe()
            );
        }
        let sig = o.signature.unwrap_or(Signature::INT_TO_INT);
        check_layout(t)?;
        return Ok(Library {
            path: inside,
            source_hash: file_hash(lib)?,
            exports: o.exports.iter().map(|e| (e.clone(), sig)).collect(),
            project: false,
            from_lib: true,
        });
    }
    let (spec, project) = if o.hs.is_empty() {
        (LibrarySpec::project(), true)
    } else {
        for p in &o.hs {
            if !p.is_file() {
                bail!("--hs {}: no such file", p.display());
            }
        }
        (LibrarySpec::user(o.hs.clone()), false)
    };
    let built = build::build(t, &spec)?;
    ghc::check_layout(&built.c_layout)?;
    let names = if project {
        vec!["c_function".to_owned()]
    } else {
        o.exports.clone()
    };
    let mut exports = Vec::new();
    for name in names {
        let sig = built.export_signature(&name)?;
        if let Some(given) = o.signature
            && given != sig
        {
            bail!(
                "export `{name}`: wrong signature: GHC's stub declares `{}` ({sig}), --signature says {given}",
                built.exports[&name]
                    .signature()
                    .map_or_else(|e| e, |s| s.c_declaration(&name))
            );
        }
        exports.push((name, sig));
    }
    Ok(Library {
        path: built.library,
        source_hash: built.source_hash,
        exports,
        project,
        from_lib: false,
    })
}

/// `RtsConfig`'s layout on `t` must match the harness's mirror (a `--lib` brings no record).
fn check_layout(t: &Toolchain) -> anyhow::Result<()> {
    ghc::check_layout(&build::rts_config_layout(t)?)?;
    Ok(())
}

/// Every real-GHC system the options ask for. Bad input is an error; a default system that
/// cannot run here (no ghc) is one contender with the reason, so its cells say why.
pub fn contenders(o: &RealGhcOptions) -> anyhow::Result<Vec<Contender>> {
    if !o.exports.is_empty() && !o.user_code() {
        bail!("--export names an export of --hs sources or a --lib; give one of them");
    }
    if o.user_code() && o.exports.is_empty() {
        bail!("--hs/--lib: give the export to drive with --export NAME");
    }
    if !o.hs.is_empty() && o.lib.is_some() {
        bail!("--hs and --lib: give one of them (sources to build, or a built library)");
    }
    let settings: Vec<Vec<String>> = if o.rts.is_empty() {
        vec![Vec::new()]
    } else {
        o.rts
            .iter()
            .map(|s| rts_settings(s))
            .collect::<anyhow::Result<_>>()?
    };
    let toolchains: Vec<Toolchain> = if o.ghcs.is_empty() {
        match Toolchain::installed() {
            Ok(t) => vec![t],
            Err(e) if !o.explicit() => return Ok(vec![unavailable(&e.to_string())]),
            Err(e) => return Err(e).context("the ghc on PATH"),
        }
    } else {
        o.ghcs
            .iter()
            .map(|g| Toolchain::detect(g))
            .collect::<Result<_, _>>()?
    };
    let mut out = Vec::new();
    for t in &toolchains {
        let lib = match library_for(t, o) {
            Ok(l) => l,
            Err(e) if !o.explicit() => match e.downcast_ref::<GhcError>() {
                Some(GhcError::Unavailable { reason }) => return Ok(vec![unavailable(reason)]),
                _ => return Err(e),
            },
            Err(e) => return Err(e),
        };
        let check = match (lib.project, &o.arg) {
            (true, Some(_)) => bail!("--arg applies to a user's export (--hs or --lib)"),
            (true, None) => None,
            (false, arg) => Some(arg.as_deref().unwrap_or("1")),
        };
        for (export, signature) in &lib.exports {
            let check = match check {
                None => GhcCheck::PlusOne,
                Some(a) => GhcCheck::SameAsReference {
                    arg: signature
                        .arg
                        .parse_value(a)
                        .map_err(|e| anyhow::anyhow!("--arg: {e}"))?,
                },
            };
            for rts_args in &settings {
                let variant = RealGhcVariant {
                    ghc_version: t.version.to_string(),
                    ghc: t.describe(),
                    rts_args: rts_args.clone(),
                    export: export.clone(),
                    signature: signature.to_string(),
                    project_export: lib.project,
                    source_hash: lib.source_hash.clone(),
                    library: lib.path.display().to_string(),
                    check: check.label(),
                };
                out.push(Contender {
                    label: variant.label(),
                    system: System::RealGhc,
                    policy: String::new(),
                    variant: Some(variant),
                    launch: Launch::RealGhc(Box::new(GhcLaunch {
                        toolchain: t.clone(),
                        library: lib.path.clone(),
                        rts_args: rts_args.clone(),
                        export: export.clone(),
                        signature: *signature,
                        check,
                        check_rts_file: lib.from_lib,
                    })),
                    required: o.explicit(),
                });
            }
        }
    }
    Ok(out)
}

/// The default real-GHC system when it cannot run here.
fn unavailable(why: &str) -> Contender {
    Contender {
        label: System::RealGhc.name().to_owned(),
        system: System::RealGhc,
        policy: String::new(),
        variant: None,
        launch: Launch::Unavailable(why.to_owned()),
        required: false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rts_settings_are_checked() {
        assert_eq!(rts_settings("-A4m  -qg").unwrap(), ["-A4m", "-qg"]);
        for (bad, needle) in [
            ("", "empty"),
            ("A4m", "start with '-'"),
            ("-N2", "--caps"),
            ("+RTS -A1m", "+RTS"),
        ] {
            let e = rts_settings(bad).unwrap_err().to_string();
            assert!(e.contains(needle), "{bad}: {e}");
        }
    }

    #[test]
    fn exports_need_sources_and_sources_need_exports() {
        let o = RealGhcOptions {
            exports: vec!["f".into()],
            ..Default::default()
        };
        assert!(
            contenders(&o)
                .unwrap_err()
                .to_string()
                .contains("--hs sources or a --lib")
        );
        let o = RealGhcOptions {
            hs: vec!["x.hs".into()],
            ..Default::default()
        };
        assert!(
            contenders(&o)
                .unwrap_err()
                .to_string()
                .contains("--export NAME")
        );
    }
}
