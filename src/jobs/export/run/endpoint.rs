//! Where a disk is served, so its connections can be reopened after a
//! failure.

use super::*;

#[derive(Clone)]
pub(super) struct Endpoint {
    pub(super) conn: HostConnection,
    pub(super) socket: RemotePath,
    pub(super) opts: ConnectOptions,
}

impl Endpoint {
    pub(super) async fn connect(&self, count: usize) -> Result<NbdPool, BlockError> {
        let session = self.conn.session().await.map_err(BlockError::transport)?;
        let socket = self.socket.clone();
        NbdPool::connect(count, &self.opts, || {
            let (session, socket) = (session.clone(), socket.clone());
            async move { socket::open(&session, &socket, SocketTransport::Auto).await }
        })
        .await
    }
}
