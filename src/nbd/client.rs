//! The multiplexed NBD client: one writer task, one reader task, and any
//! number of cloned handles with requests in flight.
//!
//! A request registers itself under a fresh cookie (holding an in-flight
//! permit), hands its encoded bytes to the writer task, and awaits a
//! oneshot that the reader task completes when the reply's last chunk
//! arrives. Any I/O error or protocol violation fails the connection:
//! every pending request gets an error, and later requests fail at once.

use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, BufReader, BufWriter};
use tokio::sync::{Semaphore, mpsc, oneshot};
use tokio::task::JoinHandle;

use super::conn::{Outgoing, Pending, Shared, run_reader, run_writer};
use super::error::{NbdError, ProtocolError};
use super::handshake::{self, ExportInfo};
use super::proto::transmission::{BlockStatusDescriptor, RequestHeader};
use super::proto::{CMD_FLAG_FAST_ZERO, CMD_FLAG_FUA, CMD_FLAG_NO_HOLE, Command};
use super::reply::{Completed, ReplyState};

/// Default number of requests in flight on one connection.
pub const DEFAULT_MAX_IN_FLIGHT: usize = 16;
/// Default cap on one read or write (and thus on any reply's data).
pub const DEFAULT_MAX_PAYLOAD: u32 = 32 * 1024 * 1024;

/// How to connect.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnectOptions {
    /// Export name sent with `NBD_OPT_GO` (empty = the default export).
    pub export_name: String,
    /// Negotiate `base:allocation` so [`NbdClient::block_status`] works.
    pub want_allocation: bool,
    /// Further meta contexts to ask for by exact name, e.g. the dirty
    /// bitmap of an incremental backup (`qemu:dirty-bitmap:backup-vda`);
    /// read them with [`NbdClient::block_status_of`].
    pub extra_contexts: Vec<String>,
    /// Requests in flight at once (at least 1).
    pub max_in_flight: usize,
    /// Largest read or write payload; also capped by the server's maximum
    /// block size.
    pub max_payload: u32,
    /// How long one request may wait for its reply. A server that stays
    /// connected but silent past this is declared dead: the connection
    /// fails with [`NbdError::TimedOut`]. `None` waits forever.
    pub request_timeout: Option<Duration>,
}

impl ConnectOptions {
    pub fn new(export_name: impl Into<String>) -> Self {
        Self {
            export_name: export_name.into(),
            ..Self::default()
        }
    }
}

impl Default for ConnectOptions {
    fn default() -> Self {
        Self {
            export_name: String::new(),
            want_allocation: true,
            extra_contexts: Vec::new(),
            max_in_flight: DEFAULT_MAX_IN_FLIGHT,
            max_payload: DEFAULT_MAX_PAYLOAD,
            request_timeout: None,
        }
    }
}

/// Flags of [`NbdClient::write_zeroes`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ZeroFlags {
    /// Persist before replying (`NBD_CMD_FLAG_FUA`).
    pub fua: bool,
    /// Allocate instead of punching a hole (`NBD_CMD_FLAG_NO_HOLE`).
    pub no_hole: bool,
    /// Fail with [`NbdError::FastZeroUnsupported`] unless the server can
    /// zero faster than writing (`NBD_CMD_FLAG_FAST_ZERO`).
    pub fast: bool,
}

/// A cheap-to-clone handle on one NBD connection.
#[derive(Clone)]
pub struct NbdClient {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for NbdClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NbdClient")
            .field("info", &self.inner.info)
            .finish_non_exhaustive()
    }
}

struct Inner {
    info: ExportInfo,
    max_io: u32,
    max_in_flight: u32,
    request_timeout: Option<Duration>,
    shared: Arc<Shared>,
    slots: Arc<Semaphore>,
    writes: mpsc::UnboundedSender<Outgoing>,
    reader: JoinHandle<()>,
}

impl Drop for Inner {
    fn drop(&mut self) {
        // The writer ends by itself (sending NBD_CMD_DISC) once `writes`
        // is dropped; the reader would wait for the server forever.
        self.reader.abort();
    }
}

