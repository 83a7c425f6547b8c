//! Kiln's builders. Each turns a source block into a [`Builder`]; the engine picks one
//! by the source type.

pub mod amazon;
pub mod checkpoint;
pub mod container;
pub mod download;
pub mod file;
pub mod http;
mod machine;
pub mod null;
pub mod process;
pub mod qemu;
mod ssh;

use std::path::Path;

use kiln_core::config::FieldError;
use kiln_core::Builder;

/// The source types Kiln ships.
pub const SOURCE_TYPES: &[&str] = &["amazon-ebs", "container", "docker", "null", "file", "qemu"];

/// Creates the builder for `source_type` from its configuration. Relative paths in the
/// configuration resolve against `cwd`; `source_name` names default outputs.
pub fn new_builder(
    source_type: &str,
    source_name: &str,
    config: &serde_json::Map<String, serde_json::Value>,
    cwd: &Path,
) -> Result<Box<dyn Builder>, FieldError> {
    match source_type {
        "container" => Ok(Box::new(container::ContainerBuilder::new(
            config,
            cwd,
            source_name,
        )?)),
        "docker" => Ok(Box::new(container::ContainerBuilder::from_docker(
            config,
            cwd,
            source_name,
        )?)),
        "null" => Ok(Box::new(null::NullBuilder::new(config, cwd)?)),
        "file" => Ok(Box::new(file::FileBuilder::new(config, cwd)?)),
        "qemu" => Ok(Box::new(qemu::QemuBuilder::new(config, cwd, source_name)?)),
        "amazon-ebs" => Ok(Box::new(amazon::AmazonEbsBuilder::new(config, cwd)?)),
        other => Err(FieldError::block(format!(
            "unknown source type {other:?}; Kiln ships: {}",
            SOURCE_TYPES.join(", ")
        ))),
    }
}

/// Every port of `min..=max` once, starting at a random one and wrapping around (as
/// Packer picks ports, so that parallel builds rarely collide).
pub(crate) fn ports_from_random_start(min: u16, max: u16) -> impl Iterator<Item = u16> {
    use std::hash::BuildHasher;
    let count = u32::from(max.max(min)) - u32::from(min) + 1;
    let start =
        std::collections::hash_map::RandomState::new().hash_one((min, max)) % u64::from(count);
    let start = u32::try_from(start).unwrap_or(0);
    (0..count).map(move |i| u16::try_from(u32::from(min) + (start + i) % count).unwrap_or(max))
}
