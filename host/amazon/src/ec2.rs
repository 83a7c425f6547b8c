//! The EC2 calls Kiln makes, typed: parameters in the Query API's flattened form
//! (`Filter.1.Name`, `BlockDeviceMapping.2.Ebs.VolumeSize`), answers read from XML.

use crate::client::Client;
use crate::xml::{self, child, items, text};
use crate::AwsError;

/// EC2 in one region.
#[derive(Debug, Clone)]
pub struct Ec2 {
    pub client: Client,
}

/// A `Name` and its values, as DescribeImages and the others filter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Filter {
    pub name: String,
    pub values: Vec<String>,
}

/// An AMI as DescribeImages tells it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Image {
    pub id: String,
    pub name: String,
    pub state: String,
    pub creation_date: String,
    pub owner_id: String,
    pub owner_alias: Option<String>,
    pub description: Option<String>,
    pub architecture: Option<String>,
    pub root_device_type: Option<String>,
    pub root_device_name: Option<String>,
    pub virtualization_type: Option<String>,
    pub ena_support: Option<bool>,
    pub platform: Option<String>,
    pub block_devices: Vec<BlockDevice>,
    pub tags: Vec<(String, String)>,
    pub state_reason: Option<String>,
}

/// One block device mapping (of an image, or asked for an instance or image).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BlockDevice {
    pub device_name: String,
    pub virtual_name: Option<String>,
    pub no_device: bool,
    pub snapshot_id: Option<String>,
    pub volume_size: Option<u64>,
    pub volume_type: Option<String>,
    pub iops: Option<u64>,
    pub throughput: Option<u64>,
    pub delete_on_termination: Option<bool>,
    pub encrypted: Option<bool>,
    pub kms_key_id: Option<String>,
}

/// An instance as DescribeInstances tells it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Instance {
    pub id: String,
    pub state: String,
    pub public_ip: Option<String>,
    pub private_ip: Option<String>,
    pub public_dns: Option<String>,
    pub private_dns: Option<String>,
    pub subnet_id: Option<String>,
    pub vpc_id: Option<String>,
    pub availability_zone: Option<String>,
    /// (device name, volume id) of its EBS volumes.
    pub volumes: Vec<(String, String)>,
}

/// A subnet as DescribeSubnets tells it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Subnet {
    pub id: String,
    pub vpc_id: String,
    pub availability_zone: String,
    pub available_ips: u64,
}

/// What RunInstances is asked for.
#[derive(Debug, Clone, Default)]
pub struct RunRequest {
    pub image_id: String,
    pub instance_type: String,
    pub key_name: Option<String>,
    pub security_group_ids: Vec<String>,
    pub subnet_id: Option<String>,
    pub associate_public_ip_address: Option<bool>,
    pub user_data: Option<String>,
    pub iam_instance_profile: Option<String>,
    pub shutdown_behavior: Option<String>,
    pub ebs_optimized: bool,
    pub availability_zone: Option<String>,
    pub tenancy: Option<String>,
    pub monitoring: bool,
    pub unlimited_credits: bool,
    pub block_devices: Vec<BlockDevice>,
    pub instance_tags: Vec<(String, String)>,
    pub volume_tags: Vec<(String, String)>,
    /// `MetadataOptions.*` (HttpEndpoint, HttpTokens, ...), as given.
    pub metadata_options: Vec<(String, String)>,
}

fn push_list(params: &mut Vec<(String, String)>, prefix: &str, values: &[String]) {
    for (i, v) in values.iter().enumerate() {
        params.push((format!("{prefix}.{}", i + 1), v.clone()));
    }
}

fn push_filters(params: &mut Vec<(String, String)>, filters: &[Filter]) {
    for (i, f) in filters.iter().enumerate() {
        params.push((format!("Filter.{}.Name", i + 1), f.name.clone()));
        for (j, v) in f.values.iter().enumerate() {
            params.push((format!("Filter.{}.Value.{}", i + 1, j + 1), v.clone()));
        }
    }
}

fn push_tags(params: &mut Vec<(String, String)>, prefix: &str, tags: &[(String, String)]) {
    for (i, (k, v)) in tags.iter().enumerate() {
        params.push((format!("{prefix}.{}.Key", i + 1), k.clone()));
        params.push((format!("{prefix}.{}.Value", i + 1), v.clone()));
    }
}

