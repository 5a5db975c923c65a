//! Assembly of one request's reply from a simple reply or a series of
//! structured chunks, checking every length before reading a byte of it.

use tokio::io::{AsyncRead, AsyncReadExt};

use super::error::{NbdError, ProtocolError, ServerError};
use super::proto::transmission::{
    self as wire, BlockStatusDescriptor, ChunkHeader, MAX_ERROR_PAYLOAD, SimpleReply,
};
use super::proto::{
    Command, Errno, REPLY_TYPE_BLOCK_STATUS, REPLY_TYPE_NONE, REPLY_TYPE_OFFSET_DATA,
    REPLY_TYPE_OFFSET_HOLE,
};

/// Most chunks accepted in one reply; honest servers send one per
/// allocation extent of a read, far fewer than this.
pub const MAX_CHUNKS_PER_REPLY: usize = 1 << 16;

/// The successful result of one request.
#[derive(Debug)]
pub enum Completed {
    Data(Vec<u8>),
    /// Block status: the descriptors of each context that answered, by id.
    Extents(Vec<(u32, Vec<BlockStatusDescriptor>)>),
    Done,
}

/// What is known so far about the reply to one request.
#[derive(Debug)]
pub struct ReplyState {
    command: Command,
    offset: u64,
    length: u32,
    /// The negotiated meta context ids, for block status.
    contexts: Vec<u32>,
    /// Read data. Allocated for the whole request but filled as chunks
    /// arrive: data in order is appended without zeroing first (a 4 MiB
    /// memset per request was measurable), gaps are zero-filled when a
    /// later chunk lands past them, holes are written as zeros, and
    /// `finish` checks that the chunks covered the request exactly.
    buf: Vec<u8>,
    /// Request-relative (start, end) of each content chunk of a read.
    covered: Vec<(u64, u64)>,
    chunks: usize,
    error: Option<ServerError>,
    extents: Vec<(u32, Vec<BlockStatusDescriptor>)>,
}

impl ReplyState {
    /// `length` must have been checked by the caller (it sizes a read
    /// buffer).
    pub fn new(command: Command, offset: u64, length: u32, contexts: Vec<u32>) -> Self {
        let buf = if command == Command::Read {
            Vec::with_capacity(length as usize)
        } else {
            Vec::new()
        };
        Self {
            command,
            offset,
            length,
            contexts,
            buf,
            covered: Vec::new(),
            chunks: 0,
            error: None,
            extents: Vec::new(),
        }
    }

    fn record_error(&mut self, errno: u32, message: String, offset: Option<u64>) {
        // The first error is the one worth reporting.
        if self.error.is_none() {
            self.error = Some(ServerError {
                command: self.command,
                errno: Errno::from_code(errno),
                message,
                offset,
            });
        }
    }

    /// Checks `offset..offset+len` lies in the request; returns the
    /// request-relative start.
    fn relative(&self, offset: u64, len: u64) -> Result<u64, ProtocolError> {
        let out = || ProtocolError::ChunkOutOfRange { offset, len };
        let rel = offset.checked_sub(self.offset).ok_or_else(out)?;
        let end = rel.checked_add(len).ok_or_else(out)?;
        if end > u64::from(self.length) {
            return Err(out());
        }
        Ok(rel)
    }

    /// Makes `buf` at least `end` bytes long, zero-filling what is added.
    fn reach(&mut self, end: usize) {
        if self.buf.len() < end {
            self.buf.resize(end, 0);
        }
    }

    /// Reads the data for request-relative `start..end` (within the
    /// request) from `r` into `buf`: appended straight into the spare
    /// capacity when it continues the data so far, copied over otherwise.
    async fn fill<R>(&mut self, r: &mut R, start: usize, end: usize) -> Result<(), NbdError>
    where
        R: AsyncRead + Unpin,
    {
        if start != self.buf.len() {
            self.reach(end);
            r.read_exact(&mut self.buf[start..end]).await?;
            return Ok(());
        }
        let mut part = (&mut *r).take((end - start) as u64);
        while part.limit() > 0 {
            // The capacity is the request's length and end is within it,
            // so this never reallocates.
            if part.read_buf(&mut self.buf).await? == 0 {
                return Err(std::io::Error::from(std::io::ErrorKind::UnexpectedEof).into());
            }
        }
        Ok(())
    }

