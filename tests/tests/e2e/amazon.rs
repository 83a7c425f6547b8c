//! The amazon-ebs builder and the amazon-ami data source against moto, a real EC2 API
//! emulator, through a proxy that injects AWS's failures. moto's instances are not
//! machines: the communicator is pointed at the test sshd with `ssh_host`, and the proxy
//! installs each key pair the build creates there, as an instance's cloud-init would.
//! After every build, Describe* calls show what is left.

use super::*;
use kiln_tests::aws::{values_of, Ec2Fault, Ec2Proxy, Ec2Rule, Moto};

/// Runs kiln with the AWS environment for `endpoint` (and `extra`), without the
/// caller's own AWS settings.
fn kiln_aws(dir: &Path, args: &[&str], endpoint: &str, extra: &[(&str, &str)]) -> Output {
    kiln_aws_command(dir, args, endpoint, extra)
        .output()
        .expect("running kiln")
}

/// The command [`kiln_aws`] runs.
fn kiln_aws_command(dir: &Path, args: &[&str], endpoint: &str, extra: &[(&str, &str)]) -> Command {
    let mut c = kiln_command(dir, args);
    c.env("HOME", dir);
    for (k, _) in std::env::vars() {
        if k.starts_with("AWS_") {
            c.env_remove(k);
        }
    }
    for (k, v) in Moto::env(endpoint) {
        c.env(k, v);
    }
    for (k, v) in extra {
        c.env(k, v);
    }
    c
}

/// moto, a test sshd and the proxy between them applying `rules`, with one source AMI
/// (`kiln-base-1`) in moto.
fn aws(rules: Vec<Ec2Rule>) -> (Moto, Sshd, Ec2Proxy) {
    let moto = Moto::start();
    let sshd = Sshd::start();
    let proxy = Ec2Proxy::start(&moto, rules, &sshd.dir.path().join("authorized_keys"));
    base_image(&moto, "kiln-base-1");
    (moto, sshd, proxy)
}

/// A source AMI of this account in moto (`name`), made from one of moto's own images.
fn base_image(moto: &Moto, name: &str) -> String {
    let images = moto.call("us-east-1", "DescribeImages", &[]);
    let any = values_of(&images, "imageId")
        .into_iter()
        .next()
        .expect("moto has images");
    let run = moto.call(
        "us-east-1",
        "RunInstances",
        &[
            ("ImageId", &any),
            ("MinCount", "1"),
            ("MaxCount", "1"),
            ("InstanceType", "t2.micro"),
        ],
    );
    let instance = values_of(&run, "instanceId").remove(0);
    let made = moto.call(
        "us-east-1",
        "CreateImage",
        &[("InstanceId", &instance), ("Name", name)],
    );
    moto.call(
        "us-east-1",
        "TerminateInstances",
        &[("InstanceId.1", &instance)],
    );
    values_of(&made, "imageId").remove(0)
}

/// What a build may leave: key pairs and security groups named `packer_*`, instances
/// not terminated.
fn leftovers(moto: &Moto, region: &str) -> Vec<String> {
    let mut out = Vec::new();
    for (action, field, what) in [
        ("DescribeKeyPairs", "keyName", "key pair"),
        ("DescribeSecurityGroups", "groupName", "security group"),
    ] {
        let answer = moto.call(region, action, &[]);
        out.extend(
            values_of(&answer, field)
                .into_iter()
                .filter(|name| name.starts_with("packer_"))
                .map(|name| format!("{what} {name}")),
        );
    }
    let instances = moto.call(region, "DescribeInstances", &[]);
    for item in instances.split("<instancesSet>").skip(1) {
        let id = values_of(item, "instanceId")
            .into_iter()
            .next()
            .unwrap_or_default();
        let state = values_of(item, "name")
            .into_iter()
            .next()
            .unwrap_or_default();
        if state != "terminated" {
            out.push(format!("instance {id} ({state})"));
        }
    }
    out
}

/// The snapshots of this account in `region`.
fn snapshots(moto: &Moto, region: &str) -> Vec<String> {
    let found = moto.call(region, "DescribeSnapshots", &[("Owner.1", "self")]);
    values_of(&found, "snapshotId")
}

