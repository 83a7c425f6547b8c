//! The helper that runs one host command confined (`host-exec`'s `run-confined`): the
//! small `kiln-confine` binary beside kiln's own (about 2 ms less a command than the
//! kiln binary re-executed), or, where there is none, the kiln binary re-executed with
//! [`CONFINE_ARG`] first, before any thread starts.
//!
//! It unshares a mount, PID and IPC namespace (and a user namespace when kiln does not
//! run as root), builds a root on a tmpfs that holds only this host's system directories
//! (read-only, `/etc` without its secrets), a fresh `/dev`, `/proc` and `/tmp`, a
//! private empty home and the paths the view names, pivots into it and runs the command
//! there as PID 2 under a small init. When the command ends, the init exits and the
//! kernel kills whatever the command left behind (an SSH control master, say); when kiln
//! stops the step, the helper dies and takes the namespace with it. Nothing is mounted
//! on the host. Where namespaces are not allowed, the command runs unconfined and the
//! helper says so on its standard error, which the step shows.

#![allow(unsafe_code)] // fork; each use says why it is sound.

use std::ffi::{CString, OsString};
use std::fs::File;
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::path::{Component, Path, PathBuf};

use nix::mount::{mount, umount2, MntFlags, MsFlags};
use nix::sched::{unshare, CloneFlags};
use nix::sys::signal::Signal;
use nix::sys::statvfs::{statvfs, FsFlags};
use nix::sys::wait::{waitpid, WaitStatus};
use nix::unistd::{chdir, execv, fork, pivot_root, ForkResult, Gid, Pid, Uid};

pub use kiln_core::confine::{View, Visible, CONFINE_ARG, SYSTEM_DIRS};

/// Files of `/etc` a confined command never sees (an empty file in their place).
const SECRETS: &[&str] = &["shadow", "shadow-", "gshadow", "gshadow-", "sudoers"];

/// The namespaces a confined command gets: a user namespace too when kiln is not root
/// (as `kiln_runtime::confine::available` probes them).
fn flags() -> CloneFlags {
    let mut flags = CloneFlags::CLONE_NEWNS | CloneFlags::CLONE_NEWPID | CloneFlags::CLONE_NEWIPC;
    if !Uid::effective().is_root() {
        flags |= CloneFlags::CLONE_NEWUSER;
    }
    flags
}

/// The `kiln-confine` binary's `main`: its first argument is the view.
pub fn main() -> std::process::ExitCode {
    let args: Vec<OsString> = std::env::args_os().skip(1).collect();
    std::process::ExitCode::from(confine_main(&args))
}

/// The helper's main: runs the command of the view in `args` and returns its exit code.
pub fn confine_main(args: &[OsString]) -> u8 {
    let view = match args
        .first()
        .map(|a| serde_json::from_slice::<View>(a.as_encoded_bytes()))
    {
        Some(Ok(view)) => view,
        Some(Err(e)) => {
            // A helper left from another build of Kiln reads another view.
            eprintln!(
                "kiln confine: the view kiln sent cannot be read ({e}): install kiln and \
                 kiln-confine from the same build"
            );
            return 125;
        }
        None => {
            eprintln!("kiln confine: missing view (it is run by kiln, not by hand)");
            return 125;
        }
    };
    let (uid, gid) = (Uid::effective(), Gid::effective());
    if let Err(e) = unshare(flags()) {
        eprintln!(
            "kiln: this host does not allow Linux namespaces to kiln (unshare: {e}): `{}` \
             runs unconfined and sees this host as the person running kiln does",
            view.argv.first().map_or("", String::as_str)
        );
        return exec(&view);
    }
    if !uid.is_root() {
        if let Err(e) = map_user(uid, gid) {
            eprintln!("kiln confine: mapping the user into its namespace: {e}");
            return 125;
        }
    }
    // SAFETY: this process is single-threaded (`kiln-confine` starts none, and the kiln
    // binary dispatches to the helper before it starts any), so the child may do anything the parent could.
    match unsafe { fork() } {
        Err(e) => {
            eprintln!("kiln confine: fork: {e}");
            125
        }
        Ok(ForkResult::Child) => std::process::exit(i32::from(init(&view))),
        Ok(ForkResult::Parent { child }) => match waitpid(child, None) {
            Ok(WaitStatus::Exited(_, code)) => u8::try_from(code).unwrap_or(125),
            Ok(WaitStatus::Signaled(_, sig, _)) => 128u8.saturating_add(sig as u8),
            _ => 125,
        },
    }
}

