//! The daemon's side of the socket: one task per client.
//!
//! A client is checked (`SO_PEERCRED`), greeted, attached to the backend's
//! event bus (which sends it a state snapshot first) and then fed every
//! event, while its frames become actions. One client can hold nothing
//! up: its events wait in its own queue, and when that queue passes
//! [`BACKLOG`] it is dropped and the client attached anew, so it gets a
//! fresh snapshot; a client that takes longer than [`WRITE_TIMEOUT`] to
//! take one frame is disconnected.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use tokio::net::UnixStream;
use tokio::net::unix::{OwnedReadHalf, OwnedWriteHalf};
use tokio::sync::mpsc::UnboundedSender;
use tokio_util::sync::CancellationToken;

use super::protocol::{ClientFrame, PROTOCOL, ServerFrame};
use super::socket::{own_uid, peer_allowed};
use super::{DaemonError, frame};
use crate::backend::bus::Attach;
use crate::backend::messages::{Action, Event};

/// Events queued for one client before it is re-attached.
pub const BACKLOG: usize = 4096;
/// How long one frame may take to reach a client.
pub const WRITE_TIMEOUT: Duration = Duration::from_secs(30);
/// How long a client has for its hello.
pub const HELLO_TIMEOUT: Duration = Duration::from_secs(10);

/// What every client is told in its welcome.
#[derive(Debug, Clone)]
pub struct Greeting {
    /// The config file this daemon serves.
    pub config: PathBuf,
}

/// Accepts clients until `stop`. `attached` counts the clients past
/// their handshake (the idle exit reads it).
pub async fn serve(
    listener: tokio::net::UnixListener,
    attach: Attach,
    actions: UnboundedSender<Action>,
    stop: CancellationToken,
    attached: Arc<AtomicUsize>,
    greeting: Greeting,
) {
    loop {
        let accepted = tokio::select! {
            _ = stop.cancelled() => return,
            a = listener.accept() => a,
        };
        match accepted {
            Ok((stream, _)) => {
                let (attach, actions) = (attach.clone(), actions.clone());
                let (attached, greeting) = (attached.clone(), greeting.clone());
                tokio::spawn(async move {
                    if let Err(e) = client(stream, attach, actions, attached, greeting).await {
                        tracing::info!("daemon client: {e}");
                    }
                });
            }
            Err(e) => {
                tracing::warn!("daemon: accept failed: {e}");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
}

async fn refuse(wr: &mut OwnedWriteHalf, reason: String) -> Result<(), DaemonError> {
    tracing::warn!("daemon: refused a client: {reason}");
    frame::write(wr, &ServerFrame::Refused { reason }).await
}

/// Counts a client while it is attached.
struct Attached(Arc<AtomicUsize>);

impl Attached {
    fn new(count: Arc<AtomicUsize>) -> Self {
        count.fetch_add(1, Ordering::SeqCst);
        Self(count)
    }
}

impl Drop for Attached {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

async fn client(
    stream: UnixStream,
    attach: Attach,
    actions: UnboundedSender<Action>,
    attached: Arc<AtomicUsize>,
    greeting: Greeting,
) -> Result<(), DaemonError> {
    let peer = stream.peer_cred().map_err(DaemonError::Io)?;
    let (mut rd, mut wr) = stream.into_split();
    let own = own_uid();
    if !peer_allowed(peer.uid(), own) {
        let reason = format!(
            "uid {} may not use this daemon: it serves uid {own} and root",
            peer.uid()
        );
        return refuse(&mut wr, reason).await;
    }
    let hello = tokio::time::timeout(HELLO_TIMEOUT, frame::read::<ClientFrame>(&mut rd)).await;
    let who = match hello {
        Ok(Ok(Some(ClientFrame::Hello { protocol, client }))) if protocol == PROTOCOL => client,
        Ok(Ok(Some(ClientFrame::Hello { protocol, .. }))) => {
            let reason = format!("protocol {protocol}; this daemon speaks {PROTOCOL}");
            return refuse(&mut wr, reason).await;
        }
        Ok(Ok(None)) => return Ok(()),
        Ok(Err(e)) => return Err(e),
        Ok(Ok(Some(_))) | Err(_) => {
            return refuse(&mut wr, "the first frame must be a hello".into()).await;
        }
    };
    tracing::info!(pid = ?peer.pid(), uid = peer.uid(), "daemon: {who} attached");
    let _counted = Attached::new(attached);
    frame::write(
        &mut wr,
        &ServerFrame::Welcome {
            protocol: PROTOCOL,
            server: format!("kvm-clone {}", env!("CARGO_PKG_VERSION")),
            pid: std::process::id(),
            config: Some(greeting.config),
        },
    )
    .await?;
    let reading = read_actions(rd, actions);
    tokio::pin!(reading);
    tokio::select! {
        r = &mut reading => r?,
        r = send_events(wr, attach) => {
            // A client that sent its last actions and closed at once makes
            // the event side fail first; what it sent still counts.
            let _ = tokio::time::timeout(Duration::from_secs(2), &mut reading).await;
            r?
        }
    }
    tracing::info!("daemon: {who} left");
    Ok(())
}

/// A client's frames, as actions, until it leaves. Its `Quit` means only
/// that it leaves: the daemon and its jobs go on.
async fn read_actions(
    mut rd: OwnedReadHalf,
    actions: UnboundedSender<Action>,
) -> Result<(), DaemonError> {
    loop {
        match frame::read::<ClientFrame>(&mut rd).await? {
            None | Some(ClientFrame::Action(Action::Quit)) => return Ok(()),
            Some(ClientFrame::Action(a)) => {
                if actions.send(a).is_err() {
                    return Ok(());
                }
            }
            Some(ClientFrame::Hello { .. }) => {
                return Err(DaemonError::Protocol("a second hello".into()));
            }
        }
    }
}

async fn send_events(mut wr: OwnedWriteHalf, attach: Attach) -> Result<(), DaemonError> {
    let mut events = attach.attach();
    while let Some(ev) = events.recv().await {
        if events.len() > BACKLOG {
            // Fallen behind: what is queued is replaced by the state now.
            tracing::warn!(
                "daemon: a client fell {} events behind; sending it a fresh snapshot",
                events.len()
            );
            events = attach.attach();
            continue;
        }
        let stopped = matches!(ev, Event::Stopped);
        tokio::time::timeout(
            WRITE_TIMEOUT,
            frame::write(&mut wr, &ServerFrame::Event(ev)),
        )
        .await
        .map_err(|_| DaemonError::Protocol("the client stopped reading".into()))??;
        if stopped {
            break;
        }
    }
    Ok(())
}