/// `TagSpecification.N`: `tags` for resources of `kind` made by the call.
fn push_tag_spec(
    params: &mut Vec<(String, String)>,
    n: usize,
    kind: &str,
    tags: &[(String, String)],
) {
    if tags.is_empty() {
        return;
    }
    params.push((
        format!("TagSpecification.{n}.ResourceType"),
        kind.to_owned(),
    ));
    push_tags(params, &format!("TagSpecification.{n}.Tag"), tags);
}

/// `BlockDeviceMapping.N.*` for RunInstances and CreateImage.
pub fn push_block_devices(params: &mut Vec<(String, String)>, devices: &[BlockDevice]) {
    for (i, d) in devices.iter().enumerate() {
        let p = format!("BlockDeviceMapping.{}", i + 1);
        params.push((format!("{p}.DeviceName"), d.device_name.clone()));
        if let Some(v) = &d.virtual_name {
            params.push((format!("{p}.VirtualName"), v.clone()));
            continue;
        }
        if d.no_device {
            params.push((format!("{p}.NoDevice"), String::new()));
            continue;
        }
        let mut ebs = |k: &str, v: String| params.push((format!("{p}.Ebs.{k}"), v));
        if let Some(s) = &d.snapshot_id {
            ebs("SnapshotId", s.clone());
        }
        if let Some(s) = d.volume_size {
            ebs("VolumeSize", s.to_string());
        }
        if let Some(t) = &d.volume_type {
            ebs("VolumeType", t.clone());
        }
        if let Some(i) = d.iops {
            ebs("Iops", i.to_string());
        }
        if let Some(t) = d.throughput {
            ebs("Throughput", t.to_string());
        }
        if let Some(x) = d.delete_on_termination {
            ebs("DeleteOnTermination", x.to_string());
        }
        if let Some(x) = d.encrypted {
            ebs("Encrypted", x.to_string());
        }
        if let Some(k) = &d.kms_key_id {
            ebs("KmsKeyId", k.clone());
        }
    }
}

fn parse_bool(s: Option<String>) -> Option<bool> {
    s.map(|v| v == "true")
}

fn parse_image(node: roxmltree::Node<'_, '_>) -> Image {
    Image {
        id: text(node, "imageId").unwrap_or_default(),
        name: text(node, "name").unwrap_or_default(),
        state: text(node, "imageState").unwrap_or_default(),
        creation_date: text(node, "creationDate").unwrap_or_default(),
        owner_id: text(node, "imageOwnerId").unwrap_or_default(),
        owner_alias: text(node, "imageOwnerAlias"),
        description: text(node, "description"),
        architecture: text(node, "architecture"),
        root_device_type: text(node, "rootDeviceType"),
        root_device_name: text(node, "rootDeviceName"),
        virtualization_type: text(node, "virtualizationType"),
        ena_support: parse_bool(text(node, "enaSupport")),
        platform: text(node, "platform"),
        block_devices: items(node, "blockDeviceMapping")
            .into_iter()
            .map(|b| {
                let ebs = child(b, "ebs");
                let e = |k: &str| ebs.and_then(|n| text(n, k));
                BlockDevice {
                    device_name: text(b, "deviceName").unwrap_or_default(),
                    virtual_name: text(b, "virtualName"),
                    no_device: child(b, "noDevice").is_some(),
                    snapshot_id: e("snapshotId"),
                    volume_size: e("volumeSize").and_then(|s| s.parse().ok()),
                    volume_type: e("volumeType"),
                    iops: e("iops").and_then(|s| s.parse().ok()),
                    throughput: e("throughput").and_then(|s| s.parse().ok()),
                    delete_on_termination: parse_bool(e("deleteOnTermination")),
                    encrypted: parse_bool(e("encrypted")),
                    kms_key_id: e("kmsKeyId"),
                }
            })
            .collect(),
        tags: xml::tags(node),
        state_reason: child(node, "stateReason").and_then(|r| text(r, "message")),
    }
}

