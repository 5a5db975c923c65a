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
    /// Read data, zero-filled up front so holes need no work.
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
            vec![0u8; length as usize]
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
            r.read_exact(&mut state.buf).await?;
            Ok(())
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
            // In range of buf (length of the request) by relative().
            let (s, e) = (rel as usize, (rel + len) as usize);
            r.read_exact(&mut state.buf[s..e]).await?;
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
            state.buf[rel as usize..(rel + len) as usize].fill(0);
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
