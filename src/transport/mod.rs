//! The SSH transport: one russh connection per host, shared by everything
//! that talks to that host (commands, libvirt's socket, bulk data).
//!
//! - [`known_hosts`]: host-key verification against OpenSSH known_hosts files.
//! - [`session`]: connect, authenticate, run commands, open streams.
//! - [`stream`]: `AsyncRead + AsyncWrite` over one channel.
//! - [`supervisor`]: keeps each host's session up and reports its state.
//! - [`quote`]: shell quoting for remote command lines.
//!
//! Policy (auth order, host keys, tuning, reconnect) is in docs/ssh.md.

pub mod auth;
pub mod error;
pub mod known_hosts;
pub mod quote;
pub mod session;
pub mod stream;
pub mod supervisor;
pub mod tuning;

pub use auth::{AgentSource, KeyCache, KeyPassphrase};
pub use error::{SshError, UnreachableKind};
pub use known_hosts::HostKeyStatus;
pub use session::{ExecOutput, Session, SessionConfig};
pub use stream::{ExitInfo, SshStream};
pub use supervisor::{HostConnection, StateChange, Supervisor, SupervisorError};
