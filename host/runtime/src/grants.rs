//! Host paths seen through a step's grant.
//!
//! A component names host paths as strings. Each is made absolute against the working
//! directory and normalized lexically; it must then fall under a granted path. The
//! remainder below the granted path is opened through a `cap_std::fs::Dir` rooted at
//! the granted directory, so neither `..` nor a symbolic link can leave it.

use std::path::{Component, Path, PathBuf};

use cap_std::ambient_authority;
use cap_std::fs::Dir;

use kiln_core::Grant;

/// Why a path could not be reached.
#[derive(Debug, thiserror::Error)]
pub enum GrantError {
    /// The grant covers neither the path nor anything above it.
    #[error("access to `{path}` is not granted to this step (it may {access} {granted})")]
    NotGranted {
        /// The path as the component named it.
        path: String,
        /// `read` or `write`.
        access: &'static str,
        /// What the step may reach, for the message.
        granted: String,
    },
    /// The path is granted but does not exist, or leaves the granted directory.
    #[error("`{path}`: {source}")]
    Io {
        /// The path as the component named it.
        path: String,
        /// The underlying error.
        source: std::io::Error,
    },
}

/// Read or write.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Read the path.
    Read,
    /// Create or replace the path.
    Write,
}

#[derive(Debug, Clone)]
struct GrantedPath {
    /// Absolute, lexically normalized, as the template named it.
    lexical: PathBuf,
}

/// The paths of one step's grant, ready to resolve component requests.
#[derive(Debug, Clone, Default)]
pub struct GrantedPaths {
    cwd: PathBuf,
    read: Vec<GrantedPath>,
    write: Vec<GrantedPath>,
}

/// A granted path resolved to a directory handle and a relative path inside it.
#[derive(Debug)]
pub struct Resolved {
    /// The granted directory (for a granted file: its parent).
    pub dir: Dir,
    /// The path below `dir`; empty when the granted directory itself was named.
    pub rel: PathBuf,
}

impl Resolved {
    /// The relative path, or `.` for the root itself.
    pub fn rel_or_dot(&self) -> &Path {
        if self.rel.as_os_str().is_empty() {
            Path::new(".")
        } else {
            &self.rel
        }
    }
}

impl GrantedPaths {
    /// Prepares `grant`, resolving relative paths against `cwd`.
    pub fn new(grant: &Grant, cwd: &Path) -> Self {
        let prep = |paths: &[PathBuf]| {
            paths
                .iter()
                .map(|p| GrantedPath {
                    lexical: normalize(&cwd.join(p)),
                })
                .collect::<Vec<_>>()
        };
        GrantedPaths {
            cwd: cwd.to_owned(),
            read: prep(&grant.read),
            write: prep(&grant.write),
        }
    }

    /// Every granted path, absolute, with whether it may be written (what a confined
    /// host command of the step sees).
    pub fn all(&self) -> impl Iterator<Item = (&Path, bool)> {
        let read = self.read.iter().map(|g| (g.lexical.as_path(), false));
        read.chain(self.write.iter().map(|g| (g.lexical.as_path(), true)))
    }

    /// The directory relative paths resolve against.
    pub fn cwd(&self) -> &Path {
        &self.cwd
    }

    fn describe(list: &[GrantedPath]) -> String {
        if list.is_empty() {
            "nothing on the host".into()
        } else {
            list.iter()
                .map(|g| format!("`{}`", g.lexical.display()))
                .collect::<Vec<_>>()
                .join(", ")
        }
    }

    /// Resolves `path` for `access`.
    pub fn resolve(&self, path: &str, access: Access) -> Result<Resolved, GrantError> {
        let abs = normalize(&self.cwd.join(path));
        let list = match access {
            Access::Read => &self.read,
            Access::Write => &self.write,
        };
        let io = |source| GrantError::Io {
            path: path.to_owned(),
            source,
        };
        for g in list {
            let Ok(below) = abs.strip_prefix(&g.lexical) else {
                continue;
            };
            if access == Access::Write {
                // Where a step may write is created when it first writes there, as
                // Packer creates the directories of a step's destination: the granted
                // directory when the path is below it, else the granted file's parent.
                let dir = if below.as_os_str().is_empty() {
                    g.lexical.parent()
                } else {
                    Some(g.lexical.as_path())
                };
                if let Some(dir) = dir.filter(|d| !d.exists()) {
                    std::fs::create_dir_all(dir).map_err(io)?;
                }
            }
            // The granted path itself: a file is opened from its parent by name, so that
            // a file grant never exposes its siblings.
            if below.as_os_str().is_empty() {
                match std::fs::metadata(&g.lexical) {
                    Ok(m) if m.is_dir() => {
                        let dir =
                            Dir::open_ambient_dir(&g.lexical, ambient_authority()).map_err(io)?;
                        return Ok(Resolved {
                            dir,
                            rel: PathBuf::new(),
                        });
                    }
                    _ => {
                        let parent = g.lexical.parent().unwrap_or(Path::new("/"));
                        let name = g.lexical.file_name().map(PathBuf::from).unwrap_or_default();
                        let dir = Dir::open_ambient_dir(parent, ambient_authority()).map_err(io)?;
                        return Ok(Resolved { dir, rel: name });
                    }
                }
            }
            let dir = Dir::open_ambient_dir(&g.lexical, ambient_authority()).map_err(io)?;
            return Ok(Resolved {
                dir,
                rel: below.to_owned(),
            });
        }
        Err(GrantError::NotGranted {
            path: path.to_owned(),
            access: match access {
                Access::Read => "read",
                Access::Write => "write",
            },
            granted: Self::describe(list),
        })
    }

