//! Typed errors of the repository. Each message says what failed and where
//! (the repository path, the chunk or snapshot id).

use super::id::{ChunkId, SnapshotId};
use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum RepoError {
    #[error("{path}: not a kvm-clone repository (no config file)")]
    NotARepo { path: PathBuf },
    #[error("{path}: already exists and is not empty; refusing to create a repository there")]
    AlreadyExists { path: PathBuf },
    #[error(
        "{path}: {what} version {found} is not supported (this kvm-clone reads up to {supported})"
    )]
    UnsupportedVersion {
        path: PathBuf,
        what: &'static str,
        found: u32,
        supported: u32,
    },
    #[error(
        "{path}: the repository is encrypted: give a passphrase (KVM_CLONE_PASSPHRASE, --passphrase-file) or an age identity (--identity)"
    )]
    Locked { path: PathBuf },
    #[error("{path}: the repository is unlocked with {needs}, not {given}")]
    WrongUnlock {
        path: PathBuf,
        needs: &'static str,
        given: &'static str,
    },
    #[error("wrong passphrase for the repository")]
    WrongPassphrase,
    #[error("none of the given age identities opens the repository")]
    NoMatchingIdentity,
    #[error("age identity {path}: {reason}")]
    BadIdentity { path: PathBuf, reason: String },
    #[error("invalid age recipient {recipient:?}: {reason}")]
    BadRecipient { recipient: String, reason: String },
    #[error("{path}: the key file is damaged: {reason}")]
    KeysDamaged { path: PathBuf, reason: String },
    #[error("{path}: the config file is damaged: {reason}")]
    BadConfig { path: PathBuf, reason: String },
    #[error("invalid repository options: {0}")]
    BadOptions(String),
    #[error(
        "{path}: the repository is busy: another kvm-clone holds its lock (an export or a prune is running)"
    )]
    Busy { path: PathBuf },
    #[error("chunk {id} is missing from the repository")]
    ChunkMissing { id: ChunkId },
    #[error("chunk {id} is damaged: {reason}")]
    ChunkDamaged { id: ChunkId, reason: String },
    #[error("snapshot {id}: the manifest is damaged: {reason}")]
    ManifestDamaged { id: SnapshotId, reason: String },
    #[error("invalid manifest: {0}")]
    InvalidManifest(String),
    #[error("no snapshot matches {query:?}")]
    SnapshotNotFound { query: String },
    #[error("{query:?} matches several snapshots ({matches}); give more of the id")]
    AmbiguousSnapshot { query: String, matches: String },
    #[error(
        "a retention policy needs at least one --keep-* rule above 0; without one prune would remove every snapshot"
    )]
    EmptyPolicy,
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

impl RepoError {
    pub(crate) fn io(path: impl Into<PathBuf>) -> impl FnOnce(std::io::Error) -> RepoError {
        let path = path.into();
        move |source| RepoError::Io { path, source }
    }
}