/// The AMIs of this account named `name` in `region`.
fn amis_named(moto: &Moto, region: &str, name: &str) -> Vec<String> {
    let images = moto.call(
        region,
        "DescribeImages",
        &[
            ("Owner.1", "self"),
            ("Filter.1.Name", "name"),
            ("Filter.1.Value.1", name),
        ],
    );
    values_of(&images, "imageId")
}

fn template(endpoint: &str, sshd: &Sshd, body: &str, provisioner: &str) -> String {
    format!(
        "data \"amazon-ami\" \"base\" {{\n  custom_endpoint_ec2 = \"{endpoint}\"\n  filters = {{\n    name = \"kiln-base-*\"\n  }}\n  owners      = [\"self\"]\n  most_recent = true\n}}\n\n\
source \"amazon-ebs\" \"web\" {{\n  custom_endpoint_ec2 = \"{endpoint}\"\n  region        = \"us-east-1\"\n  instance_type = \"t2.micro\"\n  source_ami    = data.amazon-ami.base.id\n  ssh_username  = \"{user}\"\n  ssh_host      = \"127.0.0.1\"\n  ssh_port      = {port}\n  ssh_timeout   = \"20s\"\n  aws_polling {{\n    delay_seconds = 1\n    max_attempts  = 30\n  }}\n{body}}}\n\n\
build {{\n  sources = [\"source.amazon-ebs.web\"]\n  provisioner \"shell\" {{\n    inline = [\"{provisioner}\"]\n  }}\n}}\n",
        user = sshd.user,
        port = sshd.port,
    )
}

/// The whole EBS flow: the data source picks the newest base image, a temporary key
/// pair and security group are made, the instance runs and is provisioned over SSH,
/// stopped, imaged, copied to a second region, shared and tagged; then every temporary
/// resource is gone and the AMIs are there with their tags and permissions.
#[test]
fn an_amazon_ebs_build_makes_an_ami_in_two_regions_and_leaves_nothing_behind() {
    let (moto, sshd, proxy) = aws(vec![]);
    let newest = base_image(&moto, "kiln-base-2");
    let dir = tempfile::tempdir().unwrap();
    let marker = dir.path().join("provisioned");
    let body = "  ami_name      = \"kiln-web-{{isotime \\\"20060102\\\"}}\"\n  ami_description = \"made by kiln\"\n  ami_regions   = [\"us-west-2\"]\n  ami_users     = [\"111122223333\"]\n  tags = {\n    Name = \"kiln-web\"\n    Base = \"{{ .SourceAMIName }}\"\n  }\n  snapshot_tags = {\n    Kind = \"root\"\n  }\n  run_tags = {\n    Purpose = \"build\"\n  }\n";
    let hcl = template(
        &proxy.url,
        &sshd,
        body,
        &format!("echo provisioned > {}", marker.display()),
    );
    std::fs::write(dir.path().join("t.pkr.hcl"), hcl).unwrap();
    let out = kiln_aws(dir.path(), &["build", "t.pkr.hcl"], &proxy.url, &[]);
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stdout}\n{stderr}");
    assert_eq!(std::fs::read_to_string(&marker).unwrap(), "provisioned\n");
    assert!(
        stdout.contains(&format!("Found Image ID: {newest}")),
        "{stdout}"
    );
    assert!(
        stdout.contains("Creating temporary keypair: packer_"),
        "{stdout}"
    );
    assert!(
        stdout.contains("Creating temporary security group for this instance: packer_"),
        "{stdout}"
    );
    assert!(stdout.contains("AMIs were created:"), "{stdout}");
    let name = format!("kiln-web-{}", chrono_like_today());
    let east = amis_named(&moto, "us-east-1", &name);
    let west = amis_named(&moto, "us-west-2", &name);
    assert_eq!((east.len(), west.len()), (1, 1), "{stdout}");
    assert!(
        stdout.contains(&format!("us-east-1: {}", east[0])),
        "{stdout}"
    );
    assert!(
        stdout.contains(&format!("us-west-2: {}", west[0])),
        "{stdout}"
    );
    for (region, ami) in [("us-east-1", &east[0]), ("us-west-2", &west[0])] {
        let image = moto.call(region, "DescribeImages", &[("ImageId.1", ami)]);
        assert!(
            image.contains("<key>Name</key>") && image.contains("<value>kiln-web</value>"),
            "{region}: {image}"
        );
        assert!(
            image.contains("<key>Base</key>") && image.contains("<value>kiln-base-2</value>"),
            "Packer's build data in a tag: {image}"
        );
        let perms = moto.call(
            region,
            "DescribeImageAttribute",
            &[("ImageId", ami), ("Attribute", "launchPermission")],
        );
        assert!(perms.contains("111122223333"), "{region}: {perms}");
    }
    for region in ["us-east-1", "us-west-2"] {
        let left = leftovers(&moto, region);
        assert!(left.is_empty(), "{region}: {left:?}");
    }
    let actions = proxy.actions();
    for action in [
        "GetCallerIdentity",
        "CreateKeyPair",
        "CreateSecurityGroup",
        "AuthorizeSecurityGroupIngress",
        "RunInstances",
        "StopInstances",
        "CreateImage",
        "CopyImage",
        "ModifyImageAttribute",
        "CreateTags",
        "TerminateInstances",
        "DeleteKeyPair",
        "DeleteSecurityGroup",
    ] {
        assert!(
            actions.iter().any(|a| a == action),
            "{action} not called: {actions:?}"
        );
    }
    assert!(!stdout.contains("kiln-test-secret-key") && !stderr.contains("kiln-test-secret-key"));
}

