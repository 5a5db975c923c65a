//! `kvm-clone snapshots`, `verify` and `prune`: repository contents as
//! text tables or JSON (docs/json.md).

use super::{size, table};
use crate::model::format::datetime;
use crate::repo::prune::PruneReport;
use crate::repo::verify::VerifyReport;
use crate::repo::{SnapshotInfo, Totals};
use serde::Serialize;

/// "45s", "12m", "5h", "3d": how long ago, roughly.
pub fn age(secs: i64) -> String {
    let s = secs.max(0);
    match s {
        s if s < 60 => format!("{s}s"),
        s if s < 3600 => format!("{}m", s / 60),
        s if s < 2 * 86400 => format!("{}h", s / 3600),
        s => format!("{}d", s / 86400),
    }
}

/// Referenced data over the bytes this export added: "12.5x"; "-" when it
/// added nothing (everything was already stored).
pub fn dedup_ratio(t: &Totals) -> String {
    if t.new_bytes == 0 {
        return "-".into();
    }
    format!("{:.1}x", t.data_bytes as f64 / t.new_bytes as f64)
}

fn time(unix: i64, utc: bool) -> String {
    datetime(u64::try_from(unix).unwrap_or(0).saturating_mul(1000), utc)
}

/// One line per snapshot, newest first. `now` is Unix seconds.
pub fn render_snapshots(snaps: &[SnapshotInfo], now: i64, utc: bool) -> String {
    let rows: Vec<Vec<String>> = snaps
        .iter()
        .map(|s| {
            let m = &s.manifest;
            let disks: Vec<&str> = m.disks.iter().map(|d| d.target.as_str()).collect();
            vec![
                s.id.to_string(),
                m.vm.clone(),
                m.host.clone(),
                time(m.time, utc),
                age(now - m.time),
                disks.join(","),
                size(m.totals.virtual_bytes),
                size(m.totals.data_bytes),
                size(m.totals.new_bytes),
                dedup_ratio(&m.totals),
            ]
        })
        .collect();
    table::render(
        &[
            "ID", "VM", "HOST", "TIME", "AGE", "DISKS", "SIZE", "DATA", "NEW", "DEDUP",
        ],
        &rows,
    )
}

#[derive(Serialize)]
struct SnapshotJson<'a> {
    id: &'a str,
    vm: &'a str,
    vm_uuid: &'a str,
    host: &'a str,
    profile: &'a str,
    time: i64,
    parent: Option<&'a str>,
    live: bool,
    checkpoint: Option<&'a str>,
    nvram: bool,
    disks: Vec<DiskJson<'a>>,
    totals: &'a Totals,
}

#[derive(Serialize)]
struct DiskJson<'a> {
    target: &'a str,
    virtual_size: u64,
    format: &'a str,
    source_path: &'a str,
    chunk_size: u32,
    chunks: usize,
}

/// `{"snapshots": [...]}`: each snapshot without its chunk index or XML.
pub fn render_snapshots_json(snaps: &[SnapshotInfo]) -> Result<String, serde_json::Error> {
    #[derive(Serialize)]
    struct Doc<'a> {
        snapshots: Vec<SnapshotJson<'a>>,
    }
    let snapshots = snaps
        .iter()
        .map(|s| {
            let m = &s.manifest;
            SnapshotJson {
                id: s.id.as_str(),
                vm: &m.vm,
                vm_uuid: &m.vm_uuid,
                host: &m.host,
                profile: &m.profile,
                time: m.time,
                parent: m.parent.as_ref().map(|p| p.as_str()),
                live: m.live,
                checkpoint: m.checkpoint.as_deref(),
                nvram: m.nvram.is_some(),
                disks: m
                    .disks
                    .iter()
                    .map(|d| DiskJson {
                        target: &d.target,
                        virtual_size: d.virtual_size,
                        format: &d.format,
                        source_path: &d.source_path,
                        chunk_size: d.chunk_size,
                        chunks: d.chunks.len(),
                    })
                    .collect(),
                totals: &m.totals,
            }
        })
        .collect();
    serde_json::to_string_pretty(&Doc { snapshots })
}

