//! The runtime's side of `run-confined`: whether this host allows confining a host
//! command, the helper that confines it, the program a command names, and the view it
//! gets (which the helper, `kiln_confine`, builds in namespaces of its own).

#![allow(unsafe_code)] // one clone in `available`; it says why it is sound.

use std::ffi::OsStr;
use std::path::{Component, Path, PathBuf};
use std::sync::OnceLock;

use kiln_core::confine::{View, Visible, CONFINE_ARG, HELPER_SUFFIX, SYSTEM_DIRS};

/// Whether this host lets Kiln confine a host command, and why not when it does not:
/// answered once per process by a child made in the namespaces the helper will unshare
/// (a user namespace too when kiln is not root), which ends at once. The child shares
/// this process's memory while the parent waits, so nothing is copied for it.
pub fn available() -> Result<(), String> {
    use nix::sched::CloneFlags;
    use nix::sys::wait::waitpid;
    use nix::unistd::Uid;
    static ANSWER: OnceLock<Result<(), String>> = OnceLock::new();
    ANSWER
        .get_or_init(|| {
            let mut flags = CloneFlags::CLONE_NEWNS
                | CloneFlags::CLONE_NEWPID
                | CloneFlags::CLONE_NEWIPC
                | CloneFlags::CLONE_VM
                | CloneFlags::CLONE_VFORK;
            if !Uid::effective().is_root() {
                flags |= CloneFlags::CLONE_NEWUSER;
            }
            let mut stack = vec![0u8; 16 * 1024];
            // SAFETY: the child runs on its own stack while this thread waits
            // (CLONE_VFORK); it only returns 0, which ends it, and touches nothing of
            // the parent's memory.
            let child = unsafe {
                nix::sched::clone(Box::new(|| 0), &mut stack, flags, Some(libc::SIGCHLD))
            };
            match child {
                Ok(child) => waitpid(child, None)
                    .map(|_| ())
                    .map_err(|e| format!("probing for Linux namespaces: {e}")),
                Err(e) => Err(format!(
                    "this host does not allow Linux namespaces to kiln (unshare: {e})"
                )),
            }
        })
        .clone()
}

/// Starts answering [`available`] on a thread of its own (once per process), for a
/// component that will confine its host commands: its first command need not wait.
pub(crate) fn probe_ahead() {
    static STARTED: std::sync::Once = std::sync::Once::new();
    STARTED.call_once(|| {
        // Without the thread, the first confined command asks, as it would anyway.
        let _ = std::thread::Builder::new()
            .name("kiln-probe".into())
            .spawn(available);
    });
}

