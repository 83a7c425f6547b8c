//! The external programs and data files Kiln's tests use, looked up through the one list
//! of test packages, `tests/debian-packages.txt` (which `tests/run` installs). A test asks
//! for a tool by the name the list gives it; a tool that is missing fails the test with
//! the package to install, and a tool the list does not name fails it too, so the list
//! stays complete. Nothing here skips.

use std::path::{Path, PathBuf};
use std::process::Command;

/// The package list, read at compile time so a test binary needs no source tree.
const PACKAGES: &str = include_str!("../../debian-packages.txt");

/// The Debian package that provides `name` according to `tests/debian-packages.txt`.
pub fn package_of(name: &str) -> Option<&'static str> {
    entries()
        .find(|(_, tools)| tools.contains(&name))
        .map(|(package, _)| package)
}

/// Every package of the list with the tools it provides.
pub fn entries() -> impl Iterator<Item = (&'static str, Vec<&'static str>)> {
    PACKAGES.lines().filter_map(|line| {
        let line = line.split('#').next().unwrap_or("");
        let mut words = line.split_whitespace();
        let package = words.next()?;
        Some((package, words.collect()))
    })
}

/// Where `name` is: an absolute path as it is, a program name as found on `path` (a
/// `PATH` value).
fn locate_in(name: &str, path: &std::ffi::OsStr) -> Option<PathBuf> {
    if name.starts_with('/') {
        return Path::new(name).exists().then(|| PathBuf::from(name));
    }
    std::env::split_paths(path)
        .map(|dir| dir.join(name))
        .find(|candidate| is_executable(candidate))
}

fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    path.metadata()
        .map(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        .unwrap_or(false)
}

/// The path of the program or file `name`, which `tests/debian-packages.txt` must list.
///
/// # Panics
/// When the list does not name it (add it there), or when it is not on this machine:
/// the message names the package to install.
pub fn tool(name: &str) -> PathBuf {
    tool_in(name, &std::env::var_os("PATH").unwrap_or_default())
}

fn tool_in(name: &str, path: &std::ffi::OsStr) -> PathBuf {
    let Some(package) = package_of(name) else {
        panic!(
            "`{name}` is used by a test but not listed in tests/debian-packages.txt: \
             add it there with the Debian package that provides it"
        );
    };
    locate_in(name, path).unwrap_or_else(|| {
        panic!(
            "`{name}` is required by this test: apt-get install {package} \
             (tests/run installs every package of tests/debian-packages.txt)"
        )
    })
}

/// A [`Command`] running the program `name`, found with [`tool`].
pub fn command(name: &str) -> Command {
    Command::new(tool(name))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every tool the list names is on this machine: `tests/run` installed its package.
    #[test]
    fn every_listed_tool_is_installed() {
        let missing: Vec<String> = entries()
            .flat_map(|(package, tools)| {
                tools
                    .into_iter()
                    .filter(|t| {
                        locate_in(t, &std::env::var_os("PATH").unwrap_or_default()).is_none()
                    })
                    .map(move |t| format!("{t} (apt-get install {package})"))
            })
            .collect();
        assert!(missing.is_empty(), "missing: {}", missing.join(", "));
    }

    #[test]
    fn a_listed_tool_names_its_package() {
        assert_eq!(package_of("qemu-img"), Some("qemu-utils"));
        assert_eq!(package_of("/usr/share/OVMF/OVMF_CODE_4M.fd"), Some("ovmf"));
        assert_eq!(package_of("no-such-tool"), None);
    }

    #[test]
    #[should_panic(expected = "not listed in tests/debian-packages.txt")]
    fn an_unlisted_tool_fails_the_test() {
        tool("no-such-tool");
    }

    /// The message a test fails with when a package is missing names the package.
    #[test]
    #[should_panic(expected = "required by this test: apt-get install qemu-utils")]
    fn a_missing_tool_names_its_package() {
        tool_in("qemu-img", std::ffi::OsStr::new("/nonexistent"));
    }
}
