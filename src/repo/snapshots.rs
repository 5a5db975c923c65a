//! Snapshot manifests: `snapshots/<id>`, written last and atomically; the
//! rename of the manifest is the commit point of an export.

use super::error::RepoError;
use super::id::{SnapshotId, is_lower_hex};
use super::manifest::Manifest;
use super::seal::{self, Kind};
use super::{Repo, SNAPSHOTS_DIR, fsutil};
use std::collections::BTreeSet;
use std::path::PathBuf;

/// The largest manifest accepted (about 12 million chunk references).
const MAX_MANIFEST: usize = 1 << 30;
/// Prefixes shorter than this are refused as too easy to mistype.
const MIN_PREFIX: usize = 4;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SnapshotInfo {
    pub id: SnapshotId,
    pub manifest: Manifest,
}

/// A manifest that cannot be read back: wrong key, changed, or truncated.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct DamagedManifest {
    pub id: SnapshotId,
    pub reason: String,
}

/// Every manifest of the repository: those that read back, newest first,
/// and those that do not.
#[derive(Debug, Clone, Default)]
pub struct SnapshotScan {
    pub snapshots: Vec<SnapshotInfo>,
    pub damaged: Vec<DamagedManifest>,
}

impl Repo {
    fn snapshots_dir(&self) -> PathBuf {
        self.path().join(SNAPSHOTS_DIR)
    }

    pub fn manifest_path(&self, id: &SnapshotId) -> PathBuf {
        self.snapshots_dir().join(id.as_str())
    }

    /// Records `m` as a new snapshot. Every chunk it names must be stored;
    /// they are made durable first, then the manifest is written
    /// (temp file, fsync, rename, fsync of the directory).
    pub fn commit_snapshot(&self, m: &Manifest) -> Result<SnapshotId, RepoError> {
        m.validate().map_err(RepoError::InvalidManifest)?;
        let distinct: BTreeSet<_> = m.chunk_ids().collect();
        for id in &distinct {
            if !self.has_chunk(id)? {
                return Err(RepoError::ChunkMissing { id: *id });
            }
        }
        fsutil::sync_filesystem(self.path())?;
        let json = serde_json::to_vec(m).map_err(|e| RepoError::InvalidManifest(e.to_string()))?;
        let dir = self.snapshots_dir();
        let id = loop {
            let id = SnapshotId::random();
            if !self.manifest_path(&id).exists() {
                break id;
            }
        };
        let frame = seal::seal(Kind::Manifest, self.sealer(), id.as_str().as_bytes(), &json)
            .map_err(|e| RepoError::InvalidManifest(e.to_string()))?;
        std::fs::create_dir_all(&dir).map_err(RepoError::io(&dir))?;
        fsutil::write_atomic(&self.manifest_path(&id), &frame, true)?;
        Ok(id)
    }

    /// The ids of every manifest file, sorted (temp files are skipped).
    pub fn snapshot_ids(&self) -> Result<Vec<SnapshotId>, RepoError> {
        let dir = self.snapshots_dir();
        let mut ids = Vec::new();
        for entry in std::fs::read_dir(&dir).map_err(RepoError::io(&dir))? {
            let entry = entry.map_err(RepoError::io(&dir))?;
            if let Some(id) = entry.file_name().to_str().and_then(|n| n.parse().ok()) {
                ids.push(id);
            }
        }
        ids.sort();
        Ok(ids)
    }

