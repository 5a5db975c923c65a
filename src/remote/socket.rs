//! Reaching a unix socket on a host through its SSH session, and opening an
//! NBD client over it.

use super::error::RemoteError;
use super::path::RemotePath;
use crate::nbd::{ConnectOptions, NbdClient};
use crate::transport::quote::Command;
use crate::transport::{Session, SshError, SshStream};

/// How a host's unix socket is reached.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SocketTransport {
    /// `direct-streamlocal@openssh.com`, falling back to `nc -U` when the
    /// server refuses it (sshd `AllowStreamLocalForwarding no`).
    #[default]
    Auto,
    /// Only `direct-streamlocal@openssh.com`.
    Streamlocal,
    /// Only an exec channel running `nc -U <socket>` (OpenBSD netcat).
    NcExec,
}

/// The exec fallback's command line.
pub fn nc_command(socket: &RemotePath) -> String {
    Command::new("nc").arg("-U").arg(socket.as_str()).build()
}

/// Opens a byte stream to `socket` on the host.
pub async fn open(
    session: &Session,
    socket: &RemotePath,
    transport: SocketTransport,
) -> Result<SshStream, RemoteError> {
    match transport {
        SocketTransport::Streamlocal => Ok(session.open_streamlocal(socket.as_str()).await?),
        SocketTransport::NcExec => Ok(session.exec_stream(&nc_command(socket)).await?),
        SocketTransport::Auto => match session.open_streamlocal(socket.as_str()).await {
            Ok(s) => Ok(s),
            // A lost connection will not be saved by another channel type.
            Err(e @ SshError::Disconnected { .. }) => Err(e.into()),
            Err(e) => {
                tracing::debug!(%socket, error = %e, "streamlocal refused; using nc -U");
                Ok(session.exec_stream(&nc_command(socket)).await?)
            }
        },
    }
}

/// Opens `socket` and negotiates NBD on it. With `nc -U`, a socket that
/// cannot be reached shows up as an I/O error (EOF) during the handshake.
pub async fn connect_nbd(
    session: &Session,
    socket: &RemotePath,
    transport: SocketTransport,
    opts: ConnectOptions,
) -> Result<NbdClient, RemoteError> {
    let stream = open(session, socket, transport).await?;
    Ok(NbdClient::connect(stream, opts).await?)
}
