//! `source "amazon-ebs"`: Packer's options, decoded and checked as Packer checks them.
//! The access options (`region`, credentials, `aws_polling`) are
//! [`kiln_amazon::AccessConfig`]'s.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

use kiln_amazon::access::one_block;
use kiln_amazon::ami::{filters, AmiFilter};
use kiln_amazon::ec2::{BlockDevice, Filter};
use kiln_amazon::AccessConfig;
use kiln_core::config::{decode, duration_opt, FieldError};

/// `tag { key = ..., value = ... }` blocks, the list form of a tags map.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct TagBlock {
    #[serde(alias = "name")]
    key: String,
    #[serde(default)]
    value: String,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawDevice {
    #[serde(default)]
    device_name: String,
    #[serde(default)]
    delete_on_termination: Option<bool>,
    #[serde(default)]
    encrypted: Option<bool>,
    #[serde(default)]
    iops: Option<u64>,
    #[serde(default)]
    kms_key_id: Option<String>,
    #[serde(default)]
    no_device: bool,
    #[serde(default)]
    snapshot_id: Option<String>,
    #[serde(default)]
    throughput: Option<u64>,
    #[serde(default)]
    virtual_name: Option<String>,
    #[serde(default)]
    volume_size: Option<u64>,
    #[serde(default)]
    volume_type: Option<String>,
    #[serde(default)]
    omit_from_artifact: bool,
}