impl NbdClient {
    /// Negotiates on `io` and starts the reader and writer tasks.
    pub async fn connect<T>(mut io: T, opts: ConnectOptions) -> Result<Self, NbdError>
    where
        T: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        let info = handshake::negotiate_with(
            &mut io,
            &opts.export_name,
            opts.want_allocation,
            &opts.extra_contexts,
        )
        .await?;
        let max_io = opts.max_payload.min(info.block_size.max).max(1);
        let max_in_flight = u32::try_from(opts.max_in_flight.clamp(1, 1 << 16)).unwrap_or(16);
        let (rd, wr) = tokio::io::split(io);
        let shared = Arc::new(Shared::default());
        let slots = Arc::new(Semaphore::new(max_in_flight as usize));
        let (tx, rx) = mpsc::unbounded_channel();
        let reader = tokio::spawn(run_reader(
            BufReader::with_capacity(256 * 1024, rd),
            shared.clone(),
            slots.clone(),
            info.structured_replies,
            max_io,
        ));
        tokio::spawn(run_writer(
            BufWriter::with_capacity(256 * 1024, wr),
            rx,
            shared.clone(),
            slots.clone(),
        ));
        Ok(Self {
            inner: Arc::new(Inner {
                info,
                max_io,
                max_in_flight,
                request_timeout: opts.request_timeout,
                shared,
                slots,
                writes: tx,
                reader,
            }),
        })
    }

    /// What the handshake learnt about the export.
    pub fn info(&self) -> &ExportInfo {
        &self.inner.info
    }

    /// Export size in bytes.
    pub fn size(&self) -> u64 {
        self.inner.info.size
    }

    /// Largest length accepted by [`read`](Self::read) and
    /// [`write`](Self::write).
    pub fn max_io(&self) -> u32 {
        self.inner.max_io
    }

    /// The error that ended the connection, if it failed.
    pub fn connection_error(&self) -> Option<Arc<NbdError>> {
        self.inner.shared.lock().failed.clone()
    }

    /// Reads `length` bytes at `offset`; holes come back as zeros.
    pub async fn read(&self, offset: u64, length: u32) -> Result<Vec<u8>, NbdError> {
        self.check_io(offset, length)?;
        match self
            .submit(Command::Read, 0, offset, length, Vec::new(), false)
            .await?
        {
            Completed::Data(d) => Ok(d),
            _ => Err(ProtocolError::MissingBlockStatus.into()),
        }
    }

    /// Writes `data` at `offset`, with `fua` persisting it before the reply.
    pub async fn write(
        &self,
        offset: u64,
        data: impl Into<Vec<u8>>,
        fua: bool,
    ) -> Result<(), NbdError> {
        let data = data.into();
        let length = u32::try_from(data.len()).map_err(|_| NbdError::RequestTooLarge {
            length: data.len() as u64,
            max: u64::from(self.inner.max_io),
        })?;
        self.check_writable(Command::Write)?;
        self.check_io(offset, length)?;
        let flags = self.fua_flag(Command::Write, fua)?;
        self.submit(Command::Write, flags, offset, length, data, false)
            .await
            .map(drop)
    }

    /// Zeroes `length` bytes at `offset` without sending them.
    pub async fn write_zeroes(
        &self,
        offset: u64,
        length: u32,
        flags: ZeroFlags,
    ) -> Result<(), NbdError> {
        let cmd = Command::WriteZeroes;
        self.check_writable(cmd)?;
        if !self.inner.info.flags.can_write_zeroes() {
            return Err(unsupported(cmd, "server does not offer write zeroes"));
        }
        if flags.fast && !self.inner.info.flags.can_fast_zero() {
            return Err(unsupported(cmd, "server does not offer fast zero"));
        }
        self.check_range(offset, length)?;
        let mut bits = self.fua_flag(cmd, flags.fua)?;
        if flags.no_hole {
            bits |= CMD_FLAG_NO_HOLE;
        }
        if flags.fast {
            bits |= CMD_FLAG_FAST_ZERO;
        }
        self.submit(cmd, bits, offset, length, Vec::new(), flags.fast)
            .await
            .map(drop)
    }

    /// Tells the server `length` bytes at `offset` are no longer needed.
    pub async fn trim(&self, offset: u64, length: u32, fua: bool) -> Result<(), NbdError> {
        let cmd = Command::Trim;
        self.check_writable(cmd)?;
        if !self.inner.info.flags.can_trim() {
            return Err(unsupported(cmd, "server does not offer trim"));
        }
        self.check_range(offset, length)?;
        let flags = self.fua_flag(cmd, fua)?;
        self.submit(cmd, flags, offset, length, Vec::new(), false)
            .await
            .map(drop)
    }

    /// Persists every write the server has already replied to.
    pub async fn flush(&self) -> Result<(), NbdError> {
        if !self.inner.info.flags.can_flush() {
            return Err(unsupported(Command::Flush, "server does not offer flush"));
        }
        self.submit(Command::Flush, 0, 0, 0, Vec::new(), false)
            .await
            .map(drop)
    }

    /// `base:allocation` status of the range starting at `offset`; the
    /// descriptors may cover less than `length` (never more, never 0).
    pub async fn block_status(
        &self,
        offset: u64,
        length: u32,
    ) -> Result<Vec<BlockStatusDescriptor>, NbdError> {
        let Some(ctx) = self.inner.info.allocation_context else {
            return Err(unsupported(
                Command::BlockStatus,
                "base:allocation was not negotiated",
            ));
        };
        self.block_status_of(ctx, offset, length).await
    }

    /// Block status of the negotiated meta context `context` (an id from
    /// [`ExportInfo`]) from `offset`; the descriptors may cover less than
    /// `length` (never more, never 0). With several contexts negotiated,
    /// the server answers for each; only `context`'s answer is returned.
    pub async fn block_status_of(
        &self,
        context: u32,
        offset: u64,
        length: u32,
    ) -> Result<Vec<BlockStatusDescriptor>, NbdError> {
        if !self.inner.info.context_ids().contains(&context) {
            return Err(unsupported(
                Command::BlockStatus,
                "that meta context was not negotiated",
            ));
        }
        self.check_range(offset, length)?;
        match self
            .submit(Command::BlockStatus, 0, offset, length, Vec::new(), false)
            .await?
        {
            Completed::Extents(all) => all
                .into_iter()
                .find(|(c, _)| *c == context)
                .map(|(_, d)| d)
                .ok_or_else(|| ProtocolError::MissingBlockStatus.into()),
            _ => Err(ProtocolError::MissingBlockStatus.into()),
        }
    }

    /// Waits for requests in flight, sends `NBD_CMD_DISC` and closes the
    /// transport. Other handles fail with [`NbdError::Closed`] afterwards.
    pub async fn close(&self) -> Result<(), NbdError> {
        {
            let mut st = self.inner.shared.lock();
            if st.closing || st.failed.is_some() {
                return Ok(());
            }
            st.closing = true;
        }
        // All permits back means no reply is outstanding. A closed
        // semaphore means the connection failed: nothing left to close.
        let Ok(_all) = self
            .inner
            .slots
            .acquire_many(self.inner.max_in_flight)
            .await
        else {
            return Ok(());
        };
        let (tx, rx) = oneshot::channel();
        if self.inner.writes.send(Outgoing::Disconnect(tx)).is_err() {
            return Ok(());
        }
        rx.await.unwrap_or(Ok(()))
    }

    fn check_writable(&self, cmd: Command) -> Result<(), NbdError> {
        if self.inner.info.flags.read_only() {
            return Err(unsupported(cmd, "export is read-only"));
        }
        Ok(())
    }

    fn fua_flag(&self, cmd: Command, fua: bool) -> Result<u16, NbdError> {
        match (fua, self.inner.info.flags.can_fua()) {
            (false, _) => Ok(0),
            (true, true) => Ok(CMD_FLAG_FUA),
            (true, false) => Err(unsupported(cmd, "server does not offer FUA")),
        }
    }

    fn check_io(&self, offset: u64, length: u32) -> Result<(), NbdError> {
        if length > self.inner.max_io {
            return Err(NbdError::RequestTooLarge {
                length: u64::from(length),
                max: u64::from(self.inner.max_io),
            });
        }
        self.check_range(offset, length)
    }

    fn check_range(&self, offset: u64, length: u32) -> Result<(), NbdError> {
        let size = self.inner.info.size;
        let len = u64::from(length);
        if length == 0 {
            return Err(NbdError::ZeroLength);
        }
        let end = offset.checked_add(len);
        if end.is_none_or(|end| end > size) {
            return Err(NbdError::OutOfBounds {
                offset,
                length: len,
                size,
            });
        }
        // The server's minimum block size; a short tail at the export's
        // end is allowed.
        let min = self.inner.info.block_size.min;
        let m = u64::from(min);
        if offset % m != 0 || (len % m != 0 && end != Some(size)) {
            return Err(NbdError::Misaligned {
                offset,
                length: len,
                alignment: min,
            });
        }
        Ok(())
    }

    async fn submit(
        &self,
        command: Command,
        flags: u16,
        offset: u64,
        length: u32,
        payload: Vec<u8>,
        fast_zero: bool,
    ) -> Result<Completed, NbdError> {
        let inner = &*self.inner;
        let Ok(permit) = inner.slots.clone().acquire_owned().await else {
            return Err(inner.shared.unusable());
        };
        let (tx, rx) = oneshot::channel();
        let cookie = {
            let mut st = inner.shared.lock();
            if let Some(root) = &st.failed {
                return Err(NbdError::ConnectionLost(root.clone()));
            }
            if st.closing {
                return Err(NbdError::Closed);
            }
            // Skip cookies still in use after a wrap-around.
            let mut cookie = st.next_cookie.wrapping_add(1);
            while st.pending.contains_key(&cookie) {
                cookie = cookie.wrapping_add(1);
            }
            st.next_cookie = cookie;
            let contexts = inner.info.context_ids();
            st.pending.insert(
                cookie,
                Pending {
                    reply: ReplyState::new(command, offset, length, contexts),
                    fast_zero,
                    tx,
                    _permit: permit,
                },
            );
            cookie
        };
        let header = RequestHeader {
            flags,
            command: command.code(),
            cookie,
            offset,
            length,
        }
        .encode();
        if inner
            .writes
            .send(Outgoing::Request { header, payload })
            .is_err()
        {
            inner.shared.lock().pending.remove(&cookie);
            return Err(inner.shared.unusable());
        }
        let reply = match inner.request_timeout {
            None => rx.await,
            Some(limit) => match tokio::time::timeout(limit, rx).await {
                Ok(reply) => reply,
                Err(_) => {
                    // The reply may still come, but a server this slow is
                    // treated as gone so nothing waits on it forever.
                    let err = NbdError::TimedOut { command, limit };
                    inner.shared.fail(err, None, &inner.slots);
                    return Err(inner.shared.unusable());
                }
            },
        };
        reply.unwrap_or_else(|_| Err(inner.shared.unusable()))
    }
}

fn unsupported(command: Command, reason: &'static str) -> NbdError {
    NbdError::Unsupported { command, reason }
}
