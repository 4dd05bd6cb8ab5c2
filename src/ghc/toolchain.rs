//! A GHC installation the harness builds with and runs on: owns detecting its version, deciding
//! what follows from the version (the stub's evaluator `rts_evalIO` or `rts_inCall`, the file name
//! of the shared threaded RTS, whether the harness supports it at all), and running its programs,
//! on the host or inside a root file system of its own.
//!
//! A *rooted* toolchain is a GHC installed in another distribution's root (e.g. Debian 13 made by
//! `scripts/ghc-root.sh`): its libraries need that root's libc, so everything that uses them, the
//! compiler and the harness's worker processes alike, runs inside the root. [`Toolchain::command`]
//! gives such a process a private mount namespace with `/proc`, `/sys` and `/dev` bound in and
//! chroots it; extra bind mounts (this harness binary) are given per command. Paths come in two
//! spellings: *inside* (what the process sees) and *host* ([`Toolchain::host_path`]).

use std::ffi::CString;
use std::fmt;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use super::GhcError;

/// `major.minor.patch` of a GHC.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct GhcVersion {
    pub major: u32,
    pub minor: u32,
    pub patch: u32,
}

/// Oldest GHC the harness runs: 9.0 (its `RtsAPI.h` is the one `rts_config.rs` mirrors, and its
/// stub's evaluator `rts_evalIO` is the older of the two forms the harness knows).
const OLDEST: GhcVersion = GhcVersion {
    major: 9,
    minor: 0,
    patch: 0,
};
/// Newest GHC series the harness knows the call-in path of: 9.14 (the stub form, the RTS
/// library name and `RtsConfig` were checked up to there).
const NEWEST_SERIES: (u32, u32) = (9, 14);

impl GhcVersion {
    /// Parse `ghc --numeric-version` output (`9.0.2`, `9.6.6`, `9.13.20250101`).
    pub fn parse(s: &str) -> Option<GhcVersion> {
        let mut it = s.trim().split('.').map(|p| p.parse::<u32>().ok());
        let major = it.next()??;
        let minor = it.next()??;
        let patch = it.next().flatten().unwrap_or(0);
        Some(GhcVersion {
            major,
            minor,
            patch,
        })
    }

    /// `Err(reason)` when the harness cannot drive this GHC.
    pub fn check_supported(&self) -> Result<(), String> {
        if *self < OLDEST {
            Err(format!(
                "GHC {self} is older than {OLDEST}: the harness's RtsConfig mirror \
                 (src/ghc/rts_config.rs) and its stub symbols follow GHC 9.0's RtsAPI.h, and \
                 older RTS headers are not checked"
            ))
        } else if (self.major, self.minor) > NEWEST_SERIES {
            Err(format!(
                "GHC {self} is newer than the {}.{} series, the last whose call-in stub \
                 (rts_inCall), RTS library name and RtsConfig the harness was checked against",
                NEWEST_SERIES.0, NEWEST_SERIES.1
            ))
        } else {
            Ok(())
        }
    }

    /// The evaluator GHC's generated stub calls.
    pub fn stub_form(&self) -> StubForm {
        // rts_inCall appeared in GHC 9.2.1 (commit 50e9df49b7, "When using
        // rts_setInCallCapability, lock incall threads").
        if (self.major, self.minor) >= (9, 2) {
            StubForm::InCall
        } else {
            StubForm::EvalIo
        }
    }

    /// Whether `file` is this GHC's shared threaded RTS: `libHSrts_thr-ghc<ver>.so` up to 9.2,
    /// `libHSrts-<rts version>_thr-ghc<ver>.so` from 9.4 (hadrian names the RTS package's
    /// version in the file, e.g. `libHSrts-1.0.2_thr-ghc9.6.6.so`).
    pub fn is_threaded_rts_file(&self, file: &str) -> bool {
        let suffix = format!("_thr-ghc{self}.so");
        let Some(stem) = file.strip_suffix(&suffix) else {
            return false;
        };
        if (self.major, self.minor) >= (9, 4) {
            stem.strip_prefix("libHSrts-").is_some_and(|v| {
                !v.is_empty() && v.bytes().all(|b| b.is_ascii_digit() || b == b'.')
            })
        } else {
            stem == "libHSrts"
        }
    }
}