    /// Resolves `path` for reading under either grant: what the step may read, or what
    /// it may write (and so read back).
    pub fn resolve_readable(&self, path: &str) -> Result<Resolved, GrantError> {
        match self.resolve(path, Access::Read) {
            Err(GrantError::NotGranted { .. }) => {
                self.resolve(path, Access::Write).map_err(|e| match e {
                    GrantError::NotGranted { .. } => GrantError::NotGranted {
                        path: path.to_owned(),
                        access: "read",
                        granted: format!(
                            "{} and write {}",
                            Self::describe(&self.read),
                            Self::describe(&self.write)
                        ),
                    },
                    other => other,
                })
            }
            other => other,
        }
    }

    /// Whether `path` is a file, a directory or missing, for either access.
    pub fn kind(&self, path: &str) -> Result<PathKind, GrantError> {
        let resolved = self.resolve_readable(path)?;
        match resolved.dir.metadata(resolved.rel_or_dot()) {
            Ok(m) if m.is_dir() => Ok(PathKind::Directory),
            Ok(_) => Ok(PathKind::File),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(PathKind::Missing),
            Err(e) => Err(GrantError::Io {
                path: path.to_owned(),
                source: e,
            }),
        }
    }
}

/// What a granted path is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PathKind {
    /// A regular file (or a link to one inside the grant).
    File,
    /// A directory.
    Directory,
    /// Nothing there yet.
    Missing,
}

/// Makes `path` absolute-looking without touching the file system: drops `.`, and
/// resolves `..` against the components before it (never above the root).
pub fn normalize(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for c in path.components() {
        match c {
            Component::ParentDir => {
                out.pop();
            }
            Component::CurDir => {}
            other => out.push(other.as_os_str()),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;

    fn setup() -> (tempfile::TempDir, GrantedPaths) {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path();
        fs::write(root.join("secret.txt"), "secret").unwrap();
        fs::create_dir(root.join("granted")).unwrap();
        fs::write(root.join("granted/ok.txt"), "ok").unwrap();
        fs::write(root.join("sibling.txt"), "sibling").unwrap();
        fs::write(root.join("single.txt"), "single").unwrap();
        std::os::unix::fs::symlink(root.join("secret.txt"), root.join("granted/evil")).unwrap();
        std::os::unix::fs::symlink("../secret.txt", root.join("granted/evil-rel")).unwrap();
        let grant = Grant {
            read: vec!["granted".into(), "single.txt".into()],
            ..Grant::default()
        };
        let paths = GrantedPaths::new(&grant, root);
        (tmp, paths)
    }

    fn read(paths: &GrantedPaths, p: &str) -> Result<String, String> {
        let r = paths.resolve(p, Access::Read).map_err(|e| e.to_string())?;
        r.dir
            .read_to_string(r.rel_or_dot())
            .map_err(|e| e.to_string())
    }

    #[test]
    fn reads_inside_the_grant() {
        let (_t, paths) = setup();
        assert_eq!(read(&paths, "granted/ok.txt").unwrap(), "ok");
        assert_eq!(read(&paths, "./granted/../granted/ok.txt").unwrap(), "ok");
        assert_eq!(read(&paths, "single.txt").unwrap(), "single");
    }

    #[test]
    fn refuses_paths_outside_the_grant() {
        let (t, paths) = setup();
        for p in [
            "secret.txt",
            "granted/../secret.txt",
            "single.txt/../secret.txt",
            "sibling.txt",
        ] {
            let err = read(&paths, p).unwrap_err();
            assert!(err.contains("not granted"), "{p}: {err}");
        }
        let abs = t.path().join("secret.txt");
        assert!(read(&paths, abs.to_str().unwrap())
            .unwrap_err()
            .contains("not granted"));
        assert!(read(&paths, "/etc/passwd")
            .unwrap_err()
            .contains("not granted"));
    }

    #[test]
    fn refuses_symlinks_out_of_a_granted_directory() {
        let (_t, paths) = setup();
        for p in ["granted/evil", "granted/evil-rel"] {
            let err = read(&paths, p).unwrap_err();
            assert!(!err.contains("secret"), "{p} leaked: {err}");
            assert!(err.contains("outside"), "{p}: {err}");
        }
    }

    #[test]
    fn write_grants_are_separate() {
        let (_t, paths) = setup();
        assert!(paths.resolve("granted/new.txt", Access::Write).is_err());
        assert_eq!(paths.kind("granted/nothing").unwrap(), PathKind::Missing);
        assert_eq!(paths.kind("granted").unwrap(), PathKind::Directory);
        assert!(paths.kind("elsewhere").is_err());
    }
}