/// The program that confines a command and the arguments that come before the view:
/// the helper beside this binary (`kiln-confine` beside `kiln`), else this binary itself
/// with [`CONFINE_ARG`], which takes about two milliseconds more to start.
pub(crate) fn helper() -> (&'static Path, &'static [&'static str]) {
    static BESIDE: OnceLock<Option<PathBuf>> = OnceLock::new();
    let beside = BESIDE.get_or_init(|| {
        let exe = std::env::current_exe().ok()?;
        let mut name = exe.file_name()?.to_owned();
        name.push(HELPER_SUFFIX);
        let helper = exe.with_file_name(name);
        executable(&helper).then_some(helper)
    });
    match beside {
        Some(helper) => (helper, &[]),
        None => (Path::new("/proc/self/exe"), &[CONFINE_ARG]),
    }
}

/// Whether `path` is an executable file.
fn executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

/// The program `name` runs: itself when it holds a `/` (below `cwd` when relative),
/// else the first executable of that name on `search` (a `PATH`).
pub(crate) fn find_program(name: &str, cwd: &Path, search: Option<&OsStr>) -> Option<PathBuf> {
    if name.contains('/') {
        let path = crate::normalize(&cwd.join(name));
        return executable(&path).then_some(path);
    }
    std::env::split_paths(search?)
        .map(|dir| cwd.join(dir).join(name))
        .find(|p| executable(p))
}

/// Whether `path` lies in a system directory every view shows.
fn covered(path: &Path) -> bool {
    let mut parts = path.components().skip(1);
    matches!(parts.next(), Some(Component::Normal(first))
        if SYSTEM_DIRS.iter().any(|d| first == OsStr::new(d)))
}

/// Where a program outside the system directories is installed: the directory above
/// its `bin` (a virtual environment, `~/.local`, a pipx venv), else its own directory.
fn installation(program: &Path) -> Option<PathBuf> {
    let real = std::fs::canonicalize(program).ok()?;
    if covered(&real) {
        return None;
    }
    let dir = real.parent()?;
    Some(match dir.file_name() {
        Some(name) if name == "bin" => dir.parent().unwrap_or(dir).to_owned(),
        _ => dir.to_owned(),
    })
}

/// The interpreter a script's `#!` line names (through `env`, looked up on `search`).
fn interpreter(program: &Path, cwd: &Path, search: Option<&OsStr>) -> Option<PathBuf> {
    use std::io::Read;
    let mut head = [0u8; 256];
    let n = std::fs::File::open(program).ok()?.read(&mut head).ok()?;
    let line = head[..n].strip_prefix(b"#!")?;
    let line = String::from_utf8_lossy(line.split(|b| *b == b'\n').next()?).into_owned();
    let mut words = line.split_whitespace();
    let first = words.next()?;
    if Path::new(first).file_name() == Some(OsStr::new("env")) {
        let name = words.find(|w| !w.starts_with('-'))?;
        return find_program(name, cwd, search);
    }
    Some(PathBuf::from(first))
}

/// The view of a confined command: `program` (found on `search`) with `argv`, starting
/// in `cwd`, seeing `visible` (`~/` is the home of the person running Kiln; relative
/// paths are below `cwd`), the step's directory `temp` (writable) and the installation
/// of the program and of its interpreter. Its home is the same path as kiln's, empty
/// and private (the step's own when kiln's is a system directory or unset).
pub(crate) fn view(
    program: &Path,
    argv: &[String],
    cwd: &Path,
    temp: &Path,
    search: Option<&OsStr>,
    visible: impl IntoIterator<Item = (String, bool)>,
) -> std::io::Result<View> {
    let real_home = std::env::var_os("HOME")
        .map(PathBuf::from)
        .filter(|h| h.is_absolute());
    let home = real_home
        .clone()
        .filter(|h| h.components().count() > 1 && !covered(h))
        .unwrap_or_else(|| temp.join("home"));
    let mut paths: Vec<Visible> = Vec::new();
    let mut add = |path: PathBuf, writable: bool| {
        if !paths
            .iter()
            .any(|v| v.path == path && v.writable == writable)
        {
            paths.push(Visible { path, writable });
        }
    };
    for (path, writable) in visible {
        let path = match (path.strip_prefix("~/"), &real_home) {
            (Some(rest), Some(h)) => h.join(rest),
            (Some(_), None) => continue,
            (None, _) => cwd.join(path),
        };
        add(crate::normalize(&path), writable);
    }
    add(temp.to_owned(), true);
    let interp = interpreter(program, cwd, search);
    for p in std::iter::once(program).chain(interp.as_deref()) {
        if let Some(dir) = installation(p) {
            add(dir, false);
        }
    }
    let root = temp.join(".view");
    std::fs::create_dir_all(&root)?;
    Ok(View {
        root,
        program: program.to_owned(),
        argv: argv.to_vec(),
        cwd: cwd.to_owned(),
        home,
        paths,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn programs_are_found_on_the_path_and_their_installation_outside_the_system() {
        let dir = tempfile::tempdir().unwrap();
        let venv = dir.path().join("venv");
        std::fs::create_dir_all(venv.join("bin")).unwrap();
        let script = venv.join("bin/tool");
        std::fs::write(&script, "#!/usr/bin/env python3\n").unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
        let search = std::env::join_paths([venv.join("bin"), "/usr/bin".into()]).unwrap();
        let found = find_program("tool", dir.path(), Some(&search)).unwrap();
        assert_eq!(found, script);
        assert_eq!(
            installation(&found).unwrap(),
            std::fs::canonicalize(&venv).unwrap()
        );
        assert!(find_program("no-such-tool", dir.path(), Some(&search)).is_none());
        let python = interpreter(&found, dir.path(), Some(&search)).unwrap();
        assert!(python.ends_with("python3"), "{python:?}");
        assert_eq!(installation(Path::new("/usr/bin/env")), None);

        let temp = dir.path().join("step");
        let v = view(
            &found,
            &["tool".into()],
            dir.path(),
            &temp,
            Some(&search),
            [("play".to_owned(), false), ("out".to_owned(), true)],
        )
        .unwrap();
        let shown: Vec<(PathBuf, bool)> = v
            .paths
            .iter()
            .map(|p| (p.path.clone(), p.writable))
            .collect();
        assert!(shown.contains(&(dir.path().join("play"), false)));
        assert!(shown.contains(&(dir.path().join("out"), true)));
        assert!(shown.contains(&(temp.clone(), true)));
        assert!(shown.contains(&(std::fs::canonicalize(&venv).unwrap(), false)));
        assert!(v.root.is_dir() && v.root.starts_with(&temp));
    }
}
