//! Reading a [`DomainDef`] out of domain XML. Lenient: what is missing gets
//! libvirt's default or None; only a document that is not XML, or not a
//! domain, is an error. Callers that need more (a name, unique disk
//! targets) check the result.

use super::{Cpu, Disk, DiskSource, DomainDef, DomainXmlError, Loader, Nvram, Tpm};
use crate::model::NicInfo;
use crate::xml::{Document, Element};

pub fn parse_domain(xml: &str) -> Result<DomainDef, DomainXmlError> {
    read_domain(&Document::parse(xml)?.root)
}

/// The model of a domain whose XML is already parsed (the rewrite's tree).
pub fn read_domain(root: &Element) -> Result<DomainDef, DomainXmlError> {
    if root.name() != "domain" {
        return Err(DomainXmlError::NotADomain(root.name().to_string()));
    }
    let os = root.child("os");
    let os_type = os.and_then(|o| o.child("type"));
    let devices = root.child("devices");
    // Direct children only, here and below: a disk's <backingStore> has a
    // <source> of its own.
    let device_list = |kind: &'static str| {
        devices
            .into_iter()
            .flat_map(move |d| d.children_named(kind))
    };
    Ok(DomainDef {
        virt_type: root.attr("type").unwrap_or_else(|| "qemu".into()),
        name: root.child("name").map(Element::text),
        uuid: root.child("uuid").map(|u| u.text().trim().to_lowercase()),
        memory_bytes: root.child("memory").map_or(0, memory_bytes),
        vcpus: root
            .child("vcpu")
            .and_then(text)
            .and_then(|t| t.parse().ok())
            .unwrap_or(1),
        arch: os_type.and_then(|t| t.attr("arch")),
        machine: os_type.and_then(|t| t.attr("machine")),
        firmware: os.and_then(|o| o.attr("firmware")),
        firmware_features: os
            .and_then(|o| o.child("firmware"))
            .into_iter()
            .flat_map(|f| f.children_named("feature"))
            .filter(|f| f.attr("enabled").as_deref() == Some("yes"))
            .filter_map(|f| f.attr("name"))
            .collect(),
        loader: os.and_then(|o| o.child("loader")).map(|l| Loader {
            path: text(l),
            secure: l.attr("secure").as_deref() == Some("yes"),
        }),
        nvram: os.and_then(|o| o.child("nvram")).map(nvram),
        emulator: devices.and_then(|d| d.child("emulator")).and_then(text),
        cpu: root.child("cpu").and_then(cpu),
        disks: device_list("disk").map(disk).collect(),
        nics: device_list("interface").map(nic).collect(),
        tpms: device_list("tpm").map(tpm).collect(),
        hostdevs: device_list("hostdev").count(),
        dac_label: root
            .children_named("seclabel")
            .find(|s| s.attr("model").as_deref() == Some("dac"))
            .and_then(|s| s.child("label"))
            .map(|l| l.text().trim().to_string()),
    })
}

/// An element's trimmed text, if it has any.
fn text(el: &Element) -> Option<String> {
    Some(el.text().trim().to_string()).filter(|t| !t.is_empty())
}

fn disk(disk: &Element) -> Disk {
    let device = disk.attr("device").unwrap_or_else(|| "disk".into());
    let source = disk.child("source");
    let readonly_marked = disk.child("readonly").is_some();
    Disk {
        target: disk
            .child("target")
            .and_then(|t| t.attr("dev"))
            .unwrap_or_default(),
        source: disk_source(disk.attr("type").as_deref(), source),
        format: disk.child("driver").and_then(|d| d.attr("type")),
        readonly: readonly_marked || device == "cdrom",
        readonly_marked,
        shareable: disk.child("shareable").is_some(),
        share_backing: disk
            .child("transient")
            .is_some_and(|t| t.attr("shareBacking").as_deref() == Some("yes")),
        encrypted: disk.child("encryption").is_some()
            || source.is_some_and(|s| s.child("encryption").is_some()),
        backing_chain: disk
            .child("backingStore")
            .is_some_and(|b| !b.attrs().is_empty() || b.elements().next().is_some()),
        device,
    }
}

