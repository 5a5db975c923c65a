//! The daemon: the backend in a process of its own, reached over a unix
//! socket, so jobs outlive the terminal that started them
//! (docs/daemon.md).
//!
//! - [`socket`]: where it listens, the directory and file modes it needs,
//!   and who may connect (`SO_PEERCRED`);
//! - [`frame`], [`protocol`]: length-prefixed JSON frames, a versioned
//!   handshake, then the backend's own `Action`s and `Event`s;
//! - [`server`]: the accept loop and one task per client (a state snapshot
//!   on attach, then every event; a client that falls behind gets a fresh
//!   snapshot instead of holding anything up);
//! - [`client`]: the other end, giving a front end the same channels an
//!   in-process backend does.
//!
//! Above `backend` (which never names it); below the front ends.

pub mod client;
pub mod frame;
pub mod protocol;
pub mod run;
pub mod server;
pub mod socket;

use std::path::PathBuf;

/// What goes wrong between a daemon and its clients.
#[derive(Debug, thiserror::Error)]
pub enum DaemonError {
    #[error("socket I/O: {0}")]
    Io(#[source] std::io::Error),
    #[error("daemon protocol: {0}")]
    Protocol(String),
    #[error("no kvm-clone daemon answers on {path}: {source}; start one with `kvm-clone daemon`")]
    NoDaemon {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("the daemon refused this connection: {0}")]
    Refused(String),
    #[error("a kvm-clone daemon already listens on {0}")]
    AlreadyRunning(PathBuf),
    #[error("{path}: {why}")]
    UnsafePath { path: PathBuf, why: String },
    #[error(transparent)]
    Api(#[from] crate::api::ApiError),
    #[error(
        "no place for the daemon's socket: XDG_RUNTIME_DIR is not set; give --socket PATH (or KVM_CLONE_SOCKET)"
    )]
    NoRuntimeDir,
}
