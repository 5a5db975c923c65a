//! What a snapshot says about its VM, in the shape the clone's validation
//! reads: the domain XML's disks and NICs with the sizes the snapshot
//! records, as a shut-off VM. Pure.

use crate::jobs::preflight::SourceFacts;
use crate::jobs::rewrite::ImageFormat;
use crate::libvirt::domain::parse_domain;
use crate::model::{DiskInfo, LiveClone, VmInfo, VmState};
use crate::repo::{DiskIndex, Manifest};

/// Bytes of the chunks a disk's index lists: the data a restore writes.
pub fn data_bytes(disk: &DiskIndex) -> u64 {
    disk.chunks
        .iter()
        .map(|c| disk.chunk_range(c.index).1)
        .sum()
}

/// The format the restored disks get: the one asked for; else the
/// snapshot's original when all disks had the same; else `fallback` (the
/// profile's).
pub fn restore_format(
    asked: Option<ImageFormat>,
    manifest: &Manifest,
    fallback: ImageFormat,
) -> ImageFormat {
    if let Some(f) = asked {
        return f;
    }
    let original = |d: &DiskIndex| match d.format.as_str() {
        "raw" => Some(ImageFormat::Raw),
        "qcow2" => Some(ImageFormat::Qcow2),
        _ => None,
    };
    let mut formats = manifest.disks.iter().map(original);
    match formats.next() {
        Some(Some(first)) if formats.all(|f| f == Some(first)) => first,
        _ => fallback,
    }
}

/// The snapshot's VM as validation's source facts. A disk's allocation is
/// what the restore will need in the pool: its virtual size for raw
/// images, its data for qcow2.
pub fn source_facts(manifest: &Manifest, format: ImageFormat) -> SourceFacts {
    let mut facts = SourceFacts {
        libvirt_version: 0,
        vm: None,
        vm_error: None,
        domcaps: None,
    };
    let parsed = match parse_domain(&manifest.domain_xml) {
        Ok(p) => p,
        Err(e) => {
            facts.vm_error = Some(format!("the snapshot's domain XML: {e}"));
            return facts;
        }
    };
    let disks = parsed
        .disks
        .iter()
        .map(|d| {
            let index = manifest.disks.iter().find(|i| i.target == d.target);
            let capacity = index.map_or(0, |i| i.virtual_size);
            let allocation = match (index, format) {
                (None, _) => 0,
                (Some(i), ImageFormat::Raw) => i.virtual_size,
                (Some(i), ImageFormat::Qcow2) => data_bytes(i),
            };
            DiskInfo {
                target: d.target.clone(),
                device: d.device.clone(),
                source: d.source.path().map(str::to_string),
                format: d.format.clone(),
                readonly: d.readonly,
                shareable: d.shareable,
                allocation_bytes: allocation,
                capacity_bytes: capacity,
            }
        })
        .collect();
    facts.vm = Some(VmInfo {
        name: manifest.vm.clone(),
        uuid: manifest.vm_uuid.clone(),
        state: VmState::ShutOff,
        vcpus: parsed.vcpus,
        memory_bytes: parsed.memory_bytes,
        disks,
        nics: parsed.nics,
        live_clone: LiveClone {
            possible: false,
            reason: Some("a snapshot is restored offline".into()),
        },
        xml: manifest.domain_xml.clone(),
    });
    facts
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::repo::{ChunkId, ChunkRef, Totals};

    const XML: &str = include_str!("../preflight/fixtures/multi01.xml");

    fn disk(target: &str, format: &str, size: u64, chunks: &[u64]) -> DiskIndex {
        DiskIndex {
            target: target.into(),
            virtual_size: size,
            format: format.into(),
            source_path: format!("/var/lib/libvirt/images/{target}"),
            chunk_size: 1 << 20,
            chunks: chunks
                .iter()
                .map(|&index| ChunkRef {
                    index,
                    id: ChunkId([index as u8; 32]),
                })
                .collect(),
        }
    }

    fn manifest(disks: Vec<DiskIndex>) -> Manifest {
        Manifest {
            format_version: 1,
            vm: "multi01".into(),
            vm_uuid: "0d3c7a2e-5b1f-4c9e-8a7d-6e5f4c3b2a19".into(),
            host: "alpha".into(),
            profile: "default".into(),
            time: 0,
            parent: None,
            live: false,
            checkpoint: None,
            domain_xml: XML.into(),
            nvram: None,
            disks,
            totals: Totals::default(),
        }
    }

    #[test]
    fn data_bytes_counts_the_short_last_chunk() {
        // 2.5 MiB: chunks 0 and 2 (half a chunk) stored, 1 a hole.
        let d = disk("vda", "raw", (5 << 20) / 2, &[0, 2]);
        assert_eq!(data_bytes(&d), (1 << 20) + (1 << 19));
    }

    #[test]
    fn format_is_the_asked_then_the_original_then_the_fallback() {
        let raw = manifest(vec![disk("vda", "raw", 1 << 20, &[])]);
        assert_eq!(
            restore_format(None, &raw, ImageFormat::Qcow2),
            ImageFormat::Raw
        );
        assert_eq!(
            restore_format(Some(ImageFormat::Qcow2), &raw, ImageFormat::Raw),
            ImageFormat::Qcow2
        );
        let mixed = manifest(vec![
            disk("vda", "raw", 1 << 20, &[]),
            disk("vdb", "qcow2", 1 << 20, &[]),
        ]);
        assert_eq!(
            restore_format(None, &mixed, ImageFormat::Qcow2),
            ImageFormat::Qcow2
        );
        assert_eq!(
            restore_format(None, &mixed, ImageFormat::Raw),
            ImageFormat::Raw
        );
    }

    #[test]
    fn facts_carry_the_snapshot_sizes_as_a_shut_off_vm() {
        let xml_targets: Vec<String> = parse_domain(XML)
            .unwrap()
            .disks
            .iter()
            .map(|d| d.target.clone())
            .collect();
        let first = xml_targets[0].clone();
        let m = manifest(vec![disk(&first, "qcow2", 4 << 20, &[1, 3])]);
        let vm = source_facts(&m, ImageFormat::Qcow2).vm.unwrap();
        assert_eq!(vm.state, VmState::ShutOff);
        assert_eq!(vm.name, "multi01");
        let d = vm.disks.iter().find(|d| d.target == first).unwrap();
        assert_eq!((d.capacity_bytes, d.allocation_bytes), (4 << 20, 2 << 20));
        // Raw images need their whole virtual size.
        let vm = source_facts(&m, ImageFormat::Raw).vm.unwrap();
        let d = vm.disks.iter().find(|d| d.target == first).unwrap();
        assert_eq!(d.allocation_bytes, 4 << 20);
        assert!(!vm.nics.is_empty());
    }

    #[test]
    fn a_broken_domain_xml_is_a_vm_error() {
        let mut m = manifest(Vec::new());
        m.domain_xml = "<domain".into();
        let f = source_facts(&m, ImageFormat::Qcow2);
        assert!(f.vm.is_none());
        assert!(f.vm_error.unwrap().contains("domain XML"));
    }
}
