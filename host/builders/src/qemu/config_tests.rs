//! The qemu source's options: defaults and checks.
use super::*;

fn build(json: serde_json::Value) -> Result<QemuBuilder, FieldError> {
    let serde_json::Value::Object(map) = json else {
        unreachable!()
    };
    QemuBuilder::new(&map, Path::new("/work"), "img")
}

fn minimal() -> serde_json::Value {
    serde_json::json!({
        "iso_url": "http://example.invalid/x.iso",
        "iso_checksum": "none",
        "ssh_username": "root",
        "ssh_password": "pw",
    })
}

#[test]
fn packer_defaults() {
    let b = build(minimal()).unwrap();
    assert_eq!(b.format, "qcow2");
    assert_eq!(b.vm_name, "packer-img");
    assert_eq!(b.output_directory, Path::new("/work/output-img"));
    assert_eq!(b.disk_interface, "virtio");
    assert_eq!(b.disk_cache, "writeback");
    assert_eq!(b.disk_discard, "ignore");
    assert_eq!(b.machine_type, "pc");
    assert_eq!((b.smp.as_str(), b.memory), ("1", 512));
    assert_eq!(b.net_device, "virtio-net");
    assert_eq!((b.host_port_min, b.host_port_max), (2222, 4444));
    assert_eq!((b.http_port_min, b.http_port_max), (8000, 9000));
    assert_eq!(b.boot_wait, Duration::from_secs(10));
    assert_eq!(b.boot_key_interval, Duration::from_millis(100));
    assert_eq!(b.shutdown_timeout, Duration::from_secs(300));
    assert_eq!(b.accelerator, None, "unset: probed at build time");
    assert_eq!(b.ssh.as_ref().unwrap().host, "127.0.0.1");
    assert_eq!(b.guest_ssh_port, 22);
}

#[test]
fn disk_sizes() {
    assert_eq!(
        disk_size_text(Size::Number(40960)).as_deref(),
        Some("40960M")
    );
    assert_eq!(
        disk_size_text(Size::Text("20G".into())).as_deref(),
        Some("20G")
    );
    assert_eq!(
        disk_size_text(Size::Text("512".into())).as_deref(),
        Some("512M")
    );
    assert_eq!(
        disk_size_text(Size::Text("10GB".into())).as_deref(),
        Some("10G")
    );
    assert_eq!(disk_size_text(Size::Text("big".into())), None);
}

#[test]
fn bad_options_name_the_field() {
    let cases = [
        (serde_json::json!({"format": "vmdk3"}), "format"),
        (serde_json::json!({"accelerator": "fast"}), "accelerator"),
        (serde_json::json!({"disk_size": "lots"}), "disk_size"),
        (
            serde_json::json!({"use_backing_file": true}),
            "use_backing_file",
        ),
        (serde_json::json!({"iso_checksum": null}), "iso_checksum"),
        (
            serde_json::json!({"host_port_min": 5000, "host_port_max": 4000}),
            "host_port_min",
        ),
        (serde_json::json!({"communicator": "winrm"}), "communicator"),
        (
            serde_json::json!({"http_content": {"/a": "b"}, "http_directory": "."}),
            "http_content",
        ),
    ];
    for (patch, field) in cases {
        let mut j = minimal();
        for (k, v) in patch.as_object().unwrap() {
            if v.is_null() {
                j.as_object_mut().unwrap().remove(k);
            } else {
                j[k] = v.clone();
            }
        }
        let err = build(j).unwrap_err();
        assert_eq!(err.field.as_deref(), Some(field), "{err:?}");
    }
    let err = build(
        serde_json::json!({"iso_checksum": "none", "ssh_username": "u", "ssh_password": "p"}),
    )
    .unwrap_err();
    assert_eq!(err.field.as_deref(), Some("iso_url"));
}

