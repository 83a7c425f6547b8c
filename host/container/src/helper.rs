//! The side of the container runtime that runs as a separate process: the kiln binary
//! re-executes itself (`/proc/self/exe`) with a hidden first argument, before it starts
//! any thread, because entering a mount namespace needs a single-threaded process.
//!
//! * `init` creates the namespaces, mounts the root filesystem, `/proc`, `/dev` and
//!   `/tmp`, pivots into it and stays there as PID 1. It lives until its standard input
//!   closes (kiln is done, or died), then kills everything in the container.
//! * `exec` joins the namespaces of a running container, enters its root, and runs one
//!   command or one file transfer there. Paths are resolved after `chroot`, so a symlink
//!   inside the container can never point the transfer at the host.
//! * `confine` (see [`kiln_confine`]) runs one host command in a view of this host, where
//!   no `kiln-confine` binary lies beside kiln's own.

#![allow(unsafe_code)] // fork, prctl and an ioctl; each use says why it is sound.

use std::ffi::OsString;
use std::fs::File;
use std::io::{self, BufRead, BufReader, BufWriter, Read, Write};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::{Path, PathBuf};

use nix::mount::{mount, umount2, MntFlags, MsFlags};
use nix::sched::{setns, unshare, CloneFlags};
use nix::sys::signal::{kill, Signal};
use nix::sys::wait::{waitpid, WaitStatus};
use nix::unistd::{chdir, chroot, fchdir, fork, pivot_root, sethostname, ForkResult, Pid};

use super::{InitConfig, Mount, MountSource, EXEC_ARG, INIT_ARG};

/// Runs the helper named by the first argument, if there is one, and returns its exit
/// code. Must be called first thing in `main`, before any thread exists.
pub fn helper_main() -> Option<std::process::ExitCode> {
    let mut args = std::env::args_os().skip(1);
    let first = args.next()?;
    let rest: Vec<OsString> = args.collect();
    let code = if first == INIT_ARG {
        init_main(&rest)
    } else if first == EXEC_ARG {
        exec_main(&rest)
    } else if first == kiln_confine::CONFINE_ARG {
        kiln_confine::confine_main(&rest)
    } else {
        return None;
    };
    Some(std::process::ExitCode::from(code))
}

fn fail(what: &str, e: impl std::fmt::Display) -> u8 {
    eprintln!("kiln container: {what}: {e}");
    125
}

// ---------------------------------------------------------------------------------------
// init

fn init_main(args: &[OsString]) -> u8 {
    let Some(config) = args
        .first()
        .and_then(|a| serde_json::from_slice::<InitConfig>(a.as_encoded_bytes()).ok())
    else {
        return fail("init", "missing or malformed configuration");
    };
    let mut flags = CloneFlags::CLONE_NEWNS
        | CloneFlags::CLONE_NEWUTS
        | CloneFlags::CLONE_NEWIPC
        | CloneFlags::CLONE_NEWPID;
    if !config.host_network {
        flags |= CloneFlags::CLONE_NEWNET;
    }
    if let Err(e) = unshare(flags) {
        return fail("creating namespaces (this needs root)", e);
    }
    // SAFETY: this process is single-threaded (helper_main runs before any thread is
    // started), so the child may do anything the parent could.
    match unsafe { fork() } {
        Err(e) => fail("fork", e),
        Ok(ForkResult::Child) => {
            let code = match container_init(&config) {
                Ok(never) => match never {},
                Err(e) => fail("setting up the container", e),
            };
            std::process::exit(code as i32)
        }
        Ok(ForkResult::Parent { child }) => {
            println!("pid {child}");
            let _ = io::stdout().flush();
            // The init process reports "ready" (or its error) on the shared stdout.
            // Meanwhile, wait for kiln to close our stdin, then take the container down.
            // (No thread: a process cannot start threads once it has unshared its PID
            // namespace.)
            let status = match watch_stdin(child) {
                Some(status) => Ok(status),
                None => waitpid(child, None),
            };
            match status {
                Ok(WaitStatus::Exited(_, code)) => code as u8,
                Ok(_) => 0,
                Err(e) => fail("waiting for the container", e),
            }
        }
    }
}

