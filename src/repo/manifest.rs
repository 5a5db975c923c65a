//! A snapshot's manifest: what was exported and where its chunks are.
//! Stored as JSON inside a sealed frame (docs/repository-format.md).

use super::config::{MAX_CHUNK_SIZE, MIN_CHUNK_SIZE};
use super::id::{ChunkId, SnapshotId};
use serde::{Deserialize, Serialize};
use std::collections::HashSet;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Manifest {
    /// [`Manifest::FORMAT_VERSION`] when written by this version.
    pub format_version: u32,
    pub vm: String,
    pub vm_uuid: String,
    /// The source host's name in the config.
    pub host: String,
    pub profile: String,
    /// Unix seconds, UTC: when the export's point in time was taken.
    pub time: i64,
    /// The snapshot unchanged chunks were taken from.
    pub parent: Option<SnapshotId>,
    /// Read from a running VM (pull backup).
    pub live: bool,
    /// The libvirt checkpoint the next incremental export starts from.
    pub checkpoint: Option<String>,
    /// Inactive domain XML, with secure fields.
    pub domain_xml: String,
    pub nvram: Option<NvramCopy>,
    pub disks: Vec<DiskIndex>,
    pub totals: Totals,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NvramCopy {
    /// The varstore's path on the source host.
    pub path: String,
    pub size: u64,
    /// One chunk holding the whole file; None when it is all zero.
    pub chunk: Option<ChunkId>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DiskIndex {
    /// The guest target ("vda").
    pub target: String,
    pub virtual_size: u64,
    /// The original image format: "qcow2" or "raw".
    pub format: String,
    pub source_path: String,
    pub chunk_size: u32,
    /// Sorted by index, unique; an absent index reads as zeros.
    pub chunks: Vec<ChunkRef>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChunkRef {
    pub index: u64,
    pub id: ChunkId,
}

pub use crate::model::reports::Totals;

impl DiskIndex {
    pub fn chunk_count(&self) -> u64 {
        let cs = u64::from(self.chunk_size.max(1));
        self.virtual_size.div_ceil(cs)
    }

    /// `(offset, len)` of chunk `index` on the guest-visible disk; the last
    /// chunk may be short, and an index past the end has length 0.
    pub fn chunk_range(&self, index: u64) -> (u64, u64) {
        let cs = u64::from(self.chunk_size);
        let offset = index.saturating_mul(cs);
        let len = self.virtual_size.saturating_sub(offset).min(cs);
        (offset, len)
    }
}

impl Manifest {
    pub const FORMAT_VERSION: u32 = 1;

    /// Every chunk the snapshot references, with repeats.
    pub fn chunk_ids(&self) -> impl Iterator<Item = ChunkId> + '_ {
        self.disks
            .iter()
            .flat_map(|d| d.chunks.iter().map(|c| c.id))
            .chain(self.nvram.as_ref().and_then(|n| n.chunk))
    }

    /// The invariants readers rely on; an error says which one fails.
    pub fn validate(&self) -> Result<(), String> {
        if self.format_version != Self::FORMAT_VERSION {
            return Err(format!(
                "format_version {} (expected {})",
                self.format_version,
                Self::FORMAT_VERSION
            ));
        }
        if self.vm.is_empty() {
            return Err("empty vm name".into());
        }
        if chrono::DateTime::from_timestamp(self.time, 0).is_none() {
            return Err(format!("time {} is out of range", self.time));
        }
        if let Some(n) = &self.nvram
            && n.chunk.is_some()
            && n.size > u64::from(MAX_CHUNK_SIZE)
        {
            return Err(format!(
                "nvram of {} bytes is larger than one chunk",
                n.size
            ));
        }
        let mut targets = HashSet::new();
        for d in &self.disks {
            if d.target.is_empty() || d.target == "nvram" || !targets.insert(d.target.as_str()) {
                return Err(format!(
                    "disk target {:?} is empty, reserved or repeated",
                    d.target
                ));
            }
            if !d.chunk_size.is_power_of_two()
                || !(MIN_CHUNK_SIZE..=MAX_CHUNK_SIZE).contains(&d.chunk_size)
            {
                return Err(format!("disk {}: chunk size {}", d.target, d.chunk_size));
            }
            let count = d.chunk_count();
            let mut prev: Option<u64> = None;
            for c in &d.chunks {
                if c.index >= count || prev.is_some_and(|p| c.index <= p) {
                    return Err(format!(
                        "disk {}: chunk index {} out of order or past the end ({count} chunks)",
                        d.target, c.index
                    ));
                }
                prev = Some(c.index);
            }
        }
        Ok(())
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    pub fn sample(vm: &str, time: i64, chunks: &[(u64, ChunkId)]) -> Manifest {
        let cs = 64 << 10;
        Manifest {
            format_version: Manifest::FORMAT_VERSION,
            vm: vm.into(),
            vm_uuid: "0f5c1a2b-3c4d-4e5f-8a9b-0c1d2e3f4a5b".into(),
            host: "alpha".into(),
            profile: "default".into(),
            time,
            parent: None,
            live: false,
            checkpoint: None,
            domain_xml: format!("<domain><name>{vm}</name></domain>"),
            nvram: None,
            disks: vec![DiskIndex {
                target: "vda".into(),
                virtual_size: 8 * cs as u64 - 1000,
                format: "qcow2".into(),
                source_path: format!("/var/lib/libvirt/images/{vm}.qcow2"),
                chunk_size: cs,
                chunks: chunks
                    .iter()
                    .map(|&(index, id)| ChunkRef { index, id })
                    .collect(),
            }],
            totals: Totals::default(),
        }
    }

    #[test]
    fn chunk_ranges_cover_the_disk_and_the_last_is_short() {
        let m = sample("vm", 0, &[]);
        let d = &m.disks[0];
        assert_eq!(d.chunk_count(), 8);
        assert_eq!(d.chunk_range(0), (0, 65536));
        assert_eq!(d.chunk_range(7), (7 * 65536, 65536 - 1000));
        assert_eq!(d.chunk_range(8).1, 0);
        assert_eq!(d.chunk_range(u64::MAX).1, 0);
    }

    #[test]
    fn validate_catches_broken_indexes() {
        let id = ChunkId([1; 32]);
        assert!(sample("vm", 0, &[(0, id), (7, id)]).validate().is_ok());
        assert!(sample("vm", 0, &[(8, id)]).validate().is_err());
        assert!(sample("vm", 0, &[(3, id), (3, id)]).validate().is_err());
        assert!(sample("vm", 0, &[(3, id), (2, id)]).validate().is_err());
        let mut m = sample("vm", 0, &[]);
        m.disks[0].chunk_size = 3000;
        assert!(m.validate().is_err());
        let mut m = sample("vm", 0, &[]);
        m.disks.push(m.disks[0].clone());
        assert!(m.validate().is_err());
        assert!(sample("vm", i64::MAX, &[]).validate().is_err());
        let mut m = sample("vm", 0, &[]);
        m.format_version = 2;
        assert!(m.validate().is_err());
    }

    #[test]
    fn chunk_ids_include_nvram() {
        let mut m = sample("vm", 0, &[(1, ChunkId([1; 32]))]);
        m.nvram = Some(NvramCopy {
            path: "/var/lib/libvirt/qemu/nvram/vm_VARS.fd".into(),
            size: 131072,
            chunk: Some(ChunkId([2; 32])),
        });
        let ids: Vec<ChunkId> = m.chunk_ids().collect();
        assert_eq!(ids, vec![ChunkId([1; 32]), ChunkId([2; 32])]);
    }
}
