//! The amazon-ebs builder's steps, in the order they run.

use std::time::Duration;

use async_trait::async_trait;

use kiln_amazon::ec2::{self, Ec2, Filter, RunRequest};
use kiln_amazon::wait::{self, Seen};
use kiln_core::steps::Step;
use kiln_core::BuildError;

use super::{failed, State};

/// Opens the AWS session: credentials, region, endpoint.
pub(super) struct Open;

#[async_trait]
impl<'a> Step<State<'a>> for Open {
    fn name(&self) -> &'static str {
        "aws-session"
    }

    async fn run(&self, state: &mut State<'a>) -> Result<(), BuildError> {
        let session = state
            .builder
            .config
            .access
            .open()
            .await
            .map_err(|e| BuildError::Failed(format!("AWS: {e}")))?;
        state.session = Some(session);
        Ok(())
    }
}

/// Checks the regions and that the AMI's name is free, before anything is made.
pub(super) struct PreValidate;

#[async_trait]
impl<'a> Step<State<'a>> for PreValidate {
    fn name(&self) -> &'static str {
        "prevalidate"
    }

    async fn run(&self, state: &mut State<'a>) -> Result<(), BuildError> {
        let c = &state.builder.config;
        let ec2 = state.ec2().clone();
        if !c.skip_region_validation && !c.ami_regions.is_empty() {
            let known = ec2
                .regions()
                .await
                .map_err(|e| failed("listing regions", e))?;
            let bad: Vec<&String> = c
                .ami_regions
                .iter()
                .filter(|r| !known.contains(r))
                .collect();
            if !bad.is_empty() {
                return Err(BuildError::Failed(format!(
                    "invalid region(s) in ami_regions: {}; available regions: {} (skip_region_validation = true skips this check)",
                    bad.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(", "),
                    known.join(", ")
                )));
            }
        }
        if c.skip_create_ami {
            state.say("skip_create_ami was set; not prevalidating AMI name");
            return Ok(());
        }
        if c.force_deregister || state.cx.force {
            state.say("Force Deregister flag found, skipping prevalidating AMI Name");
            return Ok(());
        }
        state.say(&format!("Prevalidating AMI Name: {}", c.ami_name));
        let existing = ec2
            .describe_images(&[], &["self".into()], &[name_filter(&c.ami_name)], true)
            .await
            .map_err(|e| failed("prevalidating the AMI name", e))?;
        if let Some(image) = existing.first() {
            return Err(BuildError::Failed(format!(
                "AMI Name: '{}' is used by an existing AMI: {} (set force_deregister = true, or run with -force, to replace it)",
                c.ami_name, image.id
            )));
        }
        Ok(())
    }
}

fn name_filter(name: &str) -> Filter {
    Filter {
        name: "name".into(),
        values: vec![name.to_owned()],
    }
}

/// The source AMI: `source_ami`, or the one `source_ami_filter` picks.
pub(super) struct SourceAmi;

#[async_trait]
impl<'a> Step<State<'a>> for SourceAmi {
    fn name(&self) -> &'static str {
        "source-ami"
    }

    async fn run(&self, state: &mut State<'a>) -> Result<(), BuildError> {
        let c = &state.builder.config;
        let ids: Vec<String> = c.source_ami.iter().cloned().collect();
        let filter = c.source_ami_filter.clone().unwrap_or_default();
        let image = kiln_amazon::ami::pick(state.ec2(), &ids, &filter)
            .await
            .map_err(BuildError::Failed)?;
        state.say(&format!("Found Image ID: {}", image.id));
        if (c.ena_support == Some(true) || c.sriov_support)
            && image
                .virtualization_type
                .as_deref()
                .is_some_and(|v| v != "hvm")
        {
            return Err(BuildError::Failed(format!(
                "Cannot enable enhanced networking, source AMI '{}' is not HVM",
                image.id
            )));
        }
        // AWS answers `ebs` or `instance-store` (moto calls the images it makes
        // `standard`): an instance store is what cannot be built on.
        if let Some(t) = image
            .root_device_type
            .as_deref()
            .filter(|t| *t == "instance-store")
        {
            return Err(BuildError::Failed(format!(
                "The provided source AMI has an invalid root device type.\nExpected 'ebs', got '{t}'."
            )));
        }
        // Packer's build data, for the options rendered now that the source is known.
        let mut values = c.values.clone();
        values.data = vec![
            ("SourceAMI".into(), image.id.clone()),
            ("SourceAMIName".into(), image.name.clone()),
            ("SourceAMICreationDate".into(), image.creation_date.clone()),
            ("SourceAMIOwner".into(), image.owner_id.clone()),
            (
                "SourceAMIOwnerName".into(),
                image.owner_alias.clone().unwrap_or_default(),
            ),
            ("BuildRegion".into(), state.ec2().region().to_owned()),
        ];
        values.tags = image.tags.clone();
        let tags = |list: &[(String, String)]| -> Vec<(String, String)> {
            list.iter()
                .map(|(k, v)| {
                    (
                        super::render::render(k, &values),
                        super::render::render(v, &values),
                    )
                })
                .collect()
        };
        state.rendered = super::Rendered {
            tags: tags(&c.tags),
            run_tags: tags(&c.run_tags),
            run_volume_tags: tags(&c.run_volume_tags),
            snapshot_tags: tags(&c.snapshot_tags),
            ami_description: c
                .ami_description
                .as_deref()
                .map(|d| super::render::render(d, &values)),
        };
        state.source_image = Some(image);
        Ok(())
    }
}