/// Returns once `child` has exited (with its status), or once our stdin reached its end
/// and `child` was killed (the caller then reaps it).
fn watch_stdin(child: Pid) -> Option<WaitStatus> {
    use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
    use nix::sys::wait::WaitPidFlag;
    use std::os::fd::AsFd;
    let stdin = io::stdin();
    let mut open = true;
    while open {
        match waitpid(child, Some(WaitPidFlag::WNOHANG)) {
            Ok(WaitStatus::StillAlive) => {}
            Ok(status) => return Some(status),
            Err(_) => return None,
        }
        let mut fds = [PollFd::new(stdin.as_fd(), PollFlags::POLLIN)];
        if poll(&mut fds, PollTimeout::from(200u16)).unwrap_or(0) > 0 {
            let mut sink = [0u8; 64];
            open = matches!(stdin.lock().read(&mut sink), Ok(n) if n > 0);
        }
    }
    let _ = kill(child, Signal::SIGKILL);
    None
}

/// PID 1 of the container: set up the root and reap orphans until killed.
fn container_init(config: &InitConfig) -> io::Result<std::convert::Infallible> {
    nix::sys::prctl::set_pdeathsig(Signal::SIGKILL)?;
    let root = &config.root;
    // Nothing mounted here may propagate back to the host.
    kiln_confine::private_mounts()?;
    let lower = config
        .lower
        .iter()
        .map(|p| p.display().to_string())
        .collect::<Vec<_>>()
        .join(":");
    let options = format!(
        "lowerdir={lower},upperdir={},workdir={}",
        config.upper.display(),
        config.work.display()
    );
    mount(
        Some("overlay"),
        root,
        Some("overlay"),
        MsFlags::empty(),
        Some(options.as_str()),
    )
    .map_err(|e| io::Error::other(format!("mounting the overlay root: {e}")))?;
    for dir in ["proc", "dev", "tmp"] {
        let meta = std::fs::symlink_metadata(root.join(dir))?;
        if !meta.is_dir() {
            return Err(io::Error::other(format!(
                "the image's /{dir} is not a directory"
            )));
        }
    }
    let nosuid = MsFlags::MS_NOSUID | MsFlags::MS_NODEV;
    mount(
        Some("proc"),
        &root.join("proc"),
        Some("proc"),
        nosuid | MsFlags::MS_NOEXEC,
        None::<&str>,
    )?;
    mount(
        Some("tmpfs"),
        &root.join("tmp"),
        Some("tmpfs"),
        nosuid,
        Some("mode=1777"),
    )?;
    kiln_confine::setup_dev(&root.join("dev"))?;
    for m in &config.mounts {
        mount_one(root, m).map_err(|e| io::Error::other(format!("mounting {}: {e}", m.target)))?;
    }
    if config.host_network {
        let resolv = root.join("etc/resolv.conf");
        if std::fs::symlink_metadata(&resolv).is_ok_and(|m| m.is_file()) {
            mount(
                Some("/etc/resolv.conf"),
                &resolv,
                None::<&str>,
                MsFlags::MS_BIND,
                None::<&str>,
            )?;
        }
    } else {
        loopback_up()?;
    }
    sethostname(&config.hostname)?;
    chdir(root)?;
    pivot_root(".", ".")?;
    umount2(".", MntFlags::MNT_DETACH)?;
    chdir("/")?;
    println!("ready");
    let _ = io::stdout().flush();
    loop {
        match waitpid(None::<Pid>, None) {
            Ok(_) => {}
            Err(_) => std::thread::sleep(std::time::Duration::from_millis(200)),
        }
    }
}