/// Today as `{{isotime "20060102"}}` writes it (UTC).
fn chrono_like_today() -> String {
    let out = kiln_tests::command("date")
        .args(["-u", "+%Y%m%d"])
        .output()
        .unwrap();
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}

/// EC2's throttling and 5xx answers are retried with backoff; an AMI that never
/// becomes available ends the wait after aws_polling's attempts with a message naming
/// what was awaited, its last state and how to wait longer, and the failed build's AMI,
/// instance, key pair and security group are all removed.
#[test]
fn throttling_is_retried_and_a_stuck_ami_times_out_saying_what_and_is_removed() {
    let rules = vec![
        Ec2Rule {
            action: "RunInstances",
            fault: Ec2Fault::Throttle,
            times: 2,
        },
        Ec2Rule {
            action: "CreateKeyPair",
            fault: Ec2Fault::Unavailable,
            times: 1,
        },
        Ec2Rule {
            action: "DescribeImages",
            fault: Ec2Fault::ImagePending,
            times: 1000,
        },
    ];
    let (moto, sshd, proxy) = aws(rules);
    let snapshots_before = snapshots(&moto, "us-east-1");
    let dir = tempfile::tempdir().unwrap();
    let body = "  ami_name = \"kiln-stuck\"\n";
    let hcl = template(&proxy.url, &sshd, body, "true")
        .replace("max_attempts  = 30", "max_attempts  = 3");
    std::fs::write(dir.path().join("t.pkr.hcl"), hcl).unwrap();
    let out = kiln_aws(dir.path(), &["build", "t.pkr.hcl"], &proxy.url, &[]);
    let (stdout, stderr) = text(&out);
    assert!(!out.status.success(), "{stdout}\n{stderr}");
    assert!(
        stdout.contains("timed out waiting for AMI ami-") && stdout.contains("in us-east-1 to become available: 3 attempts 1s apart, its last state was \"pending\""),
        "{stdout}"
    );
    assert!(stdout.contains("aws_polling"), "{stdout}");
    assert!(
        stdout.contains("Deregistering the AMI and deleting associated snapshots"),
        "{stdout}"
    );
    let actions = proxy.actions();
    assert_eq!(
        actions.iter().filter(|a| *a == "RunInstances").count(),
        3,
        "{actions:?}"
    );
    assert_eq!(
        actions.iter().filter(|a| *a == "CreateKeyPair").count(),
        2,
        "{actions:?}"
    );
    assert!(amis_named(&moto, "us-east-1", "kiln-stuck").is_empty());
    assert_eq!(
        snapshots(&moto, "us-east-1"),
        snapshots_before,
        "the failed AMI's snapshots are deleted"
    );
    let left = leftovers(&moto, "us-east-1");
    assert!(left.is_empty(), "{left:?}");
}

