//! Parsing `virConnectGetDomainCapabilities` XML (`virsh domcapabilities`)
//! into what the platform checks compare against. Pure.

use roxmltree::{Document, Node};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CpuModelCap {
    pub name: String,
    /// `usable='yes'|'no'`; None when libvirt does not say.
    pub usable: Option<bool>,
    pub vendor: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TpmCaps {
    pub supported: bool,
    /// `<enum name='model'>`; None when absent.
    pub models: Option<Vec<String>>,
    /// `<enum name='backendModel'>`; None when absent (older libvirt).
    pub backends: Option<Vec<String>>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DomainCaps {
    pub emulator: Option<String>,
    pub virt_type: Option<String>,
    /// The canonical machine type (`pc` becomes `pc-i440fx-7.2`).
    pub machine: Option<String>,
    pub arch: Option<String>,
    pub vcpu_max: Option<u32>,
    /// `<os><enum name='firmware'>`: None when absent.
    pub firmware: Option<Vec<String>>,
    /// Firmware code files libvirt knows (`<loader><value>`).
    pub loaders: Vec<String>,
    /// `<loader><enum name='secure'>`: None when absent.
    pub loader_secure: Option<Vec<String>>,
    /// CPU modes with `supported='yes'`.
    pub cpu_modes: Vec<String>,
    /// `<mode name='host-model'><model>`: the CPU model the host looks like.
    pub host_model: Option<String>,
    pub host_vendor: Option<String>,
    /// `<mode name='custom'>` models.
    pub custom_models: Vec<CpuModelCap>,
    /// `<devices><tpm>`; None when libvirt does not report TPMs.
    pub tpm: Option<TpmCaps>,
}

impl DomainCaps {
    pub fn supports_cpu_mode(&self, mode: &str) -> bool {
        self.cpu_modes.iter().any(|m| m == mode)
    }

    pub fn custom_model(&self, name: &str) -> Option<&CpuModelCap> {
        self.custom_models.iter().find(|m| m.name == name)
    }
}

pub fn parse_domcaps(xml: &str) -> Result<DomainCaps, roxmltree::Error> {
    let doc = Document::parse(xml)?;
    let root = doc.root_element();
    let os = child(root, "os");
    let loader = os.and_then(|o| child(o, "loader"));
    let cpu = child(root, "cpu");
    let modes: Vec<Node> = cpu
        .into_iter()
        .flat_map(|c| c.children().filter(|n| n.has_tag_name("mode")))
        .collect();
    let mode = |name: &str| {
        modes
            .iter()
            .copied()
            .find(|m| m.attribute("name") == Some(name))
    };
    let host_model = mode("host-model");
    let tpm = child(root, "devices")
        .and_then(|d| child(d, "tpm"))
        .map(|t| TpmCaps {
            supported: t.attribute("supported") == Some("yes"),
            models: enum_values(t, "model"),
            backends: enum_values(t, "backendModel"),
        });
    Ok(DomainCaps {
        emulator: child(root, "path").and_then(text),
        virt_type: child(root, "domain").and_then(text),
        machine: child(root, "machine").and_then(text),
        arch: child(root, "arch").and_then(text),
        vcpu_max: child(root, "vcpu")
            .and_then(|v| v.attribute("max"))
            .and_then(|m| m.parse().ok()),
        firmware: os.and_then(|o| enum_values(o, "firmware")),
        loaders: loader
            .into_iter()
            .flat_map(|l| l.children().filter(|n| n.has_tag_name("value")))
            .filter_map(text)
            .collect(),
        loader_secure: loader.and_then(|l| enum_values(l, "secure")),
        cpu_modes: modes
            .iter()
            .filter(|m| m.attribute("supported") == Some("yes"))
            .filter_map(|m| m.attribute("name").map(str::to_string))
            .collect(),
        host_model: host_model.and_then(|m| child(m, "model")).and_then(text),
        host_vendor: host_model.and_then(|m| child(m, "vendor")).and_then(text),
        custom_models: mode("custom")
            .into_iter()
            .flat_map(|m| m.children().filter(|n| n.has_tag_name("model")))
            .filter_map(|m| {
                Some(CpuModelCap {
                    name: text(m)?,
                    usable: m.attribute("usable").map(|u| u == "yes"),
                    vendor: m.attribute("vendor").map(str::to_string),
                })
            })
            .collect(),
        tpm,
    })
}

/// `<enum name=NAME><value>…</value></enum>` directly under `node`.
fn enum_values(node: Node, name: &str) -> Option<Vec<String>> {
    node.children()
        .find(|n| n.has_tag_name("enum") && n.attribute("name") == Some(name))
        .map(|e| {
            e.children()
                .filter(|n| n.has_tag_name("value"))
                .filter_map(text)
                .collect()
        })
}

/// Direct child only.
fn child<'a, 'i>(node: Node<'a, 'i>, name: &str) -> Option<Node<'a, 'i>> {
    node.children().find(|n| n.has_tag_name(name))
}

/// An element's trimmed text, if it has any.
fn text(node: Node) -> Option<String> {
    node.text()
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .map(str::to_string)
}

#[cfg(test)]
mod tests {
    use super::*;

    const ALPHA: &str = include_str!("fixtures/domcaps-alpha-i440fx.xml");
    const BETA_Q35: &str = include_str!("fixtures/domcaps-beta-q35.xml");

    #[test]
    fn lab_alpha_i440fx() {
        let c = parse_domcaps(ALPHA).unwrap();
        assert_eq!(c.emulator.as_deref(), Some("/usr/bin/qemu-system-x86_64"));
        assert_eq!(c.virt_type.as_deref(), Some("kvm"));
        assert_eq!(c.machine.as_deref(), Some("pc-i440fx-7.2"));
        assert_eq!(c.arch.as_deref(), Some("x86_64"));
        assert_eq!(c.vcpu_max, Some(255));
        assert_eq!(c.firmware, Some(vec!["efi".to_string()]));
        assert_eq!(c.loaders, ["/usr/share/OVMF/OVMF_CODE_4M.fd"]);
        assert_eq!(c.loader_secure, Some(vec!["no".to_string()]));
        assert_eq!(
            c.cpu_modes,
            ["host-passthrough", "maximum", "host-model", "custom"]
        );
        assert_eq!(c.host_model.as_deref(), Some("kvm64"));
        assert_eq!(c.host_vendor.as_deref(), Some("AMD"));
        let qemu64 = c.custom_model("qemu64").unwrap();
        assert_eq!(qemu64.usable, Some(false));
        assert_eq!(c.custom_model("486").unwrap().usable, Some(true));
        assert!(c.custom_model("Nonexistent").is_none());
        let tpm = c.tpm.unwrap();
        assert!(tpm.supported);
        assert_eq!(
            tpm.models,
            Some(vec!["tpm-tis".to_string(), "tpm-crb".to_string()])
        );
        // The lab has no swtpm, so libvirt offers passthrough only.
        assert_eq!(tpm.backends, Some(vec!["passthrough".to_string()]));
    }

    #[test]
    fn lab_beta_q35_has_secure_boot_loaders() {
        let c = parse_domcaps(BETA_Q35).unwrap();
        assert_eq!(c.machine.as_deref(), Some("pc-q35-7.2"));
        assert!(
            c.loaders
                .iter()
                .any(|l| l.ends_with("OVMF_CODE_4M.secboot.fd"))
        );
        assert_eq!(
            c.loader_secure,
            Some(vec!["yes".to_string(), "no".to_string()])
        );
    }

    #[test]
    fn sparse_caps_parse_to_nones() {
        let c = parse_domcaps("<domainCapabilities><path>/x</path></domainCapabilities>").unwrap();
        assert_eq!(c.emulator.as_deref(), Some("/x"));
        assert_eq!(c.firmware, None);
        assert_eq!(c.tpm, None);
        assert!(c.cpu_modes.is_empty());
        assert!(parse_domcaps("<domainCapabilities>").is_err());
    }
}
