//! The export job: a VM's disks read over NBD (a pull-mode backup for a
//! running VM, qemu-nbd for a shut-off one) into a repository
//! ([`crate::repo`]) as deduplicated, compressed, encrypted chunks, with
//! the domain XML and NVRAM, committed as one snapshot. docs/export.md.
//!
//! - [`plan`]: what to do with each chunk (pure).
//! - [`resume`]: the resume state of an interrupted export.
//! - [`run`]: the job itself.

pub mod plan;
pub mod resume;
pub mod run;

use crate::repo::{Repo, Unlock};
use std::path::PathBuf;
use std::sync::Arc;

/// The profile an export uses unless told otherwise.
pub const DEFAULT_PROFILE: &str = "quick-backup";

/// What to export, and how to open the repository. Debug never shows the
/// passphrase ([`Unlock`]'s Debug hides it).
#[derive(Debug, Clone)]
pub struct ExportRequest {
    pub vm: String,
    /// The source host's name in the config.
    pub from: String,
    pub repo: PathBuf,
    pub profile: String,
    /// Shared, not copied: the key material exists once.
    pub unlock: Arc<Unlock>,
    /// The repository at `repo`, already unlocked by the front end: the
    /// headless command derives the key while the host connects, and the
    /// TUI reuses one its repository view opened. None: the job opens it.
    pub opened: Option<Arc<Repo>>,
}

/// How one disk's export went.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct DiskReport {
    pub target: String,
    pub virtual_size: u64,
    /// Bytes read from the source.
    pub read_bytes: u64,
    /// Bytes of the non-zero chunks the snapshot references.
    pub data_bytes: u64,
    /// Chunks taken without reading (unchanged since the parent or the
    /// interrupted run).
    pub unchanged_chunks: u64,
    pub new_chunks: u64,
}

/// What a finished export reports (headless `--json` prints it).
#[derive(Debug, Clone, serde::Serialize)]
pub struct ExportReport {
    pub snapshot: String,
    pub vm: String,
    pub host: String,
    pub repo: PathBuf,
    pub profile: String,
    /// Read from a running VM (pull backup).
    pub live: bool,
    /// The snapshot unchanged chunks came from.
    pub parent: Option<String>,
    /// The checkpoint the backup was incremental from (the parent's, or an
    /// interrupted run's); `None` for a full read.
    pub incremental_from: Option<String>,
    /// Why the export read everything although an incremental was possible
    /// (e.g. the parent's checkpoint is missing on the host).
    pub full_read_reason: Option<String>,
    /// The checkpoint kept for the next incremental.
    pub checkpoint: Option<String>,
    /// Chunks an interrupted run had stored that this one kept.
    pub resumed_chunks: u64,
    pub totals: crate::repo::Totals,
    /// Bytes of the disks never read: holes, zeros, unchanged chunks.
    pub skipped_bytes: u64,
    pub retries: u32,
    pub disks: Vec<DiskReport>,
    /// Things worth knowing that did not stop the export.
    pub warnings: Vec<String>,
    /// Snapshots of this VM the profile's retention removed afterwards.
    pub pruned: Vec<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    #[error("cannot export: {0}")]
    Invalid(String),
    #[error("cancelled")]
    Cancelled,
    #[error("{step}: {message}")]
    Step { step: &'static str, message: String },
}