/// Mounts `m` under `root`, creating what is missing on the way to it; a symbolic link
/// on the way (which would lead the mount out of the container) is refused.
fn mount_one(root: &Path, m: &Mount) -> io::Result<()> {
    use std::path::Component;
    let rel = Path::new(&m.target)
        .strip_prefix("/")
        .map_err(|_| io::Error::other("the path in the container must be absolute"))?;
    let parts: Vec<_> = rel.components().collect();
    if parts.is_empty() {
        return Err(io::Error::other("nothing may be mounted over the root"));
    }
    let mut at = root.to_path_buf();
    for (i, part) in parts.iter().enumerate() {
        let Component::Normal(name) = part else {
            return Err(io::Error::other(
                "the path in the container may not hold . or ..",
            ));
        };
        at.push(name);
        let last = i + 1 == parts.len();
        match std::fs::symlink_metadata(&at) {
            Ok(meta) if meta.file_type().is_symlink() => {
                return Err(io::Error::other(format!(
                    "/{} is a symbolic link in the image",
                    rel.iter()
                        .take(i + 1)
                        .map(|p| p.to_string_lossy())
                        .collect::<Vec<_>>()
                        .join("/")
                )))
            }
            Ok(meta) if !last && !meta.is_dir() => {
                return Err(io::Error::other(format!(
                    "{} is not a directory",
                    name.to_string_lossy()
                )))
            }
            Ok(_) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                let file = last && matches!(&m.source, MountSource::Bind(src) if !src.is_dir());
                if file {
                    File::create(&at)?;
                } else {
                    std::fs::create_dir(&at)?;
                }
            }
            Err(e) => return Err(e),
        }
    }
    match &m.source {
        MountSource::Bind(src) => {
            mount(
                Some(src),
                &at,
                None::<&str>,
                MsFlags::MS_BIND | MsFlags::MS_REC,
                None::<&str>,
            )?;
            if m.read_only {
                mount(
                    None::<&str>,
                    &at,
                    None::<&str>,
                    MsFlags::MS_BIND | MsFlags::MS_REMOUNT | MsFlags::MS_RDONLY,
                    None::<&str>,
                )?;
            }
        }
        MountSource::Tmpfs(options) => {
            let mut flags = MsFlags::empty();
            let mut data = Vec::new();
            for option in options.split(',').filter(|o| !o.is_empty()) {
                match option {
                    "ro" => flags |= MsFlags::MS_RDONLY,
                    "noexec" => flags |= MsFlags::MS_NOEXEC,
                    "nosuid" => flags |= MsFlags::MS_NOSUID,
                    "nodev" => flags |= MsFlags::MS_NODEV,
                    "rw" | "exec" | "suid" | "dev" => {}
                    other => data.push(other),
                }
            }
            if m.read_only {
                flags |= MsFlags::MS_RDONLY;
            }
            mount(
                Some("tmpfs"),
                &at,
                Some("tmpfs"),
                flags,
                Some(data.join(",").as_str()),
            )?;
        }
    }
    Ok(())
}

