//! Restore: a repository snapshot back onto a host, as a new VM (new name,
//! UUID and MACs) or, with `keep_identity`, as the same machine for
//! disaster recovery. The same pre-flight checks as a clone (the snapshot
//! stands in for the source host), fresh images written over NBD with holes
//! left as holes, the rewritten domain defined last, everything undone on
//! failure or cancel (docs/restore.md).
//!
//! - [`facts`]: what the snapshot says about the VM, as validation facts.
//! - [`checks`]: the restore's own checklist items.
//! - [`run`]: the job.

pub mod checks;
pub mod facts;
pub mod run;

use crate::jobs::clone::xml_rewrite::DiskFormat;
use crate::repo::Unlock;
use std::path::PathBuf;
use std::sync::Arc;

/// The name a restore gets when neither a new name nor `keep_identity` is given.
pub fn default_name(vm: &str) -> String {
    format!("{vm}-restored")
}

/// What the operator asked to restore, where, and how.
#[derive(Clone)]
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
    pub format: Option<DiskFormat>,
    /// Start the VM once defined, whatever the profile says.
    pub start: bool,
    /// How to open the repository. Never printed.
    pub unlock: Arc<Unlock>,
}

impl std::fmt::Debug for RestoreRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let unlock = match self.unlock.as_ref() {
            Unlock::None => "none",
            Unlock::Passphrase(_) => "passphrase",
            Unlock::Identities(_) => "identities",
        };
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

/// What a finished restore reports (headless `--json` prints it).
#[derive(Debug, Clone, serde::Serialize)]
pub struct RestoreReport {
    pub checklist: crate::model::Checklist,
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
            unlock: Arc::new(Unlock::Passphrase(Zeroizing::new("hunter2-secret".into()))),
        };
        let s = format!("{req:?}");
        assert!(!s.contains("hunter2"), "{s}");
        assert!(s.contains("passphrase"), "{s}");
        assert_eq!(default_name("web01"), "web01-restored");
    }
}
