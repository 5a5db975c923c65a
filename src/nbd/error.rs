//! Typed errors of the NBD client.
//!
//! [`ProtocolError`] is what the pure decoders return when a peer breaks
//! the protocol; it is `Clone` so one violation can be reported to every
//! request that was waiting on the connection. [`NbdError`] is what the
//! public API returns.

use std::sync::Arc;

use thiserror::Error;

use super::proto::{Command, Errno, OptionErrorCode, option_name};

/// The server broke the protocol (or sent something this client refuses).
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ProtocolError {
    #[error("not an NBD server (bad greeting magic {0:#018x})")]
    NotNbd(u64),
    #[error("server speaks oldstyle negotiation, which is not supported")]
    Oldstyle,
    #[error("unknown negotiation magic {0:#018x}")]
    BadNegotiationMagic(u64),
    #[error("server does not support fixed newstyle negotiation")]
    NotFixedNewstyle,
    #[error("bad option reply magic {0:#018x}")]
    BadOptionReplyMagic(u64),
    #[error("option reply is for option {got}, expected {sent}")]
    OptionReplyMismatch { sent: u32, got: u32 },
    #[error("option reply of {len} bytes exceeds the limit of {max}")]
    OptionReplyTooLarge { len: u32, max: u32 },
    #[error("unexpected option reply type {reply:#x} to {}", option_name(*option))]
    UnexpectedOptionReply { option: u32, reply: u32 },
    #[error("too many option replies to {}", option_name(*option))]
    TooManyOptionReplies { option: u32 },
    #[error("info reply {info} has bad length {len}")]
    BadInfoLength { info: u16, len: usize },
    #[error("server ended negotiation without sending export information")]
    MissingExportInfo,
    #[error("invalid block size constraints min={min} preferred={preferred} max={max}")]
    InvalidBlockSize { min: u32, preferred: u32, max: u32 },
    #[error("transmission flags {0:#06x} lack NBD_FLAG_HAS_FLAGS")]
    MissingHasFlags(u16),
    #[error("meta context reply of bad length {0}")]
    BadMetaContextReply(usize),
    #[error("server selected an unrequested meta context")]
    UnrequestedMetaContext,
    #[error("server selected a meta context twice")]
    DuplicateMetaContext,
    #[error("bad reply magic {0:#010x}")]
    BadReplyMagic(u32),
    #[error("structured reply received but not negotiated")]
    StructuredNotNegotiated,
    #[error("reply for unknown cookie {0:#x}")]
    UnknownCookie(u64),
    #[error("reply chunk of {len} bytes exceeds the limit of {max}")]
    ChunkTooLarge { len: u32, max: u32 },
    #[error("reply chunk type {chunk_type:#x} has inconsistent length {len}")]
    BadChunkLength { chunk_type: u16, len: u32 },
    #[error("unknown reply chunk type {0:#x}")]
    UnknownChunkType(u16),
    #[error("reply chunk type {chunk_type:#x} is not valid for {command}")]
    UnexpectedChunkType { chunk_type: u16, command: Command },
    #[error("NBD_REPLY_TYPE_NONE without the DONE flag")]
    NoneWithoutDone,
    #[error("reply range {offset}+{len} lies outside the request")]
    ChunkOutOfRange { offset: u64, len: u64 },
    #[error("reply chunks overlap")]
    OverlappingChunks,
    #[error("reply has more than {0} chunks")]
    TooManyChunks(usize),
    #[error("read reply covered {covered} of {expected} bytes")]
    IncompleteRead { covered: u64, expected: u64 },
    #[error("simple reply with data to a read after structured replies were negotiated")]
    SimpleReplyToRead,
    #[error("error chunk carries error value 0")]
    ZeroErrorValue,
    #[error("error chunk message of {msg_len} bytes does not fit its {len}-byte chunk")]
    BadErrorMessage { msg_len: u16, len: u32 },
    #[error("block status reply for unknown meta context {0}")]
    UnknownMetaContext(u32),
    #[error("block status reply has more than one chunk for the context")]
    DuplicateBlockStatus,
    #[error("block status reply has no block status chunk")]
    MissingBlockStatus,
    #[error("block status extent of length 0")]
    ZeroLengthExtent,
    #[error("block status extents sum to {sum}, more than the requested {requested}")]
    ExtentsExceedRequest { sum: u64, requested: u64 },
    #[error("{0} truncated")]
    Truncated(&'static str),
}

/// Why the server refused a negotiation option (`NBD_REP_ERR_*`).
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("server refused {}: {code}{}", option_name(*option), fmt_msg(message))]
pub struct OptionRefused {
    pub option: u32,
    pub code: OptionErrorCode,
    pub message: String,
}

