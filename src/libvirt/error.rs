//! The typed errors of the libvirt layer.

/// What went wrong talking to libvirt.
#[derive(Debug, thiserror::Error)]
pub enum LibvirtError {
    /// The configured libvirt URI is not one we can tunnel.
    #[error("unsupported libvirt URI {uri:?}: {reason}")]
    BadUri { uri: String, reason: String },
    /// `virConnectOpen` failed (tunnel down, daemon not running, refused…).
    #[error("cannot open libvirt on {host}: {source}")]
    Open {
        host: String,
        #[source]
        source: virt::error::Error,
    },
    /// The connection is gone (EOF, keepalive timeout, tunnel closed). The
    /// worker is useless from now on: drop it and spawn a new one.
    #[error("libvirt connection to {host} is lost: {reason}")]
    Disconnected { host: String, reason: String },
    /// A libvirt call failed on a live connection.
    #[error("libvirt on {host}: {source}")]
    Call {
        host: String,
        #[source]
        source: virt::error::Error,
    },
    /// A domain's XML could not be parsed.
    #[error("domain {domain}: {reason}")]
    Xml { domain: String, reason: String },
    /// The worker thread has stopped (it panicked or was shut down).
    #[error("libvirt worker for {host} has stopped")]
    WorkerGone { host: String },
    /// libvirt's event loop could not be registered or started.
    #[error("libvirt event loop: {reason}")]
    EventLoop { reason: String },
    /// Local I/O: creating the tunnel socket, starting a thread.
    #[error("{context}: {source}")]
    Io {
        context: String,
        #[source]
        source: std::io::Error,
    },
}

impl LibvirtError {
    /// True when the connection is unusable and the backend should reconnect.
    pub fn is_disconnect(&self) -> bool {
        matches!(
            self,
            LibvirtError::Disconnected { .. } | LibvirtError::WorkerGone { .. }
        )
    }
}
