//! `verify`: check that every chunk the snapshots reference is there and,
//! with `read_data`, that each one decrypts, decompresses and still has its
//! id. Each distinct chunk is checked once, on all cores; damage is then
//! reported for every place that references it.

use super::Repo;
use super::error::RepoError;
use super::id::{ChunkId, SnapshotId};
use super::snapshots::{DamagedManifest, SnapshotInfo};
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", content = "reason", rename_all = "snake_case")]
pub enum Problem {
    Missing,
    Damaged(String),
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Problem::Missing => f.write_str("missing"),
            Problem::Damaged(r) => write!(f, "damaged: {r}"),
        }
    }
}

/// One damaged place: a chunk of a disk (or the NVRAM) of a snapshot.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Damage {
    pub snapshot: SnapshotId,
    pub vm: String,
    /// The disk target ("vda"), or "nvram".
    pub disk: String,
    /// Byte offset of the chunk on the guest-visible disk.
    pub offset: u64,
    pub chunk: ChunkId,
    pub problem: Problem,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct VerifyReport {
    pub read_data: bool,
    pub snapshots: u64,
    /// Distinct chunks checked.
    pub chunks: u64,
    /// Plaintext bytes read back (with read_data).
    pub bytes_read: u64,
    pub damage: Vec<Damage>,
    pub damaged_manifests: Vec<DamagedManifest>,
    /// Damaged chunk files removed by [`remove_damaged`] (`--repair`).
    pub repaired: Vec<ChunkId>,
}

impl VerifyReport {
    pub fn is_ok(&self) -> bool {
        self.damage.is_empty() && self.damaged_manifests.is_empty()
    }

    /// The chunks whose files are there but damaged (not missing): what
    /// [`remove_damaged`] removes.
    pub fn damaged_chunks(&self) -> BTreeSet<ChunkId> {
        self.damage
            .iter()
            .filter(|d| matches!(d.problem, Problem::Damaged(_)))
            .map(|d| d.chunk)
            .collect()
    }
}

/// Progress of a verify: distinct chunks checked of the total.
pub type Progress<'a> = &'a (dyn Fn(u64, u64) + Sync);

/// Verifies one snapshot (id or prefix) or all of them.
pub fn verify(
    repo: &Repo,
    snapshot: Option<&str>,
    read_data: bool,
) -> Result<VerifyReport, RepoError> {
    verify_with_progress(repo, snapshot, read_data, &|_, _| {})
}

pub fn verify_with_progress(
    repo: &Repo,
    snapshot: Option<&str>,
    read_data: bool,
    progress: Progress<'_>,
) -> Result<VerifyReport, RepoError> {
    // No prune may delete chunks while they are checked.
    let _lock = repo.lock_shared()?;
    let mut report = VerifyReport {
        read_data,
        ..VerifyReport::default()
    };
    let snaps: Vec<SnapshotInfo> = match snapshot {
        Some(q) => match repo.load_snapshot(q) {
            Ok(s) => vec![s],
            Err(RepoError::ManifestDamaged { id, reason }) => {
                report
                    .damaged_manifests
                    .push(DamagedManifest { id, reason });
                vec![]
            }
            Err(e) => return Err(e),
        },
        None => {
            let scan = repo.scan_snapshots()?;
            report.damaged_manifests = scan.damaged;
            scan.snapshots
        }
    };
    report.snapshots = snaps.len() as u64;
    let distinct: Vec<ChunkId> = snaps
        .iter()
        .flat_map(|s| s.manifest.chunk_ids())
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    report.chunks = distinct.len() as u64;
    let (problems, bytes) = check_chunks(repo, &distinct, read_data, progress);
    report.bytes_read = bytes;
    for s in &snaps {
        let m = &s.manifest;
        let mut add = |disk: &str, offset: u64, chunk: ChunkId| {
            if let Some(p) = problems.get(&chunk) {
                report.damage.push(Damage {
                    snapshot: s.id.clone(),
                    vm: m.vm.clone(),
                    disk: disk.to_string(),
                    offset,
                    chunk,
                    problem: p.clone(),
                });
            }
        };
        for d in &m.disks {
            for c in &d.chunks {
                add(&d.target, d.chunk_range(c.index).0, c.id);
            }
        }
        if let Some(chunk) = m.nvram.as_ref().and_then(|n| n.chunk) {
            add("nvram", 0, chunk);
        }
    }
    Ok(report)
}

/// Removes the chunk files a `read_data` verify found damaged (`verify
/// --read-data --repair`), each read once more first under the exclusive
/// lock, so no export or prune runs meanwhile (else [`RepoError::Busy`]).
/// Only content damage counts: a chunk that fails to authenticate,
/// decompress or match its id; a file that cannot be read at all (EIO,
/// EACCES) is left for the operator. A snapshot that referenced a removed
/// chunk reports it missing until an export stores the same data again; the
/// id is the content's, so every snapshot that shares it is whole again.
/// Returns the ids removed (also recorded in `report.repaired`).
pub fn remove_damaged(repo: &Repo, report: &mut VerifyReport) -> Result<Vec<ChunkId>, RepoError> {
    let damaged = report.damaged_chunks();
    if damaged.is_empty() {
        return Ok(Vec::new());
    }
    let _lock = repo.try_lock_exclusive()?;
    let mut removed = Vec::new();
    for id in damaged {
        if !matches!(repo.read_chunk(&id), Err(RepoError::ChunkDamaged { .. })) {
            continue;
        }
        let path = repo.chunk_path(&id);
        match std::fs::remove_file(&path) {
            Ok(()) => removed.push(id),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(RepoError::io(&path)(e)),
        }
    }
    report.repaired = removed.clone();
    Ok(removed)
}

/// Checks each chunk once, spread over the available cores.
fn check_chunks(
    repo: &Repo,
    ids: &[ChunkId],
    read_data: bool,
    progress: Progress<'_>,
) -> (BTreeMap<ChunkId, Problem>, u64) {
    let next = AtomicUsize::new(0);
    let done = AtomicU64::new(0);
    let bytes = AtomicU64::new(0);
    let problems = Mutex::new(BTreeMap::new());
    let total = ids.len() as u64;
    let workers = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(2)
        .min(ids.len().max(1));
    std::thread::scope(|scope| {
        for _ in 0..workers {
            scope.spawn(|| {
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some(id) = ids.get(i) else { break };
                    let outcome = if read_data {
                        repo.read_chunk(id).map(|plain| {
                            bytes.fetch_add(plain.len() as u64, Ordering::Relaxed);
                        })
                    } else {
                        match repo.has_chunk(id) {
                            Ok(true) => Ok(()),
                            Ok(false) => Err(RepoError::ChunkMissing { id: *id }),
                            Err(e) => Err(e),
                        }
                    };
                    let problem = match outcome {
                        Ok(()) => None,
                        Err(RepoError::ChunkMissing { .. }) => Some(Problem::Missing),
                        Err(RepoError::ChunkDamaged { reason, .. }) => {
                            Some(Problem::Damaged(reason))
                        }
                        // An unreadable file (EIO, EACCES) is damage too.
                        Err(e) => Some(Problem::Damaged(e.to_string())),
                    };
                    if let Some(p) = problem {
                        problems
                            .lock()
                            .unwrap_or_else(|poisoned| poisoned.into_inner())
                            .insert(*id, p);
                    }
                    progress(done.fetch_add(1, Ordering::Relaxed) + 1, total);
                }
            });
        }
    });
    let problems = problems
        .into_inner()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    (problems, bytes.into_inner())
}
