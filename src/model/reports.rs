//! What finished jobs report: headless `--json` prints these (docs/json.md),
//! and they travel in [`JobResult`], how a job ended.

use super::Checklist;
use serde::{Deserialize, Serialize};
use std::path::PathBuf;

/// What a finished clone reports (headless `--json` prints it).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CloneReport {
    pub checklist: Checklist,
    pub new_name: String,
    pub new_uuid: String,
    /// Bytes of data read from the source and written (holes excluded,
    /// re-writes after a resume included).
    pub bytes_moved: u64,
    /// Data bytes the copies hold (each written byte once).
    pub bytes_stored: u64,
    /// Bytes of the disks never sent: holes and zero runs of the source.
    pub bytes_skipped: u64,
    /// Reconnects the copies needed.
    pub retries: u32,
    /// True when the copy was read back and its digest compared.
    pub verified: bool,
    pub live: bool,
    pub started: bool,
    pub disks: Vec<String>,
    /// The source was shut down for the copy (the profile's live policy).
    pub source_shut_down: bool,
    /// The source was started again after the copy.
    pub source_restarted: bool,
    /// Things that went wrong after the clone was made (e.g. the restart).
    pub warnings: Vec<String>,
}

/// How one disk's export went.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
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
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
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
    pub totals: Totals,
    /// Bytes of the disks never read: holes, zeros, unchanged chunks.
    pub skipped_bytes: u64,
    pub retries: u32,
    pub disks: Vec<DiskReport>,
    /// Things worth knowing that did not stop the export.
    pub warnings: Vec<String>,
    /// Snapshots of this VM the profile's retention removed afterwards.
    pub pruned: Vec<String>,
}

/// What a finished restore reports (headless `--json` prints it).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RestoreReport {
    pub checklist: Checklist,
    pub snapshot: String,
    /// The VM the snapshot was taken of, and where.
    pub vm: String,
    pub source_host: String,
    /// The restored VM on the destination.
    pub name: String,
    pub uuid: String,
    pub keep_identity: bool,
    /// Data bytes read from the repository and written.
    pub bytes_moved: u64,
    /// Data bytes the restored images hold.
    pub bytes_stored: u64,
    /// Bytes of the disks never written: chunks the snapshot does not store.
    pub bytes_skipped: u64,
    pub retries: u32,
    /// True when the images were read back and their digest compared.
    pub verified: bool,
    pub started: bool,
    /// The restored images' paths on the destination.
    pub disks: Vec<String>,
    /// Things that went wrong after the VM was made (a start that failed).
    #[serde(default)]
    pub warnings: Vec<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Totals {
    /// Sum of the disks' virtual sizes.
    pub virtual_bytes: u64,
    /// Bytes of the non-zero chunks the snapshot references.
    pub data_bytes: u64,
    /// Bytes this export read from the source.
    pub read_bytes: u64,
    /// Bytes on disk of the chunk files this export added.
    pub new_bytes: u64,
    pub new_chunks: u64,
    /// Referenced chunks that were already stored.
    pub reused_chunks: u64,
    pub duration_ms: u64,
}

/// How a job ended, with what a headless caller prints.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum JobResult {
    Cloned(CloneReport),
    Exported(Box<ExportReport>),
    Failed {
        message: String,
        /// The pre-flight checklist, when that is what stopped the job.
        checklist: Option<Checklist>,
    },
    Restored(RestoreReport),
    Cancelled,
}

impl JobResult {
    /// The message the detail view shows for how the job ended.
    pub fn error_message(&self) -> Option<String> {
        match self {
            JobResult::Cloned(_) | JobResult::Restored(_) | JobResult::Exported(_) => None,
            JobResult::Failed { message, .. } => Some(message.clone()),
            JobResult::Cancelled => Some("cancelled".into()),
        }
    }
}