/// The VPC and subnet: as given, or picked by their filters.
pub(super) struct NetworkInfo;

#[async_trait]
impl<'a> Step<State<'a>> for NetworkInfo {
    fn name(&self) -> &'static str {
        "network-info"
    }

    async fn run(&self, state: &mut State<'a>) -> Result<(), BuildError> {
        let c = &state.builder.config;
        let ec2 = state.ec2().clone();
        let mut vpc_id = c.vpc_id.clone();
        if vpc_id.is_none() && !c.vpc_filter.is_empty() {
            let vpcs = ec2
                .vpcs(&c.vpc_filter)
                .await
                .map_err(|e| failed("vpc_filter", e))?;
            match vpcs.as_slice() {
                [one] => {
                    state.say(&format!("Found VPC ID: {one}"));
                    vpc_id = Some(one.clone());
                }
                [] => return Err(BuildError::Failed("No VPC matches vpc_filter".into())),
                many => {
                    return Err(BuildError::Failed(format!(
                        "vpc_filter matched {} VPCs ({}); make it match exactly one",
                        many.len(),
                        many.join(", ")
                    )))
                }
            }
        }
        let mut subnet_id = c.subnet_id.clone();
        let mut availability_zone = c.availability_zone.clone();
        if subnet_id.is_none() && !c.subnet_filter.is_empty() {
            let mut filters = c.subnet_filter.clone();
            filters.push(Filter {
                name: "state".into(),
                values: vec!["available".into()],
            });
            if let Some(v) = &vpc_id {
                filters.push(Filter {
                    name: "vpc-id".into(),
                    values: vec![v.clone()],
                });
            }
            if let Some(az) = &availability_zone {
                filters.push(Filter {
                    name: "availability-zone".into(),
                    values: vec![az.clone()],
                });
            }
            let mut subnets = ec2
                .subnets(&[], &filters)
                .await
                .map_err(|e| failed("subnet_filter", e))?;
            if subnets.len() > 1 && !c.subnet_most_free {
                return Err(BuildError::Failed(format!(
                    "Your filter matched {} Subnets. Please try a more specific search, or set random or most_free to true.",
                    subnets.len()
                )));
            }
            subnets.sort_by(|a, b| b.available_ips.cmp(&a.available_ips).then(a.id.cmp(&b.id)));
            let Some(s) = subnets.first() else {
                return Err(BuildError::Failed("No subnet matches subnet_filter".into()));
            };
            state.say(&format!("Found Subnet ID: {}", s.id));
            subnet_id = Some(s.id.clone());
        }
        if let Some(s) = &subnet_id {
            if vpc_id.is_none() || availability_zone.is_none() {
                let found = ec2
                    .subnets(std::slice::from_ref(s), &[])
                    .await
                    .map_err(|e| failed("looking up subnet_id", e))?;
                if let Some(sub) = found.first() {
                    vpc_id = vpc_id.or(Some(sub.vpc_id.clone()));
                    availability_zone = availability_zone.or(Some(sub.availability_zone.clone()));
                }
            }
        }
        state.vpc_id = vpc_id;
        state.subnet_id = subnet_id;
        state.availability_zone = availability_zone;
        Ok(())
    }
}

/// A temporary key pair, when the template names no key and no password.
pub(super) struct KeyPair;