/// Brings up `lo` in the container's own network namespace (which has nothing else).
fn loopback_up() -> io::Result<()> {
    let socket = std::net::UdpSocket::bind("127.0.0.1:0").or_else(|_| {
        // `lo` is down, so binding to it fails; any unbound datagram socket will do.
        std::net::UdpSocket::bind("0.0.0.0:0")
    })?;
    use std::os::fd::AsRawFd;
    // SAFETY: `ifreq` is plain data; zeroed is a valid value. The ioctls read and write
    // only within it, and the socket is open for the duration.
    unsafe {
        let mut req: libc::ifreq = std::mem::zeroed();
        for (i, b) in b"lo".iter().enumerate() {
            req.ifr_name[i] = *b as libc::c_char;
        }
        if libc::ioctl(socket.as_raw_fd(), libc::SIOCGIFFLAGS, &mut req) < 0 {
            return Err(io::Error::last_os_error());
        }
        req.ifr_ifru.ifru_flags |= libc::IFF_UP as libc::c_short;
        if libc::ioctl(socket.as_raw_fd(), libc::SIOCSIFFLAGS, &req) < 0 {
            return Err(io::Error::last_os_error());
        }
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------
// exec

fn exec_main(args: &[OsString]) -> u8 {
    let [pid, op, rest @ ..] = args else {
        return fail("exec", "usage: <pid> <operation> [arguments]");
    };
    let Ok(pid) = pid.to_string_lossy().parse::<i32>() else {
        return fail("exec", "malformed pid");
    };
    if let Err(e) = enter(pid) {
        return fail("entering the container", e);
    }
    let rest: Vec<String> = rest
        .iter()
        .map(|a| a.to_string_lossy().into_owned())
        .collect();
    let result = match (op.to_string_lossy().as_ref(), rest.as_slice()) {
        ("run", [dir, command, caps, user]) => return run(dir, command, caps, user),
        ("put", [path, mode]) => put_file(Path::new(path), parse_mode(mode)),
        ("get", [path]) => get_file(Path::new(path)),
        ("put-tree", [path]) => put_tree(Path::new(path)),
        ("get-tree", [path]) => get_tree(Path::new(path)),
        ("export", [epoch, exclude @ ..]) => export(epoch, exclude),
        _ => Err(io::Error::other("unknown operation")),
    };
    match result {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("{e}");
            1
        }
    }
}

fn parse_mode(text: &str) -> u32 {
    u32::from_str_radix(text, 8).unwrap_or(0o644)
}

/// Joins every namespace of `pid` and its root directory.
fn enter(pid: i32) -> io::Result<()> {
    let proc = PathBuf::from(format!("/proc/{pid}"));
    // Opened before joining the mount namespace, where /proc is the container's.
    let root = File::open(proc.join("root"))?;
    let namespaces = [
        ("ipc", CloneFlags::CLONE_NEWIPC),
        ("uts", CloneFlags::CLONE_NEWUTS),
        ("net", CloneFlags::CLONE_NEWNET),
        ("pid", CloneFlags::CLONE_NEWPID),
        ("mnt", CloneFlags::CLONE_NEWNS),
    ]
    .map(|(name, flag)| File::open(proc.join("ns").join(name)).map(|f| (f, flag)));
    for ns in namespaces {
        let (file, flag) = ns?;
        setns(&file, flag)?;
    }
    fchdir(&root)?;
    chroot(".")?;
    chdir("/")?;
    Ok(())
}

/// Runs `command` with the container's `/bin/sh` in `dir`, as a child in the
/// container's PID namespace, and exits as it exited.
fn run(dir: &str, command: &str, caps: &str, user: &str) -> u8 {
    // Which capabilities stay: decided here, so that the child allocates nothing.
    let mut kept = [false; 64];
    for cap in caps.split(',').filter(|c| !c.is_empty()) {
        match cap.parse::<usize>() {
            Ok(n) if n < kept.len() => kept[n] = true,
            _ => return fail("exec", format!("malformed capability {cap:?}")),
        }
    }
    if !Path::new("/bin/sh").exists() {
        eprintln!("the container has no /bin/sh to run commands with (is the base image scratch?)");
        return 127;
    }
    let account = if user.is_empty() {
        None
    } else {
        match resolve_user(user) {
            Ok(a) => Some(a),
            Err(e) => return fail("exec_user", e),
        }
    };
    let mut cmd = std::process::Command::new("/bin/sh");
    cmd.arg("-c")
        .arg(command)
        .current_dir(if Path::new(dir).is_dir() { dir } else { "/" });
    if let Some(a) = &account {
        cmd.env("HOME", &a.home);
    }
    let ids = account.map(|a| (a.uid, a.gid, a.groups));
    // SAFETY: between fork and exec the closure only makes async-signal-safe syscalls
    // (prctl, setgroups, setgid, setuid) and allocates nothing: the ids were read before.
    unsafe {
        cmd.pre_exec(move || {
            for (cap, keep) in kept.iter().enumerate() {
                if !keep {
                    // EINVAL past the kernel's last capability is expected.
                    libc::prctl(libc::PR_CAPBSET_DROP, cap as libc::c_ulong, 0, 0, 0);
                }
            }
            if libc::prctl(
                libc::PR_SET_PDEATHSIG,
                libc::SIGKILL as libc::c_ulong,
                0,
                0,
                0,
            ) < 0
            {
                return Err(io::Error::last_os_error());
            }
            // After the capabilities: changing user leaves none to drop them with.
            if let Some((uid, gid, groups)) = &ids {
                if libc::setgroups(groups.len(), groups.as_ptr()) < 0
                    || libc::setgid(*gid) < 0
                    || libc::setuid(*uid) < 0
                {
                    return Err(io::Error::last_os_error());
                }
            }
            Ok(())
        });
    }
    let status = match cmd.status() {
        Ok(s) => s,
        Err(e) if e.raw_os_error() == Some(libc::ENOEXEC) => {
            return fail(
                "starting /bin/sh",
                format!(
                    "{e}: the image's programs are for another architecture and no \
                     emulator for it is registered with binfmt_misc (on Debian: apt-get \
                     install qemu-user-static binfmt-support)"
                ),
            )
        }
        Err(e) => return fail("starting /bin/sh", e),
    };
    if let Some(code) = status.code() {
        return code as u8;
    }
    // Killed by a signal: die the same way so that kiln reports the signal.
    if let Some(sig) = status.signal() {
        if let Ok(sig) = Signal::try_from(sig) {
            // SAFETY: restoring the default action of a signal has no preconditions.
            unsafe {
                let _ = nix::sys::signal::signal(sig, nix::sys::signal::SigHandler::SigDfl);
            }
            let _ = kill(Pid::this(), sig);
        }
    }
    128
}

/// Who `exec_user` names, as the container's own /etc/passwd and /etc/group say.
struct Account {
    uid: u32,
    gid: u32,
    groups: Vec<libc::gid_t>,
    home: String,
}

/// Reads `user[:group]` (names or numbers) as Docker's `exec -u` does: a name must be in
/// /etc/passwd; a number need not be (its group is then 0 and its home `/`); the groups
/// that list the user by name are its supplementary groups.
fn resolve_user(spec: &str) -> io::Result<Account> {
    let read = |path: &str| std::fs::read_to_string(path).unwrap_or_default();
    let (passwd, group) = (read("/etc/passwd"), read("/etc/group"));
    let fields = |text: &str| -> Vec<Vec<String>> {
        text.lines()
            .map(|l| l.split(':').map(str::to_owned).collect::<Vec<_>>())
            .filter(|f| f.len() >= 3)
            .collect()
    };
    let (users, groups) = (fields(&passwd), fields(&group));
    let (user_part, group_part) = match spec.split_once(':') {
        Some((u, g)) => (u, Some(g)),
        None => (spec, None),
    };
    let entry = users.iter().find(|f| match user_part.parse::<u32>() {
        Ok(uid) => f[2].parse() == Ok(uid),
        Err(_) => f[0] == user_part,
    });
    let (uid, mut gid, name, home) = match (entry, user_part.parse::<u32>()) {
        (Some(f), _) => (
            f[2].parse()
                .map_err(|_| io::Error::other(format!("bad uid in /etc/passwd: {}", f[2])))?,
            f.get(3).and_then(|g| g.parse().ok()).unwrap_or(0),
            Some(f[0].clone()),
            f.get(5)
                .cloned()
                .filter(|h| !h.is_empty())
                .unwrap_or_else(|| "/".into()),
        ),
        (None, Ok(uid)) => (uid, 0, None, "/".to_owned()),
        (None, Err(_)) => {
            return Err(io::Error::other(format!(
                "unable to find user {user_part}: no matching entries in passwd file"
            )))
        }
    };
    if let Some(g) = group_part {
        gid = match g.parse::<u32>() {
            Ok(n) => n,
            Err(_) => groups
                .iter()
                .find(|f| f[0] == g)
                .and_then(|f| f[2].parse().ok())
                .ok_or_else(|| {
                    io::Error::other(format!(
                        "unable to find group {g}: no matching entries in group file"
                    ))
                })?,
        };
    }
    let mut supplementary = vec![gid];
    if let Some(name) = &name {
        for f in &groups {
            let members = f.get(3).map(String::as_str).unwrap_or_default();
            if members.split(',').any(|m| m == name) {
                if let Ok(g) = f[2].parse() {
                    supplementary.push(g);
                }
            }
        }
    }
    supplementary.sort_unstable();
    supplementary.dedup();
    Ok(Account {
        uid,
        gid,
        groups: supplementary,
        home,
    })
}

/// The container's whole root filesystem as a deterministic tar on stdout, read from
/// inside the container's root so that no symlink in it can lead outside.
fn export(epoch: &str, exclude: &[String]) -> io::Result<()> {
    let options = kiln_registry::LayerOptions {
        epoch: epoch.parse().map_err(io::Error::other)?,
        overlay_upper: false,
        exclude: exclude.iter().map(PathBuf::from).collect(),
        cancel: None,
    };
    let out = BufWriter::new(io::stdout().lock());
    kiln_registry::write_tar(Path::new("/"), &options, out).map_err(io::Error::other)?;
    Ok(())
}

fn put_file(path: &Path, mode: u32) -> io::Result<()> {
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(mode)
        .open(path)
        .map_err(|e| io::Error::other(format!("{}: {e}", path.display())))?;
    io::copy(&mut io::stdin().lock(), &mut file)?;
    file.set_permissions(std::fs::Permissions::from_mode(mode))?;
    Ok(())
}

fn get_file(path: &Path) -> io::Result<()> {
    let mut file =
        File::open(path).map_err(|e| io::Error::other(format!("{}: {e}", path.display())))?;
    if file.metadata()?.is_dir() {
        return Err(io::Error::other(format!(
            "{} is a directory",
            path.display()
        )));
    }
    let mut out = io::stdout().lock();
    io::copy(&mut file, &mut out)?;
    out.flush()
}

// The tree protocol (both directions): `D <mode> <namelen>\n<name>` enters a directory,
// `F <mode> <size> <namelen>\n<name><bytes>` is a file, `U\n` leaves a directory.

fn checked_name(name: &[u8]) -> io::Result<&str> {
    let name = std::str::from_utf8(name).map_err(|_| io::Error::other("file name is not UTF-8"))?;
    if name.is_empty() || name == "." || name == ".." || name.contains('/') || name.contains('\0') {
        return Err(io::Error::other(format!("refusing file name {name:?}")));
    }
    Ok(name)
}

fn put_tree(dest: &Path) -> io::Result<()> {
    std::fs::create_dir_all(dest)
        .map_err(|e| io::Error::other(format!("{}: {e}", dest.display())))?;
    let mut input = BufReader::new(io::stdin().lock());
    let mut dir = dest.to_path_buf();
    let mut line = String::new();
    loop {
        line.clear();
        if input.read_line(&mut line)? == 0 {
            return Ok(());
        }
        let fields: Vec<&str> = line.trim_end().split(' ').collect();
        let read_name = |input: &mut BufReader<_>, len: &str| -> io::Result<String> {
            let len: usize = len.parse().map_err(io::Error::other)?;
            let mut name = vec![0; len];
            input.read_exact(&mut name)?;
            checked_name(&name).map(str::to_owned)
        };
        match fields.as_slice() {
            ["D", mode, len] => {
                dir.push(read_name(&mut input, len)?);
                match std::fs::symlink_metadata(&dir) {
                    Ok(m) if m.is_dir() => {}
                    Ok(_) => {
                        return Err(io::Error::other(format!(
                            "{} exists and is not a directory",
                            dir.display()
                        )))
                    }
                    Err(_) => std::fs::create_dir(&dir)?,
                }
                std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(parse_mode(mode)))?;
            }
            ["F", mode, size, len] => {
                let path = dir.join(read_name(&mut input, len)?);
                let size: u64 = size.parse().map_err(io::Error::other)?;
                let mode = parse_mode(mode);
                let _ = std::fs::remove_file(&path);
                let mut file = std::fs::OpenOptions::new()
                    .write(true)
                    .create_new(true)
                    .mode(mode)
                    .open(&path)?;
                let copied = io::copy(&mut (&mut input).take(size), &mut file)?;
                if copied != size {
                    return Err(io::Error::other("upload ended early"));
                }
                file.set_permissions(std::fs::Permissions::from_mode(mode))?;
            }
            ["U"] => {
                if dir == dest {
                    return Err(io::Error::other("unbalanced tree"));
                }
                dir.pop();
            }
            _ => return Err(io::Error::other(format!("malformed tree entry {line:?}"))),
        }
    }
}

