//! Container images in Kiln's image store, what the docker post-processors work on. A
//! step works on the current image: the one its input artifact stands for, until
//! [`import`] makes another. The host tracks it; the artifact the step returns stands
//! for it.

use crate::bindings::kiln::plugin::images as host;
use crate::Error;

pub use host::{Image, Login};

/// The current image, if the input artifact is one.
pub fn current() -> Option<Image> {
    host::current()
}

/// Gives the current image each of `names` (`repository[:tag]`) in the store.
pub fn tag(names: &[String]) -> Result<(), Error> {
    host::tag(names)
}

/// Pushes the current image as `name`; returns the manifest digest the registry has.
pub fn push(name: &str, login: Option<&Login>) -> Result<String, Error> {
    host::push(name, login)
}

/// Writes the current image as a `docker save` archive `dest`, tagged `names`.
pub fn save(names: &[String], dest: &str) -> Result<u64, Error> {
    host::save(names, dest)
}

/// Makes the root filesystem tarball `tarball` the current image, with Dockerfile
/// `changes` and `platform`.
pub fn import(tarball: &str, changes: &[String], platform: Option<&str>) -> Result<Image, Error> {
    host::import(tarball, changes, platform)
}