#[async_trait]
impl<'a> Step<State<'a>> for KeyPair {
    fn name(&self) -> &'static str {
        "key-pair"
    }

    async fn run(&self, state: &mut State<'a>) -> Result<(), BuildError> {
        let c = &state.builder.config;
        let Some(ssh) = &c.ssh else {
            return Ok(());
        };
        if ssh.private_key_file.is_some() {
            state.say("Using existing SSH private key");
            state.key_name = ssh.keypair_name.clone();
            return Ok(());
        }
        let Some((name, key_type)) = &ssh.temporary_key_pair else {
            state.say("Not using temporary keypair");
            return Ok(());
        };
        state.say(&format!("Creating temporary keypair: {name}"));
        let tags = tags_for_region(&state.rendered.run_tags, state.ec2().region());
        let material = state
            .ec2()
            .create_key_pair(name, key_type, &tags)
            .await
            .map_err(|e| failed("creating the temporary key pair", e))?;
        state.temporary_key = Some(name.clone());
        state.key_name = Some(name.clone());
        let dir = tempfile::Builder::new()
            .prefix("kiln-ec2-key-")
            .tempdir()
            .map_err(|e| BuildError::Failed(format!("a directory for the temporary key: {e}")))?;
        let path = dir.path().join("key.pem");
        write_private(&path, &material)
            .map_err(|e| BuildError::Failed(format!("writing the temporary key: {e}")))?;
        state.key_dir = Some(dir);
        Ok(())
    }

    async fn cleanup(&self, state: &mut State<'a>) {
        state.key_dir = None;
        let Some(name) = state.temporary_key.clone() else {
            return;
        };
        state.say("Deleting temporary keypair...");
        match state.ec2().delete_key_pair(&name).await {
            Ok(()) => state.temporary_key = None,
            Err(e) => state.cx.ui.error(&format!(
                "Error cleaning up keypair. Please delete the key manually: {name}: {e}"
            )),
        }
    }
}

fn write_private(path: &std::path::Path, text: &str) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)?;
    f.write_all(text.as_bytes())?;
    if !text.ends_with('\n') {
        f.write_all(b"\n")?;
    }
    Ok(())
}

/// AWS's China regions take no tags at creation (Packer tags there afterwards).
fn tags_for_region(tags: &[(String, String)], region: &str) -> Vec<(String, String)> {
    if region.starts_with("cn-") {
        Vec::new()
    } else {
        tags.to_vec()
    }
}

/// The security groups: as given, by filter, or a temporary one open on the SSH port.
pub(super) struct SecurityGroup;

#[async_trait]
impl<'a> Step<State<'a>> for SecurityGroup {
    fn name(&self) -> &'static str {
        "security-group"
    }

    async fn run(&self, state: &mut State<'a>) -> Result<(), BuildError> {
        let c = &state.builder.config;
        let ec2 = state.ec2().clone();
        if !c.security_group_ids.is_empty() {
            let found = ec2
                .security_groups(&c.security_group_ids, &[])
                .await
                .map_err(|e| failed("checking security_group_ids", e))?;
            if let Some(missing) = c.security_group_ids.iter().find(|g| !found.contains(g)) {
                return Err(BuildError::Failed(format!(
                    "security group {missing} of security_group_ids does not exist"
                )));
            }
            state.security_group_ids = c.security_group_ids.clone();
            return Ok(());
        }
        if !c.security_group_filter.is_empty() {
            let mut filters = c.security_group_filter.clone();
            if let Some(v) = &state.vpc_id {
                filters.push(Filter {
                    name: "vpc-id".into(),
                    values: vec![v.clone()],
                });
            }
            let found = ec2
                .security_groups(&[], &filters)
                .await
                .map_err(|e| failed("security_group_filter", e))?;
            if found.is_empty() {
                return Err(BuildError::Failed(
                    "No security group matches security_group_filter".into(),
                ));
            }
            state.say(&format!("Found Security Group(s): {}", found.join(", ")));
            state.security_group_ids = found;
            return Ok(());
        }
        let name = format!("packer_{}", super::unique_suffix());
        state.say(&format!(
            "Creating temporary security group for this instance: {name}"
        ));
        let tags = tags_for_region(&state.rendered.run_tags, ec2.region());
        let id = ec2
            .create_security_group(
                &name,
                "Temporary group for Packer",
                state.vpc_id.as_deref(),
                &tags,
            )
            .await
            .map_err(|e| failed("creating the temporary security group", e))?;
        state.temporary_group = Some(id.clone());
        state.security_group_ids = vec![id.clone()];
        let port = c.ssh.as_ref().map_or(22, |s| s.port);
        state.say(&format!(
            "Authorizing access to port {port} from {:?} in the temporary security groups...",
            c.temporary_security_group_source_cidrs
        ));
        ec2.authorize_tcp(&id, port, &c.temporary_security_group_source_cidrs)
            .await
            .map_err(|e| failed("authorizing access to the temporary security group", e))?;
        Ok(())
    }

    async fn cleanup(&self, state: &mut State<'a>) {
        let Some(id) = state.temporary_group.clone() else {
            return;
        };
        state.say("Deleting temporary security group...");
        // The group is in use until the instance has gone: try a few times.
        let mut last = None;
        for attempt in 0..5 {
            match state.ec2().delete_security_group(&id).await {
                Ok(()) => {
                    state.temporary_group = None;
                    return;
                }
                Err(e) if ec2::not_found(&e) => {
                    state.temporary_group = None;
                    return;
                }
                Err(e) => last = Some(e),
            }
            if attempt < 4 {
                tokio::time::sleep(Duration::from_secs(5)).await;
            }
        }
        if let Some(e) = last {
            state.cx.ui.error(&format!(
                "Error cleaning up security group. Please delete the group manually: {id}: {e}"
            ));
        }
    }
}