fn parse_instance(node: roxmltree::Node<'_, '_>) -> Instance {
    Instance {
        id: text(node, "instanceId").unwrap_or_default(),
        state: child(node, "instanceState")
            .and_then(|s| text(s, "name"))
            .unwrap_or_default(),
        public_ip: text(node, "ipAddress"),
        private_ip: text(node, "privateIpAddress"),
        public_dns: text(node, "dnsName"),
        private_dns: text(node, "privateDnsName"),
        subnet_id: text(node, "subnetId"),
        vpc_id: text(node, "vpcId"),
        availability_zone: child(node, "placement").and_then(|p| text(p, "availabilityZone")),
        volumes: items(node, "blockDeviceMapping")
            .into_iter()
            .filter_map(|b| {
                Some((
                    text(b, "deviceName")?,
                    child(b, "ebs").and_then(|e| text(e, "volumeId"))?,
                ))
            })
            .collect(),
    }
}

/// Whether `e` says the thing named does not exist (any `*.NotFound` code).
pub fn not_found(e: &AwsError) -> bool {
    e.code()
        .is_some_and(|c| c.ends_with("NotFound") || c.ends_with(".NotFound"))
}

impl Ec2 {
    /// The region this client works in.
    pub fn region(&self) -> &str {
        &self.client.region
    }

    async fn call(&self, action: &str, params: &[(String, String)]) -> Result<String, AwsError> {
        self.client.call(action, params).await
    }