/// The damage lines, then a summary line.
pub fn render_verify(r: &VerifyReport) -> String {
    let mut out = String::new();
    for m in &r.damaged_manifests {
        out.push_str(&format!(
            "DAMAGED snapshot {}: the manifest cannot be read: {}\n",
            m.id, m.reason
        ));
    }
    for d in &r.damage {
        out.push_str(&format!(
            "DAMAGED snapshot {} vm {} disk {} offset {}: chunk {} {}\n",
            d.snapshot, d.vm, d.disk, d.offset, d.chunk, d.problem
        ));
    }
    let what = if r.read_data {
        format!("{} chunks read ({})", r.chunks, size(r.bytes_read))
    } else {
        format!("{} chunks present", r.chunks)
    };
    if !r.repaired.is_empty() {
        out.push_str(&format!(
            "removed {} damaged chunk file{}: the snapshots above that referenced {} are incomplete until an export stores the same data again (the next export of those VMs does, if their disks still hold it)\n",
            r.repaired.len(),
            plural(r.repaired.len() as u64),
            if r.repaired.len() == 1 { "it" } else { "them" },
        ));
    }
    if r.is_ok() {
        out.push_str(&format!(
            "ok: {} snapshot{}, {what}\n",
            r.snapshots,
            plural(r.snapshots)
        ));
    } else {
        let chunks: std::collections::BTreeSet<_> = r.damage.iter().map(|d| d.chunk).collect();
        out.push_str(&format!(
            "damage found: {} damaged chunk{}, {} damaged manifest{} in {} snapshot{} checked\n",
            chunks.len(),
            plural(chunks.len() as u64),
            r.damaged_manifests.len(),
            plural(r.damaged_manifests.len() as u64),
            r.snapshots,
            plural(r.snapshots)
        ));
    }
    out
}

fn plural(n: u64) -> &'static str {
    if n == 1 { "" } else { "s" }
}

pub fn render_verify_json(r: &VerifyReport) -> Result<String, serde_json::Error> {
    #[derive(Serialize)]
    struct Doc<'a> {
        ok: bool,
        #[serde(flatten)]
        report: &'a VerifyReport,
    }
    serde_json::to_string_pretty(&Doc {
        ok: r.is_ok(),
        report: r,
    })
}

/// The plan (keep/remove per snapshot and why), then what was (or would
/// be) freed.
pub fn render_prune(r: &PruneReport, utc: bool) -> String {
    let rows: Vec<Vec<String>> = r
        .snapshots
        .iter()
        .map(|d| {
            vec![
                if d.keep { "keep" } else { "remove" }.to_string(),
                d.id.to_string(),
                d.vm.clone(),
                d.host.clone(),
                time(d.time, utc),
                d.reasons.join(", "),
            ]
        })
        .collect();
    let mut out = table::render(&["ACTION", "ID", "VM", "HOST", "TIME", "REASON"], &rows);
    let verb = if r.dry_run { "would remove" } else { "removed" };
    out.push_str(&format!(
        "{verb} {} snapshot{} (keeping {}), {} chunk{} ({})",
        r.removed,
        plural(r.removed),
        r.kept,
        r.chunks_removed,
        plural(r.chunks_removed),
        size(r.bytes_freed)
    ));
    if r.temp_files_removed > 0 {
        out.push_str(&format!(
            " and {} stale temp file{}",
            r.temp_files_removed,
            plural(r.temp_files_removed)
        ));
    }
    out.push('\n');
    if r.dry_run {
        out.push_str("dry run: nothing was changed\n");
    }
    out
}

