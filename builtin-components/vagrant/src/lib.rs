//! The `vagrant` post-processor: the input artifact as a Vagrant box (a gzipped tar of
//! `metadata.json`, a `Vagrantfile` and the provider's files), for the `libvirt`
//! provider from the qemu builder's qcow2 disk, and for `virtualbox` (an OVF and its
//! disk), `vmware_desktop` (a VMDK, with a `.vmx` Kiln writes) and `hyperv` (a VHDX,
//! with the XML machine configuration Kiln writes) from what `disk-convert` made, and `docker` (a box naming the image) from the docker
//! builder's commit. Packer's options: `output`, `compression_level`,
//! `include`, `vagrantfile_template`, `vagrantfile_template_generated`,
//! `provider_override`, `architecture`, and `override` per provider. The host streams
//! the files into the box; no disk byte enters the component.

use std::collections::BTreeMap;

use kiln_guest_sdk::artifacts::{self, ArchiveEntry, ArchiveFormat};
use kiln_guest_sdk::{
    ui, Artifact, ArtifactFile, BuildInfo, ConfigError, GrantRequest, PostProcessResult,
    PostProcessor, Step,
};
use serde::Deserialize;

const DEFAULT_OUTPUT: &str = "packer_{{.BuildName}}_{{.Provider}}.box";

/// What `override` may change for one provider.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
struct Overridable {
    output: Option<String>,
    compression_level: Option<i32>,
    include: Option<Vec<String>>,
    vagrantfile_template: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
struct Config {
    output: Option<String>,
    compression_level: Option<i32>,
    include: Vec<String>,
    vagrantfile_template: Option<String>,
    vagrantfile_template_generated: bool,
    provider_override: Option<String>,
    architecture: Option<String>,
    #[serde(rename = "override")]
    overrides: BTreeMap<String, Overridable>,
}

/// Vagrant's provider name for a name Packer's templates use.
fn provider_name(name: &str) -> Option<&'static str> {
    Some(match name {
        "libvirt" | "qemu" => "libvirt",
        "virtualbox" => "virtualbox",
        "vmware" | "vmware_desktop" => "vmware_desktop",
        "hyperv" => "hyperv",
        "docker" => "docker",
        _ => return None,
    })
}

/// The options in force for `provider`: the provider's `override` over the rest.
fn effective(config: &Config, provider: &str) -> Overridable {
    let o = config
        .overrides
        .iter()
        .find(|(k, _)| provider_name(k) == Some(provider))
        .map(|(_, v)| v.clone())
        .unwrap_or_default();
    Overridable {
        output: o.output.or_else(|| config.output.clone()),
        compression_level: o.compression_level.or(config.compression_level),
        include: o.include.or_else(|| Some(config.include.clone())),
        vagrantfile_template: o
            .vagrantfile_template
            .or_else(|| config.vagrantfile_template.clone()),
    }
}

struct Vagrant;

impl Step for Vagrant {
    type Config = Config;

    fn needs(config: &Config) -> GrantRequest {
        let mut outputs = vec![config.output.clone()];
        let mut reads: Vec<String> = config.include.clone();
        reads.extend(config.vagrantfile_template.iter().cloned());
        for o in config.overrides.values() {
            outputs.push(o.output.clone());
            reads.extend(o.include.iter().flatten().cloned());
            reads.extend(o.vagrantfile_template.iter().cloned());
        }
        let mut needs = kiln_guest_sdk::needs_write(
            outputs
                .iter()
                .map(|o| kiln_guest_sdk::output_location(o.as_deref().unwrap_or(DEFAULT_OUTPUT))),
        );
        needs.read = reads;
        needs
    }

