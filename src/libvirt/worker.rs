//! [`HostWorker`]: one OS thread per host owning its `virt::connect::Connect`.
//!
//! libvirt calls block (they are RPCs through the tunnel), so none of them
//! may run on the async runtime. The worker thread opens the connection,
//! then runs requests sent over a channel one at a time; answers come back
//! through tokio oneshots, so async callers await without blocking.

use super::LibvirtError;
use super::events::{self, CloseReason, HostEvent, Sink};
use super::{ffi, inventory};
use crate::model::{HostInfo, VmInfo};
use std::sync::Arc;
use std::sync::mpsc as std_mpsc;
use tokio::sync::{mpsc, oneshot};
use virt::connect::Connect;

/// Keepalive applied when the connection opens: a probe every 5 s, dead
/// after 3 unanswered ones (about 20 s), so a dead tunnel is noticed even
/// when no call is in flight.
pub const KEEPALIVE_INTERVAL_SECS: i32 = 5;
pub const KEEPALIVE_COUNT: u32 = 3;

type Job = Box<dyn FnOnce(&Session) + Send>;

/// Handle to a host's libvirt thread. Cheap to share behind an `Arc`;
/// dropping the last handle ends the thread after its current call and
/// closes the connection.
pub struct HostWorker {
    host: String,
    jobs: std_mpsc::Sender<Job>,
    sink: Arc<Sink>,
    events_registered: bool,
}

/// What lives on the worker thread.
struct Session {
    host: String,
    conn: Connect,
    sink: Arc<Sink>,
    lifecycle_id: Option<std::ffi::c_int>,
    close_registered: bool,
    /// What the last inventory read saw (this thread only).
    vms: std::cell::RefCell<super::vm_cache::VmCache>,
}

impl Session {
    fn dead(&self) -> Option<LibvirtError> {
        if let Some(reason) = self.sink.closed_reason() {
            return Some(self.disconnected(reason.describe()));
        }
        match self.conn.is_alive() {
            Ok(true) => None,
            Ok(false) | Err(_) => {
                self.sink.mark_closed(CloseReason::Error);
                Some(self.disconnected("connection is no longer alive"))
            }
        }
    }

    fn disconnected(&self, reason: &str) -> LibvirtError {
        LibvirtError::Disconnected {
            host: self.host.clone(),
            reason: reason.to_string(),
        }
    }

    /// A failed call on a dead connection is a disconnect, not a call error.
    fn classify(&self, source: virt::error::Error) -> LibvirtError {
        match self.dead() {
            Some(LibvirtError::Disconnected { host, reason }) => LibvirtError::Disconnected {
                host,
                reason: format!("{reason} ({})", source.message()),
            },
            _ => LibvirtError::Call {
                host: self.host.clone(),
                source,
            },
        }
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        // Callbacks go before the connection they are registered on.
        if let Some(id) = self.lifecycle_id.take() {
            ffi::deregister_lifecycle(&self.conn, id);
        }
        if self.close_registered {
            ffi::unregister_close(&self.conn);
        }
    }
}

struct Opened {
    events_registered: bool,
}

impl HostWorker {
    /// Starts the thread and opens `uri` on it (typically
    /// [`super::Tunnel::uri`]). Domain lifecycle events and the connection's
    /// closure are sent to `events` tagged with `host`. Returns once the
    /// connection is open or has failed; wrap in a timeout to bound it (the
    /// thread then gives up on its own once the open returns).
    pub async fn spawn(
        host: &str,
        uri: &str,
        events: mpsc::UnboundedSender<HostEvent>,
    ) -> Result<HostWorker, LibvirtError> {
        events::init()?;
        if uri.contains('\0') {
            return Err(LibvirtError::BadUri {
                uri: uri.escape_debug().to_string(),
                reason: "contains a NUL byte".to_string(),
            });
        }
        let sink = Sink::new(host.to_string(), events);
        let (jobs, rx) = std_mpsc::channel::<Job>();
        let (opened_tx, opened_rx) = oneshot::channel();
        let thread_sink = sink.clone();
        let (thread_host, thread_uri) = (host.to_string(), uri.to_string());
        std::thread::Builder::new()
            .name(format!("libvirt-{host}"))
            .spawn(move || run(thread_host, thread_uri, thread_sink, rx, opened_tx))
            .map_err(|source| LibvirtError::Io {
                context: format!("cannot start the libvirt thread for {host}"),
                source,
            })?;
        let opened = opened_rx.await.map_err(|_| LibvirtError::WorkerGone {
            host: host.to_string(),
        })??;
        Ok(HostWorker {
            host: host.to_string(),
            jobs,
            sink,
            events_registered: opened.events_registered,
        })
    }

    pub fn host(&self) -> &str {
        &self.host
    }

