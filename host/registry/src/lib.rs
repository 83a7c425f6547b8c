//! OCI images on disk and in registries, for Kiln's container builder, and WebAssembly
//! components in registries, for Kiln's provisioners.
//!
//! Everything an image is made of lives in a [`BlobStore`], a directory of blobs named by
//! their sha256. An [`Image`] is a manifest digest plus the parsed manifest and config;
//! the functions below move images between the store and the outside world:
//!
//! | from / to | read into the store | write from the store |
//! |---|---|---|
//! | OCI image layout directory | [`read_oci_layout`] | [`write_oci_layout`] |
//! | oci-archive (tar of a layout) | [`read_oci_archive`] | [`write_oci_archive`] |
//! | registry ([`Reference`], [`RegistryAuth`]) | [`pull`] (async) | [`push`] (async) |
//! | a directory tree | [`write_layer`] → [`LayerInfo`] | [`extract_layers`] |
//! | registry, a wasm component ([`Access`]) | [`pull_component`] (async) | [`push_component`] (async) |
//! | a root filesystem tarball, a `docker save` archive | [`docker::import_rootfs`] | [`docker::write_docker_archive`] |
//!
//! Kiln's image store is the cache directory as an OCI layout: [`docker::name_image`]
//! gives an image a name in its `index.json`, as `docker tag` does.
//!
//! Components are not images: [`push_component`] uploads a component file with a
//! [`WasmConfig`] and [`ComponentMeta`] annotations, [`pull_component`] stores its one
//! layer, and [`resolve_component`] only reads the manifest (for lock files).
//! [`credentials_for`] finds a registry's login as Docker keeps it (config file and
//! credential helpers) and [`store_login`] saves one there.
//!
//! Every registry request, for images and components alike, is retried with backoff when
//! the failure may pass (5xx, 429, refused or reset connections, timeouts), never when it
//! will not (refused credentials, not found, digest mismatches).
//!
//! [`store_image`] turns layer [`Descriptor`]s (see [`LayerInfo::descriptor`]) and an
//! [`ImageConfig`] into an [`Image`]; errors are one [`Error`] enum.
//!
//! A typical build: read or pull a base, [`extract_layers`] it into a root directory, run
//! the provisioners in an overlay over it, [`write_layer`] the overlay's upper directory
//! (`overlay_upper: true`), append the layer's descriptor and diff id to the base's
//! manifest layers and config, [`store_image`], then write or push the result.
//!
//! Guarantees: every blob is checked against its digest on the way in; a blob is renamed
//! to its digest only once complete; layers, manifests, configs and archives are
//! deterministic, so the same inputs give the same digests. Docker schema 2 images are
//! accepted when reading; the manifests this crate makes are always OCI.

pub mod changes;
pub mod checkpoint;
mod component;
mod credentials;
mod digest;
pub mod docker;
mod error;
mod extract;
mod layer;
mod layout;
pub mod mirrors;
mod registry;
mod retry;
mod spec;
mod store;

pub use component::{pull_component, push_component, resolve_component};
pub use component::{Access, ComponentMeta, ComponentWorld, PulledComponent, PushedComponent};
pub use component::{WasmConfig, MEDIA_TYPE_WASM_CONFIG, MEDIA_TYPE_WASM_LAYER};
pub use credentials::{credentials_for, store_login};
pub use digest::Digest;
pub use error::Error;
pub use extract::{extract_layers, extract_overlay_tree};
pub use layer::{write_layer, write_tar, LayerInfo, LayerOptions};
pub use layout::{read_oci_archive, read_oci_layout, write_oci_archive, write_oci_layout};
pub use registry::{pull, push, Reference, RegistryAuth};
pub use spec::*;
pub use store::{BlobStore, BlobWriter};
