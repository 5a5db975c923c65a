//! Typed errors of the host-side endpoints.

use crate::libvirt::LibvirtError;
use crate::nbd::NbdError;
use crate::transport::SshError;

#[derive(Debug, thiserror::Error)]
pub enum RemoteError {
    /// A host path that is not absolute, or holds NUL, a newline or `..`.
    #[error("invalid host path {path:?}: {reason}")]
    InvalidPath { path: String, reason: &'static str },
    /// A name used as one path component or label (disk, job tag, file name).
    #[error("invalid {what} {value:?}: {reason}")]
    InvalidName {
        what: &'static str,
        value: String,
        reason: &'static str,
    },
    #[error(transparent)]
    Ssh(#[from] SshError),
    #[error(transparent)]
    Libvirt(#[from] LibvirtError),
    #[error(transparent)]
    Nbd(#[from] NbdError),
    /// A remote command answered something we cannot use.
    #[error("{host}: unexpected output from {what}: {detail}")]
    UnexpectedOutput {
        host: String,
        what: &'static str,
        detail: String,
    },
    /// The file is there already; kvm-clone never overwrites.
    #[error("{host}: {path} already exists; refusing to overwrite it")]
    Exists { host: String, path: String },
    #[error("{host}: qemu-nbd for {image} did not start: {detail}")]
    QemuNbd {
        host: String,
        image: String,
        detail: String,
    },
    #[error("storage pool {pool}: {reason}")]
    Pool { pool: String, reason: String },
    #[error("backup of {domain}: {reason}")]
    Backup { domain: String, reason: String },
}

impl RemoteError {
    /// Whether retrying after a reconnect can help: the SSH connection or
    /// the libvirt tunnel dropped, or an NBD connection was lost.
    pub fn is_transient(&self) -> bool {
        match self {
            RemoteError::Ssh(e) => e.is_transient(),
            RemoteError::Libvirt(e) => e.is_disconnect(),
            RemoteError::Nbd(e) => matches!(e, NbdError::ConnectionLost(_) | NbdError::Io(_)),
            _ => false,
        }
    }
}