/// Launches the source instance and waits until it runs.
pub(super) struct RunInstance;

#[async_trait]
impl<'a> Step<State<'a>> for RunInstance {
    fn name(&self) -> &'static str {
        "run-source-instance"
    }

    async fn run(&self, state: &mut State<'a>) -> Result<(), BuildError> {
        let c = &state.builder.config;
        let ec2 = state.ec2().clone();
        let image = state
            .source_image
            .clone()
            .expect("found by the source-ami step");
        state.say("Launching a source AWS instance...");
        let request = RunRequest {
            image_id: image.id.clone(),
            instance_type: c.instance_type.clone(),
            key_name: state.key_name.clone(),
            security_group_ids: state.security_group_ids.clone(),
            subnet_id: state.subnet_id.clone(),
            associate_public_ip_address: c.associate_public_ip_address,
            user_data: c.user_data.clone(),
            iam_instance_profile: c.iam_instance_profile.clone(),
            shutdown_behavior: Some(c.shutdown_behavior.clone()),
            ebs_optimized: c.ebs_optimized,
            availability_zone: state.availability_zone.clone(),
            tenancy: c.tenancy.clone(),
            monitoring: c.monitoring,
            unlimited_credits: c.unlimited_credits,
            block_devices: c.launch_block_devices.clone(),
            instance_tags: tags_for_region(&state.rendered.run_tags, ec2.region()),
            volume_tags: tags_for_region(&state.rendered.run_volume_tags, ec2.region()),
            metadata_options: c.metadata_options.clone(),
        };
        for (k, v) in &request.instance_tags {
            state.say(&format!("Adding tag: \"{k}\": \"{v}\""));
        }
        let id = ec2
            .run_instance(&request)
            .await
            .map_err(|e| failed("launching the source instance", e))?;
        state.say(&format!("Instance ID: {id}"));
        state.instance = Some(kiln_amazon::ec2::Instance {
            id: id.clone(),
            ..Default::default()
        });
        state.say(&format!("Waiting for instance ({id}) to become ready..."));
        let polling = state.session().polling;
        let instance = wait::until(
            &polling,
            wait::INSTANCE,
            &format!("instance {id} to be running"),
            || {
                let ec2 = ec2.clone();
                let id = id.clone();
                async move {
                    Ok(match ec2.instance(&id).await? {
                        None => Seen::Pending("not yet visible".into()),
                        Some(i) => match i.state.as_str() {
                            "running" => Seen::Done(i),
                            "pending" => Seen::Pending(i.state),
                            _ => Seen::Failed(i.state),
                        },
                    })
                }
            },
        )
        .await
        .map_err(|e| failed("the source instance", e))?;
        if let Some(ssh) = &c.ssh {
            let host = match &ssh.host {
                Some(h) => h.clone(),
                None => address(&instance, ssh.interface.as_deref()).ok_or_else(|| {
                    BuildError::Failed(format!(
                        "instance {} has no {} to connect to; set ssh_interface or ssh_host",
                        instance.id,
                        ssh.interface
                            .as_deref()
                            .unwrap_or("public or private IP address")
                    ))
                })?,
            };
            let private_key_file = ssh
                .private_key_file
                .clone()
                .or_else(|| state.key_dir.as_ref().map(|d| d.path().join("key.pem")));
            state.ssh_config = Some(kiln_communicators::SshConfig {
                host,
                port: ssh.port,
                username: ssh.username.clone(),
                password: ssh.password.clone(),
                private_key_file,
                timeout: ssh.timeout,
                handshake_attempts: ssh.handshake_attempts,
            });
        }
        state.instance = Some(instance);
        Ok(())
    }

    async fn cleanup(&self, state: &mut State<'a>) {
        let Some(instance) = state.instance.clone() else {
            return;
        };
        state.say("Terminating the source AWS instance...");
        let ec2 = state.ec2().clone();
        if let Err(e) = ec2.terminate_instance(&instance.id).await {
            if !ec2::not_found(&e) {
                state.cx.ui.error(&format!(
                    "Error terminating instance, may still be around: {}: {e}",
                    instance.id
                ));
                return;
            }
        }
        let polling = state.session().polling;
        let id = instance.id.clone();
        let r = wait::until(
            &polling,
            wait::INSTANCE,
            &format!("instance {id} to terminate"),
            || {
                let ec2 = ec2.clone();
                let id = id.clone();
                async move {
                    Ok(match ec2.instance(&id).await? {
                        None => Seen::Done(()),
                        Some(i) if i.state == "terminated" => Seen::Done(()),
                        Some(i) => Seen::Pending(i.state),
                    })
                }
            },
        )
        .await;
        match r {
            Ok(()) => state.instance = None,
            Err(e) => state
                .cx
                .ui
                .error(&format!("Error waiting for instance to terminate: {e}")),
        }
    }
}

