//! The connection behind an [`NbdClient`](super::NbdClient): the table of
//! pending requests, the writer task and the reader task that dispatches
//! replies by cookie.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use tokio::io::{
    AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, BufReader, BufWriter, ReadHalf, WriteHalf,
};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, mpsc, oneshot};

use super::error::{NbdError, ProtocolError};
use super::proto::transmission::{self as wire, CHUNK_REST_LEN, RequestHeader, SIMPLE_REST_LEN};
use super::proto::{Command, Errno};
use super::reply::{self, Completed, ReplyState};

pub(super) enum Outgoing {
    Request {
        header: [u8; wire::REQUEST_LEN],
        payload: Vec<u8>,
    },
    Disconnect(oneshot::Sender<Result<(), NbdError>>),
}

/// A fatal error, with the request whose reply caused it (if any).
pub(super) type Failure = (NbdError, Option<Box<Pending>>);

pub(super) struct Pending {
    pub(super) reply: ReplyState,
    pub(super) fast_zero: bool,
    pub(super) tx: oneshot::Sender<Result<Completed, NbdError>>,
    // Released when the reply arrives, even if the caller gave up waiting.
    pub(super) _permit: OwnedSemaphorePermit,
}

impl Pending {
    fn complete(self) {
        let fast_zero = self.fast_zero;
        let result = self.reply.finish().map_err(|e| match e {
            NbdError::Server(s) if fast_zero && s.errno == Errno::NotSup => {
                NbdError::FastZeroUnsupported
            }
            other => other,
        });
        // The caller may have stopped waiting; nothing to do then.
        let _ = self.tx.send(result);
    }
}

#[derive(Default)]
pub(super) struct State {
    pub(super) pending: HashMap<u64, Pending>,
    pub(super) next_cookie: u64,
    pub(super) failed: Option<Arc<NbdError>>,
    pub(super) closing: bool,
}

#[derive(Default)]
pub(super) struct Shared {
    state: Mutex<State>,
}

impl Shared {
    pub(super) fn lock(&self) -> MutexGuard<'_, State> {
        // A panic elsewhere must not turn into a panic here.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The error for a request that finds the connection unusable.
    pub(super) fn unusable(&self) -> NbdError {
        let st = self.lock();
        match &st.failed {
            Some(root) => NbdError::ConnectionLost(root.clone()),
            None => NbdError::Closed,
        }
    }

    /// Fails the connection: every pending request gets an error, the
    /// culprit (whose reply broke the protocol) the precise one.
    pub(super) fn fail(&self, err: NbdError, culprit: Option<Box<Pending>>, slots: &Semaphore) {
        let culprit_err = match &err {
            NbdError::Protocol(p) => Some(NbdError::Protocol(p.clone())),
            _ => None,
        };
        let root = Arc::new(err);
        let drained: Vec<Pending> = {
            let mut st = self.lock();
            st.failed.get_or_insert_with(|| root.clone());
            st.pending.drain().map(|(_, p)| p).collect()
        };
        slots.close();
        if let Some(p) = culprit {
            let e = culprit_err.unwrap_or_else(|| NbdError::ConnectionLost(root.clone()));
            let _ = p.tx.send(Err(e));
        }
        for p in drained {
            let _ = p.tx.send(Err(NbdError::ConnectionLost(root.clone())));
        }
    }
}

pub(super) async fn run_writer<W>(
    mut w: BufWriter<WriteHalf<W>>,
    mut rx: mpsc::UnboundedReceiver<Outgoing>,
    shared: Arc<Shared>,
    slots: Arc<Semaphore>,
) where
    W: AsyncWrite,
{
    let disc = RequestHeader {
        flags: 0,
        command: Command::Disconnect.code(),
        cookie: 0,
        offset: 0,
        length: 0,
    }
    .encode();
    while let Some(msg) = rx.recv().await {
        match msg {
            Outgoing::Request { header, payload } => {
                let mut res = w.write_all(&header).await;
                if res.is_ok() && !payload.is_empty() {
                    res = w.write_all(&payload).await;
                }
                // Batch small requests: flush only when the queue is empty.
                if res.is_ok() && rx.is_empty() {
                    res = w.flush().await;
                }
                if let Err(e) = res {
                    shared.fail(e.into(), None, &slots);
                    return;
                }
            }
            Outgoing::Disconnect(done) => {
                let res = disconnect(&mut w, &disc).await;
                let _ = done.send(res.map_err(NbdError::from));
                return;
            }
        }
    }
    // Every handle is gone: leave politely unless the connection is dead.
    if shared.lock().failed.is_none() {
        let _ = disconnect(&mut w, &disc).await;
    }
}

