//! A front end's end of the daemon's socket: the same two channels an
//! in-process backend gives ([`crate::backend::Backend`]), so a command
//! drives either one the same way.

use std::path::{Path, PathBuf};
use std::time::Duration;

use tokio::net::UnixStream;
use tokio::sync::mpsc::{UnboundedReceiver, UnboundedSender, unbounded_channel};
use tokio::task::JoinHandle;

use super::protocol::{ClientFrame, PROTOCOL, ServerFrame};
use super::{DaemonError, frame};
use crate::backend::messages::{Action, Event};

/// An attached daemon. Sending [`Action::Quit`] (or dropping `actions`)
/// detaches; the daemon and its jobs go on.
pub struct Link {
    pub actions: UnboundedSender<Action>,
    /// [`Event::Snapshot`] first; [`Event::Stopped`] when the connection ends.
    pub events: UnboundedReceiver<Event>,
    /// Ends when the connection does.
    pub task: JoinHandle<()>,
    /// The daemon's name and version, from its welcome.
    pub server: String,
    /// The config file the daemon serves; None from a daemon too old to say.
    pub config: Option<PathBuf>,
}

/// Connects to the daemon on `socket` and says hello as `client`.
pub async fn connect(socket: &Path, client: &str) -> Result<Link, DaemonError> {
    let stream = UnixStream::connect(socket)
        .await
        .map_err(|source| DaemonError::NoDaemon {
            path: socket.to_path_buf(),
            source,
        })?;
    let (mut rd, mut wr) = stream.into_split();
    frame::write(
        &mut wr,
        &ClientFrame::Hello {
            protocol: PROTOCOL,
            client: client.to_string(),
        },
    )
    .await?;
    let answer = tokio::time::timeout(Duration::from_secs(10), frame::read(&mut rd))
        .await
        .map_err(|_| DaemonError::Protocol("no answer to the hello".into()))??;
    let (server, config) = match answer {
        Some(ServerFrame::Welcome { server, config, .. }) => (server, config),
        Some(ServerFrame::Refused { reason }) => return Err(DaemonError::Refused(reason)),
        Some(ServerFrame::Event(_)) => {
            return Err(DaemonError::Protocol("an event before the welcome".into()));
        }
        None => return Err(DaemonError::Refused("closed without an answer".into())),
    };
    let (actions, mut outgoing) = unbounded_channel::<Action>();
    let (to_front, events) = unbounded_channel::<Event>();
    let task = tokio::spawn(async move {
        let send = async {
            while let Some(a) = outgoing.recv().await {
                let quit = matches!(a, Action::Quit);
                if frame::write(&mut wr, &ClientFrame::Action(a))
                    .await
                    .is_err()
                    || quit
                {
                    break;
                }
            }
        };
        let receive = async {
            while let Ok(Some(f)) = frame::read::<ServerFrame>(&mut rd).await {
                if let ServerFrame::Event(ev) = f
                    && to_front.send(ev).is_err()
                {
                    break;
                }
            }
        };
        tokio::select! {
            _ = send => {}
            _ = receive => {}
        }
        let _ = to_front.send(Event::Stopped);
    });
    Ok(Link {
        actions,
        events,
        task,
        server,
        config,
    })
}
