//! View-model types shared by the backend and every front end (TUI, headless).
//!
//! They are plain data: cloning one never touches a live connection, so the
//! UI can render from them without blocking.

use serde::{Deserialize, Serialize};

pub mod checklist;
pub mod detail;
pub mod format;
pub mod history;
mod image_format;
mod job_kind;
pub mod names;
mod new_repo;
pub mod profile;
pub mod reports;
pub mod requests;
pub mod schedule;
mod secret;
pub mod snapshot;
mod unlock;

pub use history::{HistoryEntry, HistoryResult};

pub use image_format::{FormatChoice, ImageFormat, UnknownFormat};
pub use job_kind::JobKind;
pub use new_repo::{NewRepoKey, RepoPlace};
pub use reports::{CloneReport, ExportReport, JobResult, RestoreReport};
pub use requests::{CloneRequest, ExportRequest, JobRequest, RestoreRequest};
pub use secret::Secret;
pub use unlock::Unlock;

/// Connection state of one host, as the hosts pane shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum ConnState {
    /// Not tried yet.
    Idle,
    Connecting,
    Up,
    AuthFailed {
        reason: String,
    },
    Unreachable {
        reason: String,
    },
    /// The host presented a key that differs from known_hosts. Never overridden in the app.
    HostKeyChanged {
        reason: String,
    },
    /// The host is not in any known_hosts file; the operator must accept its fingerprint.
    HostKeyUnknown {
        fingerprint: String,
    },
    /// An identity file is encrypted; the operator must type its passphrase.
    NeedsPassphrase {
        key_path: String,
    },
}

impl ConnState {
    /// Short label for tables and JSON.
    pub fn label(&self) -> &'static str {
        match self {
            ConnState::Idle => "idle",
            ConnState::Connecting => "connecting",
            ConnState::Up => "up",
            ConnState::AuthFailed { .. } => "auth failed",
            ConnState::Unreachable { .. } => "unreachable",
            ConnState::HostKeyChanged { .. } => "host key changed",
            ConnState::HostKeyUnknown { .. } => "host key unknown",
            ConnState::NeedsPassphrase { .. } => "needs passphrase",
        }
    }

    /// Why the state is what it is, if there is more to say than the label.
    pub fn reason(&self) -> Option<&str> {
        match self {
            ConnState::AuthFailed { reason }
            | ConnState::Unreachable { reason }
            | ConnState::HostKeyChanged { reason } => Some(reason),
            ConnState::HostKeyUnknown { fingerprint } => Some(fingerprint),
            ConnState::NeedsPassphrase { key_path } => Some(key_path),
            _ => None,
        }
    }
}

/// A storage pool on a host.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PoolInfo {
    pub name: String,
    pub active: bool,
    pub capacity_bytes: u64,
    pub allocation_bytes: u64,
    /// Free space as libvirt reports it (may count root-reserved blocks).
    pub available_bytes: u64,
    /// The directory holding the volumes (dir, fs and netfs pools).
    #[serde(default)]
    pub path: Option<String>,
    /// Free space for writers of [`Self::path`], from `statvfs` over SSH;
    /// None when not measured.
    #[serde(default)]
    pub fs_available_bytes: Option<u64>,
    /// The free space a copy can use: [`usable_free`] of the two above.
    #[serde(default)]
    pub usable_bytes: u64,
}

impl PoolInfo {
    /// Records the filesystem's free space and the usable figure from it.
    pub fn set_fs_available(&mut self, fs: Option<u64>) {
        self.fs_available_bytes = fs;
        self.usable_bytes = usable_free(self.available_bytes, fs);
    }

    /// libvirt's figure, when it claims more than can be used.
    pub fn libvirt_overstates(&self) -> Option<u64> {
        (self.available_bytes > self.usable_bytes).then_some(self.available_bytes)
    }
}

/// The free space a copy can count on: the smaller of libvirt's figure and
/// the filesystem's (libvirt counts blocks reserved for root, which a copy
/// cannot use). The pre-flight space check and the hosts view both use it.
pub fn usable_free(libvirt_available: u64, fs_available: Option<u64>) -> u64 {
    fs_available.map_or(libvirt_available, |fs| fs.min(libvirt_available))
}

/// Facts about a host that are read from libvirt once it is up.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HostInfo {
    pub hostname: String,
    /// libvirt daemon version, e.g. "9.0.0".
    pub libvirt_version: String,
    /// Hypervisor (qemu) version, e.g. "7.2.0".
    pub qemu_version: String,
    pub cpus: u32,
    pub memory_total_bytes: u64,
    pub memory_free_bytes: u64,
    pub pools: Vec<PoolInfo>,
}

/// One host as shown in the hosts pane and `kvm-clone hosts`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HostView {
    pub name: String,
    /// `user@address:port`, for display.
    pub endpoint: String,
    #[serde(flatten)]
    pub state: ConnState,
    pub info: Option<HostInfo>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum VmState {
    Running,
    Paused,
    ShutOff,
    Crashed,
    Suspended,
    Other,
}