/// One launch or AMI block device mapping.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceMapping {
    pub device: BlockDevice,
    /// `omit_from_artifact` (launch mappings): the volume is not part of the AMI.
    pub omit_from_artifact: bool,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFilterBlock {
    #[serde(default)]
    filters: BTreeMap<String, serde_json::Value>,
    #[serde(default)]
    filter: Vec<serde_json::Value>,
    #[serde(default)]
    most_free: bool,
    #[serde(default)]
    random: bool,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawMetadata {
    #[serde(default)]
    http_endpoint: Option<String>,
    #[serde(default)]
    http_tokens: Option<String>,
    #[serde(default)]
    http_put_response_hop_limit: Option<u32>,
    #[serde(default)]
    instance_metadata_tags: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPlacement {
    #[serde(default)]
    tenancy: Option<String>,
    #[serde(default)]
    host_resource_group_arn: Option<String>,
    #[serde(default)]
    host_id: Option<String>,
    #[serde(default)]
    partition_number: Option<u32>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Raw {
    #[serde(default)]
    ami_name: String,
    #[serde(default)]
    ami_description: Option<String>,
    #[serde(default)]
    ami_virtualization_type: Option<String>,
    #[serde(default)]
    ami_users: Vec<String>,
    #[serde(default)]
    ami_groups: Vec<String>,
    #[serde(default)]
    ami_org_arns: Vec<String>,
    #[serde(default)]
    ami_ou_arns: Vec<String>,
    #[serde(default)]
    ami_product_codes: Vec<String>,
    #[serde(default)]
    ami_regions: Vec<String>,
    #[serde(default)]
    skip_region_validation: bool,
    #[serde(default)]
    tags: BTreeMap<String, String>,
    #[serde(default)]
    tag: Vec<TagBlock>,
    #[serde(default)]
    ena_support: Option<bool>,
    #[serde(default)]
    sriov_support: bool,
    #[serde(default)]
    force_deregister: bool,
    #[serde(default)]
    force_delete_snapshot: bool,
    #[serde(default)]
    encrypt_boot: Option<bool>,
    #[serde(default)]
    kms_key_id: Option<String>,
    #[serde(default)]
    region_kms_key_ids: BTreeMap<String, String>,
    #[serde(default)]
    skip_save_build_region: bool,
    #[serde(default)]
    imds_support: Option<String>,
    #[serde(default)]
    deprecate_at: Option<String>,
    #[serde(default)]
    boot_mode: Option<String>,
    #[serde(default)]
    tpm_support: Option<String>,
    #[serde(default)]
    snapshot_tags: BTreeMap<String, String>,
    #[serde(default)]
    snapshot_tag: Vec<TagBlock>,
    #[serde(default)]
    snapshot_users: Vec<String>,
    #[serde(default)]
    snapshot_groups: Vec<String>,
    #[serde(default)]
    ami_block_device_mappings: Vec<serde_json::Value>,
    #[serde(default)]
    launch_block_device_mappings: Vec<serde_json::Value>,
    #[serde(default)]
    run_volume_tags: BTreeMap<String, String>,
    #[serde(default)]
    run_volume_tag: Vec<TagBlock>,
    #[serde(default)]
    no_ephemeral: bool,
    #[serde(default)]
    skip_create_ami: bool,

    #[serde(default)]
    instance_type: String,
    #[serde(default)]
    source_ami: Option<String>,
    #[serde(default)]
    source_ami_filter: Option<serde_json::Value>,
    #[serde(default)]
    associate_public_ip_address: Option<bool>,
    #[serde(default)]
    availability_zone: Option<String>,
    #[serde(default)]
    disable_stop_instance: bool,
    #[serde(default)]
    ebs_optimized: bool,
    #[serde(default)]
    enable_t2_unlimited: bool,
    #[serde(default)]
    enable_unlimited_credits: bool,
    #[serde(default)]
    iam_instance_profile: Option<String>,
    #[serde(default)]
    skip_profile_validation: bool,
    #[serde(default)]
    temporary_iam_instance_profile_policy_document: Option<serde_json::Value>,
    #[serde(default)]
    shutdown_behavior: Option<String>,
    #[serde(default)]
    security_group_id: Option<String>,
    #[serde(default)]
    security_group_ids: Vec<String>,
    #[serde(default)]
    security_group_filter: Option<serde_json::Value>,
    #[serde(default)]
    subnet_id: Option<String>,
    #[serde(default)]
    subnet_filter: Option<serde_json::Value>,
    #[serde(default)]
    vpc_id: Option<String>,
    #[serde(default)]
    vpc_filter: Option<serde_json::Value>,
    #[serde(default)]
    temporary_security_group_source_cidrs: Vec<String>,
    #[serde(default)]
    temporary_security_group_source_public_ip: bool,
    #[serde(default)]
    run_tags: BTreeMap<String, String>,
    #[serde(default)]
    run_tag: Vec<TagBlock>,
    #[serde(default)]
    user_data: Option<String>,
    #[serde(default)]
    user_data_file: Option<String>,
    #[serde(default)]
    placement: Option<serde_json::Value>,
    #[serde(default)]
    tenancy: Option<String>,
    #[serde(default)]
    metadata_options: Option<serde_json::Value>,
    #[serde(default)]
    ssh_interface: Option<String>,
    #[serde(default)]
    spot_price: Option<String>,
    #[serde(default)]
    spot_instance_types: Vec<String>,
    #[serde(default)]
    spot_price_auto_product: Option<String>,
    #[serde(default)]
    spot_tags: BTreeMap<String, String>,
    #[serde(default)]
    spot_tag: Vec<TagBlock>,
    #[serde(default)]
    fleet_tags: BTreeMap<String, String>,
    #[serde(default)]
    fleet_tag: Vec<TagBlock>,
    #[serde(default)]
    block_duration_minutes: Option<u64>,
    #[serde(default)]
    capacity_reservation_preference: Option<String>,
    #[serde(default)]
    capacity_reservation_id: Option<String>,
    #[serde(default)]
    capacity_reservation_group_arn: Option<String>,
    #[serde(default)]
    pause_before_ssm: Option<String>,
    #[serde(default)]
    session_manager_port: Option<u16>,
    #[serde(default)]
    ssm_agent_enable: Option<bool>,
    #[serde(default)]
    windows_password_timeout: Option<String>,
    #[serde(default)]
    monitoring: bool,

    #[serde(default)]
    communicator: Option<String>,
    #[serde(default)]
    ssh_host: Option<String>,
    #[serde(default)]
    ssh_port: Option<u16>,
    #[serde(default)]
    ssh_username: Option<String>,
    #[serde(default)]
    ssh_password: Option<String>,
    #[serde(default)]
    ssh_private_key_file: Option<String>,
    #[serde(default)]
    ssh_keypair_name: Option<String>,
    #[serde(default)]
    temporary_key_pair_type: Option<String>,
    #[serde(default)]
    temporary_key_pair_name: Option<String>,
    #[serde(default)]
    temporary_key_pair_bits: Option<u32>,
    #[serde(default, deserialize_with = "duration_opt::deserialize")]
    ssh_timeout: Option<Duration>,
    #[serde(default)]
    ssh_handshake_attempts: Option<u32>,
    #[serde(default, deserialize_with = "duration_opt::deserialize")]
    pause_before_connecting: Option<Duration>,
}

/// How the builder's SSH connection is made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ssh {
    pub host: Option<String>,
    pub port: u16,
    pub username: String,
    pub password: Option<String>,
    pub private_key_file: Option<PathBuf>,
    /// An existing key pair's name, given to the instance.
    pub keypair_name: Option<String>,
    /// A temporary key pair to create (name, `rsa` or `ed25519`).
    pub temporary_key_pair: Option<(String, String)>,
    pub timeout: Duration,
    pub handshake_attempts: u32,
    /// `ssh_interface`: which of the instance's addresses to connect to.
    pub interface: Option<String>,
}

/// The checked configuration.
#[derive(Debug, Clone)]
pub struct Config {
    pub access: AccessConfig,
    pub ami_name: String,
    pub ami_description: Option<String>,
    pub ami_users: Vec<String>,
    pub ami_groups: Vec<String>,
    pub ami_org_arns: Vec<String>,
    pub ami_ou_arns: Vec<String>,
    pub ami_product_codes: Vec<String>,
    pub ami_regions: Vec<String>,
    pub skip_region_validation: bool,
    pub tags: Vec<(String, String)>,
    pub ena_support: Option<bool>,
    pub sriov_support: bool,
    pub force_deregister: bool,
    pub force_delete_snapshot: bool,
    pub encrypt_boot: Option<bool>,
    pub kms_key_id: Option<String>,
    pub region_kms_key_ids: BTreeMap<String, String>,
    pub skip_save_build_region: bool,
    pub imds_support: Option<String>,
    pub deprecate_at: Option<String>,
    pub snapshot_tags: Vec<(String, String)>,
    pub snapshot_users: Vec<String>,
    pub snapshot_groups: Vec<String>,
    /// The AMI's mappings: `ami_block_device_mappings`, and `NoDevice` for each launch
    /// mapping marked `omit_from_artifact`.
    pub ami_block_devices: Vec<BlockDevice>,
    pub launch_block_devices: Vec<BlockDevice>,
    pub run_volume_tags: Vec<(String, String)>,
    pub skip_create_ami: bool,
    pub instance_type: String,
    pub source_ami: Option<String>,
    pub source_ami_filter: Option<AmiFilter>,
    pub associate_public_ip_address: Option<bool>,
    pub availability_zone: Option<String>,
    pub disable_stop_instance: bool,
    pub ebs_optimized: bool,
    pub unlimited_credits: bool,
    pub iam_instance_profile: Option<String>,
    pub shutdown_behavior: String,
    pub security_group_ids: Vec<String>,
    pub security_group_filter: Vec<Filter>,
    pub subnet_id: Option<String>,
    pub subnet_filter: Vec<Filter>,
    pub subnet_most_free: bool,
    pub vpc_id: Option<String>,
    pub vpc_filter: Vec<Filter>,
    pub temporary_security_group_source_cidrs: Vec<String>,
    pub run_tags: Vec<(String, String)>,
    pub user_data: Option<String>,
    pub tenancy: Option<String>,
    pub metadata_options: Vec<(String, String)>,
    pub monitoring: bool,
    /// `None` for `communicator = "none"`.
    pub ssh: Option<Ssh>,
    pub pause_before_connecting: Duration,
    /// The clock the options' actions are rendered with, read once.
    pub values: super::render::Values,
}

/// The AMI name's rules: 3 to 128 characters of letters, digits and `()[] ./-'@_`.
pub fn check_ami_name(name: &str) -> Result<(), String> {
    let n = name.chars().count();
    if !(3..=128).contains(&n) {
        return Err(format!(
            "ami_name must be between 3 and 128 characters long (it has {n})"
        ));
    }
    if let Some(c) = name
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || "()[] ./-'@_".contains(*c)))
    {
        return Err(format!(
            "ami_name has the character {c:?}, which AMI names cannot hold: use letters, digits and ()[] ./-'@_ (clean_resource_name() makes a name fit)"
        ));
    }
    Ok(())
}