impl fmt::Display for GhcVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}.{}", self.major, self.minor, self.patch)
    }
}

/// Which evaluator GHC's generated stub calls between `rts_apply` and `rts_checkSchedStatus`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StubForm {
    /// `rts_evalIO` (GHC 9.0).
    EvalIo,
    /// `rts_inCall` (GHC 9.2 and later).
    InCall,
}

impl StubForm {
    /// The C function's name.
    pub fn symbol(self) -> &'static str {
        match self {
            StubForm::EvalIo => "rts_evalIO",
            StubForm::InCall => "rts_inCall",
        }
    }
}

/// A detected GHC installation.
#[derive(Debug, Clone)]
pub struct Toolchain {
    /// The ghc executable, inside `root` when there is one.
    pub ghc: PathBuf,
    /// The root file system the toolchain lives in (absolute host path), `None` on the host.
    pub root: Option<PathBuf>,
    pub version: GhcVersion,
    /// `ghc --print-libdir` (inside).
    pub libdir: PathBuf,
    /// The shared threaded RTS (inside), e.g. `/usr/lib/ghc/rts/libHSrts_thr-ghc9.0.2.so`.
    pub rts_library: PathBuf,
}

/// Where `scripts/ghc-root.sh` installs ghc inside a root.
const GHC_IN_ROOT: &str = "/usr/bin/ghc";

impl Toolchain {
    /// The GHC `spec` names: an executable (a bare name such as `ghc` is looked up on PATH;
    /// `/opt/ghc/bin/ghc`, ...) run on the host, or a directory path holding a root file system
    /// with `/usr/bin/ghc` (e.g. the Debian 13 root `scripts/ghc-root.sh` makes), run inside it.
    pub fn detect(spec: &Path) -> Result<Toolchain, GhcError> {
        // A bare name is a command looked up on PATH (as a shell does), even if a directory of
        // that name is in the working directory (this repository has `ghc/`).
        let bare = spec.components().count() == 1 && !spec.is_absolute();
        let (ghc, root) = if spec.is_dir() && !bare {
            let root = std::path::absolute(spec).map_err(|e| bad_ghc(spec, &e.to_string()))?;
            if !root.join(&GHC_IN_ROOT[1..]).exists() {
                return Err(bad_ghc(
                    spec,
                    &format!(
                        "a directory without {GHC_IN_ROOT} inside (not a GHC root; scripts/ghc-root.sh makes one)"
                    ),
                ));
            }
            (PathBuf::from(GHC_IN_ROOT), Some(root))
        } else {
            (spec.to_owned(), None)
        };
        Toolchain::probe(spec, ghc, root)
    }

    /// The ghc on PATH.
    pub fn installed() -> Result<Toolchain, GhcError> {
        Toolchain::probe(Path::new("ghc"), PathBuf::from("ghc"), None)
    }

    /// Ask `ghc` (inside `root`) what it is; `spec` is how the user named it.
    fn probe(spec: &Path, ghc: PathBuf, root: Option<PathBuf>) -> Result<Toolchain, GhcError> {
        let mut t = Toolchain {
            ghc,
            root,
            version: OLDEST,
            libdir: PathBuf::new(),
            rts_library: PathBuf::new(),
        };
        let text = t.output_of(&t.ghc.clone(), &["--numeric-version"])?;
        t.version = GhcVersion::parse(&text).ok_or_else(|| {
            bad_ghc(
                spec,
                &format!("`--numeric-version` printed {text:?}, not a version"),
            )
        })?;
        t.version
            .check_supported()
            .map_err(|reason| GhcError::Unsupported {
                ghc: spec.to_owned(),
                reason,
            })?;
        t.libdir = PathBuf::from(t.output_of(&t.ghc.clone(), &["--print-libdir"])?);
        t.rts_library = t.find_rts_library()?;
        Ok(t)
    }

    /// How results and messages name this GHC: `9.0.2`, or `9.6.6 in <root>`.
    pub fn describe(&self) -> String {
        match &self.root {
            Some(r) => format!("GHC {} in {}", self.version, r.display()),
            None => format!("GHC {} ({})", self.version, self.ghc.display()),
        }
    }