/// `kind` is the disk's `type` (libvirt's default is `file`). An attribute
/// that is missing or empty leaves nothing to point at: [`DiskSource::Empty`].
fn disk_source(kind: Option<&str>, source: Option<&Element>) -> DiskSource {
    let Some(source) = source else {
        return DiskSource::Empty;
    };
    let attr = |name: &str| source.attr(name).filter(|v| !v.is_empty());
    let found = match kind.unwrap_or("file") {
        "file" => attr("file").map(DiskSource::File),
        "block" => attr("dev").map(DiskSource::Block),
        "dir" => Some(attr("dir").map_or_else(|| DiskSource::Other("dir".into()), DiskSource::Dir)),
        "volume" => attr("volume").map(|volume| DiskSource::Volume {
            pool: attr("pool").unwrap_or_default(),
            volume,
        }),
        "network" => attr("protocol").map(|protocol| DiskSource::Network {
            protocol,
            name: attr("name").unwrap_or_default(),
        }),
        other => Some(DiskSource::Other(other.to_string())),
    };
    found.unwrap_or(DiskSource::Empty)
}

fn nvram(nv: &Element) -> Nvram {
    // libvirt 9 form: a file, or a block or network store, in a <source>.
    let from_source = nv.child("source").and_then(|s| {
        s.attr("file")
            .or_else(|| s.attr("dev"))
            .or_else(|| s.attr("name"))
    });
    let typed = from_source.is_some();
    Nvram {
        path: from_source
            .or_else(|| Some(nv.text().trim().to_string()))
            .filter(|p| !p.is_empty()),
        template: nv.attr("template"),
        typed,
    }
}

fn nic(nic: &Element) -> NicInfo {
    let kind = nic.attr("type").unwrap_or_default();
    let source = nic.child("source");
    let attr = |name: &str| source.and_then(|s| s.attr(name));
    let source = match kind.as_str() {
        "network" => attr("network"),
        "bridge" => attr("bridge"),
        "direct" => attr("dev"),
        _ => ["network", "bridge", "dev"].iter().find_map(|a| attr(a)),
    };
    NicInfo {
        kind,
        source,
        mac: nic.child("mac").and_then(|m| m.attr("address")),
        model: nic.child("model").and_then(|m| m.attr("type")),
    }
}

fn tpm(tpm: &Element) -> Tpm {
    let backend = tpm.child("backend");
    Tpm {
        model: tpm.attr("model").unwrap_or_else(|| "default".into()),
        backend: backend
            .and_then(|b| b.attr("type"))
            .unwrap_or_else(|| "emulator".into()),
        device_path: backend
            .and_then(|b| b.child("device"))
            .and_then(|d| d.attr("path")),
        encryption_secret: backend
            .and_then(|b| b.child("encryption"))
            .and_then(|e| e.attr("secret")),
    }
}

/// A `<cpu>` that only sets topology or features, without mode or model,
/// leaves the model to the hypervisor: nothing to check.
fn cpu(cpu: &Element) -> Option<Cpu> {
    let model = cpu.child("model");
    let name = model.and_then(text);
    let mode = match (cpu.attr("mode"), &name) {
        (Some(m), _) => m,
        (None, Some(_)) => "custom".to_string(),
        (None, None) => return None,
    };
    Some(Cpu {
        mode,
        model: name,
        fallback: model.and_then(|m| m.attr("fallback")),
    })
}

/// `<memory unit=…>N</memory>` in bytes (libvirt's units; KiB by default).
fn memory_bytes(el: &Element) -> u64 {
    let value: u64 = text(el).and_then(|t| t.parse().ok()).unwrap_or(0);
    let unit = el.attr("unit");
    let mult: u64 = match unit.as_deref().unwrap_or("KiB") {
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