fn merge_tags(map: BTreeMap<String, String>, blocks: Vec<TagBlock>) -> Vec<(String, String)> {
    let mut all = map;
    for b in blocks {
        all.insert(b.key, b.value);
    }
    all.into_iter().collect()
}

fn prefix(key: &str, e: FieldError) -> FieldError {
    FieldError {
        field: Some(match &e.field {
            Some(f) => format!("{key}.{f}"),
            None => key.to_owned(),
        }),
        ..e
    }
}

fn devices(key: &str, list: Vec<serde_json::Value>) -> Result<Vec<DeviceMapping>, FieldError> {
    list.into_iter()
        .map(|v| {
            let m = v
                .as_object()
                .cloned()
                .ok_or_else(|| FieldError::new(key, format!("{key} must be blocks")))?;
            let d: RawDevice = decode(&m).map_err(|e| prefix(key, e))?;
            if d.device_name.is_empty() {
                return Err(FieldError::new(
                    key,
                    format!("{key}: device_name is required"),
                ));
            }
            if d.iops.is_some() && !matches!(d.volume_type.as_deref(), Some("io1" | "io2" | "gp3"))
            {
                return Err(FieldError::new(
                    key,
                    format!(
                        "{key} {}: iops is only for volume_type io1, io2 or gp3",
                        d.device_name
                    ),
                ));
            }
            if d.throughput.is_some() && d.volume_type.as_deref() != Some("gp3") {
                return Err(FieldError::new(
                    key,
                    format!(
                        "{key} {}: throughput is only for volume_type gp3",
                        d.device_name
                    ),
                ));
            }
            if d.kms_key_id.as_deref().is_some_and(|k| !k.is_empty()) && d.encrypted != Some(true) {
                return Err(FieldError::new(
                    key,
                    format!("{key} {}: kms_key_id needs encrypted = true", d.device_name),
                ));
            }
            Ok(DeviceMapping {
                device: BlockDevice {
                    device_name: d.device_name,
                    virtual_name: d.virtual_name.filter(|v| !v.is_empty()),
                    no_device: d.no_device,
                    snapshot_id: d.snapshot_id.filter(|v| !v.is_empty()),
                    volume_size: d.volume_size.filter(|v| *v > 0),
                    volume_type: d.volume_type.filter(|v| !v.is_empty()),
                    iops: d.iops,
                    throughput: d.throughput,
                    delete_on_termination: d.delete_on_termination,
                    encrypted: d.encrypted,
                    kms_key_id: d.kms_key_id.filter(|v| !v.is_empty()),
                },
                omit_from_artifact: d.omit_from_artifact,
            })
        })
        .collect()
}