/// An AMI name that exists fails before anything is launched, saying how to replace
/// it; with force_deregister the old AMI is deregistered and the build makes the new one.
#[test]
fn an_existing_ami_name_fails_early_unless_force_deregister() {
    let (moto, sshd, proxy) = aws(vec![]);
    let old = base_image(&moto, "kiln-taken");
    let dir = tempfile::tempdir().unwrap();
    let hcl = template(&proxy.url, &sshd, "  ami_name = \"kiln-taken\"\n", "true");
    std::fs::write(dir.path().join("t.pkr.hcl"), &hcl).unwrap();
    let out = kiln_aws(dir.path(), &["build", "t.pkr.hcl"], &proxy.url, &[]);
    let (stdout, _) = text(&out);
    assert!(!out.status.success(), "{stdout}");
    assert!(
        stdout.contains(&format!(
            "AMI Name: 'kiln-taken' is used by an existing AMI: {old}"
        )) && stdout.contains("force_deregister"),
        "{stdout}"
    );
    assert!(
        !proxy.actions().iter().any(|a| a == "RunInstances"),
        "{:?}",
        proxy.actions()
    );
    let forced = hcl.replace(
        "ami_name = \"kiln-taken\"",
        "ami_name = \"kiln-taken\"\n  force_deregister = true\n  force_delete_snapshot = true",
    );
    std::fs::write(dir.path().join("t.pkr.hcl"), forced).unwrap();
    let out = kiln_aws(dir.path(), &["build", "t.pkr.hcl"], &proxy.url, &[]);
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stdout}\n{stderr}");
    assert!(
        stdout.contains(&format!("Deregistered AMI kiln-taken, id: {old}")),
        "{stdout}"
    );
    let now = amis_named(&moto, "us-east-1", "kiln-taken");
    assert_eq!(now.len(), 1);
    assert_ne!(now[0], old);
    assert!(leftovers(&moto, "us-east-1").is_empty());
}

/// With -on-error=abort a failed provisioner leaves the instance, the security group
/// and the key pair for inspection, and the build names each of them.
#[test]
fn on_error_abort_leaves_the_resources_and_names_them() {
    let (moto, sshd, proxy) = aws(vec![]);
    let dir = tempfile::tempdir().unwrap();
    let hcl = template(&proxy.url, &sshd, "  ami_name = \"kiln-abort\"\n", "exit 3");
    std::fs::write(dir.path().join("t.pkr.hcl"), hcl).unwrap();
    let out = kiln_aws(
        dir.path(),
        &["build", "-on-error=abort", "t.pkr.hcl"],
        &proxy.url,
        &[],
    );
    let (stdout, stderr) = text(&out);
    assert!(!out.status.success(), "{stdout}\n{stderr}");
    let all = format!("{stdout}{stderr}");
    let left = leftovers(&moto, "us-east-1");
    assert_eq!(left.len(), 3, "{left:?}");
    assert!(all.contains("Left for inspection"), "{all}");
    for item in &left {
        let id = item
            .split_whitespace()
            .nth(if item.starts_with("instance") { 1 } else { 2 })
            .unwrap();
        if item.starts_with("security group") {
            // Named by its id in the message.
            continue;
        }
        assert!(all.contains(id), "{id} not named: {all}");
    }
    assert!(all.contains("security group sg-"), "{all}");
}