/// Maps kiln's user and group to themselves in the new user namespace.
fn map_user(uid: Uid, gid: Gid) -> io::Result<()> {
    std::fs::write("/proc/self/uid_map", format!("{uid} {uid} 1"))?;
    std::fs::write("/proc/self/setgroups", "deny")?;
    std::fs::write("/proc/self/gid_map", format!("{gid} {gid} 1"))
}

/// PID 1 of the view: builds it, runs the command as its child, reaps, and returns the
/// command's exit code (everything else in the namespace dies when it returns).
fn init(view: &View) -> u8 {
    if let Err(e) = nix::sys::prctl::set_pdeathsig(Signal::SIGKILL) {
        eprintln!("kiln confine: {e}");
        return 125;
    }
    if let Err(e) = build(view) {
        eprintln!(
            "kiln confine: building the view for `{}`: {e}",
            view.argv.first().map_or("", String::as_str)
        );
        return 125;
    }
    // SAFETY: single-threaded, as above.
    let command = match unsafe { fork() } {
        Err(e) => {
            eprintln!("kiln confine: fork: {e}");
            return 125;
        }
        Ok(ForkResult::Child) => std::process::exit(i32::from(exec(view))),
        Ok(ForkResult::Parent { child }) => child,
    };
    loop {
        match waitpid(Pid::from_raw(-1), None) {
            Ok(WaitStatus::Exited(pid, code)) if pid == command => {
                return u8::try_from(code).unwrap_or(125)
            }
            Ok(WaitStatus::Signaled(pid, sig, _)) if pid == command => {
                return 128u8.saturating_add(sig as u8)
            }
            Ok(_) => {}
            Err(nix::errno::Errno::EINTR) => {}
            Err(_) => return 125,
        }
    }
}

/// Replaces this process with the command; 127 when it cannot.
fn exec(view: &View) -> u8 {
    let cstr = |s: &[u8]| CString::new(s).ok();
    let program = cstr(view.program.as_os_str().as_bytes());
    let argv: Option<Vec<CString>> = view.argv.iter().map(|a| cstr(a.as_bytes())).collect();
    let (Some(program), Some(argv)) = (program, argv) else {
        eprintln!("kiln confine: the command holds a NUL byte");
        return 127;
    };
    let e = execv(&program, &argv).err();
    eprintln!(
        "kiln confine: running {}: {}",
        view.program.display(),
        e.map_or_else(|| "failed".to_owned(), |e| e.to_string())
    );
    127
}

/// `path` (absolute) below `root`.
fn under(root: &Path, path: &Path) -> PathBuf {
    let mut at = root.to_path_buf();
    for part in path.components() {
        if let Component::Normal(name) = part {
            at.push(name);
        }
    }
    at
}