    /// DescribeImages (every page).
    pub async fn describe_images(
        &self,
        image_ids: &[String],
        owners: &[String],
        filters: &[Filter],
        include_deprecated: bool,
    ) -> Result<Vec<Image>, AwsError> {
        let mut base = Vec::new();
        push_list(&mut base, "ImageId", image_ids);
        push_list(&mut base, "Owner", owners);
        push_filters(&mut base, filters);
        if include_deprecated {
            base.push(("IncludeDeprecated".into(), "true".into()));
        }
        let mut out = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let mut params = base.clone();
            if let Some(t) = &token {
                params.push(("NextToken".into(), t.clone()));
            }
            let body = self.call("DescribeImages", &params).await?;
            let doc = xml::parse("DescribeImages", &body)?;
            out.extend(
                items(doc.root_element(), "imagesSet")
                    .into_iter()
                    .map(parse_image),
            );
            token = text(doc.root_element(), "nextToken");
            if token.is_none() {
                return Ok(out);
            }
        }
    }

    /// One image by id (`None` when it does not exist).
    pub async fn image(&self, id: &str) -> Result<Option<Image>, AwsError> {
        match self.describe_images(&[id.to_owned()], &[], &[], true).await {
            Ok(mut v) => Ok(v.pop()),
            Err(e) if not_found(&e) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// CreateKeyPair: the private key's text.
    pub async fn create_key_pair(
        &self,
        name: &str,
        key_type: &str,
        tags: &[(String, String)],
    ) -> Result<String, AwsError> {
        let mut p = vec![
            ("KeyName".into(), name.to_owned()),
            ("KeyType".into(), key_type.to_owned()),
        ];
        push_tag_spec(&mut p, 1, "key-pair", tags);
        let body = self.call("CreateKeyPair", &p).await?;
        let doc = xml::parse("CreateKeyPair", &body)?;
        xml::find_text(&doc, "keyMaterial")
            .ok_or_else(|| xml::missing("CreateKeyPair", "keyMaterial"))
    }

    /// DeleteKeyPair.
    pub async fn delete_key_pair(&self, name: &str) -> Result<(), AwsError> {
        self.call("DeleteKeyPair", &[("KeyName".into(), name.to_owned())])
            .await
            .map(drop)
    }

    /// CreateSecurityGroup: its id.
    pub async fn create_security_group(
        &self,
        name: &str,
        description: &str,
        vpc_id: Option<&str>,
        tags: &[(String, String)],
    ) -> Result<String, AwsError> {
        let mut params = vec![
            ("GroupName".into(), name.to_owned()),
            ("GroupDescription".into(), description.to_owned()),
        ];
        if let Some(v) = vpc_id {
            params.push(("VpcId".into(), v.to_owned()));
        }
        push_tag_spec(&mut params, 1, "security-group", tags);
        let body = self.call("CreateSecurityGroup", &params).await?;
        let doc = xml::parse("CreateSecurityGroup", &body)?;
        xml::find_text(&doc, "groupId")
            .ok_or_else(|| xml::missing("CreateSecurityGroup", "groupId"))
    }

    /// AuthorizeSecurityGroupIngress: TCP `port` from `cidrs`.
    pub async fn authorize_tcp(
        &self,
        group_id: &str,
        port: u16,
        cidrs: &[String],
    ) -> Result<(), AwsError> {
        let mut params = vec![
            ("GroupId".into(), group_id.to_owned()),
            ("IpPermissions.1.IpProtocol".into(), "tcp".into()),
            ("IpPermissions.1.FromPort".into(), port.to_string()),
            ("IpPermissions.1.ToPort".into(), port.to_string()),
        ];
        for (i, c) in cidrs.iter().enumerate() {
            params.push((
                format!("IpPermissions.1.IpRanges.{}.CidrIp", i + 1),
                c.clone(),
            ));
        }
        self.call("AuthorizeSecurityGroupIngress", &params)
            .await
            .map(drop)
    }

    /// DeleteSecurityGroup.
    pub async fn delete_security_group(&self, id: &str) -> Result<(), AwsError> {
        self.call("DeleteSecurityGroup", &[("GroupId".into(), id.to_owned())])
            .await
            .map(drop)
    }

    /// The ids of the security groups `filters` match (or named by `ids`).
    pub async fn security_groups(
        &self,
        ids: &[String],
        filters: &[Filter],
    ) -> Result<Vec<String>, AwsError> {
        let mut params = Vec::new();
        push_list(&mut params, "GroupId", ids);
        push_filters(&mut params, filters);
        let body = self.call("DescribeSecurityGroups", &params).await?;
        let doc = xml::parse("DescribeSecurityGroups", &body)?;
        Ok(items(doc.root_element(), "securityGroupInfo")
            .into_iter()
            .filter_map(|g| text(g, "groupId"))
            .collect())
    }

    /// DescribeSubnets.
    pub async fn subnets(
        &self,
        ids: &[String],
        filters: &[Filter],
    ) -> Result<Vec<Subnet>, AwsError> {
        let mut params = Vec::new();
        push_list(&mut params, "SubnetId", ids);
        push_filters(&mut params, filters);
        let body = self.call("DescribeSubnets", &params).await?;
        let doc = xml::parse("DescribeSubnets", &body)?;
        Ok(items(doc.root_element(), "subnetSet")
            .into_iter()
            .map(|s| Subnet {
                id: text(s, "subnetId").unwrap_or_default(),
                vpc_id: text(s, "vpcId").unwrap_or_default(),
                availability_zone: text(s, "availabilityZone").unwrap_or_default(),
                available_ips: text(s, "availableIpAddressCount")
                    .and_then(|n| n.parse().ok())
                    .unwrap_or(0),
            })
            .collect())
    }

    /// The ids of the VPCs `filters` match.
    pub async fn vpcs(&self, filters: &[Filter]) -> Result<Vec<String>, AwsError> {
        let mut params = Vec::new();
        push_filters(&mut params, filters);
        let body = self.call("DescribeVpcs", &params).await?;
        let doc = xml::parse("DescribeVpcs", &body)?;
        Ok(items(doc.root_element(), "vpcSet")
            .into_iter()
            .filter_map(|v| text(v, "vpcId"))
            .collect())
    }

    /// The region names this account has (DescribeRegions).
    pub async fn regions(&self) -> Result<Vec<String>, AwsError> {
        let body = self
            .call("DescribeRegions", &[("AllRegions".into(), "true".into())])
            .await?;
        let doc = xml::parse("DescribeRegions", &body)?;
        Ok(items(doc.root_element(), "regionInfo")
            .into_iter()
            .filter_map(|r| text(r, "regionName"))
            .collect())
    }

    /// RunInstances of one instance: its id.
    pub async fn run_instance(&self, r: &RunRequest) -> Result<String, AwsError> {
        let mut p: Vec<(String, String)> = vec![
            ("ImageId".into(), r.image_id.clone()),
            ("InstanceType".into(), r.instance_type.clone()),
            ("MinCount".into(), "1".into()),
            ("MaxCount".into(), "1".into()),
        ];
        if let Some(k) = &r.key_name {
            p.push(("KeyName".into(), k.clone()));
        }
        if let Some(assoc) = r.associate_public_ip_address {
            // A public address is asked for on the primary network interface, which
            // then carries the subnet and the groups.
            p.push(("NetworkInterface.1.DeviceIndex".into(), "0".into()));
            p.push((
                "NetworkInterface.1.AssociatePublicIpAddress".into(),
                assoc.to_string(),
            ));
            p.push((
                "NetworkInterface.1.DeleteOnTermination".into(),
                "true".into(),
            ));
            if let Some(s) = &r.subnet_id {
                p.push(("NetworkInterface.1.SubnetId".into(), s.clone()));
            }
            push_list(
                &mut p,
                "NetworkInterface.1.SecurityGroupId",
                &r.security_group_ids,
            );
        } else {
            push_list(&mut p, "SecurityGroupId", &r.security_group_ids);
            if let Some(s) = &r.subnet_id {
                p.push(("SubnetId".into(), s.clone()));
            }
        }
        if let Some(u) = &r.user_data {
            use base64::Engine as _;
            p.push((
                "UserData".into(),
                base64::engine::general_purpose::STANDARD.encode(u.as_bytes()),
            ));
        }
        if let Some(profile) = &r.iam_instance_profile {
            let key = if profile.starts_with("arn:") {
                "Arn"
            } else {
                "Name"
            };
            p.push((format!("IamInstanceProfile.{key}"), profile.clone()));
        }
        if let Some(b) = &r.shutdown_behavior {
            p.push(("InstanceInitiatedShutdownBehavior".into(), b.clone()));
        }
        if r.ebs_optimized {
            p.push(("EbsOptimized".into(), "true".into()));
        }
        if let Some(az) = &r.availability_zone {
            p.push(("Placement.AvailabilityZone".into(), az.clone()));
        }
        if let Some(t) = &r.tenancy {
            p.push(("Placement.Tenancy".into(), t.clone()));
        }
        if r.monitoring {
            p.push(("Monitoring.Enabled".into(), "true".into()));
        }
        if r.unlimited_credits {
            p.push(("CreditSpecification.CpuCredits".into(), "unlimited".into()));
        }
        push_block_devices(&mut p, &r.block_devices);
        let mut spec = 0;
        for (kind, tags) in [
            ("instance", &r.instance_tags),
            ("network-interface", &r.instance_tags),
            ("volume", &r.volume_tags),
        ] {
            if !tags.is_empty() {
                spec += 1;
                push_tag_spec(&mut p, spec, kind, tags);
            }
        }
        for (k, v) in &r.metadata_options {
            p.push((format!("MetadataOptions.{k}"), v.clone()));
        }
        let body = self.call("RunInstances", &p).await?;
        let doc = xml::parse("RunInstances", &body)?;
        items(doc.root_element(), "instancesSet")
            .first()
            .and_then(|i| text(*i, "instanceId"))
            .ok_or_else(|| xml::missing("RunInstances", "instanceId"))
    }

    /// One instance (`None` when it does not exist).
    pub async fn instance(&self, id: &str) -> Result<Option<Instance>, AwsError> {
        let body = match self
            .call(
                "DescribeInstances",
                &[("InstanceId.1".into(), id.to_owned())],
            )
            .await
        {
            Err(e) if not_found(&e) => return Ok(None),
            other => other?,
        };
        let doc = xml::parse("DescribeInstances", &body)?;
        Ok(items(doc.root_element(), "reservationSet")
            .into_iter()
            .flat_map(|r| items(r, "instancesSet"))
            .map(parse_instance)
            .find(|i| i.id == id))
    }

    /// StopInstances.
    pub async fn stop_instance(&self, id: &str) -> Result<(), AwsError> {
        self.call("StopInstances", &[("InstanceId.1".into(), id.to_owned())])
            .await
            .map(drop)
    }

    /// TerminateInstances.
    pub async fn terminate_instance(&self, id: &str) -> Result<(), AwsError> {
        self.call(
            "TerminateInstances",
            &[("InstanceId.1".into(), id.to_owned())],
        )
        .await
        .map(drop)
    }

    /// CreateImage from a stopped (or running) instance: the new AMI's id.
    pub async fn create_image(
        &self,
        instance_id: &str,
        name: &str,
        description: Option<&str>,
        block_devices: &[BlockDevice],
    ) -> Result<String, AwsError> {
        let mut p = vec![
            ("InstanceId".into(), instance_id.to_owned()),
            ("Name".into(), name.to_owned()),
        ];
        if let Some(d) = description.filter(|d| !d.is_empty()) {
            p.push(("Description".into(), d.to_owned()));
        }
        push_block_devices(&mut p, block_devices);
        let body = self.call("CreateImage", &p).await?;
        let doc = xml::parse("CreateImage", &body)?;
        xml::find_text(&doc, "imageId").ok_or_else(|| xml::missing("CreateImage", "imageId"))
    }

    /// CopyImage into this client's region from `source_region`: the copy's id.
    pub async fn copy_image(
        &self,
        source_region: &str,
        source_id: &str,
        name: &str,
        description: Option<&str>,
        encrypted: bool,
        kms_key_id: Option<&str>,
    ) -> Result<String, AwsError> {
        let mut p = vec![
            ("SourceRegion".into(), source_region.to_owned()),
            ("SourceImageId".into(), source_id.to_owned()),
            ("Name".into(), name.to_owned()),
            ("CopyImageTags".into(), "true".into()),
        ];
        if let Some(d) = description.filter(|d| !d.is_empty()) {
            p.push(("Description".into(), d.to_owned()));
        }
        if encrypted {
            p.push(("Encrypted".into(), "true".into()));
            if let Some(k) = kms_key_id.filter(|k| !k.is_empty()) {
                p.push(("KmsKeyId".into(), k.to_owned()));
            }
        }
        let body = self.call("CopyImage", &p).await?;
        let doc = xml::parse("CopyImage", &body)?;
        xml::find_text(&doc, "imageId").ok_or_else(|| xml::missing("CopyImage", "imageId"))
    }

    /// DeregisterImage.
    pub async fn deregister_image(&self, id: &str) -> Result<(), AwsError> {
        self.call("DeregisterImage", &[("ImageId".into(), id.to_owned())])
            .await
            .map(drop)
    }

    /// DeleteSnapshot.
    pub async fn delete_snapshot(&self, id: &str) -> Result<(), AwsError> {
        self.call("DeleteSnapshot", &[("SnapshotId".into(), id.to_owned())])
            .await
            .map(drop)
    }

    /// CreateTags on `resources`.
    pub async fn create_tags(
        &self,
        resources: &[String],
        tags: &[(String, String)],
    ) -> Result<(), AwsError> {
        if resources.is_empty() || tags.is_empty() {
            return Ok(());
        }
        let mut p = Vec::new();
        push_list(&mut p, "ResourceId", resources);
        push_tags(&mut p, "Tag", tags);
        self.call("CreateTags", &p).await.map(drop)
    }

    /// ModifyImageAttribute adding launch permissions for accounts, groups (`all`),
    /// organizations and organizational units.
    pub async fn add_launch_permissions(
        &self,
        image_id: &str,
        users: &[String],
        groups: &[String],
        org_arns: &[String],
        ou_arns: &[String],
    ) -> Result<(), AwsError> {
        let mut p = vec![("ImageId".to_owned(), image_id.to_owned())];
        let mut n = 0;
        for (key, values) in [
            ("UserId", users),
            ("Group", groups),
            ("OrganizationArn", org_arns),
            ("OrganizationalUnitArn", ou_arns),
        ] {
            for v in values {
                n += 1;
                p.push((format!("LaunchPermission.Add.{n}.{key}"), v.clone()));
            }
        }
        if n == 0 {
            return Ok(());
        }
        self.call("ModifyImageAttribute", &p).await.map(drop)
    }

    /// ModifyInstanceAttribute: enhanced networking (`ena`: ENA on or off; `sriov`:
    /// SR-IOV `simple`), on a stopped instance.
    pub async fn set_networking(
        &self,
        instance_id: &str,
        ena: Option<bool>,
        sriov: bool,
    ) -> Result<(), AwsError> {
        if sriov {
            self.call(
                "ModifyInstanceAttribute",
                &[
                    ("InstanceId".into(), instance_id.to_owned()),
                    ("SriovNetSupport.Value".into(), "simple".into()),
                ],
            )
            .await?;
        }
        if let Some(on) = ena {
            self.call(
                "ModifyInstanceAttribute",
                &[
                    ("InstanceId".into(), instance_id.to_owned()),
                    ("EnaSupport.Value".into(), on.to_string()),
                ],
            )
            .await?;
        }
        Ok(())
    }

    /// ModifyImageAttribute of one value attribute (`Description.Value`,
    /// `ImdsSupport.Value`) or product codes (`ProductCode.N`).
    pub async fn set_image_attribute(
        &self,
        image_id: &str,
        values: &[(String, String)],
    ) -> Result<(), AwsError> {
        let mut p = vec![("ImageId".to_owned(), image_id.to_owned())];
        p.extend(values.iter().cloned());
        self.call("ModifyImageAttribute", &p).await.map(drop)
    }

    /// EnableImageDeprecation at `at` (RFC 3339).
    pub async fn deprecate_image(&self, image_id: &str, at: &str) -> Result<(), AwsError> {
        self.call(
            "EnableImageDeprecation",
            &[
                ("ImageId".into(), image_id.to_owned()),
                ("DeprecateAt".into(), at.to_owned()),
            ],
        )
        .await
        .map(drop)
    }

    /// ModifySnapshotAttribute adding create-volume permissions.
    pub async fn add_volume_permissions(
        &self,
        snapshot_id: &str,
        users: &[String],
        groups: &[String],
    ) -> Result<(), AwsError> {
        if users.is_empty() && groups.is_empty() {
            return Ok(());
        }
        let mut p = vec![
            ("SnapshotId".to_owned(), snapshot_id.to_owned()),
            ("Attribute".to_owned(), "createVolumePermission".to_owned()),
            ("OperationType".to_owned(), "add".to_owned()),
        ];
        push_list(&mut p, "UserId", users);
        push_list(&mut p, "UserGroup", groups);
        self.call("ModifySnapshotAttribute", &p).await.map(drop)
    }
}

/// The newest of `images` by creation date (`most_recent`).
pub fn newest(images: &[Image]) -> Option<&Image> {
    images
        .iter()
        .max_by(|a, b| a.creation_date.cmp(&b.creation_date))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn images_are_read_from_describe_images() {
        let body = r#"<DescribeImagesResponse xmlns="http://ec2.amazonaws.com/doc/2016-11-15/">
<requestId>r</requestId><imagesSet><item><imageId>ami-1</imageId><imageState>available</imageState>
<name>ubuntu-1</name><creationDate>2024-01-01T00:00:00.000Z</creationDate><imageOwnerId>099720109477</imageOwnerId>
<rootDeviceName>/dev/sda1</rootDeviceName><blockDeviceMapping><item><deviceName>/dev/sda1</deviceName>
<ebs><snapshotId>snap-1</snapshotId><volumeSize>8</volumeSize><deleteOnTermination>true</deleteOnTermination></ebs></item>
<item><deviceName>/dev/sdb</deviceName><virtualName>ephemeral0</virtualName></item></blockDeviceMapping>
<tagSet><item><key>os</key><value>ubuntu</value></item></tagSet></item></imagesSet></DescribeImagesResponse>"#;
        let doc = roxmltree::Document::parse(body).unwrap();
        let images: Vec<Image> = items(doc.root_element(), "imagesSet")
            .into_iter()
            .map(parse_image)
            .collect();
        assert_eq!(images.len(), 1);
        let i = &images[0];
        assert_eq!(
            (i.id.as_str(), i.name.as_str(), i.state.as_str()),
            ("ami-1", "ubuntu-1", "available")
        );
        assert_eq!(i.block_devices[0].snapshot_id.as_deref(), Some("snap-1"));
        assert_eq!(i.block_devices[0].volume_size, Some(8));
        assert_eq!(
            i.block_devices[1].virtual_name.as_deref(),
            Some("ephemeral0")
        );
        assert_eq!(i.tags, [("os".to_owned(), "ubuntu".to_owned())]);
    }

    #[test]
    fn parameters_flatten_as_the_query_api_wants() {
        let mut p = Vec::new();
        push_filters(
            &mut p,
            &[Filter {
                name: "name".into(),
                values: vec!["a*".into(), "b".into()],
            }],
        );
        push_block_devices(
            &mut p,
            &[BlockDevice {
                device_name: "/dev/sda1".into(),
                volume_size: Some(20),
                volume_type: Some("gp3".into()),
                delete_on_termination: Some(true),
                ..Default::default()
            }],
        );
        let flat: Vec<String> = p.iter().map(|(k, v)| format!("{k}={v}")).collect();
        assert_eq!(
            flat,
            [
                "Filter.1.Name=name",
                "Filter.1.Value.1=a*",
                "Filter.1.Value.2=b",
                "BlockDeviceMapping.1.DeviceName=/dev/sda1",
                "BlockDeviceMapping.1.Ebs.VolumeSize=20",
                "BlockDeviceMapping.1.Ebs.VolumeType=gp3",
                "BlockDeviceMapping.1.Ebs.DeleteOnTermination=true",
            ]
        );
    }
}