/// Credentials as AWS users keep them: a profile of a shared credentials file, and a
/// role assumed with it through STS; the data source runs only when validate is asked
/// to evaluate data sources, as Packer's validate.
#[test]
fn a_profile_and_an_assumed_role_reach_ec2_and_validate_defers_the_data_source() {
    let (_moto, sshd, proxy) = aws(vec![]);
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("creds"),
        "[dev]\naws_access_key_id = AKIDPROFILE\naws_secret_access_key = profile-secret-value\n",
    )
    .unwrap();
    let body = "  ami_name = \"kiln-profile\"\n";
    let hcl = template(&proxy.url, &sshd, body, "true").replacen(
        "  owners      = [\"self\"]\n",
        "  owners      = [\"self\"]\n  profile = \"dev\"\n  assume_role {\n    role_arn     = \"arn:aws:iam::123456789012:role/kiln-builder\"\n    session_name = \"kiln-test\"\n  }\n",
        1,
    );
    std::fs::write(dir.path().join("t.pkr.hcl"), hcl).unwrap();
    let creds = dir.path().join("creds");
    let creds = creds.to_str().unwrap();
    let env = [
        ("AWS_SHARED_CREDENTIALS_FILE", creds),
        ("AWS_ACCESS_KEY_ID", ""),
        ("AWS_SECRET_ACCESS_KEY", ""),
    ];
    let out = kiln_aws(dir.path(), &["validate", "t.pkr.hcl"], &proxy.url, &env);
    let (stdout, _) = text(&out);
    assert!(out.status.success(), "{stdout}");
    assert!(
        proxy.actions().is_empty(),
        "validate called AWS: {:?}",
        proxy.actions()
    );
    let out = kiln_aws(
        dir.path(),
        &["validate", "-evaluate-datasources", "t.pkr.hcl"],
        &proxy.url,
        &env,
    );
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stdout}\n{stderr}");
    let actions = proxy.actions();
    assert_eq!(
        actions,
        ["AssumeRole", "GetCallerIdentity", "DescribeImages"],
        "{actions:?}"
    );
    assert!(!stdout.contains("profile-secret-value") && !stderr.contains("profile-secret-value"));
    // A profile that does not exist: the error says where it looked.
    let missing = std::fs::read_to_string(dir.path().join("t.pkr.hcl"))
        .unwrap()
        .replace("profile = \"dev\"", "profile = \"nope\"");
    std::fs::write(dir.path().join("t.pkr.hcl"), missing).unwrap();
    let out = kiln_aws(
        dir.path(),
        &["validate", "-evaluate-datasources", "t.pkr.hcl"],
        &proxy.url,
        &env,
    );
    let (stdout, stderr) = text(&out);
    let all = format!("{stdout}{stderr}");
    assert!(!out.status.success());
    assert!(
        all.contains("t.pkr.hcl:1:")
            && all.contains("no credentials for profile \"nope\"")
            && all.contains(creds),
        "{all}"
    );
}

/// Ctrl-C while a provisioner runs: the build is cancelled and every step's cleanup
/// still runs, so the instance is terminated and the key pair and security group are
/// deleted.
#[test]
fn ctrl_c_during_provisioning_removes_every_temporary_resource() {
    let (moto, sshd, proxy) = aws(vec![]);
    let dir = tempfile::tempdir().unwrap();
    let marker = format!("7{}", std::process::id());
    let hcl = template(
        &proxy.url,
        &sshd,
        "  ami_name = \"kiln-cancelled\"\n  temporary_key_pair_type = \"ed25519\"\n",
        "echo started-sleeping; sleep MARK",
    )
    .replace("MARK", &marker);
    std::fs::write(dir.path().join("t.pkr.hcl"), hcl).unwrap();
    // Interrupted once the instance runs, with its key pair and security group made.
    let seen = interrupt_once(
        kiln_aws_command(dir.path(), &["build", "t.pkr.hcl"], &proxy.url, &[]),
        "started-sleeping",
        || leftovers(&moto, "us-east-1").len() == 3,
        "the instance, its key pair and its security group",
    );
    let out = seen.join("\n");
    for cleanup in [
        "Terminating the source AWS instance...",
        "Deleting temporary security group...",
        "Deleting temporary keypair...",
    ] {
        assert!(out.contains(cleanup), "{cleanup}\n{out}");
    }
    let left = leftovers(&moto, "us-east-1");
    assert!(left.is_empty(), "{left:?}\n{out}");
    assert!(amis_named(&moto, "us-east-1", "kiln-cancelled").is_empty());
    assert!(
        processes_with(&marker).is_empty() || {
            std::thread::sleep(Duration::from_secs(3));
            processes_with(&marker).is_empty()
        }
    );
}

/// A source that needs no SSH (`communicator = "none"`) against `endpoint`, with `body`.
fn machineless(endpoint: &str, body: &str) -> String {
    format!(
        "data \"amazon-ami\" \"base\" {{\n  custom_endpoint_ec2 = \"{endpoint}\"\n  filters = {{\n    name = \"kiln-base-*\"\n  }}\n  owners      = [\"self\"]\n  most_recent = true\n}}\n\n\
source \"amazon-ebs\" \"m\" {{\n  custom_endpoint_ec2 = \"{endpoint}\"\n  region        = \"us-east-1\"\n  instance_type = \"t3.micro\"\n  source_ami    = data.amazon-ami.base.id\n  communicator  = \"none\"\n  aws_polling {{\n    delay_seconds = 1\n    max_attempts  = 30\n  }}\n{body}}}\n\nbuild {{\n  sources = [\"source.amazon-ebs.m\"]\n}}\n"
    )
}

