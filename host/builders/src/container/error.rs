//! What can go wrong with a container build's base and its commit.

use std::path::PathBuf;
use std::process::ExitStatus;

use kiln_registry::Reference;

/// Why the container builder's base could not be named, made or unpacked, or why its
/// commit failed. The messages name the value, file or image concerned.
#[derive(Debug, thiserror::Error)]
pub enum ContainerError {
    /// A bootstrap `suite` that is not a plain release name.
    #[error("suite {suite:?} is not a release name")]
    BadSuite {
        /// The value.
        suite: String,
    },
    /// A bootstrap `variant` debootstrap does not have.
    #[error("variant {variant:?} is not one of minbase, buildd, fakechroot, default")]
    BadVariant {
        /// The value.
        variant: String,
    },
    /// A bootstrap `mirror` that is not an http(s) or file URL.
    #[error("mirror {mirror:?} must be an http(s):// or file:/ URL")]
    BadMirror {
        /// The value.
        mirror: String,
    },
    /// A bootstrap `include` or `components` entry that is not a plain name.
    #[error("{name:?} is not a package or component name")]
    BadName {
        /// The entry.
        name: String,
    },
    /// `image = "oci-archive:..."` naming no file.
    #[error("the base image archive {} does not exist", path.display())]
    NoArchive {
        /// The archive's path.
        path: PathBuf,
    },
    /// `image = "oci:..."` naming a directory without `index.json`.
    #[error("{} is not an OCI image layout (it has no index.json)", dir.display())]
    NotALayout {
        /// The directory.
        dir: PathBuf,
    },
    /// `image` that is not an image reference.
    #[error("{image:?} is not an image reference: {source}")]
    BadReference {
        /// `image` as written.
        image: String,
        /// Why it does not parse.
        #[source]
        source: kiln_registry::Error,
    },
    /// Pulling the base image failed.
    #[error("pulling {reference}: {source}")]
    Pull {
        /// The image.
        reference: Reference,
        /// Why.
        #[source]
        source: kiln_registry::Error,
    },
    /// Reading, unpacking, writing or storing an image failed; the registry's error
    /// names the file or blob.
    #[error(transparent)]
    Registry(#[from] kiln_registry::Error),
    /// Turning a directory base into the image's first layer failed.
    #[error("{}: {source}", dir.display())]
    BaseLayer {
        /// The directory.
        dir: PathBuf,
        /// Why.
        #[source]
        source: kiln_registry::Error,
    },
    /// A file system operation in the cache or on the output failed.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// Moving the finished debootstrap tree into the cache failed.
    #[error("{source}")]
    BootstrapRename {
        /// The finished tree.
        from: PathBuf,
        /// Its place in the cache.
        to: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// `/usr/sbin/debootstrap` is missing.
    #[error("debootstrap is not installed; install it with `apt-get install -y debootstrap`")]
    NoDebootstrap,
    /// debootstrap (through `unshare`) could not be started.
    #[error("starting debootstrap: {source}")]
    DebootstrapSpawn {
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// Reading debootstrap's output or waiting for it failed.
    #[error("{source}")]
    DebootstrapIo {
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// debootstrap ran and failed.
    #[error("debootstrap failed ({status}): {}", .last_lines.join(" / "))]
    DebootstrapFailed {
        /// How it exited.
        status: ExitStatus,
        /// Its last few output lines.
        last_lines: Vec<String>,
    },
    /// The blocking task doing the work panicked or was cancelled.
    #[error(transparent)]
    Task(#[from] tokio::task::JoinError),
}
