//! libvirt's event loop and the notifications a [`super::HostWorker`] sends.
//!
//! libvirt needs an event loop implementation registered *before* a
//! connection is opened for domain events, keepalive and close detection to
//! work on it. [`init`] registers the default one once per process and runs
//! it forever on a thread of its own; it also silences libvirt's default
//! error printer, which would otherwise write over the TUI.

use super::LibvirtError;
use std::ffi::c_int;
use std::sync::{Arc, OnceLock};
use tokio::sync::mpsc::UnboundedSender;
use virt::sys;

/// A notification from one host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostEvent {
    /// The host name given to [`super::HostWorker::spawn`].
    pub host: String,
    pub kind: HostEventKind,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HostEventKind {
    /// A domain changed state or definition: re-read the inventory.
    Lifecycle {
        domain: String,
        event: LifecycleKind,
    },
    /// The connection is gone; the worker only returns `Disconnected` from
    /// now on. Sent at most once per worker.
    Closed { reason: CloseReason },
}

/// `virDomainEventType`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LifecycleKind {
    Defined,
    Undefined,
    Started,
    Suspended,
    Resumed,
    Stopped,
    Shutdown,
    PmSuspended,
    Crashed,
    Unknown(i32),
}

impl LifecycleKind {
    fn from_raw(event: c_int) -> Self {
        match u32::try_from(event) {
            Ok(sys::VIR_DOMAIN_EVENT_DEFINED) => LifecycleKind::Defined,
            Ok(sys::VIR_DOMAIN_EVENT_UNDEFINED) => LifecycleKind::Undefined,
            Ok(sys::VIR_DOMAIN_EVENT_STARTED) => LifecycleKind::Started,
            Ok(sys::VIR_DOMAIN_EVENT_SUSPENDED) => LifecycleKind::Suspended,
            Ok(sys::VIR_DOMAIN_EVENT_RESUMED) => LifecycleKind::Resumed,
            Ok(sys::VIR_DOMAIN_EVENT_STOPPED) => LifecycleKind::Stopped,
            Ok(sys::VIR_DOMAIN_EVENT_SHUTDOWN) => LifecycleKind::Shutdown,
            Ok(sys::VIR_DOMAIN_EVENT_PMSUSPENDED) => LifecycleKind::PmSuspended,
            Ok(sys::VIR_DOMAIN_EVENT_CRASHED) => LifecycleKind::Crashed,
            _ => LifecycleKind::Unknown(event),
        }
    }
}

/// `virConnectCloseReason`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CloseReason {
    Error,
    Eof,
    Keepalive,
    Client,
    Unknown(i32),
}

impl CloseReason {
    fn from_raw(reason: c_int) -> Self {
        match u32::try_from(reason) {
            Ok(sys::VIR_CONNECT_CLOSE_REASON_ERROR) => CloseReason::Error,
            Ok(sys::VIR_CONNECT_CLOSE_REASON_EOF) => CloseReason::Eof,
            Ok(sys::VIR_CONNECT_CLOSE_REASON_KEEPALIVE) => CloseReason::Keepalive,
            Ok(sys::VIR_CONNECT_CLOSE_REASON_CLIENT) => CloseReason::Client,
            _ => CloseReason::Unknown(reason),
        }
    }

    pub fn describe(self) -> &'static str {
        match self {
            CloseReason::Error => "I/O error",
            CloseReason::Eof => "end of file from the host",
            CloseReason::Keepalive => "keepalive timeout",
            CloseReason::Client => "closed by us",
            CloseReason::Unknown(_) => "unknown reason",
        }
    }
}

/// Where libvirt's callbacks deliver, shared by the worker (which reads the
/// closed state) and the callbacks (which run on the event loop thread).
pub struct Sink {
    host: String,
    tx: UnboundedSender<HostEvent>,
    closed: OnceLock<CloseReason>,
}

impl Sink {
    pub(crate) fn new(host: String, tx: UnboundedSender<HostEvent>) -> Arc<Sink> {
        Arc::new(Sink {
            host,
            tx,
            closed: OnceLock::new(),
        })
    }

    /// Why the connection closed, once it has.
    pub(crate) fn closed_reason(&self) -> Option<CloseReason> {
        self.closed.get().copied()
    }

    /// Never blocks: an unbounded send from libvirt's thread. A dropped
    /// receiver only means nobody listens any more.
    pub(crate) fn lifecycle(&self, domain: String, event: c_int) {
        let event = LifecycleKind::from_raw(event);
        tracing::debug!(host = %self.host, %domain, ?event, "libvirt lifecycle event");
        let _ = self.tx.send(HostEvent {
            host: self.host.clone(),
            kind: HostEventKind::Lifecycle { domain, event },
        });
    }

    pub(crate) fn closed(&self, reason: c_int) {
        self.mark_closed(CloseReason::from_raw(reason));
    }

    /// Records the closure (also used when the worker itself notices a dead
    /// connection) and notifies once.
    pub(crate) fn mark_closed(&self, reason: CloseReason) {
        if self.closed.set(reason).is_ok() {
            tracing::info!(host = %self.host, reason = reason.describe(), "libvirt connection closed");
            let _ = self.tx.send(HostEvent {
                host: self.host.clone(),
                kind: HostEventKind::Closed { reason },
            });
        }
    }
}

static INIT: OnceLock<Result<(), String>> = OnceLock::new();

/// Silences libvirt's error printer and starts the event loop, once per
/// process. Every later call returns the first outcome.
pub fn init() -> Result<(), LibvirtError> {
    let outcome = INIT.get_or_init(|| {
        virt::error::clear_error_callback();
        virt::event::event_register_default_impl().map_err(|e| e.to_string())?;
        std::thread::Builder::new()
            .name("libvirt-events".to_string())
            .spawn(run_event_loop)
            .map(drop)
            .map_err(|e| format!("cannot start the libvirt event thread: {e}"))
    });
    outcome
        .clone()
        .map_err(|reason| LibvirtError::EventLoop { reason })
}

fn run_event_loop() {
    loop {
        if let Err(e) = virt::event::event_run_default_impl() {
            // Only fails on a broken poll(); don't spin on it.
            tracing::warn!(error = %e, "libvirt event loop iteration failed");
            std::thread::sleep(std::time::Duration::from_millis(500));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn raw_codes_map_to_kinds() {
        assert_eq!(LifecycleKind::from_raw(2), LifecycleKind::Started);
        assert_eq!(LifecycleKind::from_raw(5), LifecycleKind::Stopped);
        assert_eq!(LifecycleKind::from_raw(99), LifecycleKind::Unknown(99));
        assert_eq!(LifecycleKind::from_raw(-1), LifecycleKind::Unknown(-1));
        assert_eq!(CloseReason::from_raw(2), CloseReason::Keepalive);
    }

    #[test]
    fn close_is_reported_once() {
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
        let sink = Sink::new("alpha".into(), tx);
        assert_eq!(sink.closed_reason(), None);
        sink.closed(1);
        sink.mark_closed(CloseReason::Keepalive);
        assert_eq!(sink.closed_reason(), Some(CloseReason::Eof));
        let first = rx.try_recv().unwrap();
        assert_eq!(
            first,
            HostEvent {
                host: "alpha".into(),
                kind: HostEventKind::Closed {
                    reason: CloseReason::Eof
                }
            }
        );
        assert!(rx.try_recv().is_err());
    }

    #[test]
    fn init_is_idempotent() {
        init().unwrap();
        init().unwrap();
    }
}