#[test]
fn packers_other_options_are_taken() {
    let mut j = minimal();
    for (k, v) in serde_json::json!({
        "sockets": 1, "cores": 2, "threads": 2, "cpu_model": "qemu64",
        "boot_steps": [["<enter>", "press enter"], ["root<enter>"]],
        "http_bind_address": "",
        "floppy_files": ["a.cfg"], "floppy_label": "SEED",
        "cd_files": ["meta-data"], "cd_content": {"user-data": "x"}, "cd_label": "cidata",
        "vtpm": true, "qemu_img_args": {"create": ["-o", "preallocation=metadata"]},
        "disk_additional_size": ["64M", 128], "use_default_display": true,
        "iso_target_path": "isos/", "iso_skip_cache": true, "disable_vnc": true,
        "ssh_host_port_min": 3000, "ssh_host_port_max": 3100,
    })
    .as_object()
    .unwrap()
    {
        j[k] = v.clone();
    }
    let b = build(j).unwrap();
    assert_eq!(b.smp, "cpus=4,sockets=1,cores=2,threads=2");
    assert_eq!(b.cpu_model.as_deref(), Some("qemu64"));
    let steps: Vec<(&str, Option<&str>)> = b
        .boot_command
        .iter()
        .map(|s| (s.keys.as_str(), s.description.as_deref()))
        .collect();
    assert_eq!(
        steps,
        [("<enter>", Some("press enter")), ("root<enter>", None)]
    );
    assert_eq!(b.http_bind_address, IpAddr::from([0, 0, 0, 0]));
    assert_eq!(b.floppy.files, ["a.cfg"]);
    assert_eq!(b.cd.label.as_deref(), Some("cidata"));
    assert_eq!(b.vtpm.as_ref().unwrap().device, "tpm-tis");
    assert_eq!(b.qemu_img_args.create, ["-o", "preallocation=metadata"]);
    assert_eq!(b.additional_disks, ["64M", "128M"]);
    assert_eq!(b.display, None);
    assert_eq!(b.iso_target, Some(PathBuf::from("/work/isos/x.iso")));
    assert!(b.iso_skip_cache && b.disable_vnc);
    assert_eq!((b.host_port_min, b.host_port_max), (3000, 3100));
}

#[test]
fn options_kiln_cannot_honour_are_refused_saying_why() {
    for (patch, field, why) in [
        (
            serde_json::json!({"net_bridge": "br0"}),
            "net_bridge",
            "user networking",
        ),
        (
            serde_json::json!({"vnc_use_password": true}),
            "vnc_use_password",
            "SSH tunnel",
        ),
        (
            serde_json::json!({"skip_nat_mapping": true}),
            "skip_nat_mapping",
            "mapped port",
        ),
        (
            serde_json::json!({"boot_command": ["a"], "boot_steps": [["b"]]}),
            "boot_steps",
            "not both",
        ),
        (
            serde_json::json!({"http_network_protocol": "tcp6"}),
            "http_network_protocol",
            "IPv4",
        ),
    ] {
        let mut j = minimal();
        for (k, v) in patch.as_object().unwrap() {
            j[k] = v.clone();
        }
        let err = build(j).unwrap_err();
        assert_eq!(err.field.as_deref(), Some(field), "{err:?}");
        assert!(err.to_string().contains(why), "{err}");
    }
}

#[test]
fn a_negative_boot_wait_means_no_wait_and_zero_means_packers_default() {
    for (value, wait) in [
        (serde_json::json!("-1s"), Duration::ZERO),
        (serde_json::json!(-1), Duration::ZERO),
        (serde_json::json!("0s"), Duration::from_secs(10)),
        (serde_json::json!("3s"), Duration::from_secs(3)),
    ] {
        let mut j = minimal();
        j["boot_wait"] = value.clone();
        assert_eq!(build(j).unwrap().boot_wait, wait, "{value}");
    }
    let mut j = minimal();
    j["boot_wait"] = serde_json::json!("-soon");
    assert_eq!(build(j).unwrap_err().field.as_deref(), Some("boot_wait"));
}

#[test]
fn another_hypervisors_format_runs_on_qcow2_and_is_converted_to_it() {
    for f in ["vmdk", "vdi", "vhdx", "vpc"] {
        let mut j = minimal();
        j["format"] = serde_json::json!(f);
        let b = build(j).unwrap();
        assert_eq!(
            (b.format.as_str(), b.output_format.as_deref()),
            ("qcow2", Some(f))
        );
        assert!(crate::qemu::disk::wants_conversion(&b));
    }
    let mut j = minimal();
    j["format"] = serde_json::json!("vdi");
    j["use_backing_file"] = serde_json::json!(true);
    j["disk_image"] = serde_json::json!(true);
    assert_eq!(
        build(j).unwrap_err().field.as_deref(),
        Some("use_backing_file")
    );
}