/// The instance's address by `ssh_interface` (by default its public IP, else its
/// private IP).
fn address(i: &kiln_amazon::ec2::Instance, interface: Option<&str>) -> Option<String> {
    match interface {
        Some("public_ip") => i.public_ip.clone(),
        Some("private_ip") => i.private_ip.clone(),
        Some("public_dns") => i.public_dns.clone(),
        Some("private_dns") => i.private_dns.clone(),
        _ => i.public_ip.clone().or_else(|| i.private_ip.clone()),
    }
}

/// Stops the instance so its disk is consistent for the AMI.
pub(super) struct StopInstance;

#[async_trait]
impl<'a> Step<State<'a>> for StopInstance {
    fn name(&self) -> &'static str {
        "stop-instance"
    }

    async fn run(&self, state: &mut State<'a>) -> Result<(), BuildError> {
        let c = &state.builder.config;
        let ec2 = state.ec2().clone();
        let id = state.instance.as_ref().expect("launched").id.clone();
        if c.disable_stop_instance {
            state.say("Automatic instance stop disabled. Please stop instance manually.");
        } else {
            state.say("Stopping the source instance...");
            ec2.stop_instance(&id)
                .await
                .map_err(|e| failed("stopping the instance", e))?;
        }
        state.say("Waiting for the instance to stop...");
        let polling = state.session().polling;
        wait::until(
            &polling,
            wait::INSTANCE,
            &format!("instance {id} to stop"),
            || {
                let ec2 = ec2.clone();
                let id = id.clone();
                async move {
                    Ok(match ec2.instance(&id).await? {
                        Some(i) if i.state == "stopped" => Seen::Done(()),
                        Some(i) if i.state == "terminated" => Seen::Failed(i.state),
                        Some(i) => Seen::Pending(i.state),
                        None => Seen::Failed("gone".into()),
                    })
                }
            },
        )
        .await
        .map_err(|e| failed("stopping the instance", e))
    }
}

/// Enhanced networking (`ena_support`, `sriov_support`) on the stopped instance.
pub(super) struct ModifyInstance;

#[async_trait]
impl<'a> Step<State<'a>> for ModifyInstance {
    fn name(&self) -> &'static str {
        "modify-instance"
    }

    async fn run(&self, state: &mut State<'a>) -> Result<(), BuildError> {
        let c = &state.builder.config;
        if c.ena_support.is_none() && !c.sriov_support {
            return Ok(());
        }
        if c.sriov_support {
            state.say("Enabling Enhanced Networking (SR-IOV)...");
        }
        match c.ena_support {
            Some(true) => state.say("Enabling Enhanced Networking (ENA)..."),
            Some(false) => state.say("Disabling Enhanced Networking (ENA)..."),
            None => {}
        }
        let id = state.instance.as_ref().expect("launched").id.clone();
        state
            .ec2()
            .set_networking(&id, c.ena_support, c.sriov_support)
            .await
            .map_err(|e| failed("enhanced networking", e))
    }
}

/// Every region the AMI ends up in: the build region (unless `skip_save_build_region`)
/// and `ami_regions`.
fn target_regions(state: &State<'_>) -> Vec<String> {
    let c = &state.builder.config;
    let build = state.ec2().region().to_owned();
    let mut out = Vec::new();
    if !c.skip_save_build_region {
        out.push(build.clone());
    }
    for r in &c.ami_regions {
        if *r != build && !out.contains(r) {
            out.push(r.clone());
        }
    }
    out
}

/// `force_deregister`: removes AMIs of the same name (and with
/// `force_delete_snapshot` their snapshots) in every target region.
pub(super) struct Deregister;