    /// False if lifecycle events could not be registered: the backend must
    /// then poll the inventory (see docs/libvirt.md).
    pub fn has_events(&self) -> bool {
        self.events_registered
    }

    /// True once the connection is known to be gone.
    pub fn is_closed(&self) -> bool {
        self.sink.closed_reason().is_some()
    }

    /// Host facts and every VM; VMs read before are read again only as
    /// `fresh` and [`super::vm_cache`]'s rules say.
    pub async fn inventory(
        &self,
        fresh: super::vm_cache::Fresh,
    ) -> Result<(HostInfo, Vec<VmInfo>), LibvirtError> {
        self.run(move |s| {
            let mut cache = s.vms.borrow_mut();
            inventory::read(&s.conn, &mut cache, &fresh).map_err(|e| match e {
                inventory::InventoryError::Libvirt(e) => s.classify(e),
                inventory::InventoryError::Panicked => LibvirtError::WorkerGone {
                    host: s.host.clone(),
                },
                inventory::InventoryError::Xml { domain, source } => LibvirtError::Xml {
                    domain,
                    reason: source.to_string(),
                },
            })
        })
        .await
    }

    /// The live XML of a domain, as `virsh dumpxml` prints it. For other
    /// flags (inactive, secure) use [`HostWorker::call`].
    pub async fn domain_xml(&self, name: &str) -> Result<String, LibvirtError> {
        let name = name.to_string();
        self.call(move |conn| conn.lookup_domain_by_name(&name)?.xml_desc(0))
            .await
    }

    /// Changes the keepalive (`virConnectSetKeepAlive`); interval ≤ 0 turns it off.
    pub async fn set_keepalive(&self, interval_secs: i32, count: u32) -> Result<(), LibvirtError> {
        self.call(move |conn| conn.set_keep_alive(interval_secs, count))
            .await
    }

    /// Runs `f` on the worker thread with the connection. A failure on a
    /// connection that turns out to be dead comes back as
    /// [`LibvirtError::Disconnected`].
    pub async fn call<R: Send + 'static>(
        &self,
        f: impl FnOnce(&Connect) -> Result<R, virt::error::Error> + Send + 'static,
    ) -> Result<R, LibvirtError> {
        self.run(move |s| f(&s.conn).map_err(|e| s.classify(e)))
            .await
    }

    async fn run<R: Send + 'static>(
        &self,
        f: impl FnOnce(&Session) -> Result<R, LibvirtError> + Send + 'static,
    ) -> Result<R, LibvirtError> {
        let gone = || LibvirtError::WorkerGone {
            host: self.host.clone(),
        };
        if let Some(reason) = self.sink.closed_reason() {
            return Err(LibvirtError::Disconnected {
                host: self.host.clone(),
                reason: reason.describe().to_string(),
            });
        }
        let (tx, rx) = oneshot::channel();
        let job: Job = Box::new(move |s: &Session| {
            // The caller may have given up (dropped future): skip the work.
            if tx.is_closed() {
                return;
            }
            let result = match s.dead() {
                Some(e) => Err(e),
                None => f(s),
            };
            let _ = tx.send(result);
        });
        self.jobs.send(job).map_err(|_| gone())?;
        rx.await.map_err(|_| gone())?
    }
}

/// The worker thread: open, register, serve until every handle is dropped.
fn run(
    host: String,
    uri: String,
    sink: Arc<Sink>,
    jobs: std_mpsc::Receiver<Job>,
    opened: oneshot::Sender<Result<Opened, LibvirtError>>,
) {
    let conn = match Connect::open(Some(&uri)) {
        Ok(c) => c,
        Err(source) => {
            let _ = opened.send(Err(LibvirtError::Open { host, source }));
            return;
        }
    };
    if let Err(e) = conn.set_keep_alive(KEEPALIVE_INTERVAL_SECS, KEEPALIVE_COUNT) {
        tracing::warn!(%host, error = %e, "libvirt keepalive not enabled");
    }
    let mut session = Session {
        host,
        conn,
        sink: sink.clone(),
        lifecycle_id: None,
        close_registered: false,
        vms: Default::default(),
    };
    match ffi::register_close(&session.conn, sink.clone()) {
        Ok(()) => session.close_registered = true,
        Err(e) => tracing::warn!(host = %session.host, error = %e, "no close callback"),
    }
    match ffi::register_lifecycle(&session.conn, sink) {
        Ok(id) => session.lifecycle_id = Some(id),
        Err(e) => tracing::warn!(host = %session.host, error = %e, "no lifecycle events"),
    }
    let events_registered = session.lifecycle_id.is_some();
    if opened.send(Ok(Opened { events_registered })).is_err() {
        return; // the spawner gave up waiting
    }
    while let Ok(job) = jobs.recv() {
        job(&session);
    }
    tracing::debug!(host = %session.host, "libvirt worker stopping");
}