async fn disconnect<W: AsyncWrite + Unpin>(w: &mut W, disc: &[u8]) -> std::io::Result<()> {
    w.write_all(disc).await?;
    w.flush().await?;
    w.shutdown().await
}

pub(super) async fn run_reader<R>(
    mut r: BufReader<ReadHalf<R>>,
    shared: Arc<Shared>,
    slots: Arc<Semaphore>,
    structured: bool,
    max_io: u32,
) where
    R: AsyncRead,
{
    loop {
        let mut magic = [0u8; 4];
        match r.read(&mut magic[..1]).await {
            Ok(0) => {
                let quiet = {
                    let st = shared.lock();
                    st.closing && st.pending.is_empty()
                };
                if !quiet {
                    let eof = std::io::Error::new(
                        std::io::ErrorKind::UnexpectedEof,
                        "server closed the connection",
                    );
                    shared.fail(eof.into(), None, &slots);
                }
                return;
            }
            Ok(_) => {}
            Err(e) => {
                shared.fail(e.into(), None, &slots);
                return;
            }
        }
        if let Err((err, culprit)) = read_one(&mut r, magic, &shared, structured, max_io).await {
            shared.fail(err, culprit, &slots);
            return;
        }
    }
}

/// Reads one reply message whose first magic byte is in `magic[0]`.
async fn read_one<R>(
    r: &mut R,
    mut magic: [u8; 4],
    shared: &Shared,
    structured: bool,
    max_io: u32,
) -> Result<(), Failure>
where
    R: AsyncRead + Unpin,
{
    let no_culprit = |e: NbdError| (e, None);
    r.read_exact(&mut magic[1..])
        .await
        .map_err(|e| no_culprit(e.into()))?;
    let kind = wire::decode_reply_magic(magic).map_err(|e| no_culprit(e.into()))?;
    match kind {
        wire::ReplyKind::Simple => {
            let mut rest = [0u8; SIMPLE_REST_LEN];
            r.read_exact(&mut rest)
                .await
                .map_err(|e| no_culprit(e.into()))?;
            let reply = wire::decode_simple_rest(&rest).map_err(|e| no_culprit(e.into()))?;
            let mut pending = take(shared, reply.cookie)?;
            match reply::apply_simple(r, &reply, &mut pending.reply, structured).await {
                Ok(()) => {
                    pending.complete();
                    Ok(())
                }
                Err(e) => Err((e, Some(Box::new(pending)))),
            }
        }
        wire::ReplyKind::Structured => {
            if !structured {
                return Err(no_culprit(ProtocolError::StructuredNotNegotiated.into()));
            }
            let mut rest = [0u8; CHUNK_REST_LEN];
            r.read_exact(&mut rest)
                .await
                .map_err(|e| no_culprit(e.into()))?;
            let h = wire::decode_chunk_rest(&rest).map_err(|e| no_culprit(e.into()))?;
            let mut pending = take(shared, h.cookie)?;
            if let Err(e) = wire::check_chunk_length(&h, max_io) {
                return Err((e.into(), Some(Box::new(pending))));
            }
            match reply::apply_chunk(r, &h, &mut pending.reply).await {
                Ok(true) => {
                    pending.complete();
                    Ok(())
                }
                Ok(false) => {
                    put_back(shared, h.cookie, pending);
                    Ok(())
                }
                Err(e) => Err((e, Some(Box::new(pending)))),
            }
        }
    }
}

/// Returns a request awaiting more chunks to the table, unless the
/// connection failed meanwhile (the writer can fail it), which it then
/// reports to the caller directly.
fn put_back(shared: &Shared, cookie: u64, pending: Pending) {
    let mut st = shared.lock();
    match &st.failed {
        Some(root) => {
            let err = NbdError::ConnectionLost(root.clone());
            drop(st);
            let _ = pending.tx.send(Err(err));
        }
        None => {
            st.pending.insert(cookie, pending);
        }
    }
}

/// Takes the pending request for `cookie` out of the table while its
/// reply is being read.
fn take(shared: &Shared, cookie: u64) -> Result<Pending, Failure> {
    shared
        .lock()
        .pending
        .remove(&cookie)
        .ok_or_else(|| (ProtocolError::UnknownCookie(cookie).into(), None))
}