    fn validate(config: &Config) -> Result<(), Vec<ConfigError>> {
        let mut errors = Vec::new();
        let levels = std::iter::once(config.compression_level)
            .chain(config.overrides.values().map(|o| o.compression_level));
        for level in levels.flatten() {
            if !(0..=9).contains(&level) {
                errors.push(ConfigError::on(
                    "compression_level",
                    format!("compression_level {level} is out of range: use 0 (no compression) through 9"),
                ));
            }
        }
        if let Some(p) = &config.provider_override {
            if provider_name(p).is_none() {
                errors.push(ConfigError::on(
                    "provider_override",
                    format!("provider_override {p:?}: Kiln makes boxes for libvirt, virtualbox, vmware, hyperv and docker"),
                ));
            }
        }
        for k in config.overrides.keys() {
            if provider_name(k).is_none() {
                errors.push(ConfigError::on(
                    "override",
                    format!("override {k:?} names no provider Kiln makes boxes for (libvirt, virtualbox, vmware, hyperv, docker)"),
                ));
            }
        }
        let output = config.output.as_deref().unwrap_or(DEFAULT_OUTPUT);
        if let Err(e) = artifacts::render_output(
            output,
            &[
                ("BuildName", "b"),
                ("BuilderType", "t"),
                ("Provider", "p"),
                ("ArtifactId", "a"),
            ],
        ) {
            errors.push(ConfigError::on("output", e));
        }
        if let (Some(t), false) = (
            &config.vagrantfile_template,
            config.vagrantfile_template_generated,
        ) {
            match kiln_guest_sdk::host::kind(t) {
                Ok(kiln_guest_sdk::host::PathKind::File) => {}
                _ => errors.push(ConfigError::on(
                    "vagrantfile_template",
                    format!("vagrantfile_template {t} does not exist (set vagrantfile_template_generated = true if an earlier step makes it)"),
                )),
            }
        }
        kiln_guest_sdk::errors_or_ok(errors)
    }
}

fn meta<'a>(input: &'a Artifact, key: &str) -> Option<&'a str> {
    input
        .metadata
        .iter()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.as_str())
}

fn ext(path: &str) -> &str {
    artifacts::base_name(path)
        .rsplit_once('.')
        .map_or("", |(_, e)| e)
}

/// The provider the input artifact makes a box for.
fn detect(input: &Artifact) -> Result<&'static str, String> {
    if input.builder_id == "transcend.qemu" {
        return Ok("libvirt");
    }
    if matches!(
        input.builder_id.as_str(),
        "packer.docker"
            | "packer.post-processor.docker-import"
            | "packer.post-processor.docker-tag"
    ) {
        return Ok("docker");
    }
    let has = |e: &str| input.files.iter().any(|f| ext(&f.path) == e);
    let mut found = Vec::new();
    if has("ovf") {
        found.push("virtualbox");
    }
    if has("vhdx") {
        found.push("hyperv");
    }
    if has("vmdk") && !has("ovf") {
        found.push("vmware_desktop");
    }
    if has("qcow2") {
        found.push("libvirt");
    }
    match found[..] {
        [one] => Ok(one),
        [] => Err(format!(
            "no Vagrant provider takes the artifact of {} (files: {}): give the vagrant post-processor a qemu build's artifact, or disk-convert's with formats ovf (virtualbox), vmdk (vmware), vhdx (hyperv) or qcow2 (libvirt)",
            input.builder_id,
            input.files.iter().map(|f| artifacts::base_name(&f.path)).collect::<Vec<_>>().join(", ")
        )),
        _ => Err(format!(
            "the input artifact holds disks for several providers ({}): set provider_override to choose one",
            found.join(", ")
        )),
    }
}

/// The disk file of `input` with extension `e` (the largest, if several).
fn file_with<'a>(input: &'a Artifact, e: &str) -> Option<&'a ArtifactFile> {
    input
        .files
        .iter()
        .filter(|f| ext(&f.path) == e)
        .max_by_key(|f| f.size)
}