/// encrypt_boot: the AMI is made under a temporary name, copied encrypted into the
/// build region under ami_name, and the unencrypted one is removed with its snapshots;
/// the network comes from filters (the default VPC's subnets, its default group), and
/// the launch and AMI block device mappings are passed on.
#[test]
fn encrypt_boot_keeps_only_the_encrypted_copy_and_filters_pick_the_network() {
    let (moto, _sshd, proxy) = aws(vec![]);
    let snapshots_before = snapshots(&moto, "us-east-1");
    let dir = tempfile::tempdir().unwrap();
    let body = "  ami_name     = \"kiln-encrypted\"\n  encrypt_boot = true\n  kms_key_id   = \"alias/kiln\"\n\
  subnet_filter {\n    filters = {\n      \"default-for-az\" = \"true\"\n    }\n    most_free = true\n  }\n\
  security_group_filter {\n    filters = {\n      \"group-name\" = \"default\"\n    }\n  }\n\
  launch_block_device_mappings {\n    device_name           = \"/dev/sda1\"\n    volume_size           = 20\n    volume_type           = \"gp3\"\n    delete_on_termination = true\n  }\n\
  ami_block_device_mappings {\n    device_name  = \"/dev/sdb\"\n    virtual_name = \"ephemeral0\"\n  }\n";
    std::fs::write(dir.path().join("t.pkr.hcl"), machineless(&proxy.url, body)).unwrap();
    let out = kiln_aws(dir.path(), &["build", "t.pkr.hcl"], &proxy.url, &[]);
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stdout}\n{stderr}");
    assert!(stdout.contains("Found Subnet ID: subnet-"), "{stdout}");
    assert!(stdout.contains("Found Security Group(s): sg-"), "{stdout}");
    assert!(
        !stdout.contains("Creating temporary security group"),
        "{stdout}"
    );
    assert!(stdout.contains("Copying/Encrypting AMI"), "{stdout}");
    assert!(
        stdout.contains(
            "Deregistering the AMI and deleting unencrypted temporary AMIs and snapshots"
        ),
        "{stdout}"
    );
    let kept = amis_named(&moto, "us-east-1", "kiln-encrypted");
    assert_eq!(kept.len(), 1, "{stdout}");
    assert!(
        stdout.contains(&format!("us-east-1: {}", kept[0])),
        "{stdout}"
    );
    // Only the encrypted AMI of this build is left: the intermediary is gone.
    let mine = moto.call("us-east-1", "DescribeImages", &[("Owner.1", "self")]);
    let names = values_of(&mine, "name");
    assert!(
        !names.iter().any(|n| n.starts_with("packer-intermediary-")),
        "{names:?}"
    );
    let after = snapshots(&moto, "us-east-1");
    let image = moto.call("us-east-1", "DescribeImages", &[("ImageId.1", &kept[0])]);
    let own: Vec<String> = values_of(&image, "snapshotId");
    let extra: Vec<&String> = after
        .iter()
        .filter(|s| !snapshots_before.contains(s) && !own.contains(s))
        .collect();
    assert!(
        extra.is_empty(),
        "snapshots of the intermediary AMI are left: {extra:?}"
    );
    assert!(leftovers(&moto, "us-east-1").is_empty());
    let actions = proxy.actions();
    let run = actions.iter().filter(|a| *a == "RunInstances").count();
    assert_eq!(run, 1, "{actions:?}");
}