fn get_tree(src: &Path) -> io::Result<()> {
    let meta =
        std::fs::metadata(src).map_err(|e| io::Error::other(format!("{}: {e}", src.display())))?;
    if !meta.is_dir() {
        return Err(io::Error::other(format!(
            "{} is not a directory",
            src.display()
        )));
    }
    let mut out = BufWriter::new(io::stdout().lock());
    send_dir(src, &mut out)?;
    out.flush()
}

fn send_dir(dir: &Path, out: &mut impl Write) -> io::Result<()> {
    let mut entries: Vec<_> = std::fs::read_dir(dir)?.collect::<Result<_, _>>()?;
    entries.sort_by_key(|e| e.file_name());
    for entry in entries {
        let name = entry.file_name();
        let name = name.to_string_lossy();
        let meta = entry.metadata()?;
        let mode = meta.permissions().mode() & 0o7777;
        if meta.is_dir() {
            write!(out, "D {mode:o} {}\n{name}", name.len())?;
            send_dir(&entry.path(), out)?;
            out.write_all(b"U\n")?;
        } else if meta.is_file() {
            write!(out, "F {mode:o} {} {}\n{name}", meta.len(), name.len())?;
            let copied = io::copy(&mut File::open(entry.path())?.take(meta.len()), out)?;
            if copied != meta.len() {
                return Err(io::Error::other(format!(
                    "{} changed while being read",
                    entry.path().display()
                )));
            }
        }
    }
    Ok(())
}