/// An error the server reported for one request (`NBD_E*`).
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("{command} failed on the server: {errno}{}{}", fmt_offset(*offset), fmt_msg(message))]
pub struct ServerError {
    pub command: Command,
    pub errno: Errno,
    pub message: String,
    /// The offset reported by `NBD_REPLY_TYPE_ERROR_OFFSET`, if any.
    pub offset: Option<u64>,
}

/// Everything the NBD client API can fail with.
#[derive(Debug, Error)]
pub enum NbdError {
    #[error("NBD transport I/O: {0}")]
    Io(#[from] std::io::Error),
    #[error("NBD protocol violation: {0}")]
    Protocol(#[from] ProtocolError),
    #[error(transparent)]
    OptionRefused(#[from] OptionRefused),
    #[error(transparent)]
    Server(#[from] ServerError),
    /// `WRITE_ZEROES` with `FAST_ZERO` was refused with `ENOTSUP`: the
    /// server cannot zero faster than writing, so the caller may choose to
    /// write the zeroes itself or skip.
    #[error("server cannot zero this range fast (ENOTSUP)")]
    FastZeroUnsupported,
    #[error("{command} is not supported by this export: {reason}")]
    Unsupported {
        command: Command,
        reason: &'static str,
    },
    #[error("request {offset}+{length} is outside the export of {size} bytes")]
    OutOfBounds { offset: u64, length: u64, size: u64 },
    #[error("request of {length} bytes exceeds the limit of {max}")]
    RequestTooLarge { length: u64, max: u64 },
    #[error("request {offset}+{length} is not aligned to the {alignment}-byte minimum block size")]
    Misaligned {
        offset: u64,
        length: u64,
        alignment: u32,
    },
    #[error("request of length 0")]
    ZeroLength,
    #[error("{command} got no reply within {limit:?}")]
    TimedOut {
        command: Command,
        limit: std::time::Duration,
    },
    #[error("export name or meta context is longer than 4096 bytes")]
    NameTooLong,
    /// The connection failed; the source says why (I/O or a protocol
    /// violation seen on behalf of another request).
    #[error("NBD connection lost: {0}")]
    ConnectionLost(#[source] Arc<NbdError>),
    #[error("NBD client is closed")]
    Closed,
}

impl NbdError {
    /// The root error behind [`NbdError::ConnectionLost`], or `self`.
    pub fn root(&self) -> &NbdError {
        match self {
            NbdError::ConnectionLost(inner) => inner.root(),
            other => other,
        }
    }

    /// The protocol violation behind this error, if that is what it is.
    pub fn protocol(&self) -> Option<&ProtocolError> {
        match self.root() {
            NbdError::Protocol(p) => Some(p),
            _ => None,
        }
    }
}

fn fmt_msg(msg: &str) -> String {
    if msg.is_empty() {
        String::new()
    } else {
        format!(" ({msg})")
    }
}

fn fmt_offset(offset: Option<u64>) -> String {
    offset
        .map(|o| format!(" at offset {o}"))
        .unwrap_or_default()
}
