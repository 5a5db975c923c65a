//! A byte stream over one SSH channel (exec or direct-streamlocal).
//!
//! russh's own `ChannelStream` drops stderr and the exit status; this one
//! keeps both (stderr capped), so a failing `nc -U` or helper can be told
//! apart from a clean end of data.

use super::error::SshError;
use russh::client::Msg;
use russh::{ChannelMsg, ChannelReadHalf, ChannelWriteHalf};
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll, ready};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// Most stderr kept per stream; the rest is dropped.
pub const STDERR_CAP: usize = 64 * 1024;

type WaitFuture = Pin<Box<dyn Future<Output = (ChannelReadHalf, Option<ChannelMsg>)> + Send>>;

enum ReadState {
    Idle(ChannelReadHalf),
    Waiting(WaitFuture),
    /// The channel is closed; nothing more will arrive.
    Closed,
}

/// How the remote end of an exec channel finished.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ExitInfo {
    /// Exit code, when the server sent one.
    pub status: Option<u32>,
    /// Signal name, when the remote process was killed by a signal.
    pub signal: Option<String>,
    /// Up to [`STDERR_CAP`] bytes of stderr.
    pub stderr: Vec<u8>,
}

impl ExitInfo {
    pub fn success(&self) -> bool {
        self.status == Some(0)
    }

    /// "exit 1", "signal KILL", or "no exit status".
    pub fn describe(&self) -> String {
        match (&self.status, &self.signal) {
            (Some(s), _) => format!("exit {s}"),
            (None, Some(sig)) => format!("signal {sig}"),
            (None, None) => "no exit status".into(),
        }
    }
}

/// `AsyncRead + AsyncWrite` over one channel. `shutdown()` sends EOF to the
/// remote side; reads return 0 at the remote EOF. Dropping the stream closes
/// the channel.
pub struct SshStream {
    read: ReadState,
    /// A data message being handed out, and how much of it was read.
    pending: Option<(ChannelMsg, usize)>,
    eof: bool,
    writer: Pin<Box<dyn AsyncWrite + Send + Sync>>,
    /// Taken only by Drop, to close the channel.
    control: Option<ChannelWriteHalf<Msg>>,
    exit: ExitInfo,
}

impl SshStream {
    pub(crate) fn new(read: ChannelReadHalf, control: ChannelWriteHalf<Msg>) -> Self {
        SshStream {
            read: ReadState::Idle(read),
            pending: None,
            eof: false,
            writer: Box::pin(control.make_writer()),
            control: Some(control),
            exit: ExitInfo::default(),
        }
    }

    /// Stderr seen so far (capped).
    pub fn stderr(&self) -> &[u8] {
        &self.exit.stderr
    }

    /// Send EOF (if not done yet), drain and discard whatever stdout is left,
    /// and return how the remote command ended.
    pub async fn finish(mut self) -> Result<ExitInfo, SshError> {
        use tokio::io::AsyncWriteExt;
        // EOF may already have been sent, or the channel may be gone: either
        // way the remote side has all it will get.
        let _ = self.shutdown().await;
        let mut sink = [0u8; 32 * 1024];
        loop {
            let n = tokio::io::AsyncReadExt::read(&mut self, &mut sink)
                .await
                .map_err(|e| SshError::Channel(e.to_string()))?;
            if n == 0 {
                break;
            }
        }
        // After EOF the server still sends exit-status and close.
        while let Some(msg) = self.next_msg().await {
            self.note(msg);
        }
        Ok(std::mem::take(&mut self.exit))
    }

    async fn next_msg(&mut self) -> Option<ChannelMsg> {
        let state = std::mem::replace(&mut self.read, ReadState::Closed);
        let (half, msg) = match state {
            ReadState::Idle(mut half) => {
                let m = half.wait().await;
                (half, m)
            }
            ReadState::Waiting(fut) => fut.await,
            ReadState::Closed => return None,
        };
        if msg.is_some() {
            self.read = ReadState::Idle(half);
        }
        msg
    }

    /// Record a non-data message; returns true when it ends the stdout stream.
    fn note(&mut self, msg: ChannelMsg) -> bool {
        match msg {
            ChannelMsg::ExtendedData { data, ext: 1 } => {
                let room = STDERR_CAP.saturating_sub(self.exit.stderr.len());
                self.exit
                    .stderr
                    .extend_from_slice(&data[..data.len().min(room)]);
                false
            }
            ChannelMsg::ExitStatus { exit_status } => {
                self.exit.status = Some(exit_status);
                false
            }
            ChannelMsg::ExitSignal { signal_name, .. } => {
                self.exit.signal = Some(format!("{signal_name:?}"));
                false
            }
            ChannelMsg::Eof | ChannelMsg::Close => true,
            _ => false,
        }
    }
}

impl AsyncRead for SshStream {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = &mut *self;
        loop {
            if let Some((msg, mut idx)) = this.pending.take() {
                if let ChannelMsg::Data { data } = &msg {
                    let n = buf.remaining().min(data.len() - idx);
                    buf.put_slice(&data[idx..idx + n]);
                    idx += n;
                    if idx < data.len() {
                        this.pending = Some((msg, idx));
                    }
                    return Poll::Ready(Ok(()));
                }
            }
            if this.eof {
                return Poll::Ready(Ok(()));
            }
            if matches!(this.read, ReadState::Idle(_))
                && let ReadState::Idle(mut half) =
                    std::mem::replace(&mut this.read, ReadState::Closed)
            {
                this.read = ReadState::Waiting(Box::pin(async move {
                    let m = half.wait().await;
                    (half, m)
                }));
            }
            let ReadState::Waiting(fut) = &mut this.read else {
                this.eof = true;
                return Poll::Ready(Ok(()));
            };
            let (half, msg) = ready!(fut.as_mut().poll(cx));
            match msg {
                None => {
                    this.read = ReadState::Closed;
                    this.eof = true;
                }
                Some(ChannelMsg::Data { data }) => {
                    this.read = ReadState::Idle(half);
                    if !data.is_empty() {
                        this.pending = Some((ChannelMsg::Data { data }, 0));
                    }
                }
                Some(other) => {
                    this.read = ReadState::Idle(half);
                    if this.note(other) {
                        this.eof = true;
                    }
                }
            }
        }
    }
}

impl AsyncWrite for SshStream {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        if buf.is_empty() {
            return Poll::Ready(Ok(0));
        }
        self.writer.as_mut().poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.writer.as_mut().poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.writer.as_mut().poll_shutdown(cx)
    }
}

impl Drop for SshStream {
    fn drop(&mut self) {
        // Closing needs the async sender; without a runtime (process exit)
        // the whole session goes away anyway.
        if let (Some(control), Ok(rt)) =
            (self.control.take(), tokio::runtime::Handle::try_current())
        {
            rt.spawn(async move {
                let _ = control.close().await;
            });
        }
    }
}