#[async_trait]
impl<'a> Step<State<'a>> for Deregister {
    fn name(&self) -> &'static str {
        "deregister-ami"
    }

    async fn run(&self, state: &mut State<'a>) -> Result<(), BuildError> {
        let c = &state.builder.config;
        if c.skip_create_ami || !(c.force_deregister || state.cx.force) {
            return Ok(());
        }
        for region in target_regions(state) {
            let ec2 = state.session().ec2_in(&region);
            let images = ec2
                .describe_images(&[], &["self".into()], &[name_filter(&c.ami_name)], true)
                .await
                .map_err(|e| failed("looking for AMIs to deregister", e))?;
            for image in images {
                ec2.deregister_image(&image.id)
                    .await
                    .map_err(|e| failed("deregistering the old AMI", e))?;
                state.say(&format!(
                    "Deregistered AMI {}, id: {}",
                    c.ami_name, image.id
                ));
                if c.force_delete_snapshot {
                    for snap in image
                        .block_devices
                        .iter()
                        .filter_map(|b| b.snapshot_id.clone())
                    {
                        ec2.delete_snapshot(&snap)
                            .await
                            .map_err(|e| failed("deleting the old AMI's snapshot", e))?;
                        state.say(&format!("Deleted snapshot: {snap}"));
                    }
                }
            }
        }
        Ok(())
    }
}

/// Waits until `ami` is available in `ec2`'s region; its snapshots.
async fn wait_available(
    ec2: &Ec2,
    polling: &kiln_amazon::Polling,
    ami: &str,
) -> Result<Vec<String>, kiln_amazon::AwsError> {
    wait::until(
        polling,
        wait::IMAGE,
        &format!("AMI {ami} in {} to become available", ec2.region()),
        || async move {
            Ok(match ec2.image(ami).await? {
                None => Seen::Pending("not yet visible".into()),
                Some(i) => match i.state.as_str() {
                    "available" => Seen::Done(
                        i.block_devices
                            .iter()
                            .filter_map(|b| b.snapshot_id.clone())
                            .collect(),
                    ),
                    "failed" | "error" | "invalid" | "deregistered" => Seen::Failed(format!(
                        "{}{}",
                        i.state,
                        i.state_reason
                            .map(|r| format!(" ({r})"))
                            .unwrap_or_default()
                    )),
                    other => Seen::Pending(other.to_owned()),
                },
            })
        },
    )
    .await
}

/// Deregisters `ami` and deletes its snapshots, telling what fails.
async fn destroy_ami(state: &State<'_>, ec2: &Ec2, ami: &str, snapshots: &[String]) {
    // An AMI that never became available: its snapshots are read from it first.
    let mut snapshots = snapshots.to_vec();
    if snapshots.is_empty() {
        if let Ok(Some(image)) = ec2.image(ami).await {
            snapshots = image
                .block_devices
                .iter()
                .filter_map(|b| b.snapshot_id.clone())
                .collect();
        }
    }
    if let Err(e) = ec2.deregister_image(ami).await {
        if !ec2::not_found(&e) {
            state.cx.ui.error(&format!(
                "Error deregistering AMI {ami}, please delete it manually: {e}"
            ));
        }
    } else {
        state.say(&format!("Deregistered AMI id: {ami}"));
    }
    for snap in &snapshots {
        if let Err(e) = ec2.delete_snapshot(snap).await {
            if !ec2::not_found(&e) {
                state.cx.ui.error(&format!(
                    "Error deleting snapshot {snap}, please delete it manually: {e}"
                ));
            }
        }
    }
}

/// CreateImage of the stopped instance; on a failed or cancelled build its cleanup
/// removes the AMI and its snapshots.
pub(super) struct CreateAmi;

/// Eight letters for an AMI that is only copied (Packer's intermediary AMIs).
fn random_name() -> String {
    let s = super::unique_suffix().replace('-', "");
    format!("packer-intermediary-{}", &s[..8])
}

