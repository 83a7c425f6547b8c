//! What a step learns about its run and build: the run's identity, the clock it sees,
//! Packer's `PACKER_*` variables, and the `build.*` values its configuration names.

use std::time::{SystemTime, UNIX_EPOCH};

use kiln_core::plan::{BuildPlan, BuildValue, ConfigBlock};
use kiln_core::{BuildInfo, ConnectionInfo};

/// A random UUID (version 4) naming this run of kiln, as Packer's `PACKER_RUN_UUID`.
/// Steps use it to keep what they leave on a machine apart from other runs' (their own
/// random numbers are seeded deterministically).
///
/// A `PACKER_RUN_UUID` in the environment is used as it is, so that a caller can pin
/// the run's identity (a reproducible manifest records it).
pub fn run_uuid() -> &'static str {
    static UUID: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    UUID.get_or_init(|| {
        if let Some(pinned) = std::env::var("PACKER_RUN_UUID")
            .ok()
            .filter(|u| !u.trim().is_empty())
        {
            return pinned;
        }
        use std::hash::{BuildHasher, Hasher};
        let mut bytes = [0u8; 16];
        for (i, chunk) in bytes.chunks_mut(8).enumerate() {
            // Each RandomState carries fresh keys from the operating system.
            let mut h = std::collections::hash_map::RandomState::new().build_hasher();
            h.write_usize(i);
            chunk.copy_from_slice(&h.finish().to_le_bytes());
        }
        bytes[6] = (bytes[6] & 0x0f) | 0x40;
        bytes[8] = (bytes[8] & 0x3f) | 0x80;
        let hex = kiln_core::artifact::hex(&bytes);
        format!(
            "{}-{}-{}-{}-{}",
            &hex[..8],
            &hex[8..12],
            &hex[12..16],
            &hex[16..20],
            &hex[20..]
        )
    })
}

/// `SOURCE_DATE_EPOCH`, when set to a number.
fn source_date_epoch() -> Option<u64> {
    // Read once: every step of a run sees the same (a large template asks thousands of
    // times while it is checked).
    static EPOCH: std::sync::OnceLock<Option<u64>> = std::sync::OnceLock::new();
    *EPOCH.get_or_init(|| std::env::var("SOURCE_DATE_EPOCH").ok()?.parse().ok())
}

/// The clock components see: SOURCE_DATE_EPOCH when set, else the run's start, read
/// once so that every step of every build sees the same time (and the manifest's
/// `build_time` records it).
pub fn clock_epoch() -> u64 {
    static START: std::sync::OnceLock<u64> = std::sync::OnceLock::new();
    source_date_epoch().unwrap_or_else(|| {
        *START.get_or_init(|| {
            SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map(|d| d.as_secs())
                .unwrap_or(0)
        })
    })
}

/// Modification times in archives the steps write are clamped to this:
/// SOURCE_DATE_EPOCH when set, else the Unix epoch, so that archives never depend on
/// when they were made.
pub fn archive_epoch() -> u64 {
    source_date_epoch().unwrap_or(0)
}

/// What a step learns about its build, as Packer's `PACKER_*` variables say it, and
/// which of the template's sensitive values its configuration (`config_json`) holds, so
/// that what it writes for people (a manifest) can mask them.
pub fn build_info(
    build: &BuildPlan,
    connection: Option<ConnectionInfo>,
    config_json: &str,
    sensitive: &[String],
) -> BuildInfo {
    BuildInfo {
        build_name: build.name.clone(),
        source_type: build.source_type.clone(),
        source_name: build.source_name.clone(),
        connection,
        variables: vec![
            ("PACKER_BUILD_NAME".into(), build.source_name.clone()),
            ("PACKER_BUILDER_TYPE".into(), build.source_type.clone()),
            ("PACKER_RUN_UUID".into(), run_uuid().to_owned()),
        ],
        sensitive: sensitive_in(config_json, sensitive).cloned().collect(),
    }
}

/// The template's sensitive values that `config_json` holds.
pub fn sensitive_in<'a>(
    config_json: &'a str,
    sensitive: &'a [String],
) -> impl Iterator<Item = &'a String> + 'a {
    sensitive
        .iter()
        .filter(move |s| !s.is_empty() && config_json.contains(json_contents(s).as_str()))
}

/// `s` as it appears inside a JSON string.
fn json_contents(s: &str) -> String {
    let quoted = serde_json::to_string(s).unwrap_or_default();
    quoted[1..quoted.len() - 1].to_owned()
}

/// The value of `build.KEY` on a machine reached through `info`, as Packer fills them
/// in when a provisioner runs. Values Kiln has no source for are empty.
pub fn build_value(value: BuildValue, info: &ConnectionInfo) -> String {
    let http = info.http;
    match value {
        BuildValue::Host => info.host.clone(),
        BuildValue::Port => info.port.to_string(),
        BuildValue::User => info.user.clone(),
        BuildValue::ConnType => info.conn_type.clone(),
        BuildValue::PackerRunUuid => run_uuid().to_owned(),
        BuildValue::Password => info.password.clone(),
        BuildValue::SshPrivateKey => info.ssh_private_key.clone(),
        BuildValue::SshPublicKey => info.ssh_public_key.clone(),
        BuildValue::PackerHttpIp => http.map(|a| a.ip().to_string()).unwrap_or_default(),
        BuildValue::PackerHttpPort => http.map(|a| a.port().to_string()).unwrap_or_default(),
        BuildValue::PackerHttpAddr => http.map(|a| a.to_string()).unwrap_or_default(),
    }
}

/// A step's configuration as JSON text, its `build.*` values filled in from the
/// machine's connection when there is one (else left in Packer's `{{ .Host }}` form).
pub fn config_json(block: &ConfigBlock, connection: Option<&ConnectionInfo>) -> String {
    match connection {
        Some(info) if block.has_deferred() => {
            serde_json::to_string(&block.resolved(&|v| build_value(v, info)))
        }
        _ => serde_json::to_string(&block.config),
    }
    .unwrap_or_default()
}