    /// First line of stdout of `program args` run with this toolchain.
    fn output_of(&self, program: &Path, args: &[&str]) -> Result<String, GhcError> {
        let out = self
            .command(program, &[])?
            .args(args)
            .output()
            .map_err(|e| bad_ghc(program, &format!("cannot run it: {e}")))?;
        if !out.status.success() {
            return Err(bad_ghc(
                program,
                &format!(
                    "`{} {}` failed ({}): {}",
                    program.display(),
                    args.join(" "),
                    out.status,
                    String::from_utf8_lossy(&out.stderr).trim()
                ),
            ));
        }
        Ok(String::from_utf8_lossy(&out.stdout)
            .lines()
            .next()
            .unwrap_or("")
            .trim()
            .to_owned())
    }

    fn find_rts_library(&self) -> Result<PathBuf, GhcError> {
        let libdir = self.host_path(&self.libdir);
        let found = find_file(&libdir, 3, &|name| self.version.is_threaded_rts_file(name));
        let host = found.ok_or_else(|| GhcError::Unavailable {
            reason: format!(
                "{} has no shared threaded RTS (libHSrts*_thr-ghc{}.so) under {}",
                self.describe(),
                self.version,
                self.libdir.display()
            ),
        })?;
        Ok(self.inside_path(&host))
    }

    /// The host path of an inside path.
    pub fn host_path(&self, inside: &Path) -> PathBuf {
        match &self.root {
            Some(r) => r.join(inside.strip_prefix("/").unwrap_or(inside)),
            None => inside.to_owned(),
        }
    }

    /// The inside path of a host path under the root (unchanged on the host).
    pub fn inside_path(&self, host: &Path) -> PathBuf {
        match &self.root {
            Some(r) => host
                .strip_prefix(r)
                .map_or_else(|_| host.to_owned(), |p| Path::new("/").join(p)),
            None => host.to_owned(),
        }
    }

    /// A command running `program` (an inside path) with this toolchain; `binds` are
    /// (host file, inside path) pairs mounted into the root for that process only. On the host
    /// this is `Command::new(program)` and `binds` must be empty.
    pub fn command(
        &self,
        program: &Path,
        binds: &[(PathBuf, PathBuf)],
    ) -> Result<Command, GhcError> {
        let mut cmd = Command::new(program);
        let Some(root) = &self.root else {
            assert!(binds.is_empty(), "bind mounts need a rooted toolchain");
            return Ok(cmd);
        };
        // SAFETY: geteuid has no preconditions.
        if unsafe { libc::geteuid() } != 0 {
            return Err(GhcError::Unavailable {
                reason: format!(
                    "{} runs inside its root, which needs root (mount namespace, chroot)",
                    self.describe()
                ),
            });
        }
        let plan = RootPlan::new(root, binds)?;
        // SAFETY: the closure runs in the forked child before exec and only makes system calls
        // on C strings prepared here (no allocation, no locks), as `pre_exec` requires.
        unsafe { cmd.pre_exec(move || plan.enter()) };
        Ok(cmd)
    }
}

fn bad_ghc(ghc: &Path, why: &str) -> GhcError {
    GhcError::BadGhc {
        ghc: ghc.to_owned(),
        why: why.to_owned(),
    }
}

/// The first file under `dir` (at most `depth` levels down) whose name satisfies `want`.
fn find_file(dir: &Path, depth: u32, want: &dyn Fn(&str) -> bool) -> Option<PathBuf> {
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .ok()?
        .filter_map(Result::ok)
        .collect();
    entries.sort_by_key(|e| e.file_name());
    for e in &entries {
        if e.file_name().to_str().is_some_and(want) && e.path().is_file() {
            return Some(e.path());
        }
    }
    if depth == 0 {
        return None;
    }
    entries
        .iter()
        .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
        .find_map(|e| find_file(&e.path(), depth - 1, want))
}

/// Everything a child needs to enter a root, as C strings made before `fork`.
struct RootPlan {
    root: CString,
    /// (source, target, filesystem type, flags) in order.
    mounts: Vec<(CString, CString, Option<CString>, libc::c_ulong)>,
}