/// Builds the view's root at `view.root`, pivots into it and enters its `cwd`.
fn build(view: &View) -> io::Result<()> {
    let root = &view.root;
    private_mounts()?;
    let nosuid = MsFlags::MS_NOSUID | MsFlags::MS_NODEV;
    mount(Some("tmpfs"), root, Some("tmpfs"), nosuid, Some("mode=755"))?;
    for dir in SYSTEM_DIRS {
        let host = Path::new("/").join(dir);
        let at = root.join(dir);
        match std::fs::symlink_metadata(&host) {
            Ok(meta) if meta.file_type().is_symlink() => {
                std::os::unix::fs::symlink(std::fs::read_link(&host)?, &at)?
            }
            Ok(meta) if meta.is_dir() => {
                std::fs::create_dir(&at)?;
                bind(&host, &at, false, true)?;
            }
            _ => {}
        }
    }
    hide_secrets(root)?;
    // Name resolution where /etc/resolv.conf points elsewhere (systemd-resolved's /run).
    if let Ok(target) = std::fs::canonicalize("/etc/resolv.conf") {
        if let Some(dir) = target.parent().filter(|d| !covered(d)) {
            let at = under(root, dir);
            std::fs::create_dir_all(&at)?;
            bind(dir, &at, false, false)?;
        }
    }
    let dev = root.join("dev");
    std::fs::create_dir(&dev)?;
    setup_dev(&dev)?;
    let proc = root.join("proc");
    std::fs::create_dir(&proc)?;
    mount(
        Some("proc"),
        &proc,
        Some("proc"),
        nosuid | MsFlags::MS_NOEXEC,
        None::<&str>,
    )?;
    let tmp = root.join("tmp");
    std::fs::create_dir(&tmp)?;
    mount(
        Some("tmpfs"),
        &tmp,
        Some("tmpfs"),
        nosuid,
        Some("mode=1777"),
    )?;
    let home = under(root, &view.home);
    std::fs::create_dir_all(&home)?;
    mount(
        Some("tmpfs"),
        &home,
        Some("tmpfs"),
        nosuid,
        Some("mode=700"),
    )?;
    let mut paths: Vec<&Visible> = view.paths.iter().collect();
    paths.sort_by_key(|v| v.path.components().count());
    for v in paths {
        show(root, v).map_err(|e| io::Error::other(format!("{}: {e}", v.path.display())))?;
    }
    let cwd = under(root, &view.cwd);
    if std::fs::symlink_metadata(&cwd).is_err() {
        std::fs::create_dir_all(&cwd)?;
    }
    chdir(root)?;
    pivot_root(".", ".")?;
    umount2(".", MntFlags::MNT_DETACH)?;
    chdir(&view.cwd).or_else(|_| chdir("/"))?;
    Ok(())
}

/// Makes every mount of this (new) mount namespace private: nothing mounted in it
/// propagates back to the host.
pub fn private_mounts() -> nix::Result<()> {
    mount(
        None::<&str>,
        "/",
        None::<&str>,
        MsFlags::MS_REC | MsFlags::MS_PRIVATE,
        None::<&str>,
    )
}

/// A fresh `/dev` with only harmless devices, bound from the host's.
pub fn setup_dev(dev: &Path) -> io::Result<()> {
    mount(
        Some("tmpfs"),
        dev,
        Some("tmpfs"),
        MsFlags::MS_NOSUID,
        Some("mode=755,size=65536k"),
    )?;
    for name in ["null", "zero", "full", "random", "urandom", "tty"] {
        let target = dev.join(name);
        File::create(&target)?;
        mount(
            Some(&Path::new("/dev").join(name)),
            &target,
            None::<&str>,
            MsFlags::MS_BIND,
            None::<&str>,
        )?;
    }
    for dir in ["pts", "shm"] {
        std::fs::create_dir(dev.join(dir))?;
    }
    mount(
        Some("devpts"),
        &dev.join("pts"),
        Some("devpts"),
        MsFlags::MS_NOSUID | MsFlags::MS_NOEXEC,
        Some("newinstance,ptmxmode=0666,mode=620"),
    )?;
    mount(
        Some("shm"),
        &dev.join("shm"),
        Some("tmpfs"),
        MsFlags::MS_NOSUID | MsFlags::MS_NODEV,
        Some("mode=1777"),
    )?;
    for (link, target) in [
        ("fd", "/proc/self/fd"),
        ("stdin", "/proc/self/fd/0"),
        ("stdout", "/proc/self/fd/1"),
        ("stderr", "/proc/self/fd/2"),
        ("ptmx", "pts/ptmx"),
    ] {
        std::os::unix::fs::symlink(target, dev.join(link))?;
    }
    Ok(())
}

/// Whether `path` lies in one of the system directories every view shows.
fn covered(path: &Path) -> bool {
    let mut parts = path.components().skip(1);
    matches!(parts.next(), Some(Component::Normal(first))
        if SYSTEM_DIRS.iter().any(|d| first == std::ffi::OsStr::new(d)))
}