pub fn render_prune_json(r: &PruneReport) -> Result<String, serde_json::Error> {
    serde_json::to_string_pretty(r)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::repo::verify::{Damage, Problem};
    use crate::repo::{ChunkId, DiskIndex, Manifest};

    fn info() -> SnapshotInfo {
        SnapshotInfo {
            id: "00112233aabbccdd".parse().unwrap(),
            manifest: Manifest {
                format_version: 1,
                vm: "web01".into(),
                vm_uuid: "u".into(),
                host: "alpha".into(),
                profile: "default".into(),
                time: 1_750_000_000,
                parent: None,
                live: true,
                checkpoint: Some("kvm-clone-1".into()),
                domain_xml: "<domain/>".into(),
                nvram: None,
                disks: vec![DiskIndex {
                    target: "vda".into(),
                    virtual_size: 2 << 30,
                    format: "qcow2".into(),
                    source_path: "/img/web01.qcow2".into(),
                    chunk_size: 4 << 20,
                    chunks: vec![],
                }],
                totals: Totals {
                    virtual_bytes: 2 << 30,
                    data_bytes: 300 << 20,
                    new_bytes: 100 << 20,
                    ..Totals::default()
                },
            },
        }
    }

    #[test]
    fn snapshot_table_row() {
        let t = render_snapshots(&[info()], 1_750_000_000 + 3 * 86400, true);
        let lines: Vec<&str> = t.lines().collect();
        assert!(lines[0].starts_with("ID"), "{t}");
        let row = lines[1];
        for want in [
            "00112233aabbccdd",
            "web01",
            "alpha",
            "2025-06-15 15:06:40",
            "3d",
            "vda",
            "2 GiB",
            "300 MiB",
            "100 MiB",
            "3.0x",
        ] {
            assert!(row.contains(want), "{want} missing in {row}");
        }
    }

    #[test]
    fn snapshot_json_has_no_chunk_index() {
        let v: serde_json::Value =
            serde_json::from_str(&render_snapshots_json(&[info()]).unwrap()).unwrap();
        let s = &v["snapshots"][0];
        assert_eq!(s["id"], "00112233aabbccdd");
        assert_eq!(s["disks"][0]["chunks"], 0);
        assert_eq!(s["totals"]["new_bytes"], 100u64 << 20);
        assert!(s.get("domain_xml").is_none());
    }

    #[test]
    fn verify_lines_name_snapshot_disk_and_offset() {
        let r = VerifyReport {
            read_data: true,
            snapshots: 2,
            chunks: 10,
            bytes_read: 40 << 20,
            damage: vec![Damage {
                snapshot: "00112233aabbccdd".parse().unwrap(),
                vm: "web01".into(),
                disk: "vda".into(),
                offset: 8 << 20,
                chunk: ChunkId([0xab; 32]),
                problem: Problem::Damaged("authentication failed".into()),
            }],
            damaged_manifests: vec![],
            repaired: vec![],
        };
        let t = render_verify(&r);
        assert!(
            t.starts_with(
                "DAMAGED snapshot 00112233aabbccdd vm web01 disk vda offset 8388608: chunk abab"
            ),
            "{t}"
        );
        assert!(
            t.ends_with(
                "damage found: 1 damaged chunk, 0 damaged manifests in 2 snapshots checked\n"
            ),
            "{t}"
        );
        let v: serde_json::Value = serde_json::from_str(&render_verify_json(&r).unwrap()).unwrap();
        assert_eq!(v["ok"], false);
        assert_eq!(v["damage"][0]["problem"]["kind"], "damaged");
        assert_eq!(v["damage"][0]["offset"], 8u64 << 20);
        assert_eq!(v["repaired"], serde_json::json!([]));
        let repaired = VerifyReport {
            repaired: vec![ChunkId([0xab; 32])],
            ..r.clone()
        };
        let t = render_verify(&repaired);
        assert!(t.contains("removed 1 damaged chunk file: "), "{t}");
        let v: serde_json::Value =
            serde_json::from_str(&render_verify_json(&repaired).unwrap()).unwrap();
        assert_eq!(v["repaired"][0], "ab".repeat(32));
        let ok = VerifyReport {
            snapshots: 1,
            chunks: 3,
            ..VerifyReport::default()
        };
        assert_eq!(render_verify(&ok), "ok: 1 snapshot, 3 chunks present\n");
    }

    #[test]
    fn ages() {
        assert_eq!(age(5), "5s");
        assert_eq!(age(125), "2m");
        assert_eq!(age(5 * 3600), "5h");
        assert_eq!(age(3 * 86400 + 5), "3d");
        assert_eq!(age(-10), "0s");
    }
}