    /// Turns the finished reply into the request's result.
    pub fn finish(mut self) -> Result<Completed, NbdError> {
        if let Some(err) = self.error.take() {
            return Err(err.into());
        }
        match self.command {
            Command::Read => {
                if !self.covered.is_empty() {
                    self.covered.sort_unstable();
                    let mut end = 0;
                    for &(s, e) in &self.covered {
                        if s < end {
                            return Err(ProtocolError::OverlappingChunks.into());
                        }
                        end = e;
                    }
                    let total: u64 = self.covered.iter().map(|(s, e)| e - s).sum();
                    if total != u64::from(self.length) {
                        return Err(ProtocolError::IncompleteRead {
                            covered: total,
                            expected: u64::from(self.length),
                        }
                        .into());
                    }
                } else if self.chunks > 0 {
                    // Structured reply with no content at all.
                    return Err(ProtocolError::IncompleteRead {
                        covered: 0,
                        expected: u64::from(self.length),
                    }
                    .into());
                }
                // Every byte was covered, so this only ever adds nothing.
                self.buf.resize(self.length as usize, 0);
                Ok(Completed::Data(self.buf))
            }
            Command::BlockStatus if self.extents.is_empty() => {
                Err(ProtocolError::MissingBlockStatus.into())
            }
            Command::BlockStatus => Ok(Completed::Extents(self.extents)),
            _ => Ok(Completed::Done),
        }
    }
}

/// Applies a simple reply, reading a read's data if the server sends it.
/// The reply is always complete afterwards.
pub async fn apply_simple<R>(
    r: &mut R,
    reply: &SimpleReply,
    state: &mut ReplyState,
    structured: bool,
) -> Result<(), NbdError>
where
    R: AsyncRead + Unpin,
{
    if reply.error != 0 {
        state.record_error(reply.error, String::new(), None);
        return Ok(());
    }
    match state.command {
        Command::Read if structured => Err(ProtocolError::SimpleReplyToRead.into()),
        Command::Read => {
            let len = state.length as usize;
            state.fill(r, 0, len).await
        }
        // finish() reports the missing extents.
        _ => Ok(()),
    }
}