/// Puts an empty file over `/etc`'s secrets (and SSH's host keys) in the view.
fn hide_secrets(root: &Path) -> io::Result<()> {
    let etc = root.join("etc");
    let mut hidden: Vec<PathBuf> = SECRETS.iter().map(|f| etc.join(f)).collect();
    if let Ok(entries) = std::fs::read_dir("/etc/ssh") {
        for entry in entries.flatten() {
            let name = entry.file_name();
            let name = name.to_string_lossy();
            if name.starts_with("ssh_host_") && name.ends_with("_key") {
                hidden.push(etc.join("ssh").join(&*name));
            }
        }
    }
    for file in hidden {
        if std::fs::symlink_metadata(&file).is_ok_and(|m| m.is_file()) {
            bind(Path::new("/dev/null"), &file, false, false)?;
        }
    }
    let private = etc.join("ssl/private");
    if std::fs::symlink_metadata(&private).is_ok_and(|m| m.is_dir()) {
        mount(
            Some("tmpfs"),
            &private,
            Some("tmpfs"),
            MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_RDONLY,
            Some("mode=700"),
        )?;
    }
    Ok(())
}

/// Shows one host path of the view at the same path.
fn show(root: &Path, v: &Visible) -> io::Result<()> {
    let Ok(source) = std::fs::canonicalize(&v.path) else {
        return Ok(()); // missing on the host: missing in the view
    };
    let at = under(root, &v.path);
    if at == *root {
        return Err(io::Error::other("the whole host cannot be shown"));
    }
    match std::fs::symlink_metadata(&at) {
        // Already shown read-only by a system directory or a shorter path of the view.
        Ok(_) if !v.writable => return Ok(()),
        Ok(_) => {}
        Err(_) if source.is_dir() => std::fs::create_dir_all(&at)?,
        Err(_) => {
            if let Some(parent) = at.parent() {
                std::fs::create_dir_all(parent)?;
            }
            File::create(&at)?;
        }
    }
    bind(&source, &at, v.writable, false)
}

/// Binds `source` at `at`, read-only unless `writable`, with the submounts when
/// `recursive`. A read-only bind keeps the flags the source's mount carries (`nosuid`,
/// ...), which a user namespace may not drop.
fn bind(source: &Path, at: &Path, writable: bool, recursive: bool) -> io::Result<()> {
    let mut flags = MsFlags::MS_BIND;
    if recursive {
        flags |= MsFlags::MS_REC;
    }
    mount(Some(source), at, None::<&str>, flags, None::<&str>)?;
    if writable {
        return Ok(());
    }
    let kept = statvfs(source)
        .map(|s| s.flags())
        .unwrap_or(FsFlags::empty());
    let mut remount = MsFlags::MS_REMOUNT | MsFlags::MS_BIND | MsFlags::MS_RDONLY;
    for (fs, ms) in [
        (FsFlags::ST_NOSUID, MsFlags::MS_NOSUID),
        (FsFlags::ST_NODEV, MsFlags::MS_NODEV),
        (FsFlags::ST_NOEXEC, MsFlags::MS_NOEXEC),
        (FsFlags::ST_NOATIME, MsFlags::MS_NOATIME),
        (FsFlags::ST_NODIRATIME, MsFlags::MS_NODIRATIME),
        (FsFlags::ST_RELATIME, MsFlags::MS_RELATIME),
    ] {
        if kept.contains(fs) {
            remount |= ms;
        }
    }
    mount(None::<&str>, at, None::<&str>, remount, None::<&str>)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_land_below_the_root_and_system_dirs_are_covered() {
        assert_eq!(
            under(Path::new("/v"), Path::new("/root/x/y")),
            PathBuf::from("/v/root/x/y")
        );
        assert!(covered(Path::new("/usr/share/ansible")));
        assert!(covered(Path::new("/etc")));
        assert!(!covered(Path::new("/run/systemd/resolve")));
        assert!(!covered(Path::new("/usrx/y")));
    }

    #[test]
    fn a_missing_or_unreadable_view_fails_before_anything_is_made() {
        assert_eq!(confine_main(&[]), 125);
        assert_eq!(confine_main(&[OsString::from("{\"root\":\"/x\"}")]), 125);
        assert_eq!(confine_main(&[OsString::from("not json")]), 125);
    }
}