    /// Reads one manifest by its exact id.
    pub fn read_manifest(&self, id: &SnapshotId) -> Result<Manifest, RepoError> {
        let path = self.manifest_path(id);
        let damaged = |reason: String| RepoError::ManifestDamaged {
            id: id.clone(),
            reason,
        };
        let file = match std::fs::File::open(&path) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(RepoError::SnapshotNotFound {
                    query: id.to_string(),
                });
            }
            Err(e) => return Err(RepoError::io(path)(e)),
        };
        // Refused before reading: no valid manifest file is this large.
        let len = file.metadata().map_err(RepoError::io(&path))?.len();
        if len > (MAX_MANIFEST + 64) as u64 {
            return Err(damaged(format!("the file is {len} bytes")));
        }
        let mut frame = Vec::with_capacity(len as usize);
        std::io::Read::read_to_end(&mut &file, &mut frame).map_err(RepoError::io(&path))?;
        let json = seal::open(
            Kind::Manifest,
            self.sealer(),
            id.as_str().as_bytes(),
            &frame,
            MAX_MANIFEST,
        )
        .map_err(|e| damaged(e.to_string()))?;
        decode_manifest(&json).map_err(|e| match e {
            DecodeError::Version(found) => RepoError::UnsupportedVersion {
                path,
                what: "manifest",
                found,
                supported: Manifest::FORMAT_VERSION,
            },
            DecodeError::Invalid(reason) => damaged(reason),
        })
    }

    /// Every manifest, readable or not; a listing error is an error.
    pub fn scan_snapshots(&self) -> Result<SnapshotScan, RepoError> {
        let mut scan = SnapshotScan::default();
        for id in self.snapshot_ids()? {
            match self.read_manifest(&id) {
                Ok(manifest) => scan.snapshots.push(SnapshotInfo { id, manifest }),
                // Removed by a prune since the listing.
                Err(RepoError::SnapshotNotFound { .. }) => {}
                Err(RepoError::ManifestDamaged { id, reason }) => {
                    scan.damaged.push(DamagedManifest { id, reason })
                }
                Err(e @ RepoError::UnsupportedVersion { .. }) => {
                    scan.damaged.push(DamagedManifest {
                        id,
                        reason: e.to_string(),
                    })
                }
                Err(e) => return Err(e),
            }
        }
        sort_newest_first(&mut scan.snapshots);
        Ok(scan)
    }

    /// Every snapshot, newest first. A manifest that does not read back is
    /// an error naming it (see [`Repo::scan_snapshots`] to go on without it).
    pub fn snapshots(&self) -> Result<Vec<SnapshotInfo>, RepoError> {
        let scan = self.scan_snapshots()?;
        if let Some(d) = scan.damaged.into_iter().next() {
            return Err(RepoError::ManifestDamaged {
                id: d.id,
                reason: d.reason,
            });
        }
        Ok(scan.snapshots)
    }

    /// A snapshot by id or unique prefix of at least 4 characters.
    pub fn load_snapshot(&self, query: &str) -> Result<SnapshotInfo, RepoError> {
        let q = query.trim().to_ascii_lowercase();
        let not_found = || RepoError::SnapshotNotFound {
            query: query.to_string(),
        };
        if q.len() < MIN_PREFIX || q.len() > SnapshotId::LEN || !is_lower_hex(&q) {
            return Err(not_found());
        }
        let matches: Vec<SnapshotId> = self
            .snapshot_ids()?
            .into_iter()
            .filter(|id| id.as_str().starts_with(&q))
            .collect();
        match matches.as_slice() {
            [] => Err(not_found()),
            [id] => Ok(SnapshotInfo {
                id: id.clone(),
                manifest: self.read_manifest(id)?,
            }),
            many => Err(RepoError::AmbiguousSnapshot {
                query: query.to_string(),
                matches: many
                    .iter()
                    .map(|i| i.as_str())
                    .collect::<Vec<_>>()
                    .join(", "),
            }),
        }
    }

    /// The newest snapshot of `vm` exported from `host`: the parent of the
    /// next export. Damaged manifests are skipped (and logged): the parent
    /// is only usable with its own checkpoint, so an older one is safe.
    pub fn latest_snapshot(&self, vm: &str, host: &str) -> Result<Option<SnapshotInfo>, RepoError> {
        let scan = self.scan_snapshots()?;
        for d in &scan.damaged {
            tracing::warn!(snapshot = %d.id, reason = %d.reason, "skipping a damaged manifest");
        }
        Ok(scan
            .snapshots
            .into_iter()
            .find(|s| s.manifest.vm == vm && s.manifest.host == host))
    }
}

/// Newest first by time; a tie (whole seconds) puts a snapshot before its
/// own parent, which keeps "latest" the one made last.
pub(crate) fn sort_newest_first(v: &mut [SnapshotInfo]) {
    let depths =
        super::retention::ancestry_depths(v.iter().map(|s| (&s.id, s.manifest.parent.as_ref())));
    v.sort_by(|a, b| {
        b.manifest
            .time
            .cmp(&a.manifest.time)
            .then_with(|| depths.get(&b.id).cmp(&depths.get(&a.id)))
            .then_with(|| b.id.cmp(&a.id))
    });
}

pub(crate) enum DecodeError {
    Version(u32),
    Invalid(String),
}

/// JSON to a checked manifest. Public to the crate for the fuzz tests.
pub(crate) fn decode_manifest(json: &[u8]) -> Result<Manifest, DecodeError> {
    #[derive(serde::Deserialize)]
    struct Version {
        format_version: u32,
    }
    if let Ok(v) = serde_json::from_slice::<Version>(json)
        && v.format_version > Manifest::FORMAT_VERSION
    {
        return Err(DecodeError::Version(v.format_version));
    }
    let m: Manifest =
        serde_json::from_slice(json).map_err(|e| DecodeError::Invalid(e.to_string()))?;
    m.validate().map_err(DecodeError::Invalid)?;
    Ok(m)
}
