//! The floppy and CD images Packer's `floppy_*` and `cd_*` options put in front of the
//! guest, made with real tools: a FAT12 1.44 MB floppy with dosfstools' `mkfs.fat` and
//! mtools' `mmd`/`mcopy`, an ISO 9660 CD (Joliet and Rock Ridge) with `xorriso`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// What goes onto one floppy or CD.
#[derive(Debug, Clone, Default)]
pub struct MediaSpec {
    /// Files (globs allowed in their last component) placed at the root; for a CD also
    /// directories, copied with their name (or, written with a trailing `/`, their
    /// contents).
    pub files: Vec<String>,
    /// Directories copied whole, each under its own name (floppy_dirs).
    pub dirs: Vec<String>,
    /// Files made from text: path on the medium → content.
    pub content: BTreeMap<String, String>,
    /// The volume label.
    pub label: Option<String>,
}

impl MediaSpec {
    pub fn is_empty(&self) -> bool {
        self.files.is_empty() && self.dirs.is_empty() && self.content.is_empty()
    }
}

/// Why a floppy or CD could not be made.
#[derive(Debug, thiserror::Error)]
pub enum MediaError {
    #[error("{option}: {pattern:?} matches no file")]
    NoMatch {
        option: &'static str,
        pattern: String,
    },
    #[error("{option}: {pattern:?} is not a glob: {why}")]
    BadGlob {
        option: &'static str,
        pattern: String,
        why: String,
    },
    #[error("{what}: {source}")]
    Io {
        what: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{program}: {source} (install Debian's {package} package)")]
    Spawn {
        program: &'static str,
        package: &'static str,
        #[source]
        source: std::io::Error,
    },
    #[error("{program} failed: {stderr}")]
    Failed { program: String, stderr: String },
}

fn io(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> MediaError {
    let what = what.into();
    move |source| MediaError::Io { what, source }
}

/// The paths `pattern` (relative to `cwd`) names: itself, or with a glob (`*`, `?`,
/// `[...]`) in its last component, every match in its directory (sorted).
fn expand(option: &'static str, pattern: &str, cwd: &Path) -> Result<Vec<PathBuf>, MediaError> {
    let path = cwd.join(pattern.trim_end_matches('/'));
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned());
    let Some(name) = name.filter(|n| n.contains(['*', '?', '['])) else {
        return if path.exists() {
            Ok(vec![path])
        } else {
            Err(MediaError::NoMatch {
                option,
                pattern: pattern.to_owned(),
            })
        };
    };
    let dir = path.parent().unwrap_or(cwd);
    let matcher = globset::Glob::new(&name)
        .map_err(|e| MediaError::BadGlob {
            option,
            pattern: pattern.to_owned(),
            why: e.kind().to_string(),
        })?
        .compile_matcher();
    let mut found: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(io(format!("{option}: reading {}", dir.display())))?
        .flatten()
        .filter(|e| matcher.is_match(e.file_name()))
        .map(|e| e.path())
        .collect();
    found.sort();
    if found.is_empty() {
        return Err(MediaError::NoMatch {
            option,
            pattern: pattern.to_owned(),
        });
    }
    Ok(found)
}

/// Lays the medium's files out under `stage`: (path on the medium, host file) pairs are
/// copied, directories recursively, symlinks followed.
fn stage(
    spec: &MediaSpec,
    options: (&'static str, &'static str),
    cwd: &Path,
    stage: &Path,
) -> Result<(), MediaError> {
    let (files_option, dirs_option) = options;
    for pattern in &spec.files {
        for path in expand(files_option, pattern, cwd)? {
            let name = path.file_name().unwrap_or_default();
            if path.is_dir() {
                // `dir/` puts the directory's contents at the root, `dir` the directory.
                let to = if pattern.ends_with('/') {
                    stage.to_owned()
                } else {
                    stage.join(name)
                };
                copy_tree(&path, &to)?;
            } else {
                std::fs::copy(&path, stage.join(name))
                    .map_err(io(format!("{files_option}: copying {}", path.display())))?;
            }
        }
    }
    for pattern in &spec.dirs {
        for path in expand(dirs_option, pattern, cwd)? {
            let name = path.file_name().unwrap_or_default();
            copy_tree(&path, &stage.join(name))?;
        }
    }
    for (at, text) in &spec.content {
        let to = stage.join(at.trim_start_matches('/'));
        if let Some(parent) = to.parent() {
            std::fs::create_dir_all(parent)
                .map_err(io(format!("creating {}", parent.display())))?;
        }
        std::fs::write(&to, text).map_err(io(format!("writing {}", to.display())))?;
    }
    Ok(())
}

fn copy_tree(from: &Path, to: &Path) -> Result<(), MediaError> {
    std::fs::create_dir_all(to).map_err(io(format!("creating {}", to.display())))?;
    let entries = std::fs::read_dir(from).map_err(io(format!("reading {}", from.display())))?;
    for e in entries.flatten() {
        let path = e.path();
        let target = to.join(e.file_name());
        if path.is_dir() {
            copy_tree(&path, &target)?;
        } else {
            std::fs::copy(&path, &target).map_err(io(format!("copying {}", path.display())))?;
        }
    }
    Ok(())
}

async fn run(
    program: &'static str,
    package: &'static str,
    args: &[&std::ffi::OsStr],
) -> Result<(), MediaError> {
    let out = tokio::process::Command::new(program)
        .args(args)
        .output()
        .await
        .map_err(|source| MediaError::Spawn {
            program,
            package,
            source,
        })?;
    if out.status.success() {
        Ok(())
    } else {
        Err(MediaError::Failed {
            program: program.to_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).trim().to_owned(),
        })
    }
}

/// Makes the 1.44 MB floppy `image` holding `spec` (label `packer` unless set, as Packer).
pub async fn floppy(spec: &MediaSpec, cwd: &Path, image: &Path) -> Result<(), MediaError> {
    let staged = tempfile::tempdir().map_err(io("creating a staging directory"))?;
    stage(spec, ("floppy_files", "floppy_dirs"), cwd, staged.path())?;
    let label = spec.label.as_deref().unwrap_or("packer");
    run(
        "mkfs.fat",
        "dosfstools",
        &[
            "-C".as_ref(),
            image.as_os_str(),
            "1440".as_ref(),
            "-n".as_ref(),
            label.as_ref(),
        ],
    )
    .await?;
    // mcopy -s copies directories recursively; everything staged goes to the root.
    let mut args: Vec<std::ffi::OsString> =
        vec!["-i".into(), image.into(), "-s".into(), "-Q".into()];
    let mut any = false;
    for e in std::fs::read_dir(staged.path()).map_err(io("reading the staging directory"))? {
        args.push(
            e.map_err(io("reading the staging directory"))?
                .path()
                .into(),
        );
        any = true;
    }
    if any {
        args.push("::/".into());
        let refs: Vec<&std::ffi::OsStr> = args.iter().map(|a| a.as_os_str()).collect();
        run("mcopy", "mtools", &refs).await?;
    }
    Ok(())
}

/// Makes the CD image `image` holding `spec`.
pub async fn cd(spec: &MediaSpec, cwd: &Path, image: &Path) -> Result<(), MediaError> {
    let staged = tempfile::tempdir().map_err(io("creating a staging directory"))?;
    stage(spec, ("cd_files", "cd_files"), cwd, staged.path())?;
    let mut args: Vec<&std::ffi::OsStr> = vec![
        "-as".as_ref(),
        "mkisofs".as_ref(),
        "-quiet".as_ref(),
        "-J".as_ref(),
        "-R".as_ref(),
        "-o".as_ref(),
        image.as_os_str(),
    ];
    if let Some(label) = &spec.label {
        args.push(std::ffi::OsStr::new("-V"));
        args.push(std::ffi::OsStr::new(label.as_str()));
    }
    args.push(staged.path().as_os_str());
    run("xorriso", "xorriso", &args).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs_match_names_in_their_directory() {
        let matches =
            |p: &str, n: &str| globset::Glob::new(p).unwrap().compile_matcher().is_match(n);
        assert!(matches("*.cfg", "preseed.cfg"));
        assert!(matches("?.txt", "a.txt"));
        assert!(!matches("*.cfg", "preseed.txt"));
        let dir = tempfile::tempdir().unwrap();
        for n in ["b.cfg", "a.cfg", "c.txt"] {
            std::fs::write(dir.path().join(n), n).unwrap();
        }
        let found = expand("floppy_files", "*.cfg", dir.path()).unwrap();
        let names: Vec<_> = found
            .iter()
            .map(|p| p.file_name().unwrap().to_owned())
            .collect();
        assert_eq!(names, ["a.cfg", "b.cfg"]);
        let e = expand("floppy_files", "*.iso", dir.path()).unwrap_err();
        assert_eq!(e.to_string(), "floppy_files: \"*.iso\" matches no file");
    }

    fn output(cmd: &mut std::process::Command) -> String {
        let program = cmd.get_program().to_string_lossy().into_owned();
        let package = if program == "xorriso" {
            "xorriso"
        } else {
            "mtools"
        };
        let out = cmd
            .output()
            .unwrap_or_else(|e| panic!("{program}: {e} (install Debian's {package} package)"));
        assert!(
            out.status.success(),
            "{cmd:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    }

    /// The floppy holds the files, the directories under their names and the
    /// content, under its label, as mtools reads them back.
    #[tokio::test]
    async fn a_floppy_holds_files_dirs_and_content() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        std::fs::write(d.join("preseed.cfg"), "d-i preseed\n").unwrap();
        std::fs::create_dir_all(d.join("scripts/sub")).unwrap();
        std::fs::write(d.join("scripts/sub/run.sh"), "echo hi\n").unwrap();
        let spec = MediaSpec {
            files: vec!["*.cfg".into()],
            dirs: vec!["scripts".into()],
            content: [("meta/info.txt".to_owned(), "made by kiln".to_owned())].into(),
            label: Some("SEED".into()),
        };
        let image = d.join("floppy.img");
        floppy(&spec, d, &image).await.unwrap();
        assert_eq!(std::fs::metadata(&image).unwrap().len(), 1440 * 1024);
        let img = image.to_str().unwrap();
        let mtype = |p: &str| {
            output(std::process::Command::new("mtype").args(["-i", img, &format!("::{p}")]))
        };
        assert_eq!(mtype("/preseed.cfg"), "d-i preseed\n");
        assert_eq!(mtype("/scripts/sub/run.sh"), "echo hi\n");
        assert_eq!(mtype("/meta/info.txt"), "made by kiln");
        let listing = output(std::process::Command::new("mdir").args(["-i", img, "::/"]));
        assert!(listing.contains("Volume in drive : is SEED"), "{listing}");
    }

    /// The CD holds files at its root, a directory under its name, another's contents
    /// (written with a trailing slash) and the content, under its label.
    #[tokio::test]
    async fn a_cd_holds_files_dirs_and_content() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        std::fs::write(d.join("meta-data"), "instance-id: kiln\n").unwrap();
        std::fs::create_dir_all(d.join("extra")).unwrap();
        std::fs::write(d.join("extra/inner.txt"), "inner\n").unwrap();
        std::fs::create_dir_all(d.join("flat")).unwrap();
        std::fs::write(d.join("flat/top.txt"), "top\n").unwrap();
        let spec = MediaSpec {
            files: vec!["meta-data".into(), "extra".into(), "flat/".into()],
            dirs: vec![],
            content: [("user-data".to_owned(), "#cloud-config\n".to_owned())].into(),
            label: Some("cidata".into()),
        };
        let image = d.join("cd.iso");
        cd(&spec, d, &image).await.unwrap();
        let out = d.join("out");
        output(std::process::Command::new("xorriso").args([
            "-osirrox",
            "on",
            "-indev",
            image.to_str().unwrap(),
            "-extract",
            "/",
            out.to_str().unwrap(),
        ]));
        let read = |p: &str| std::fs::read_to_string(out.join(p)).unwrap();
        assert_eq!(read("meta-data"), "instance-id: kiln\n");
        assert_eq!(read("extra/inner.txt"), "inner\n");
        assert_eq!(read("top.txt"), "top\n");
        assert_eq!(read("user-data"), "#cloud-config\n");
        let info = output(std::process::Command::new("xorriso").args([
            "-indev",
            image.to_str().unwrap(),
            "-pvd_info",
        ]));
        assert!(info.contains("Volume Id    : cidata"), "{info}");
    }
}