fn refuse(key: &str, why: &str) -> FieldError {
    FieldError::new(
        key,
        format!("{key} is not supported by Kiln's amazon-ebs: {why}"),
    )
}

impl Config {
    /// Decodes and checks a `source "amazon-ebs"` block.
    pub fn new(
        config: &serde_json::Map<String, serde_json::Value>,
        cwd: &Path,
    ) -> Result<Config, FieldError> {
        let mut rest = config.clone();
        let access = AccessConfig::take(&mut rest, cwd)?;
        // The amazon builders make key pairs, so these are theirs, not refused.
        let mut own = serde_json::Map::new();
        for key in [
            "ssh_keypair_name",
            "temporary_key_pair_type",
            "temporary_key_pair_name",
            "temporary_key_pair_bits",
        ] {
            if let Some(v) = rest.remove(key) {
                own.insert(key.to_owned(), v);
            }
        }
        let mut rest = crate::ssh::other_communicator_options(&rest)?;
        rest.extend(own);
        let r: Raw = decode(&rest)?;

        // Packer renders ami_name's actions ({{timestamp}}, {{isotime}}, ...) when it
        // reads the configuration; the other options once the source AMI is known.
        let values = super::render::Values::now();
        let mut r = r;
        r.ami_name = super::render::render(&r.ami_name, &values);
        if r.ami_name.is_empty() && !r.skip_create_ami {
            return Err(FieldError::new("ami_name", "ami_name must be specified"));
        }
        if !r.skip_create_ami {
            check_ami_name(&r.ami_name).map_err(|m| FieldError::new("ami_name", m))?;
        }
        if r.instance_type.is_empty() {
            return Err(FieldError::new(
                "instance_type",
                "an instance_type must be specified",
            ));
        }
        let source_ami = r.source_ami.filter(|s| !s.is_empty());
        let source_ami_filter = match r.source_ami_filter {
            None => None,
            Some(v) => {
                let block = one_block("source_ami_filter", v)?;
                if block.is_empty() {
                    None
                } else {
                    Some(AmiFilter::from_block("source_ami_filter", &block)?)
                }
            }
        };
        if source_ami.is_none() && source_ami_filter.is_none() {
            return Err(FieldError::new(
                "source_ami",
                "a source_ami or source_ami_filter must be specified",
            ));
        }
        if let Some(f) = &source_ami_filter {
            if f.owners.is_empty() {
                return Err(FieldError::new(
                    "source_ami_filter",
                    "For security reasons, your source AMI filter must declare an owner (an account id, self, amazon, aws-marketplace)",
                ));
            }
        }
        let spot = r
            .spot_price
            .as_deref()
            .is_some_and(|p| !p.is_empty() && p != "0")
            || !r.spot_instance_types.is_empty()
            || r.spot_price_auto_product
                .as_deref()
                .is_some_and(|p| !p.is_empty());
        if spot {
            return Err(refuse(
                "spot_price",
                "spot instances are not made yet; remove spot_price and spot_instance_types to build on an on-demand instance",
            ));
        }
        if !r.spot_tags.is_empty()
            || !r.spot_tag.is_empty()
            || !r.fleet_tags.is_empty()
            || !r.fleet_tag.is_empty()
        {
            return Err(FieldError::new(
                if r.fleet_tags.is_empty() && r.fleet_tag.is_empty() {
                    "spot_tags"
                } else {
                    "fleet_tags"
                },
                "spot_tags and fleet_tags should not be set when not requesting a spot instance",
            ));
        }
        if r.block_duration_minutes.is_some_and(|b| b > 0) {
            return Err(refuse(
                "block_duration_minutes",
                "it belongs to spot instances, which are not made yet",
            ));
        }
        if r.temporary_iam_instance_profile_policy_document.is_some() {
            return Err(refuse(
                "temporary_iam_instance_profile_policy_document",
                "Kiln makes no temporary IAM roles; name an existing profile in iam_instance_profile",
            ));
        }
        if r.temporary_security_group_source_public_ip {
            return Err(refuse(
                "temporary_security_group_source_public_ip",
                "Kiln does not look up this host's public address; list it in temporary_security_group_source_cidrs",
            ));
        }
        if r.boot_mode.as_deref().is_some_and(|b| !b.is_empty())
            || r.tpm_support.as_deref().is_some_and(|b| !b.is_empty())
        {
            return Err(refuse(
                if r.boot_mode.is_some() { "boot_mode" } else { "tpm_support" },
                "Kiln's amazon-ebs makes the AMI with CreateImage, which keeps the source AMI's boot mode; choose a source AMI with the boot mode you need",
            ));
        }
        match r.ssh_interface.as_deref() {
            None | Some("") | Some("public_ip" | "private_ip" | "public_dns" | "private_dns") => {}
            Some("session_manager") => {
                return Err(refuse(
                    "ssh_interface",
                    "session_manager needs AWS's session manager plugin, which Kiln does not run; use public_ip, private_ip, public_dns or private_dns",
                ))
            }
            Some(other) => {
                return Err(FieldError::new(
                    "ssh_interface",
                    format!("unknown interface type {other:?}: ssh_interface must be public_ip, private_ip, public_dns or private_dns"),
                ))
            }
        }
        if r.pause_before_ssm.is_some()
            || r.session_manager_port.is_some()
            || r.ssm_agent_enable == Some(true)
        {
            return Err(refuse(
                "pause_before_ssm",
                "session manager connections are not made",
            ));
        }
        let shutdown_behavior = r
            .shutdown_behavior
            .filter(|s| !s.is_empty())
            .unwrap_or_else(|| "stop".into());
        if shutdown_behavior != "stop" && shutdown_behavior != "terminate" {
            return Err(FieldError::new(
                "shutdown_behavior",
                format!("shutdown_behavior must be stop or terminate, not {shutdown_behavior:?}"),
            ));
        }
        if (r.kms_key_id.as_deref().is_some_and(|k| !k.is_empty())
            || r.region_kms_key_ids.values().any(|k| !k.is_empty()))
            && r.encrypt_boot != Some(true)
        {
            return Err(FieldError::new(
                "encrypt_boot",
                "kms_key_id or region_kms_key_ids is set: encrypt_boot must also be true",
            ));
        }
        for region in r.region_kms_key_ids.keys() {
            if !r.ami_regions.contains(region) {
                return Err(FieldError::new(
                    "region_kms_key_ids",
                    format!("region {region} is in region_kms_key_ids but not in ami_regions"),
                ));
            }
        }
        if !r.region_kms_key_ids.is_empty() {
            if let Some(region) = r
                .ami_regions
                .iter()
                .find(|r2| !r.region_kms_key_ids.contains_key(*r2))
            {
                return Err(FieldError::new(
                    "region_kms_key_ids",
                    format!("region {region} is in ami_regions but not in region_kms_key_ids"),
                ));
            }
        }
        if r.imds_support
            .as_deref()
            .is_some_and(|i| !i.is_empty() && i != "v2.0")
        {
            return Err(FieldError::new(
                "imds_support",
                "imds_support must be \"v2.0\" or empty",
            ));
        }
        if r.user_data.is_some() && r.user_data_file.is_some() {
            return Err(FieldError::new(
                "user_data_file",
                "only one of user_data or user_data_file can be specified",
            ));
        }
        let user_data = match r.user_data_file.filter(|f| !f.is_empty()) {
            Some(f) => {
                let path = cwd.join(&f);
                Some(std::fs::read_to_string(&path).map_err(|e| {
                    FieldError::new(
                        "user_data_file",
                        format!("user_data_file {} cannot be read: {e}", path.display()),
                    )
                })?)
            }
            None => r.user_data.filter(|u| !u.is_empty()),
        };
        let mut security_group_ids = r.security_group_ids;
        if let Some(id) = r.security_group_id.filter(|s| !s.is_empty()) {
            security_group_ids.insert(0, id);
        }
        let filter_block =
            |key: &str, v: Option<serde_json::Value>| -> Result<(Vec<Filter>, bool), FieldError> {
                let Some(v) = v else {
                    return Ok((vec![], false));
                };
                let block = one_block(key, v)?;
                let f: RawFilterBlock = decode(&block).map_err(|e| prefix(key, e))?;
                Ok((filters(key, f.filters, f.filter)?, f.most_free || f.random))
            };
        let (security_group_filter, _) =
            filter_block("security_group_filter", r.security_group_filter)?;
        let (subnet_filter, subnet_most_free) = filter_block("subnet_filter", r.subnet_filter)?;
        let (vpc_filter, _) = filter_block("vpc_filter", r.vpc_filter)?;

        let mut metadata_options = Vec::new();
        if let Some(v) = r.metadata_options {
            let m: RawMetadata = decode(&one_block("metadata_options", v)?)
                .map_err(|e| prefix("metadata_options", e))?;
            if let Some(x) = m.http_endpoint.filter(|x| !x.is_empty()) {
                metadata_options.push(("HttpEndpoint".to_owned(), x));
            }
            if let Some(x) = m.http_tokens.filter(|x| !x.is_empty()) {
                metadata_options.push(("HttpTokens".to_owned(), x));
            }
            if let Some(x) = m.http_put_response_hop_limit.filter(|x| *x > 0) {
                metadata_options.push(("HttpPutResponseHopLimit".to_owned(), x.to_string()));
            }
            if let Some(x) = m.instance_metadata_tags.filter(|x| !x.is_empty()) {
                metadata_options.push(("InstanceMetadataTags".to_owned(), x));
            }
        }
        let mut tenancy = r.tenancy.filter(|t| !t.is_empty());
        if let Some(v) = r.placement {
            let p: RawPlacement =
                decode(&one_block("placement", v)?).map_err(|e| prefix("placement", e))?;
            if p.host_resource_group_arn.is_some()
                || p.host_id.is_some()
                || p.partition_number.is_some()
            {
                return Err(refuse(
                    "placement",
                    "only placement's tenancy is passed on; dedicated hosts and partitions are not",
                ));
            }
            tenancy = p.tenancy.filter(|t| !t.is_empty()).or(tenancy);
        }
        if r.capacity_reservation_id.is_some()
            || r.capacity_reservation_group_arn.is_some()
            || r.capacity_reservation_preference
                .as_deref()
                .is_some_and(|p| !p.is_empty() && p != "open")
        {
            return Err(refuse(
                "capacity_reservation_preference",
                "capacity reservations are not asked for",
            ));
        }
        let mut launch_block_devices = devices(
            "launch_block_device_mappings",
            r.launch_block_device_mappings,
        )?;
        if r.no_ephemeral {
            // Ephemeral drives kept out of the instance (Packer's list: xvdca to xvdcz).
            for c in 'a'..='z' {
                launch_block_devices.push(DeviceMapping {
                    device: BlockDevice {
                        device_name: format!("xvdc{c}"),
                        no_device: true,
                        ..Default::default()
                    },
                    omit_from_artifact: false,
                });
            }
        }
        let mut ami_block_devices: Vec<BlockDevice> =
            devices("ami_block_device_mappings", r.ami_block_device_mappings)?
                .into_iter()
                .map(|d| d.device)
                .collect();
        // A launch volume marked omit_from_artifact is left out of the AMI.
        for d in &launch_block_devices {
            if d.omit_from_artifact
                && !ami_block_devices
                    .iter()
                    .any(|a| a.device_name == d.device.device_name)
            {
                ami_block_devices.push(BlockDevice {
                    device_name: d.device.device_name.clone(),
                    no_device: true,
                    ..Default::default()
                });
            }
        }
        let launch_block_devices = launch_block_devices.into_iter().map(|d| d.device).collect();

        let mut options = crate::ssh::SshOptions {
            communicator: r.communicator,
            username: r.ssh_username,
            private_key_file: r.ssh_private_key_file.filter(|f| !f.is_empty()),
            ..Default::default()
        };
        let ssh = if options.speaks_ssh("amazon-ebs")? {
            let username = options.username()?;
            let private_key_file = options.private_key_file(cwd)?;
            let keypair_name = r.ssh_keypair_name.filter(|k| !k.is_empty());
            if keypair_name.is_some() && private_key_file.is_none() {
                return Err(FieldError::new(
                        "ssh_private_key_file",
                        "ssh_keypair_name needs ssh_private_key_file (Kiln logs in with a key file, not an SSH agent)",
                    ));
            }
            let password = r.ssh_password.filter(|p| !p.is_empty());
            let key_type = r
                .temporary_key_pair_type
                .filter(|t| !t.is_empty())
                .unwrap_or_else(|| "rsa".into());
            if key_type != "rsa" && key_type != "ed25519" {
                return Err(FieldError::new(
                    "temporary_key_pair_type",
                    format!("temporary_key_pair_type must be rsa or ed25519, not {key_type:?}"),
                ));
            }
            let temporary_key_pair = (private_key_file.is_none()
                && password.is_none()
                && keypair_name.is_none())
            .then(|| {
                let name = r
                    .temporary_key_pair_name
                    .filter(|n| !n.is_empty())
                    .unwrap_or_else(|| format!("packer_{}", crate::amazon::unique_suffix()));
                (name, key_type)
            });
            Some(Ssh {
                host: r.ssh_host.filter(|h| !h.is_empty()),
                port: r.ssh_port.unwrap_or(22),
                username,
                password,
                private_key_file,
                keypair_name,
                temporary_key_pair,
                timeout: r.ssh_timeout.unwrap_or(Duration::from_secs(300)),
                handshake_attempts: r.ssh_handshake_attempts.unwrap_or(10),
                interface: r.ssh_interface.filter(|i| !i.is_empty()),
            })
        } else {
            None
        };
        let _ = (
            r.ami_virtualization_type,
            r.skip_profile_validation,
            r.windows_password_timeout,
            r.temporary_key_pair_bits,
        );
        let mut ami_regions: Vec<String> = Vec::new();
        for region in r.ami_regions {
            if !ami_regions.contains(&region) {
                ami_regions.push(region);
            }
        }
        Ok(Config {
            access,
            ami_name: r.ami_name,
            ami_description: r.ami_description.filter(|d| !d.is_empty()),
            ami_users: r.ami_users,
            ami_groups: r.ami_groups,
            ami_org_arns: r.ami_org_arns,
            ami_ou_arns: r.ami_ou_arns,
            ami_product_codes: r.ami_product_codes,
            ami_regions,
            skip_region_validation: r.skip_region_validation,
            tags: merge_tags(r.tags, r.tag),
            ena_support: r.ena_support,
            sriov_support: r.sriov_support,
            force_deregister: r.force_deregister,
            force_delete_snapshot: r.force_delete_snapshot,
            encrypt_boot: r.encrypt_boot,
            kms_key_id: r.kms_key_id.filter(|k| !k.is_empty()),
            region_kms_key_ids: r.region_kms_key_ids,
            skip_save_build_region: r.skip_save_build_region,
            imds_support: r.imds_support.filter(|i| !i.is_empty()),
            deprecate_at: r.deprecate_at.filter(|d| !d.is_empty()),
            snapshot_tags: merge_tags(r.snapshot_tags, r.snapshot_tag),
            snapshot_users: r.snapshot_users,
            snapshot_groups: r.snapshot_groups,
            ami_block_devices,
            launch_block_devices,
            run_volume_tags: merge_tags(r.run_volume_tags, r.run_volume_tag),
            skip_create_ami: r.skip_create_ami,
            instance_type: r.instance_type,
            source_ami,
            source_ami_filter,
            associate_public_ip_address: r.associate_public_ip_address,
            availability_zone: r.availability_zone.filter(|a| !a.is_empty()),
            disable_stop_instance: r.disable_stop_instance,
            ebs_optimized: r.ebs_optimized,
            unlimited_credits: r.enable_t2_unlimited || r.enable_unlimited_credits,
            iam_instance_profile: r.iam_instance_profile.filter(|p| !p.is_empty()),
            shutdown_behavior,
            security_group_ids,
            security_group_filter,
            subnet_id: r.subnet_id.filter(|s| !s.is_empty()),
            subnet_filter,
            subnet_most_free,
            vpc_id: r.vpc_id.filter(|v| !v.is_empty()),
            vpc_filter,
            temporary_security_group_source_cidrs: if r
                .temporary_security_group_source_cidrs
                .is_empty()
            {
                vec!["0.0.0.0/0".into()]
            } else {
                r.temporary_security_group_source_cidrs
            },
            run_tags: merge_tags(r.run_tags, r.run_tag),
            user_data,
            tenancy,
            metadata_options,
            monitoring: r.monitoring,
            ssh,
            pause_before_connecting: r.pause_before_connecting.unwrap_or_default(),
            values,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn config(v: serde_json::Value) -> Result<Config, FieldError> {
        Config::new(v.as_object().unwrap(), Path::new("/nonexistent"))
    }

    fn base() -> serde_json::Value {
        json!({
            "region": "us-east-1",
            "instance_type": "t3.micro",
            "ami_name": "web {{timestamp}}",
            "source_ami": "ami-123",
            "ssh_username": "ubuntu"
        })
    }

    #[test]
    fn packers_defaults_hold() {
        let mut v = base();
        v["ami_name"] = json!("web-1");
        let c = config(v).unwrap();
        assert_eq!(c.shutdown_behavior, "stop");
        assert_eq!(c.temporary_security_group_source_cidrs, ["0.0.0.0/0"]);
        let ssh = c.ssh.unwrap();
        assert_eq!(ssh.port, 22);
        let (name, kind) = ssh.temporary_key_pair.unwrap();
        assert!(
            name.starts_with("packer_") && name.len() == "packer_".len() + 36,
            "{name}"
        );
        assert_eq!(kind, "rsa");
    }

    #[test]
    fn a_json_filter_object_and_an_hcl_block_list_read_alike() {
        let mut json_form = base();
        json_form["ami_name"] = json!("web-1");
        json_form["source_ami"] = json!(null);
        json_form["source_ami_filter"] = json!({
            "filters": {"name": "ubuntu/images/*", "virtualization-type": "hvm"},
            "owners": ["099720109477"],
            "most_recent": true
        });
        let mut hcl_form = json_form.clone();
        hcl_form["source_ami_filter"] = json!([json_form["source_ami_filter"].clone()]);
        let a = config(json_form).unwrap().source_ami_filter.unwrap();
        let b = config(hcl_form).unwrap().source_ami_filter.unwrap();
        assert_eq!(a, b);
        assert!(a.most_recent);
        assert_eq!(a.filters.len(), 2);
    }

    #[test]
    fn checks_as_packer_checks() {
        let cases: Vec<(serde_json::Value, &str)> = vec![
            (json!({"ami_name": "a"}), "between 3 and 128"),
            (json!({"ami_name": "web:1"}), "':'"),
            (
                json!({"source_ami": null}),
                "source_ami or source_ami_filter",
            ),
            (
                json!({"source_ami": null, "source_ami_filter": {"filters": {"name": "x"}}}),
                "must declare an owner",
            ),
            (json!({"instance_type": ""}), "instance_type"),
            (
                json!({"kms_key_id": "alias/x"}),
                "encrypt_boot must also be true",
            ),
            (json!({"spot_price": "auto"}), "spot instances"),
            (
                json!({"ssh_interface": "session_manager"}),
                "session manager",
            ),
            (
                json!({"ssh_interface": "carrier_pigeon"}),
                "unknown interface type",
            ),
            (
                json!({"shutdown_behavior": "hibernate"}),
                "stop or terminate",
            ),
            (json!({"temporary_key_pair_type": "dsa"}), "rsa or ed25519"),
            (
                json!({"user_data": "x", "user_data_file": "y"}),
                "only one of",
            ),
        ];
        for (change, expected) in cases {
            let mut v = base();
            v["ami_name"] = json!("web-1");
            for (k, x) in change.as_object().unwrap() {
                v[k] = x.clone();
            }
            let e = config(v).unwrap_err();
            assert!(e.to_string().contains(expected), "{change}: {e}");
        }
    }

    #[test]
    fn a_launch_volume_omitted_from_the_artifact_is_no_device_in_the_ami() {
        let mut v = base();
        v["ami_name"] = json!("web-1");
        v["launch_block_device_mappings"] = json!([
            {"device_name": "/dev/sda1", "volume_size": 20},
            {"device_name": "/dev/sdf", "volume_size": 100, "omit_from_artifact": true}
        ]);
        let c = config(v).unwrap();
        assert_eq!(c.launch_block_devices.len(), 2);
        assert_eq!(
            c.ami_block_devices,
            [BlockDevice {
                device_name: "/dev/sdf".into(),
                no_device: true,
                ..Default::default()
            }]
        );
    }

    #[test]
    fn no_temporary_key_pair_with_a_password_or_a_named_key() {
        let mut v = base();
        v["ami_name"] = json!("web-1");
        v["ssh_password"] = json!("pw");
        assert!(config(v).unwrap().ssh.unwrap().temporary_key_pair.is_none());
    }
}