/// skip_create_ami: the instance is launched, provisioned and removed; no AMI is made
/// and the artifact says so.
#[test]
fn skip_create_ami_makes_no_ami() {
    let (moto, _sshd, proxy) = aws(vec![]);
    let dir = tempfile::tempdir().unwrap();
    let body = "  ami_name        = \"kiln-skipped\"\n  skip_create_ami = true\n  user_data       = \"#cloud-config\\n\"\n";
    std::fs::write(dir.path().join("t.pkr.hcl"), machineless(&proxy.url, body)).unwrap();
    let out = kiln_aws(dir.path(), &["build", "t.pkr.hcl"], &proxy.url, &[]);
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stdout}\n{stderr}");
    assert!(stdout.contains("Skipping AMI creation..."), "{stdout}");
    assert!(stdout.contains("No AMI was created"), "{stdout}");
    assert!(!proxy.actions().iter().any(|a| a == "CreateImage"));
    assert!(amis_named(&moto, "us-east-1", "kiln-skipped").is_empty());
    assert!(leftovers(&moto, "us-east-1").is_empty());
}

/// `ssh_keypair_name` with `ssh_private_key_file`: no temporary key pair is made; the
/// instance gets the named one (imported beforehand, as a user's own), the build logs in
/// with the file, and `user_data_file`, `subnet_id` with `associate_public_ip_address`
/// and `iam_instance_profile` reach RunInstances.
#[test]
fn an_existing_key_pair_and_user_data_file_are_used_as_named() {
    let (moto, sshd, proxy) = aws(vec![]);
    let public = std::fs::read_to_string(sshd.key.with_extension("pub")).unwrap();
    use base64::Engine as _;
    let material = base64::engine::general_purpose::STANDARD.encode(public.trim());
    moto.call(
        "us-east-1",
        "ImportKeyPair",
        &[("KeyName", "users-own"), ("PublicKeyMaterial", &material)],
    );
    kiln_tests::aws::call_service(
        &moto.url,
        "iam",
        "2010-05-08",
        "us-east-1",
        "CreateInstanceProfile",
        &[("InstanceProfileName", "builder")],
    );
    let subnets = moto.call("us-east-1", "DescribeSubnets", &[]);
    let subnet = values_of(&subnets, "subnetId").remove(0);
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "boot.yml",
        "#cloud-config\nruncmd: [\"true\"]\n",
    );
    let body = format!(
        "  ami_name = \"kiln-named-key\"\n  ssh_keypair_name = \"users-own\"\n  ssh_private_key_file = \"{}\"\n  user_data_file = \"boot.yml\"\n  subnet_id = \"{subnet}\"\n  associate_public_ip_address = true\n  iam_instance_profile = \"builder\"\n",
        sshd.key.display()
    );
    std::fs::write(
        dir.path().join("t.pkr.hcl"),
        template(
            &proxy.url,
            &sshd,
            &body,
            "echo logged-in-with-the-users-key",
        ),
    )
    .unwrap();
    let out = kiln_aws(dir.path(), &["build", "t.pkr.hcl"], &proxy.url, &[]);
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stdout}\n{stderr}");
    assert!(
        stdout.contains("Using existing SSH private key"),
        "{stdout}"
    );
    assert!(stdout.contains("logged-in-with-the-users-key"), "{stdout}");
    assert!(!proxy
        .actions()
        .iter()
        .any(|a| a == "CreateKeyPair" || a == "DeleteKeyPair"));
    // The user's key pair is theirs: still there.
    let keys = moto.call("us-east-1", "DescribeKeyPairs", &[]);
    assert!(
        values_of(&keys, "keyName").contains(&"users-own".to_owned()),
        "{keys}"
    );
    let instances = moto.call(
        "us-east-1",
        "DescribeInstances",
        &[
            ("Filter.1.Name", "key-name"),
            ("Filter.1.Value.1", "users-own"),
        ],
    );
    let ids = values_of(&instances, "instanceId");
    assert_eq!(ids.len(), 1, "{instances}");
    assert!(
        instances.contains(&format!("<subnetId>{subnet}</subnetId>")),
        "{instances}"
    );
    let user_data = moto.call(
        "us-east-1",
        "DescribeInstanceAttribute",
        &[("InstanceId", &ids[0]), ("Attribute", "userData")],
    );
    let encoded = values_of(&user_data, "value")
        .into_iter()
        .next()
        .unwrap_or_default();
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded.trim())
        .unwrap_or_default();
    assert_eq!(
        String::from_utf8_lossy(&decoded),
        "#cloud-config\nruncmd: [\"true\"]\n",
        "{user_data}"
    );
    assert!(leftovers(&moto, "us-east-1").is_empty());
}