#[async_trait]
impl<'a> Step<State<'a>> for CreateAmi {
    fn name(&self) -> &'static str {
        "create-ami"
    }

    async fn run(&self, state: &mut State<'a>) -> Result<(), BuildError> {
        let c = &state.builder.config;
        if c.skip_create_ami {
            state.say("Skipping AMI creation...");
            return Ok(());
        }
        state.intermediary = c.encrypt_boot == Some(true) || c.skip_save_build_region;
        let name = if state.intermediary {
            random_name()
        } else {
            c.ami_name.clone()
        };
        let id = state.instance.as_ref().expect("launched").id.clone();
        state.say(&format!("Creating AMI {name} from instance {id}"));
        let ec2 = state.ec2().clone();
        let ami = ec2
            .create_image(
                &id,
                &name,
                state.rendered.ami_description.as_deref(),
                &c.ami_block_devices,
            )
            .await
            .map_err(|e| failed("creating the AMI", e))?;
        state.say(&format!("AMI: {ami}"));
        state.ami = Some((ami.clone(), Vec::new()));
        state.say("Waiting for AMI to become ready...");
        let polling = state.session().polling;
        let snapshots = wait_available(&ec2, &polling, &ami)
            .await
            .map_err(|e| failed("creating the AMI", e))?;
        state.ami = Some((ami.clone(), snapshots.clone()));
        // The run tags go on the AMI and its snapshots once they exist (CreateTags,
        // as Packer tags where tags cannot be given at creation).
        if !state.rendered.run_tags.is_empty() {
            state.say("Attaching run tags to AMI...");
            let mut resources = vec![ami.clone()];
            resources.extend(snapshots.iter().cloned());
            ec2.create_tags(&resources, &state.rendered.run_tags)
                .await
                .map_err(|e| failed("tagging the AMI with run_tags", e))?;
        }
        if !state.intermediary {
            state.amis.insert(ec2.region().to_owned(), (ami, snapshots));
        }
        Ok(())
    }

    async fn cleanup(&self, state: &mut State<'a>) {
        // Kept when the build succeeded, unless it was only an intermediary.
        let Some((ami, snapshots)) = state.ami.clone() else {
            return;
        };
        if state.finished && !state.intermediary {
            return;
        }
        if state.intermediary && state.finished {
            state
                .say("Deregistering the AMI and deleting unencrypted temporary AMIs and snapshots");
        } else {
            state.say("Deregistering the AMI and deleting associated snapshots because of cancellation, or error...");
        }
        let ec2 = state.ec2().clone();
        destroy_ami(state, &ec2, &ami, &snapshots).await;
        state.amis.retain(|_, (a, _)| *a != ami);
        state.ami = None;
    }
}

/// `ami_regions` (and `encrypt_boot`'s copy in the build region): CopyImage into each
/// region, all at once, then waits for every copy.
pub(super) struct RegionCopy;

#[async_trait]
impl<'a> Step<State<'a>> for RegionCopy {
    fn name(&self) -> &'static str {
        "ami-region-copy"
    }

    async fn run(&self, state: &mut State<'a>) -> Result<(), BuildError> {
        let c = &state.builder.config;
        let Some((source, _)) = state.ami.clone() else {
            return Ok(());
        };
        let build = state.ec2().region().to_owned();
        let regions: Vec<String> = target_regions(state)
            .into_iter()
            .filter(|r| *r != build || state.intermediary)
            .collect();
        if regions.is_empty() {
            state.say("Skipping AMI region copy...");
            return Ok(());
        }
        let encrypt = c.encrypt_boot == Some(true);
        state.say(&format!(
            "{} AMI ({source}) to other regions...",
            if encrypt {
                "Copying/Encrypting"
            } else {
                "Copying"
            }
        ));
        let polling = state.session().polling;
        let mut tasks = tokio::task::JoinSet::new();
        for region in regions {
            state.say(&format!("Copying to: {region}"));
            let ec2 = state.session().ec2_in(&region);
            let kms = if encrypt {
                c.region_kms_key_ids
                    .get(&region)
                    .cloned()
                    .or_else(|| (region == build).then(|| c.kms_key_id.clone()).flatten())
            } else {
                None
            };
            let (name, description, source, build) = (
                c.ami_name.clone(),
                state.rendered.ami_description.clone(),
                source.clone(),
                build.clone(),
            );
            tasks.spawn(async move {
                let copy = ec2
                    .copy_image(
                        &build,
                        &source,
                        &name,
                        description.as_deref(),
                        encrypt,
                        kms.as_deref(),
                    )
                    .await;
                let result = match copy {
                    Ok(id) => match wait_available(&ec2, &polling, &id).await {
                        Ok(snaps) => Ok((id, snaps)),
                        Err(e) => Err((Some(id), e)),
                    },
                    Err(e) => Err((None, e)),
                };
                (region, result)
            });
        }
        state.say("Waiting for all copies to complete...");
        let mut errors = Vec::new();
        while let Some(joined) = tasks.join_next().await {
            match joined {
                Ok((region, Ok(found))) => {
                    state.amis.insert(region, found);
                }
                Ok((region, Err((id, e)))) => {
                    if let Some(id) = id {
                        state.amis.insert(region.clone(), (id, Vec::new()));
                    }
                    errors.push(format!("{region}: {e}"));
                }
                Err(e) => errors.push(format!("a copy panicked: {e}")),
            }
        }
        if !errors.is_empty() {
            return Err(BuildError::Failed(format!(
                "copying the AMI: {}",
                errors.join("; ")
            )));
        }
        Ok(())
    }

    async fn cleanup(&self, state: &mut State<'a>) {
        if state.finished {
            return;
        }
        // A failed build: the copies go too (the AMI it copied from is CreateAmi's).
        let copies: Vec<(String, String, Vec<String>)> = state
            .amis
            .iter()
            .filter(|(_, (a, _))| state.ami.as_ref().is_none_or(|(made, _)| made != a))
            .map(|(r, (a, s))| (r.clone(), a.clone(), s.clone()))
            .collect();
        for (region, ami, snapshots) in copies {
            let ec2 = state.session().ec2_in(&region);
            destroy_ami(state, &ec2, &ami, &snapshots).await;
            state.amis.remove(&region);
        }
    }
}

