//! An OVF descriptor (1.0, or 2.0) for one virtual machine with one disk, as VirtualBox
//! and VMware import it, and its manifest.

use kiln_guest_sdk::artifacts::xml_text;

/// What the descriptor describes.
pub struct Machine<'a> {
    /// The OVF version: "1.0" or "2.0".
    pub version: &'a str,
    pub name: &'a str,
    pub cpus: u32,
    /// MiB.
    pub memory: u64,
    pub efi: bool,
    /// The disk file's name in the appliance.
    pub disk_file: &'a str,
    /// Its size in bytes.
    pub disk_file_size: u64,
    /// The disk's virtual size in bytes.
    pub capacity: u64,
}

/// One `<Item>` of the virtual hardware: its rasd elements, which the schema wants in
/// alphabetical order (callers pass them so).
fn item(fields: &[(&str, String)]) -> String {
    let mut s = String::from("      <Item>\n");
    for (k, v) in fields {
        s.push_str(&format!("        <rasd:{k}>{}</rasd:{k}>\n", xml_text(v)));
    }
    s.push_str("      </Item>\n");
    s
}

/// The descriptor.
pub fn descriptor(m: &Machine<'_>) -> String {
    let name = xml_text(m.name);
    let mut hw = String::new();
    hw.push_str(&item(&[
        ("AllocationUnits", "hertz * 10^6".into()),
        ("Description", "Number of Virtual CPUs".into()),
        ("ElementName", format!("{} virtual CPU(s)", m.cpus)),
        ("InstanceID", "1".into()),
        ("ResourceType", "3".into()),
        ("VirtualQuantity", m.cpus.to_string()),
    ]));
    hw.push_str(&item(&[
        ("AllocationUnits", "byte * 2^20".into()),
        ("Description", "Memory Size".into()),
        ("ElementName", format!("{} MB of memory", m.memory)),
        ("InstanceID", "2".into()),
        ("ResourceType", "4".into()),
        ("VirtualQuantity", m.memory.to_string()),
    ]));
    hw.push_str(&item(&[
        ("Address", "0".into()),
        ("Description", "SCSI Controller".into()),
        ("ElementName", "SCSI Controller 0".into()),
        ("InstanceID", "3".into()),
        ("ResourceSubType", "lsilogic".into()),
        ("ResourceType", "6".into()),
    ]));
    hw.push_str(&item(&[
        ("AddressOnParent", "0".into()),
        ("ElementName", "Hard Disk 1".into()),
        ("HostResource", "ovf:/disk/vmdisk1".into()),
        ("InstanceID", "4".into()),
        ("Parent", "3".into()),
        ("ResourceType", "17".into()),
    ]));
    hw.push_str(&item(&[
        ("AddressOnParent", "0".into()),
        ("AutomaticAllocation", "true".into()),
        ("Connection", "NAT".into()),
        ("Description", "E1000 ethernet adapter on \"NAT\"".into()),
        ("ElementName", "Network adapter 1".into()),
        ("InstanceID", "5".into()),
        ("ResourceSubType", "E1000".into()),
        ("ResourceType", "10".into()),
    ]));
    if m.efi {
        hw.push_str(
            "      <vmw:Config ovf:required=\"false\" vmw:key=\"firmware\" vmw:value=\"efi\"/>\n",
        );
    }
    format!(
        r#"<?xml version="1.0" encoding="UTF-8"?>
<Envelope ovf:version="{version}" xml:lang="en-US" xmlns="http://schemas.dmtf.org/ovf/envelope/{major}" xmlns:ovf="http://schemas.dmtf.org/ovf/envelope/{major}" xmlns:rasd="http://schemas.dmtf.org/wbem/wscim/1/cim-schema/2/CIM_ResourceAllocationSettingData" xmlns:vssd="http://schemas.dmtf.org/wbem/wscim/1/cim-schema/2/CIM_VirtualSystemSettingData" xmlns:vmw="http://www.vmware.com/schema/ovf" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">
  <References>
    <File ovf:href="{file}" ovf:id="file1" ovf:size="{file_size}"/>
  </References>
  <DiskSection>
    <Info>Virtual disk information</Info>
    <Disk ovf:capacity="{capacity}" ovf:capacityAllocationUnits="byte" ovf:diskId="vmdisk1" ovf:fileRef="file1" ovf:format="http://www.vmware.com/interfaces/specifications/vmdk.html#streamOptimized"/>
  </DiskSection>
  <NetworkSection>
    <Info>The list of logical networks</Info>
    <Network ovf:name="NAT">
      <Description>The NAT network</Description>
    </Network>
  </NetworkSection>
  <VirtualSystem ovf:id="{name}">
    <Info>A virtual machine</Info>
    <Name>{name}</Name>
    <OperatingSystemSection ovf:id="101">
      <Info>The kind of installed guest operating system</Info>
      <Description>Linux (64-bit)</Description>
    </OperatingSystemSection>
    <VirtualHardwareSection>
      <Info>Virtual hardware requirements</Info>
      <System>
        <vssd:ElementName>Virtual Hardware Family</vssd:ElementName>
        <vssd:InstanceID>0</vssd:InstanceID>
        <vssd:VirtualSystemIdentifier>{name}</vssd:VirtualSystemIdentifier>
        <vssd:VirtualSystemType>vmx-07 virtualbox-2.2</vssd:VirtualSystemType>
      </System>
{hw}    </VirtualHardwareSection>
  </VirtualSystem>
</Envelope>
"#,
        version = xml_text(m.version),
        major = if m.version == "2.0" { 2 } else { 1 },
        file = xml_text(m.disk_file),
        file_size = m.disk_file_size,
        capacity = m.capacity,
    )
}

/// The manifest: `SHA256(name)= hex` for each file, in order.
pub fn manifest(entries: &[(&str, &str)]) -> String {
    entries
        .iter()
        .map(|(name, hex)| format!("SHA256({name})= {hex}\n"))
        .collect()
}
