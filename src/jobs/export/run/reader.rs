//! A disk's NBD connections, reopened and retried as the profile allows.

use super::*;

/// Where a disk is served, so connections can be reopened after a failure.
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

/// Live counters of one disk, sampled by the ticker.
#[derive(Default)]
pub(super) struct Counters {
    pub(super) total: AtomicU64,
    pub(super) done: AtomicU64,
    pub(super) read: AtomicU64,
    pub(super) retries: AtomicU32,
}

/// A disk's connections, reopened (once per failure) when they break.
pub(super) struct Reader {
    pub(super) endpoint: Endpoint,
    pub(super) connections: usize,
    /// Shared, so the pool's round-robin spreads requests over every connection.
    pub(super) pool: RwLock<(u64, Arc<NbdPool>)>,
    pub(super) retry: RetryPolicy,
    pub(super) counters: Arc<Counters>,
    pub(super) target: String,
    pub(super) report: Report,
}

impl Reader {
    /// Runs `op` on the pool, reconnecting and retrying transient failures
    /// as the profile allows.
    pub(super) async fn with_retry<T, F, Fut>(&self, op: F) -> Result<T, ExportError>
    where
        F: Fn(Arc<NbdPool>) -> Fut,
        Fut: std::future::Future<Output = Result<T, BlockError>>,
    {
        let mut backoff = self.retry.backoff();
        let mut attempt = 0;
        loop {
            let (generation, pool) = {
                let g = self.pool.read().await;
                (g.0, g.1.clone())
            };
            let err = match op(pool).await {
                Ok(v) => return Ok(v),
                Err(e) if e.is_transient() => e,
                Err(e) => return Err(step("reading")(e)),
            };
            let Some(delay) = backoff.next() else {
                return Err(step("reading")(format!(
                    "{}: {err} (retries used up)",
                    self.target
                )));
            };
            attempt += 1;
            self.counters.retries.fetch_add(1, Relaxed);
            tracing::warn!(disk = %self.target, attempt, error = %err, "NBD failed; reconnecting");
            (self.report)(Update::Retry(RetryNote {
                at_ms: crate::jobs::history::now_ms(),
                disk: self.target.clone(),
                attempt,
                reason: err.to_string(),
            }));
            tokio::time::sleep(delay).await;
            let mut g = self.pool.write().await;
            if g.0 == generation {
                match self.endpoint.connect(self.connections).await {
                    Ok(p) => *g = (generation + 1, Arc::new(p)),
                    // The next attempt fails again and counts against the retries.
                    Err(e) => tracing::warn!(disk = %self.target, error = %e, "reconnect failed"),
                }
            }
        }
    }

    pub(super) async fn read(&self, offset: u64, len: u64) -> Result<Vec<u8>, ExportError> {
        self.with_retry(|pool| async move { read_range(&pool, offset, len).await })
            .await
    }

    pub(super) async fn close(&self) {
        let _ = self.pool.read().await.1.close().await;
    }
}

/// Reads `len` bytes at `offset` in requests the server accepts.
pub(super) async fn read_range(
    pool: &NbdPool,
    offset: u64,
    len: u64,
) -> Result<Vec<u8>, BlockError> {
    let max = u64::from(pool.max_io().max(1));
    if len <= max {
        // One request (a chunk within the server's limit): its buffer as is.
        return Ok(pool.client().read(offset, len as u32).await?);
    }
    let mut buf = Vec::with_capacity(len as usize);
    let mut pos = offset;
    while pos < offset + len {
        let n = max.min(offset + len - pos) as u32;
        buf.extend_from_slice(&pool.client().read(pos, n).await?);
        pos += u64::from(n);
    }
    Ok(buf)
}
