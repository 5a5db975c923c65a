//! Moving disks: where a copy reads from ([`OpenSource`], [`Endpoint`]),
//! the destination's NBD sinks ([`start_sink`]) and the copy phase itself
//! ([`Copier`]), shared by clone and restore; the progress [`ticker`] of
//! every copying job (export too).

mod copier;
mod destination;
pub mod ticker;

pub use copier::Copier;
pub use destination::prepare_sinks;

use crate::nbd::ConnectOptions;
use crate::pipeline::{BlockError, BlockSource, NbdPool, NbdSource};
use crate::remote::qemu_nbd::{ExportSpec, QemuNbd};
use crate::remote::socket::{self, SocketTransport};
use crate::remote::{RemoteError, RemotePath, RunDir};
use crate::transport::{HostConnection, SupervisorError};

/// What the copies of all disks add up to (see [`crate::model::CloneReport`]).
#[derive(Debug, Default)]
pub struct CopyTotals {
    pub moved: u64,
    pub stored: u64,
    pub skipped: u64,
    pub retries: u32,
    pub verified: bool,
}

/// Where one disk is exported, so a connection can be reopened after the
/// SSH session was replaced.
#[derive(Clone)]
pub struct Endpoint {
    pub conn: HostConnection,
    pub socket: RemotePath,
    pub export: String,
}

/// Where a copy reads one disk from; opened again after a transient
/// failure. Clone reads NBD exports ([`Endpoint`]); restore reads a
/// repository snapshot.
pub trait OpenSource: Clone + Send + Sync + 'static {
    type Source: BlockSource + 'static;
    /// A source over `connections` connections (where that means anything).
    fn open(
        &self,
        connections: usize,
    ) -> impl std::future::Future<Output = Result<Self::Source, BlockError>> + Send;
    /// Ends what [`OpenSource::open`] made, once the copy is over.
    fn close(source: &Self::Source) -> impl std::future::Future<Output = ()> + Send;
    /// The copy's window: its unit of work and of reads.
    fn window(&self) -> u64 {
        crate::pipeline::engine::DEFAULT_WINDOW
    }
}

impl OpenSource for Endpoint {
    type Source = NbdSource;
    async fn open(&self, connections: usize) -> Result<NbdSource, BlockError> {
        Ok(NbdSource::new(self.pool(connections, true).await?))
    }
    async fn close(source: &NbdSource) {
        let _ = source.pool().close().await;
    }
}

impl Endpoint {
    /// Opens `count` connections. The allocation map is wanted on both
    /// sides: verification reads the sink back and must skip its holes.
    pub async fn pool(&self, count: usize, want_allocation: bool) -> Result<NbdPool, BlockError> {
        let session = self.conn.session().await.map_err(|e| match e {
            SupervisorError::NeedsOperator { .. } => BlockError::fatal(e),
            other => BlockError::transport(other),
        })?;
        let mut opts = ConnectOptions::new(self.export.clone());
        opts.want_allocation = want_allocation;
        let socket = self.socket.clone();
        NbdPool::connect(count, &opts, || {
            let session = session.clone();
            let socket = socket.clone();
            async move { socket::open(&session, &socket, SocketTransport::Auto).await }
        })
        .await
    }
}

/// Exports a destination image with the host page cache bypassed
/// (`--cache=none --aio=native`): the copy is written once and not read
/// again soon, and filling the cache with it costs the host more CPU than
/// the write itself (about a fifth of a clone's CPU on the lab). A pool
/// whose file system has no O_DIRECT (tmpfs) refuses that; it then gets
/// the ordinary cached export.
pub async fn start_sink(dir: &RunDir, spec: ExportSpec) -> Result<QemuNbd, RemoteError> {
    let direct = ExportSpec {
        direct_io: true,
        ..spec.clone()
    };
    match QemuNbd::start(dir, direct).await {
        Ok(nbd) => Ok(nbd),
        Err(e) => {
            tracing::info!(image = %spec.image, error = %e, "no direct I/O for this image; using the page cache");
            QemuNbd::start(dir, spec).await
        }
    }
}