impl VmState {
    pub fn label(self) -> &'static str {
        match self {
            VmState::Running => "running",
            VmState::Paused => "paused",
            VmState::ShutOff => "shut off",
            VmState::Crashed => "crashed",
            VmState::Suspended => "suspended",
            VmState::Other => "other",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DiskInfo {
    /// Guest device name, e.g. "vda".
    pub target: String,
    /// "disk", "cdrom", "floppy", "lun".
    pub device: String,
    /// Image path on the host, if the disk is file-backed.
    pub source: Option<String>,
    /// Driver format, e.g. "qcow2" or "raw".
    pub format: Option<String>,
    pub readonly: bool,
    pub shareable: bool,
    /// Bytes allocated on the host (what a copy would move).
    pub allocation_bytes: u64,
    /// Virtual size the guest sees.
    pub capacity_bytes: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NicInfo {
    /// `<interface type=…>`: "network", "bridge", "user", "direct", …
    pub kind: String,
    /// Network or bridge name, when the type has one.
    pub source: Option<String>,
    pub mac: Option<String>,
    pub model: Option<String>,
}

/// Whether a running VM can be cloned without downtime, and why not.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LiveClone {
    pub possible: bool,
    pub reason: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VmInfo {
    pub name: String,
    pub uuid: String,
    pub state: VmState,
    pub vcpus: u32,
    pub memory_bytes: u64,
    pub disks: Vec<DiskInfo>,
    pub nics: Vec<NicInfo>,
    pub live_clone: LiveClone,
    /// Full domain XML, for the detail view. It travels in messages; the
    /// headless `--json` output leaves it out (docs/json.md).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub xml: String,
}

/// Phase of a job, in the order a clone passes through them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum JobPhase {
    /// Waiting for the concurrency limits (`[jobs]` in the config) to allow it.
    Queued,
    Validating,
    Preparing,
    Copying,
    Verifying,
    Defining,
    Done,
    Failed,
    Cancelled,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DiskProgress {
    pub target: String,
    pub bytes_done: u64,
    pub bytes_total: u64,
}

/// A job as the jobs pane shows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JobView {
    /// The key of the job's journal, run directories and history row.
    pub id: u64,
    /// What people call the job: 1, 2, 3… in the order the backend made
    /// its jobs, unique for that backend's life (one TUI session, or a
    /// daemon's), so every front end shows the same "#3". 0 from a
    /// backend that predates numbers.
    #[serde(default)]
    pub number: u32,
    pub kind: JobKind,
    pub vm: String,
    pub from: String,
    pub to: String,
    pub phase: JobPhase,
    pub disks: Vec<DiskProgress>,
    /// Bytes per second, smoothed.
    pub rate_bytes_per_sec: f64,
    pub eta_secs: Option<u64>,
    pub message: Option<String>,
    /// 1-based place in the queue while the phase is [`JobPhase::Queued`].
    #[serde(skip_serializing_if = "Option::is_none")]
    pub queue_position: Option<usize>,
}

impl JobView {
    /// "#3"; see [`job_label`].
    pub fn label(&self) -> String {
        job_label(self.id, self.number)
    }

    pub fn bytes_done(&self) -> u64 {
        self.disks.iter().map(|d| d.bytes_done).sum()
    }
    pub fn bytes_total(&self) -> u64 {
        self.disks.iter().map(|d| d.bytes_total).sum()
    }
}

/// How a job is named to people: "#3" by its number; without one (a
/// backend that predates numbers) the last five digits of its id, which
/// differ between jobs where the first ones do not.
pub fn job_label(id: u64, number: u32) -> String {
    if number > 0 {
        format!("#{number}")
    } else {
        format!("…{:05}", id % 100_000)
    }
}

/// Pre-flight checklists are the validation's report, shown as is.
pub use checklist::{CheckItem, CheckStatus, ValidationReport as Checklist};

/// One snapshot of a repository as the repository view lists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SnapshotRow {
    pub id: String,
    pub vm: String,
    pub host: String,
    /// Unix seconds (UTC) of the snapshot's point in time.
    pub time: i64,
    pub profile: String,
    pub live: bool,
    pub disks: Vec<String>,
    /// Sum of the disks' virtual sizes.
    pub virtual_bytes: u64,
    /// Bytes of non-zero data the snapshot references.
    pub data_bytes: u64,
    /// Bytes this snapshot added to the repository (compressed, sealed).
    pub new_bytes: u64,
}

impl SnapshotRow {
    /// How much smaller the snapshot's new data is than what it references
    /// (deduplication and compression together); None when it added nothing.
    pub fn reduction(&self) -> Option<f64> {
        (self.new_bytes > 0).then(|| self.data_bytes as f64 / self.new_bytes as f64)
    }
}

/// A repository's snapshots, as read by the backend.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RepoView {
    pub path: String,
    pub encrypted: bool,
    /// Unix seconds when it was read: ages are counted from here.
    pub read_at: i64,
    /// Newest first.
    pub snapshots: Vec<SnapshotRow>,
}

/// A retention policy as the front end sends it; 0 means "no such rule".
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeepPolicy {
    pub last: u32,
    pub daily: u32,
    pub weekly: u32,
    pub monthly: u32,
    pub yearly: u32,
}

impl KeepPolicy {
    pub fn is_empty(&self) -> bool {
        *self == KeepPolicy::default()
    }
}

/// What a prune did, or (dry run) would do.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PruneView {
    pub dry_run: bool,
    /// Every snapshot considered, newest first, with the verdict.
    pub snapshots: Vec<PruneLine>,
    pub chunks_removed: u64,
    pub bytes_freed: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PruneLine {
    pub id: String,
    pub vm: String,
    pub time: i64,
    pub keep: bool,
    /// Why it is kept ("last 3", "daily 2"…), empty when removed.
    pub reasons: Vec<String>,
}

/// The outcome of a verify.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VerifyView {
    pub read_data: bool,
    pub snapshots: u64,
    pub chunks: u64,
    /// One line per damage: snapshot, VM, disk, offset and what is wrong.
    pub problems: Vec<String>,
    /// Distinct chunk files whose content is damaged (a read-data verify):
    /// what a repair would remove.
    pub repairable: u64,
    /// Damaged chunk files this verify removed (it was a repair).
    pub repaired: u64,
}