/// Applies one structured chunk whose header was read and length-checked
/// by [`wire::check_chunk_length`]. Returns whether the reply is complete.
pub async fn apply_chunk<R>(
    r: &mut R,
    h: &ChunkHeader,
    state: &mut ReplyState,
) -> Result<bool, NbdError>
where
    R: AsyncRead + Unpin,
{
    state.chunks += 1;
    if state.chunks > MAX_CHUNKS_PER_REPLY {
        return Err(ProtocolError::TooManyChunks(MAX_CHUNKS_PER_REPLY).into());
    }
    let wrong_command = |state: &ReplyState| ProtocolError::UnexpectedChunkType {
        chunk_type: h.chunk_type,
        command: state.command,
    };
    match h.chunk_type {
        REPLY_TYPE_NONE => {
            if !h.done() {
                return Err(ProtocolError::NoneWithoutDone.into());
            }
        }
        REPLY_TYPE_OFFSET_DATA => {
            if state.command != Command::Read {
                return Err(wrong_command(state).into());
            }
            let mut off = [0u8; 8];
            r.read_exact(&mut off).await?;
            let offset = u64::from_be_bytes(off);
            let len = h
                .length
                .checked_sub(8)
                .filter(|&l| l > 0)
                .map(u64::from)
                .ok_or(ProtocolError::BadChunkLength {
                    chunk_type: h.chunk_type,
                    len: h.length,
                })?;
            let rel = state.relative(offset, len)?;
            state.covered.push((rel, rel + len));
            // In range of the request by relative().
            state.fill(r, rel as usize, (rel + len) as usize).await?;
        }
        REPLY_TYPE_OFFSET_HOLE => {
            if state.command != Command::Read {
                return Err(wrong_command(state).into());
            }
            let mut p = [0u8; 12];
            r.read_exact(&mut p).await?;
            let (offset, len) = wire::decode_hole(&p)?;
            let len = u64::from(len);
            let rel = state.relative(offset, len)?;
            state.covered.push((rel, rel + len));
            let (s, e) = (rel as usize, (rel + len) as usize);
            // Bytes added by reach() are zeros already.
            let rewrite = s < state.buf.len();
            state.reach(e);
            if rewrite {
                state.buf[s..e].fill(0);
            }
        }
        REPLY_TYPE_BLOCK_STATUS => {
            if state.command != Command::BlockStatus {
                return Err(wrong_command(state).into());
            }
            // Bounded by MAX_BLOCK_STATUS_PAYLOAD in check_chunk_length.
            let mut p = vec![0u8; h.length as usize];
            r.read_exact(&mut p).await?;
            let (ctx, descs) = wire::decode_block_status(&p, u64::from(state.length))?;
            if !state.contexts.contains(&ctx) {
                return Err(ProtocolError::UnknownMetaContext(ctx).into());
            }
            if state.extents.iter().any(|(c, _)| *c == ctx) {
                return Err(ProtocolError::DuplicateBlockStatus.into());
            }
            state.extents.push((ctx, descs));
        }
        t if h.is_error() => {
            if h.length > MAX_ERROR_PAYLOAD {
                return Err(ProtocolError::ChunkTooLarge {
                    len: h.length,
                    max: MAX_ERROR_PAYLOAD,
                }
                .into());
            }
            let mut p = vec![0u8; h.length as usize];
            r.read_exact(&mut p).await?;
            let e = wire::decode_error_chunk(t, &p)?;
            if let Some(off) = e.offset {
                state.relative(off, 0)?;
                if off >= state.offset.saturating_add(u64::from(state.length)) {
                    return Err(ProtocolError::ChunkOutOfRange {
                        offset: off,
                        len: 0,
                    }
                    .into());
                }
            }
            state.record_error(e.error, e.message, e.offset);
        }
        t => return Err(ProtocolError::UnknownChunkType(t).into()),
    }
    Ok(h.done())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn read_coverage_must_be_exact() {
        let mut s = ReplyState::new(Command::Read, 100, 10, Vec::new());
        s.chunks = 2;
        s.covered = vec![(0, 6), (5, 10)];
        assert!(matches!(
            s.finish(),
            Err(NbdError::Protocol(ProtocolError::OverlappingChunks))
        ));
        let mut s = ReplyState::new(Command::Read, 100, 10, Vec::new());
        s.chunks = 1;
        s.covered = vec![(0, 6)];
        assert!(matches!(
            s.finish(),
            Err(NbdError::Protocol(ProtocolError::IncompleteRead {
                covered: 6,
                expected: 10
            }))
        ));
    }

    fn data(state: ReplyState) -> Vec<u8> {
        match state.finish() {
            Ok(Completed::Data(d)) => d,
            Ok(_) => panic!("not data"),
            Err(e) => panic!("{e}"),
        }
    }

    #[tokio::test]
    async fn read_data_lands_in_place_whatever_the_chunk_order() {
        let src: Vec<u8> = (1..=100u8).collect();
        // (start, end) of each data chunk, in the order the server sends them.
        for order in [
            vec![(0, 100)],
            vec![(0, 30), (30, 100)],
            vec![(60, 100), (0, 60)],
            vec![(20, 50), (0, 20), (50, 100)],
        ] {
            let mut s = ReplyState::new(Command::Read, 1000, 100, Vec::new());
            for &(a, b) in &order {
                s.fill(&mut &src[a..b], a, b).await.unwrap();
                s.covered.push((a as u64, b as u64));
                s.chunks += 1;
            }
            assert_eq!(data(s), src, "{order:?}");
        }
        // A hole after data, and one before it.
        let mut s = ReplyState::new(Command::Read, 0, 10, Vec::new());
        s.fill(&mut &[9u8; 4][..], 6, 10).await.unwrap();
        s.reach(6);
        s.buf[0..6].fill(0);
        s.covered = vec![(6, 10), (0, 6)];
        s.chunks = 2;
        assert_eq!(data(s), [0, 0, 0, 0, 0, 0, 9, 9, 9, 9]);
        // The stream ends early.
        let mut s = ReplyState::new(Command::Read, 0, 10, Vec::new());
        assert!(s.fill(&mut &[1u8; 5][..], 0, 10).await.is_err());
        assert_eq!(s.buf.capacity(), 10);
    }

    #[test]
    fn relative_rejects_out_of_range() {
        let s = ReplyState::new(Command::Read, 100, 10, Vec::new());
        assert_eq!(s.relative(100, 10), Ok(0));
        assert_eq!(s.relative(105, 5), Ok(5));
        assert!(s.relative(99, 1).is_err());
        assert!(s.relative(105, 6).is_err());
        assert!(s.relative(u64::MAX, 2).is_err());
    }
}
