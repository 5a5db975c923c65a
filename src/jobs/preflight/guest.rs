//! What the platform checks need from the source domain's XML: hypervisor
//! type, arch, machine, emulator, CPU, firmware, TPM, memory, vCPUs. Pure.

use crate::libvirt::domain_xml::{child, text};
use roxmltree::{Document, Node};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GuestCpu {
    /// `custom`, `host-model`, `host-passthrough` or `maximum`.
    pub mode: String,
    pub model: Option<String>,
    /// `<model fallback=…>`: `allow` lets libvirt pick a close model.
    pub fallback: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GuestLoader {
    /// The firmware code file, when the XML names one.
    pub path: Option<String>,
    pub secure: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GuestTpm {
    pub model: String,
    /// `emulator` (swtpm), `passthrough` or `external`.
    pub backend: String,
    /// `<backend type='passthrough'><device path=…/>`.
    pub device_path: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GuestFacts {
    /// `<domain type=…>`: kvm, qemu, …
    pub virt_type: String,
    pub arch: Option<String>,
    pub machine: Option<String>,
    pub emulator: Option<String>,
    /// `<memory>`: the most the guest can have.
    pub memory_bytes: u64,
    pub vcpus: u32,
    /// None without a `<cpu>` element (hypervisor default).
    pub cpu: Option<GuestCpu>,
    /// `<os firmware=…>`: firmware auto-selection (`efi`, `bios`).
    pub firmware: Option<String>,
    /// `<os><firmware><feature enabled='yes' name=…/>`: required features.
    pub firmware_features: Vec<String>,
    pub loader: Option<GuestLoader>,
    pub nvram_template: Option<String>,
    pub tpms: Vec<GuestTpm>,
}

#[derive(Debug, thiserror::Error)]
pub enum GuestXmlError {
    #[error("malformed domain XML: {0}")]
    Parse(#[from] roxmltree::Error),
    #[error("not a domain XML (root <{0}>)")]
    NotADomain(String),
}

pub fn parse_guest(xml: &str) -> Result<GuestFacts, GuestXmlError> {
    let doc = Document::parse(xml)?;
    let root = doc.root_element();
    if !root.has_tag_name("domain") {
        return Err(GuestXmlError::NotADomain(root.tag_name().name().into()));
    }
    let os = child(root, "os");
    let os_type = os.and_then(|o| child(o, "type"));
    let devices = child(root, "devices");
    let loader = os.and_then(|o| child(o, "loader")).map(|l| GuestLoader {
        path: text(l),
        secure: l.attribute("secure") == Some("yes"),
    });
    let firmware_features = os
        .and_then(|o| child(o, "firmware"))
        .into_iter()
        .flat_map(|f| f.children().filter(|n| n.has_tag_name("feature")))
        .filter(|f| f.attribute("enabled") == Some("yes"))
        .filter_map(|f| f.attribute("name").map(str::to_string))
        .collect();
    let tpms = devices
        .into_iter()
        .flat_map(|d| d.children().filter(|n| n.has_tag_name("tpm")))
        .map(|t| {
            let backend = child(t, "backend");
            GuestTpm {
                model: t.attribute("model").unwrap_or("default").to_string(),
                backend: backend
                    .and_then(|b| b.attribute("type"))
                    .unwrap_or("emulator")
                    .to_string(),
                device_path: backend
                    .and_then(|b| child(b, "device"))
                    .and_then(|d| d.attribute("path"))
                    .map(str::to_string),
            }
        })
        .collect();
    Ok(GuestFacts {
        virt_type: root.attribute("type").unwrap_or("qemu").to_string(),
        arch: os_type
            .and_then(|t| t.attribute("arch"))
            .map(str::to_string),
        machine: os_type
            .and_then(|t| t.attribute("machine"))
            .map(str::to_string),
        emulator: devices.and_then(|d| child(d, "emulator")).and_then(text),
        memory_bytes: child(root, "memory").map_or(0, memory_bytes),
        vcpus: child(root, "vcpu")
            .and_then(text)
            .and_then(|t| t.parse().ok())
            .unwrap_or(1),
        cpu: child(root, "cpu").and_then(parse_cpu),
        firmware: os.and_then(|o| o.attribute("firmware")).map(str::to_string),
        firmware_features,
        loader,
        nvram_template: os
            .and_then(|o| child(o, "nvram"))
            .and_then(|n| n.attribute("template"))
            .map(str::to_string),
        tpms,
    })
}

/// A `<cpu>` that only sets topology or features, without mode or model,
/// leaves the model to the hypervisor: nothing to check.
fn parse_cpu(cpu: Node) -> Option<GuestCpu> {
    let model = child(cpu, "model");
    let name = model.and_then(text);
    let mode = match (cpu.attribute("mode"), &name) {
        (Some(m), _) => m.to_string(),
        (None, Some(_)) => "custom".to_string(),
        (None, None) => return None,
    };
    Some(GuestCpu {
        mode,
        model: name,
        fallback: model
            .and_then(|m| m.attribute("fallback"))
            .map(str::to_string),
    })
}

/// `<memory unit=…>N</memory>` in bytes (libvirt's units; KiB by default).
fn memory_bytes(node: Node) -> u64 {
    let value: u64 = text(node).and_then(|t| t.parse().ok()).unwrap_or(0);
    let unit = node.attribute("unit").unwrap_or("KiB");
    let mult: u64 = match unit {
        "b" | "bytes" => 1,
        "KB" => 1000,
        "k" | "KiB" => 1 << 10,
        "MB" => 1000_u64.pow(2),
        "M" | "MiB" => 1 << 20,
        "GB" => 1000_u64.pow(3),
        "G" | "GiB" => 1 << 30,
        "TB" => 1000_u64.pow(4),
        "T" | "TiB" => 1 << 40,
        _ => 1 << 10,
    };
    value.saturating_mul(mult)
}

#[cfg(test)]
mod tests {
    use super::*;

    const WEB01: &str = include_str!("fixtures/web01-live.xml");
    const UEFI: &str = include_str!("../../../tests/data/domains/uefi-tpm.xml");

    #[test]
    fn lab_web01() {
        let g = parse_guest(WEB01).unwrap();
        assert_eq!(g.virt_type, "kvm");
        assert_eq!(g.arch.as_deref(), Some("x86_64"));
        assert_eq!(g.machine.as_deref(), Some("pc-i440fx-7.2"));
        assert_eq!(g.emulator.as_deref(), Some("/usr/bin/qemu-system-x86_64"));
        assert_eq!(g.memory_bytes, 64 << 20);
        assert_eq!(g.vcpus, 1);
        assert_eq!(
            g.cpu,
            Some(GuestCpu {
                mode: "custom".into(),
                model: Some("qemu64".into()),
                fallback: Some("forbid".into())
            })
        );
        assert_eq!(g.firmware, None);
        assert_eq!(g.loader, None);
        assert!(g.tpms.is_empty());
    }

    #[test]
    fn uefi_tpm_guest() {
        let g = parse_guest(UEFI).unwrap();
        assert_eq!(g.memory_bytes, 4 << 30);
        assert_eq!(g.vcpus, 2);
        assert_eq!(g.cpu.unwrap().mode, "host-passthrough");
        assert_eq!(
            g.loader,
            Some(GuestLoader {
                path: Some("/usr/share/OVMF/OVMF_CODE_4M.ms.fd".into()),
                secure: true
            })
        );
        assert_eq!(
            g.nvram_template.as_deref(),
            Some("/usr/share/OVMF/OVMF_VARS_4M.ms.fd")
        );
        assert_eq!(
            g.tpms,
            [GuestTpm {
                model: "tpm-crb".into(),
                backend: "emulator".into(),
                device_path: None
            }]
        );
    }

    #[test]
    fn firmware_autoselection_and_units() {
        let xml = "<domain type='kvm'><memory unit='GiB'>2</memory><vcpu>4</vcpu>\
            <os firmware='efi'><type arch='aarch64' machine='virt'>hvm</type>\
            <firmware><feature enabled='yes' name='secure-boot'/>\
            <feature enabled='no' name='enrolled-keys'/></firmware></os>\
            <cpu><topology sockets='1' cores='2' threads='1'/></cpu>\
            <devices><tpm model='tpm-tis'><backend type='passthrough'>\
            <device path='/dev/tpm0'/></backend></tpm></devices></domain>";
        let g = parse_guest(xml).unwrap();
        assert_eq!(g.memory_bytes, 2 << 30);
        assert_eq!(g.vcpus, 4);
        assert_eq!(g.firmware.as_deref(), Some("efi"));
        assert_eq!(g.firmware_features, ["secure-boot"]);
        assert_eq!(g.cpu, None, "topology only");
        assert_eq!(g.tpms[0].device_path.as_deref(), Some("/dev/tpm0"));
        assert_eq!(g.emulator, None);
    }

    #[test]
    fn garbage_is_an_error() {
        assert!(parse_guest("<domain>").is_err());
        assert!(matches!(
            parse_guest("<pool/>"),
            Err(GuestXmlError::NotADomain(_))
        ));
    }
}