/// A VMware machine description for one disk.
fn vmx(name: &str, disk: &str, cpus: &str, memory: &str, efi: bool) -> String {
    let mut s = format!(
        ".encoding = \"UTF-8\"\nconfig.version = \"8\"\nvirtualHW.version = \"14\"\ndisplayName = \"{name}\"\nguestOS = \"other5xlinux-64\"\nnumvcpus = \"{cpus}\"\nmemsize = \"{memory}\"\nscsi0.present = \"TRUE\"\nscsi0.virtualDev = \"lsilogic\"\nscsi0:0.present = \"TRUE\"\nscsi0:0.fileName = \"{disk}\"\nethernet0.present = \"TRUE\"\nethernet0.connectionType = \"nat\"\nethernet0.virtualDev = \"e1000\"\nethernet0.addressType = \"generated\"\n"
    );
    if efi {
        s.push_str("firmware = \"efi\"\n");
    }
    s
}

/// A Hyper-V machine configuration in the XML form (Hyper-V 2012's) that Vagrant's
/// Hyper-V provider reads to create the machine when a box has no `.vmcx`: generation
/// (`subtype`: 0 for BIOS, 1 for UEFI), name, processors, static memory, booting from
/// the hard drive on the first IDE (generation 1) or SCSI (generation 2) controller,
/// secure boot off (a Linux image is not signed for Microsoft's template).
fn hyperv_config(name: &str, disk: &str, cpus: &str, memory: &str, efi: bool) -> String {
    let (generation, controller) = if efi {
        (1, "  <scsi>\n    <ChannelInstanceGuid type=\"string\">{00000000-0000-0000-0000-000000000001}</ChannelInstanceGuid>\n")
    } else {
        (0, "  <ide>\n")
    };
    let close = if efi { "  </scsi>\n" } else { "  </ide>\n" };
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<configuration>\n  <properties>\n    <name type=\"string\">{name}</name>\n    <subtype type=\"integer\">{generation}</subtype>\n  </properties>\n  <settings>\n    <processors>\n      <count type=\"integer\">{cpus}</count>\n    </processors>\n    <memory>\n      <Bank>\n        <dynamic_memory_enabled type=\"bool\">False</dynamic_memory_enabled>\n        <limit type=\"integer\">{memory}</limit>\n        <reservation type=\"integer\">{memory}</reservation>\n        <size type=\"integer\">{memory}</size>\n      </Bank>\n    </memory>\n  </settings>\n  <boot>\n    <device0 type=\"string\">HardDrive</device0>\n  </boot>\n  <secure_boot_enabled type=\"bool\">False</secure_boot_enabled>\n{controller}    <controller0>\n      <drive0>\n        <pathname type=\"string\">Virtual Hard Disks\\{disk}</pathname>\n        <type type=\"string\">VHD</type>\n      </drive0>\n    </controller0>\n{close}</configuration>\n",
        name = artifacts::xml_text(name),
        disk = artifacts::xml_text(disk),
        cpus = artifacts::xml_text(cpus),
        memory = artifacts::xml_text(memory),
    )
}