fn cstr(p: &Path) -> Result<CString, GhcError> {
    CString::new(p.as_os_str().as_bytes()).map_err(|_| GhcError::Unavailable {
        reason: format!("path {} contains a NUL byte", p.display()),
    })
}

impl RootPlan {
    fn new(root: &Path, binds: &[(PathBuf, PathBuf)]) -> Result<RootPlan, GhcError> {
        let at = |inside: &Path| root.join(inside.strip_prefix("/").unwrap_or(inside));
        let mut mounts = vec![(
            CString::from(c"proc"),
            cstr(&root.join("proc"))?,
            Some(CString::from(c"proc")),
            0,
        )];
        for dir in ["sys", "dev"] {
            mounts.push((
                cstr(&Path::new("/").join(dir))?,
                cstr(&root.join(dir))?,
                None,
                libc::MS_BIND | libc::MS_REC,
            ));
        }
        for (host, inside) in binds {
            let target = at(inside);
            if let Some(dir) = target.parent() {
                std::fs::create_dir_all(dir).map_err(|e| GhcError::Unavailable {
                    reason: format!("cannot create {}: {e}", dir.display()),
                })?;
            }
            if !target.exists() {
                std::fs::write(&target, b"").map_err(|e| GhcError::Unavailable {
                    reason: format!("cannot create mount point {}: {e}", target.display()),
                })?;
            }
            mounts.push((cstr(host)?, cstr(&target)?, None, libc::MS_BIND));
        }
        Ok(RootPlan {
            root: cstr(root)?,
            mounts,
        })
    }

    /// In the child: a private mount namespace, the mounts, then chroot and `cd /`.
    fn enter(&self) -> std::io::Result<()> {
        let check = |rc: libc::c_int| {
            if rc == 0 {
                Ok(())
            } else {
                Err(std::io::Error::last_os_error())
            }
        };
        // SAFETY: plain system calls on NUL-terminated strings owned by `self`, which outlives
        // the calls; null pointers where the calls allow them.
        unsafe {
            check(libc::unshare(libc::CLONE_NEWNS))?;
            check(libc::mount(
                std::ptr::null(),
                c"/".as_ptr(),
                std::ptr::null(),
                libc::MS_REC | libc::MS_PRIVATE,
                std::ptr::null(),
            ))?;
            for (src, dst, fstype, flags) in &self.mounts {
                let fstype = fstype.as_ref().map_or(std::ptr::null(), |f| f.as_ptr());
                check(libc::mount(
                    src.as_ptr(),
                    dst.as_ptr(),
                    fstype,
                    *flags,
                    std::ptr::null(),
                ))?;
            }
            check(libc::chroot(self.root.as_ptr()))?;
            check(libc::chdir(c"/".as_ptr()))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(s: &str) -> GhcVersion {
        GhcVersion::parse(s).unwrap()
    }

    #[test]
    fn versions_decide_stub_form_rts_name_and_support() {
        assert_eq!(v("9.0.2").stub_form(), StubForm::EvalIo);
        assert_eq!(v("9.6.6").stub_form(), StubForm::InCall);
        assert!(v("9.0.2").is_threaded_rts_file("libHSrts_thr-ghc9.0.2.so"));
        assert!(!v("9.0.2").is_threaded_rts_file("libHSrts_thr_debug-ghc9.0.2.so"));
        assert!(v("9.6.6").is_threaded_rts_file("libHSrts-1.0.2_thr-ghc9.6.6.so"));
        assert!(!v("9.6.6").is_threaded_rts_file("libHSrts-1.0.2_thr_debug-ghc9.6.6.so"));
        assert!(!v("9.6.6").is_threaded_rts_file("libHSrts_thr-ghc9.0.2.so"));
        assert!(v("9.0.2").check_supported().is_ok());
        assert!(v("9.14.1").check_supported().is_ok());
        assert!(
            v("8.10.7")
                .check_supported()
                .unwrap_err()
                .contains("older than 9.0.0")
        );
        assert!(
            v("9.16.1")
                .check_supported()
                .unwrap_err()
                .contains("newer than the 9.14")
        );
        assert_eq!(GhcVersion::parse("nine"), None);
        assert_eq!(v("9.13.20250101").to_string(), "9.13.20250101");
    }
}