/// `deprecate_at`: EnableImageDeprecation on every AMI.
pub(super) struct Deprecate;

#[async_trait]
impl<'a> Step<State<'a>> for Deprecate {
    fn name(&self) -> &'static str {
        "deprecate-ami"
    }

    async fn run(&self, state: &mut State<'a>) -> Result<(), BuildError> {
        let Some(at) = state.builder.config.deprecate_at.clone() else {
            return Ok(());
        };
        for (region, (ami, _)) in state.amis.clone() {
            state.say(&format!(
                "Enabling deprecation on AMI ({ami}) in region {region:?} ..."
            ));
            state
                .session()
                .ec2_in(&region)
                .deprecate_image(&ami, &at)
                .await
                .map_err(|e| failed("deprecate_at", e))?;
        }
        Ok(())
    }
}

/// Launch and volume permissions, product codes, IMDS support, description.
pub(super) struct ModifyAmi;

#[async_trait]
impl<'a> Step<State<'a>> for ModifyAmi {
    fn name(&self) -> &'static str {
        "modify-ami-attributes"
    }

    async fn run(&self, state: &mut State<'a>) -> Result<(), BuildError> {
        let c = &state.builder.config;
        for (region, (ami, snapshots)) in state.amis.clone() {
            let ec2 = state.session().ec2_in(&region);
            let shares = !(c.ami_users.is_empty()
                && c.ami_groups.is_empty()
                && c.ami_org_arns.is_empty()
                && c.ami_ou_arns.is_empty());
            if shares || !c.ami_product_codes.is_empty() || c.imds_support.is_some() {
                state.say(&format!("Modifying attributes on AMI ({ami})..."));
            }
            if shares {
                ec2.add_launch_permissions(
                    &ami,
                    &c.ami_users,
                    &c.ami_groups,
                    &c.ami_org_arns,
                    &c.ami_ou_arns,
                )
                .await
                .map_err(|e| failed("sharing the AMI", e))?;
            }
            if !c.ami_product_codes.is_empty() {
                let codes: Vec<(String, String)> = c
                    .ami_product_codes
                    .iter()
                    .enumerate()
                    .map(|(i, code)| (format!("ProductCode.{}", i + 1), code.clone()))
                    .collect();
                ec2.set_image_attribute(&ami, &codes)
                    .await
                    .map_err(|e| failed("ami_product_codes", e))?;
            }
            if let Some(imds) = &c.imds_support {
                ec2.set_image_attribute(&ami, &[("ImdsSupport.Value".into(), imds.clone())])
                    .await
                    .map_err(|e| failed("imds_support", e))?;
            }
            if !c.snapshot_users.is_empty() || !c.snapshot_groups.is_empty() {
                for snap in &snapshots {
                    state.say(&format!("Modifying attributes on snapshot ({snap})..."));
                    ec2.add_volume_permissions(snap, &c.snapshot_users, &c.snapshot_groups)
                        .await
                        .map_err(|e| failed("sharing the snapshots", e))?;
                }
            }
        }
        Ok(())
    }
}

/// `tags` on every AMI and its snapshots, then `snapshot_tags` on the snapshots.
pub(super) struct Tags;

#[async_trait]
impl<'a> Step<State<'a>> for Tags {
    fn name(&self) -> &'static str {
        "create-tags"
    }

    async fn run(&self, state: &mut State<'a>) -> Result<(), BuildError> {
        for (region, (ami, snapshots)) in state.amis.clone() {
            let ec2 = state.session().ec2_in(&region);
            if !state.rendered.tags.is_empty() {
                state.say(&format!("Adding tags to AMI ({ami})..."));
                for (k, v) in &state.rendered.tags {
                    state.say(&format!("Adding tag: \"{k}\": \"{v}\""));
                }
                let mut resources = vec![ami.clone()];
                resources.extend(snapshots.iter().cloned());
                ec2.create_tags(&resources, &state.rendered.tags)
                    .await
                    .map_err(|e| failed("tagging the AMI", e))?;
            }
            if !state.rendered.snapshot_tags.is_empty() && !snapshots.is_empty() {
                state.say("Creating snapshot tags");
                ec2.create_tags(&snapshots, &state.rendered.snapshot_tags)
                    .await
                    .map_err(|e| failed("tagging the snapshots", e))?;
            }
        }
        state.finished = true;
        Ok(())
    }
}
