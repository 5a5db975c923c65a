//! Typed errors of the SSH transport.

use std::fmt;
use std::io;
use std::path::PathBuf;

/// Why a TCP connection could not be made, in the terms operators use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UnreachableKind {
    /// Name resolution failed or gave no address.
    Dns,
    /// Nothing listens on the port (or a firewall rejects).
    Refused,
    /// No answer in time: a firewall dropping packets, or the host is down.
    TimedOut,
    /// No route to the host or network.
    NoRoute,
    /// Anything else the OS reported.
    Other,
}

impl UnreachableKind {
    pub fn from_io(e: &io::Error) -> Self {
        match e.kind() {
            io::ErrorKind::ConnectionRefused => UnreachableKind::Refused,
            io::ErrorKind::TimedOut => UnreachableKind::TimedOut,
            io::ErrorKind::HostUnreachable | io::ErrorKind::NetworkUnreachable => {
                UnreachableKind::NoRoute
            }
            _ => UnreachableKind::Other,
        }
    }
}

impl fmt::Display for UnreachableKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            UnreachableKind::Dns => "name resolution failed",
            UnreachableKind::Refused => "connection refused",
            UnreachableKind::TimedOut => "timed out",
            UnreachableKind::NoRoute => "no route to host",
            UnreachableKind::Other => "connection failed",
        })
    }
}

#[derive(Debug, thiserror::Error)]
pub enum SshError {
    #[error("{target}: {kind} ({detail})")]
    Unreachable {
        /// `address:port` as configured.
        target: String,
        kind: UnreachableKind,
        detail: String,
    },
    #[error("host key of {host} is not known (fingerprint {fingerprint})")]
    HostKeyUnknown {
        /// known_hosts host field, e.g. `[127.0.0.1]:2222`.
        host: String,
        fingerprint: String,
        /// The key the server presented, so that accepting it can write it.
        key: Box<russh::keys::PublicKey>,
    },
    #[error("{warning}")]
    HostKeyChanged {
        host: String,
        fingerprint: String,
        file: PathBuf,
        line: usize,
        /// OpenSSH-style warning text.
        warning: String,
    },
    #[error("host key of {host} ({fingerprint}) is revoked in {}:{line}", file.display())]
    HostKeyRevoked {
        host: String,
        fingerprint: String,
        file: PathBuf,
        line: usize,
    },
    #[error(transparent)]
    KnownHosts(#[from] super::known_hosts::KnownHostsError),
    #[error("authentication failed for {user}@{target}; tried: {}; server accepts: {}",
        if tried.is_empty() { "nothing".to_string() } else { tried.join("; ") },
        if server_methods.is_empty() { "?".to_string() } else { server_methods.join(",") })]
    AuthFailed {
        user: String,
        target: String,
        /// One line per key or method tried and what came of it.
        tried: Vec<String>,
        /// Methods the server said it would accept.
        server_methods: Vec<String>,
    },
    #[error("identity file {} is encrypted; a passphrase is needed", key_path.display())]
    NeedsPassphrase { key_path: PathBuf },
    #[error("wrong passphrase for identity file {}", key_path.display())]
    BadPassphrase { key_path: PathBuf },
    #[error("SSH connection to {target} lost: {reason}")]
    Disconnected { target: String, reason: String },
    #[error("SSH protocol error with {target}: {detail}")]
    Protocol { target: String, detail: String },
    #[error("SSH channel error: {0}")]
    Channel(String),
    #[error("remote command `{command}` failed ({status}): {stderr}")]
    Exec {
        command: String,
        /// "exit 1" or "signal KILL".
        status: String,
        /// Remote stderr, lossily decoded and trimmed.
        stderr: String,
    },
}

impl SshError {
    /// Whether a retry without operator action can help (network trouble),
    /// as opposed to keys, passphrases and host keys.
    pub fn is_transient(&self) -> bool {
        matches!(
            self,
            SshError::Unreachable { .. }
                | SshError::Disconnected { .. }
                | SshError::Protocol { .. }
                | SshError::Channel(_)
        )
    }
}