impl PostProcessor for Vagrant {
    fn post_process(
        config: Config,
        build: &BuildInfo,
        input: Artifact,
    ) -> Result<PostProcessResult, String> {
        let provider = match &config.provider_override {
            Some(p) => provider_name(p).ok_or_else(|| format!("unknown provider {p:?}"))?,
            None => detect(&input)?,
        };
        let opts = effective(&config, provider);
        let build_name = artifacts::build_name(build).to_owned();
        let output = artifacts::render_output(
            opts.output.as_deref().unwrap_or(DEFAULT_OUTPUT),
            &[
                ("BuildName", &build_name),
                ("BuilderType", &build.source_type),
                ("Provider", provider),
                ("ArtifactId", &input.id),
            ],
        )?;
        let cpus = meta(&input, "cpus").unwrap_or("1");
        let memory = meta(&input, "memory").unwrap_or("512");
        let efi = meta(&input, "firmware") == Some("efi");
        let mut entries: Vec<ArchiveEntry> = Vec::new();
        let mut metadata = serde_json::Map::new();
        metadata.insert("provider".into(), provider.into());
        let provider_vagrantfile = match provider {
            "libvirt" => {
                let disk = file_with(&input, "qcow2")
                    .or_else(|| {
                        (meta(&input, "diskType") == Some("qcow2"))
                            .then(|| input.files.iter().max_by_key(|f| f.size))
                            .flatten()
                    })
                    .ok_or("a libvirt box needs a qcow2 disk: build with format = \"qcow2\", or convert with disk-convert (formats = [\"qcow2\"]) first")?;
                let bytes = meta(&input, "diskVirtualSize")
                    .and_then(|s| s.parse::<u64>().ok())
                    .unwrap_or(disk.size);
                let gib = bytes.div_ceil(1 << 30).max(1);
                metadata.insert("format".into(), "qcow2".into());
                metadata.insert("virtual_size".into(), gib.into());
                entries.push(ArchiveEntry {
                    source: disk.path.clone(),
                    name: "box.img".into(),
                });
                let driver = match meta(&input, "domainType") {
                    Some("kvm") => "kvm",
                    _ => "qemu",
                };
                format!(
                    "Vagrant.configure(\"2\") do |config|\n  config.vm.provider :libvirt do |libvirt|\n    libvirt.driver = \"{driver}\"\n    libvirt.cpus = {cpus}\n    libvirt.memory = {memory}\n  end\nend\n"
                )
            }
            "virtualbox" => {
                let ovf = file_with(&input, "ovf").ok_or(
                    "a virtualbox box needs an OVF descriptor and its disk: convert with disk-convert (formats = [\"ovf\"]) first",
                )?;
                let stem = artifacts::base_name(&ovf.path)
                    .strip_suffix(".ovf")
                    .unwrap_or_default()
                    .to_owned();
                for f in &input.files {
                    let name = artifacts::base_name(&f.path);
                    if name.starts_with(&stem) && matches!(ext(name), "ovf" | "mf" | "vmdk") {
                        entries.push(ArchiveEntry {
                            source: f.path.clone(),
                            name: name.to_owned(),
                        });
                    }
                }
                format!(
                    "Vagrant.configure(\"2\") do |config|\n  config.vm.provider :virtualbox do |vb|\n    vb.cpus = {cpus}\n    vb.memory = {memory}\n  end\nend\n"
                )
            }
            "vmware_desktop" => {
                let disk = file_with(&input, "vmdk").ok_or(
                    "a vmware box needs a VMDK disk: convert with disk-convert (formats = [\"vmdk\"]) first",
                )?;
                let disk_name = artifacts::base_name(&disk.path).to_owned();
                entries.push(ArchiveEntry {
                    source: disk.path.clone(),
                    name: disk_name.clone(),
                });
                let machine = vmx(&build_name, &disk_name, cpus, memory, efi);
                // The .vmx is written beside the box, packed, and listed in no artifact.
                let vmx_path = format!("{output}.vmx");
                artifacts::write_file(&vmx_path, machine.as_bytes()).map_err(|e| e.message)?;
                entries.push(ArchiveEntry {
                    source: vmx_path,
                    name: "box.vmx".into(),
                });
                "Vagrant.configure(\"2\") do |config|\nend\n".to_owned()
            }
            "docker" => {
                // A box that names the image; Vagrant's docker provider runs it.
                format!(
                    "Vagrant.configure(\"2\") do |config|\n  config.vm.provider \"docker\" do |docker, override|\n    docker.image = \"{}\"\n  end\nend\n",
                    input.id
                )
            }
            _ => {
                let disk = file_with(&input, "vhdx").ok_or(
                    "a hyperv box needs a VHDX disk: convert with disk-convert (formats = [\"vhdx\"]) first",
                )?;
                let disk_name = artifacts::base_name(&disk.path).to_owned();
                entries.push(ArchiveEntry {
                    source: disk.path.clone(),
                    name: format!("Virtual Hard Disks/{disk_name}"),
                });
                // The machine's configuration, written beside the box and packed.
                let machine = hyperv_config(&build_name, &disk_name, cpus, memory, efi);
                let config_path = format!("{output}.hyperv.xml");
                artifacts::write_file(&config_path, machine.as_bytes()).map_err(|e| e.message)?;
                entries.push(ArchiveEntry {
                    source: config_path,
                    name: format!("Virtual Machines/{}.xml", artifacts::base_name(&build_name)),
                });
                format!(
                    "Vagrant.configure(\"2\") do |config|\n  config.vm.provider :hyperv do |h|\n    h.cpus = {cpus}\n    h.memory = {memory}\n  end\nend\n"
                )
            }
        };
        if let Some(a) = &config.architecture {
            metadata.insert("architecture".into(), a.clone().into());
        }
        // Packer's Vagrantfile: the provider's part, then the template's own.
        let mut vagrantfile = format!(
            "# The contents below were provided by the Kiln vagrant post-processor\n\n{provider_vagrantfile}\n"
        );
        if let Some(t) = &opts.vagrantfile_template {
            let custom = artifacts::read_file(t)
                .map_err(|e| format!("vagrantfile_template {t}: {}", e.message))?;
            vagrantfile.push_str("\n# The contents below (if any) are custom contents provided by the\n# template during image build.\n");
            vagrantfile.push_str(&String::from_utf8_lossy(&custom));
        }
        let side = |name: &str| format!("{output}.{name}");
        let metadata_path = side("metadata.json");
        let vagrantfile_path = side("Vagrantfile");
        let json = serde_json::to_string(&serde_json::Value::Object(metadata))
            .map_err(|e| e.to_string())?;
        artifacts::write_file(&metadata_path, format!("{json}\n").as_bytes())
            .map_err(|e| e.message)?;
        artifacts::write_file(&vagrantfile_path, vagrantfile.as_bytes()).map_err(|e| e.message)?;
        entries.push(ArchiveEntry {
            source: metadata_path,
            name: "metadata.json".into(),
        });
        entries.push(ArchiveEntry {
            source: vagrantfile_path,
            name: "Vagrantfile".into(),
        });
        for path in opts.include.iter().flatten() {
            entries.push(ArchiveEntry {
                source: path.clone(),
                name: artifacts::base_name(path).to_owned(),
            });
        }
        entries.sort_by(|a, b| a.name.cmp(&b.name));
        if let Some(w) = entries.windows(2).find(|w| w[0].name == w[1].name) {
            return Err(format!(
                "two files are both named {:?} in the box",
                w[0].name
            ));
        }
        ui::say(&format!(
            "Creating a Vagrant box for the {provider} provider: {output}"
        ));
        let (format, level) = match opts.compression_level.unwrap_or(6) {
            0 => (ArchiveFormat::Tar, None),
            l => (ArchiveFormat::TarGz, Some(l)),
        };
        let size = artifacts::write_archive(&entries, &output, format, level)
            .map_err(|e| format!("writing {output}: {}", e.message))?;
        // The parts Kiln wrote beside the box are in it now.
        for e in &entries {
            if e.source.starts_with(&format!("{output}.")) {
                artifacts::remove_file(&e.source)
                    .map_err(|err| format!("{}: {}", e.source, err.message))?;
            }
        }
        Ok(PostProcessResult {
            artifact: Artifact {
                builder_id: "mitchellh.post-processor.vagrant".into(),
                id: format!("{provider}:{output}"),
                metadata: vec![
                    ("provider".into(), provider.into()),
                    (
                        "description".into(),
                        format!("'{provider}' provider box: {output}"),
                    ),
                ],
                files: vec![ArtifactFile {
                    path: output,
                    size,
                    sha256: String::new(),
                }],
            },
            keep_input: false,
        })
    }
}

kiln_guest_sdk::post_processor!(Vagrant);
