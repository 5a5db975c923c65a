//! `prune`: forget the snapshots outside a retention policy, then delete
//! the chunk files no remaining manifest references.
//!
//! Runs under the exclusive repository lock, so no export is in flight
//! (exports hold it shared): no chunk one relies on can go. Manifests are
//! deleted first and chunks after, so a crash in between only leaves
//! unreferenced chunks, which the next prune collects.

use super::error::RepoError;
use super::fsutil::{self, is_temp};
use super::id::{ChunkId, SnapshotId};
use super::retention::{self, Candidate, Decision, Policy};
use super::{CHUNKS_DIR, Repo, SNAPSHOTS_DIR};
use serde::Serialize;
use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

/// Temp files older than this belong to a writer that died.
const STALE_TEMP: Duration = Duration::from_secs(3600);

#[derive(Debug, Clone, Default)]
pub struct PruneOptions {
    pub policy: Policy,
    /// Only this VM's snapshots are considered; others are left alone.
    pub vm: Option<String>,
    /// Plan only: nothing is deleted.
    pub dry_run: bool,
    /// When set, only these snapshots may be removed: the removals of a dry
    /// run the operator confirmed. A snapshot committed since (which shifts
    /// the policy) then cannot make the real run remove more than was shown.
    pub confirmed: Option<HashSet<SnapshotId>>,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct PruneReport {
    pub dry_run: bool,
    /// One decision per considered snapshot, grouped per VM, newest first.
    pub snapshots: Vec<Decision>,
    pub kept: u64,
    pub removed: u64,
    /// Chunk files (that would be) deleted and their bytes on disk.
    pub chunks_removed: u64,
    pub bytes_freed: u64,
    pub temp_files_removed: u64,
}

/// Plans and, unless `dry_run`, carries out a prune.
pub fn prune(repo: &Repo, opts: &PruneOptions) -> Result<PruneReport, RepoError> {
    if opts.policy.is_empty() {
        return Err(RepoError::EmptyPolicy);
    }
    // A dry run changes nothing, so it need not wait for exports.
    let _lock = if opts.dry_run {
        None
    } else {
        Some(repo.try_lock_exclusive()?)
    };
    // A damaged manifest stops the prune: its chunks cannot be known.
    let all = repo.snapshots()?;
    let candidates: Vec<Candidate> = all
        .iter()
        .filter(|s| opts.vm.as_deref().is_none_or(|vm| s.manifest.vm == vm))
        .map(|s| Candidate {
            id: s.id.clone(),
            vm: s.manifest.vm.clone(),
            host: s.manifest.host.clone(),
            time: s.manifest.time,
            parent: s.manifest.parent.clone(),
        })
        .collect();
    let mut decisions = retention::plan(&opts.policy, &candidates)?;
    if let Some(allowed) = &opts.confirmed {
        for d in decisions
            .iter_mut()
            .filter(|d| !d.keep && !allowed.contains(&d.id))
        {
            d.keep = true;
            d.reasons.push("not in the confirmed plan".into());
        }
    }
    let removed: HashSet<_> = decisions
        .iter()
        .filter(|d| !d.keep)
        .map(|d| d.id.clone())
        .collect();
    let referenced: HashSet<ChunkId> = all
        .iter()
        .filter(|s| !removed.contains(&s.id))
        .flat_map(|s| s.manifest.chunk_ids())
        .collect();
    let mut report = PruneReport {
        dry_run: opts.dry_run,
        kept: (decisions.len() - removed.len()) as u64,
        removed: removed.len() as u64,
        snapshots: decisions,
        ..PruneReport::default()
    };
    if !opts.dry_run {
        for id in &removed {
            let p = repo.manifest_path(id);
            match std::fs::remove_file(&p) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(RepoError::io(p)(e)),
            }
        }
        // The manifests must be gone for good before their chunks go.
        fsutil::sync_dir(&repo.path().join(SNAPSHOTS_DIR))?;
    }
    collect_garbage(repo, &referenced, opts.dry_run, &mut report)?;
    Ok(report)
}

fn collect_garbage(
    repo: &Repo,
    referenced: &HashSet<ChunkId>,
    dry_run: bool,
    report: &mut PruneReport,
) -> Result<(), RepoError> {
    let now = SystemTime::now();
    let stale = |meta: &std::fs::Metadata| {
        meta.modified()
            .ok()
            .and_then(|m| now.duration_since(m).ok())
            .is_some_and(|age| age > STALE_TEMP)
    };
    let remove = |path: &Path| -> Result<(), RepoError> {
        match std::fs::remove_file(path) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(RepoError::io(path)(e)),
        }
    };
    let chunks = repo.path().join(CHUNKS_DIR);
    let mut dirs: Vec<PathBuf> = vec![repo.path().join(SNAPSHOTS_DIR)];
    for entry in std::fs::read_dir(&chunks).map_err(RepoError::io(&chunks))? {
        let entry = entry.map_err(RepoError::io(&chunks))?;
        if entry.file_type().is_ok_and(|t| t.is_dir()) {
            dirs.push(entry.path());
        }
    }
    for (n, dir) in dirs.iter().enumerate() {
        let in_chunks = n > 0;
        for entry in std::fs::read_dir(dir).map_err(RepoError::io(dir))? {
            let entry = entry.map_err(RepoError::io(dir))?;
            let name = entry.file_name();
            let Some(name) = name.to_str() else { continue };
            let path = entry.path();
            if is_temp(name) {
                let meta = entry.metadata().map_err(RepoError::io(&path))?;
                if stale(&meta) {
                    report.temp_files_removed += 1;
                    if !dry_run {
                        remove(&path)?;
                    }
                }
                continue;
            }
            if !in_chunks {
                continue;
            }
            let Ok(id) = name.parse::<ChunkId>() else {
                continue;
            };
            if referenced.contains(&id) {
                continue;
            }
            let meta = entry.metadata().map_err(RepoError::io(&path))?;
            report.chunks_removed += 1;
            report.bytes_freed += meta.len();
            if !dry_run {
                remove(&path)?;
            }
        }
    }
    Ok(())
}
