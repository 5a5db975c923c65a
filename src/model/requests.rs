//! What front ends ask jobs to do: plain, serialisable requests. Handles
//! (open repositories, links) stay in the backend, looked up by name or path.

use super::{ImageFormat, JobKind, Unlock};
use serde::{Deserialize, Serialize};
use std::path::PathBuf;

/// What the operator asked to clone, where, and how.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CloneRequest {
    /// Source host name (config).
    pub from: String,
    pub vm: String,
    /// Destination host name (config).
    pub to: String,
    pub new_name: String,
    /// Profile name (docs/profiles.md).
    pub profile: String,
    /// Start the clone once defined, whatever the profile says.
    #[serde(default)]
    pub start: bool,
}

/// What to export, and how to open the repository. Debug never shows the
/// passphrase ([`Unlock`]'s Debug hides it).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExportRequest {
    pub vm: String,
    /// The source host's name in the config.
    pub from: String,
    pub repo: PathBuf,
    pub profile: String,
    /// None: the key the backend already holds for `repo` (the repository
    /// view or an earlier `Action::RepoOpen`
    /// unlocked it), else the profile's passphrase source.
    pub unlock: Unlock,
}

/// The name a restore gets when neither a new name nor `keep_identity` is given.
pub fn default_name(vm: &str) -> String {
    format!("{vm}-restored")
}

/// What the operator asked to restore, where, and how.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RestoreRequest {
    /// The repository directory.
    pub repo: PathBuf,
    /// A snapshot id, or a unique prefix of one (at least 4 characters).
    pub snapshot: String,
    /// Destination host name (config).
    pub to: String,
    /// The restored VM's name; None: `<vm>-restored`, or the original name
    /// with `keep_identity`.
    pub new_name: Option<String>,
    /// Restore the same machine: the original name, UUID and MACs. The
    /// destination must have neither that name nor that UUID defined.
    pub keep_identity: bool,
    /// Profile name (clone profiles: format, pool, verify, connections, …).
    pub profile: String,
    /// Image format of the restored disks; None: the snapshot's original
    /// format (the profile's when the disks had different ones).
    pub format: Option<ImageFormat>,
    /// Start the VM once defined, whatever the profile says.
    pub start: bool,
    /// How to open the repository. Never printed.
    pub unlock: Unlock,
}

impl std::fmt::Debug for RestoreRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let unlock = self.unlock.kind();
        f.debug_struct("RestoreRequest")
            .field("repo", &self.repo)
            .field("snapshot", &self.snapshot)
            .field("to", &self.to)
            .field("new_name", &self.new_name)
            .field("keep_identity", &self.keep_identity)
            .field("profile", &self.profile)
            .field("format", &self.format)
            .field("start", &self.start)
            .field("unlock", &unlock)
            .finish()
    }
}

/// Any job's request: one variant per [`JobKind`]. The backend keeps one
/// per job of its run, for the queue, the jobs pane and a retry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum JobRequest {
    Clone(CloneRequest),
    Export(ExportRequest),
    Restore(RestoreRequest),
}

impl JobRequest {
    pub fn kind(&self) -> JobKind {
        match self {
            JobRequest::Clone(_) => JobKind::Clone,
            JobRequest::Export(_) => JobKind::Export,
            JobRequest::Restore(_) => JobKind::Restore,
        }
    }

    /// The hosts the job runs on, in the order it wants their links: the
    /// queue's per-host limits count it against each.
    pub fn hosts(&self) -> Vec<&str> {
        match self {
            JobRequest::Clone(r) => vec![&r.from, &r.to],
            JobRequest::Export(r) => vec![&r.from],
            JobRequest::Restore(r) => vec![&r.to],
        }
    }

    /// What the jobs pane and history call the job's VM, source and
    /// destination: a repository stands in for a host.
    pub fn vm_from_to(&self) -> (String, String, String) {
        match self {
            JobRequest::Clone(r) => (r.vm.clone(), r.from.clone(), r.to.clone()),
            JobRequest::Export(r) => (r.vm.clone(), r.from.clone(), r.repo.display().to_string()),
            JobRequest::Restore(r) => (
                format!("snapshot {}", r.snapshot),
                format!("repo {}", r.repo.display()),
                r.to.clone(),
            ),
        }
    }

    /// The name of the profile it runs with.
    pub fn profile(&self) -> &str {
        match self {
            JobRequest::Clone(r) => &r.profile,
            JobRequest::Export(r) => &r.profile,
            JobRequest::Restore(r) => &r.profile,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use zeroize::Zeroizing;

    #[test]
    fn debug_never_prints_the_passphrase() {
        let req = RestoreRequest {
            repo: "/backups/repo".into(),
            snapshot: "abcd".into(),
            to: "beta".into(),
            new_name: None,
            keep_identity: false,
            profile: "default".into(),
            format: None,
            start: false,
            unlock: Unlock::Passphrase(Zeroizing::new("hunter2-secret".into())),
        };
        let s = format!("{req:?}");
        assert!(!s.contains("hunter2"), "{s}");
        assert!(s.contains("passphrase"), "{s}");
        assert_eq!(default_name("web01"), "web01-restored");
    }
}
