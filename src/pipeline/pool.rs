//! A few NBD connections to one export, used round-robin.

use std::error::Error as StdError;
use std::future::Future;
use std::sync::atomic::{AtomicUsize, Ordering};

use tokio::io::{AsyncRead, AsyncWrite};

use super::error::BlockError;
use crate::nbd::{ConnectOptions, NbdClient};

/// Connections per disk a job opens by default (as nbdcopy does); with
/// [`crate::pipeline::engine::DEFAULT_WORKERS`] that is 4 requests each.
pub const DEFAULT_CONNECTIONS: usize = 4;

/// Connections to one export; each request goes to the next one.
#[derive(Debug)]
pub struct NbdPool {
    clients: Vec<NbdClient>,
    next: AtomicUsize,
    size: u64,
    max_io: u32,
}

impl Clone for NbdPool {
    fn clone(&self) -> Self {
        Self {
            clients: self.clients.clone(),
            next: AtomicUsize::new(0),
            size: self.size,
            max_io: self.max_io,
        }
    }
}

impl NbdPool {
    /// Groups connections to the same export (they must agree on its size).
    pub fn new(clients: Vec<NbdClient>) -> Result<Self, BlockError> {
        let first = clients.first().ok_or(BlockError::NoConnections)?;
        let size = first.size();
        if let Some(other) = clients.iter().find(|c| c.size() != size) {
            return Err(BlockError::PoolSizeMismatch {
                first: size,
                other: other.size(),
            });
        }
        let max_io = clients.iter().map(NbdClient::max_io).min().unwrap_or(1);
        Ok(Self {
            clients,
            next: AtomicUsize::new(0),
            size,
            max_io,
        })
    }

    /// Opens `count` streams with `open` (a unix socket, an SSH channel)
    /// and negotiates NBD on each, concurrently. A failure to open is a
    /// [`BlockError::Transport`] (retried by a copy); a refusal during
    /// negotiation is final.
    pub async fn connect<F, Fut, T, E>(
        count: usize,
        opts: &ConnectOptions,
        mut open: F,
    ) -> Result<Self, BlockError>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, E>>,
        T: AsyncRead + AsyncWrite + Unpin + Send + 'static,
        E: Into<Box<dyn StdError + Send + Sync>>,
    {
        let pending = (0..count.max(1)).map(|_| {
            let stream = open();
            async move {
                let io = stream.await.map_err(BlockError::transport)?;
                Ok::<_, BlockError>(NbdClient::connect(io, opts.clone()).await?)
            }
        });
        let clients = futures::future::try_join_all(pending).await?;
        Self::new(clients)
    }

    /// The next connection, round-robin.
    pub fn client(&self) -> &NbdClient {
        let i = self.next.fetch_add(1, Ordering::Relaxed) % self.clients.len();
        &self.clients[i]
    }

    pub fn clients(&self) -> &[NbdClient] {
        &self.clients
    }

    pub fn size(&self) -> u64 {
        self.size
    }

    /// The smallest `max_io` of the connections.
    pub fn max_io(&self) -> u32 {
        self.max_io
    }

    /// Closes every connection (waits for their requests in flight).
    pub async fn close(&self) -> Result<(), BlockError> {
        let all = self.clients.iter().map(NbdClient::close);
        futures::future::try_join_all(all).await?;
        Ok(())
    }
}
