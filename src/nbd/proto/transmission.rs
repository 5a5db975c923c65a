//! Transmission wire format: requests, reply headers and chunk payloads.

use super::{
    Cursor, MAX_STRING, REPLY_TYPE_BLOCK_STATUS, REPLY_TYPE_ERROR, REPLY_TYPE_ERROR_BIT,
    REPLY_TYPE_ERROR_OFFSET, REPLY_TYPE_NONE, REPLY_TYPE_OFFSET_DATA, REPLY_TYPE_OFFSET_HOLE,
    REQUEST_MAGIC, SIMPLE_REPLY_MAGIC, STRUCTURED_REPLY_MAGIC,
};
use crate::nbd::error::ProtocolError;

pub const REQUEST_LEN: usize = 28;
/// Bytes after the 4-byte magic of a simple reply.
pub const SIMPLE_REST_LEN: usize = 12;
/// Bytes after the 4-byte magic of a structured reply chunk header.
pub const CHUNK_REST_LEN: usize = 16;
/// Upper bound on a block status chunk: qemu sends at most 1 MiB of
/// descriptors, and anything bigger is treated as hostile.
pub const MAX_BLOCK_STATUS_PAYLOAD: u32 = 4 + 2 * 1024 * 1024;
/// Upper bound on an error chunk (fields, message, and room for fields of
/// error types this client does not know).
pub const MAX_ERROR_PAYLOAD: u32 = 14 + 2 * MAX_STRING as u32;

/// A request header (`NBD_REQUEST_MAGIC` …); a write's data follows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RequestHeader {
    pub flags: u16,
    pub command: u16,
    pub cookie: u64,
    pub offset: u64,
    pub length: u32,
}

impl RequestHeader {
    pub fn encode(&self) -> [u8; REQUEST_LEN] {
        let mut out = [0u8; REQUEST_LEN];
        out[0..4].copy_from_slice(&REQUEST_MAGIC.to_be_bytes());
        out[4..6].copy_from_slice(&self.flags.to_be_bytes());
        out[6..8].copy_from_slice(&self.command.to_be_bytes());
        out[8..16].copy_from_slice(&self.cookie.to_be_bytes());
        out[16..24].copy_from_slice(&self.offset.to_be_bytes());
        out[24..28].copy_from_slice(&self.length.to_be_bytes());
        out
    }

    /// Decodes a request header (used by test servers).
    pub fn decode(buf: &[u8]) -> Result<Self, ProtocolError> {
        let mut c = Cursor::new(buf, "request header");
        let magic = c.u32()?;
        if magic != REQUEST_MAGIC {
            return Err(ProtocolError::BadReplyMagic(magic));
        }
        Ok(RequestHeader {
            flags: c.u16()?,
            command: c.u16()?,
            cookie: c.u64()?,
            offset: c.u64()?,
            length: c.u32()?,
        })
    }
}

/// Which kind of reply a 4-byte magic announces.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReplyKind {
    Simple,
    Structured,
}

pub fn decode_reply_magic(buf: [u8; 4]) -> Result<ReplyKind, ProtocolError> {
    match u32::from_be_bytes(buf) {
        SIMPLE_REPLY_MAGIC => Ok(ReplyKind::Simple),
        STRUCTURED_REPLY_MAGIC => Ok(ReplyKind::Structured),
        other => Err(ProtocolError::BadReplyMagic(other)),
    }
}

/// A simple reply: error value and cookie (data of a read follows).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SimpleReply {
    pub error: u32,
    pub cookie: u64,
}

/// Decodes the 12 bytes after a simple reply's magic.
pub fn decode_simple_rest(buf: &[u8]) -> Result<SimpleReply, ProtocolError> {
    let mut c = Cursor::new(buf, "simple reply");
    Ok(SimpleReply {
        error: c.u32()?,
        cookie: c.u64()?,
    })
}

/// A structured reply chunk header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChunkHeader {
    pub flags: u16,
    pub chunk_type: u16,
    pub cookie: u64,
    pub length: u32,
}

impl ChunkHeader {
    pub fn done(&self) -> bool {
        self.flags & super::REPLY_FLAG_DONE != 0
    }
    pub fn is_error(&self) -> bool {
        self.chunk_type & REPLY_TYPE_ERROR_BIT != 0
    }
}

/// Decodes the 16 bytes after a structured reply's magic.
pub fn decode_chunk_rest(buf: &[u8]) -> Result<ChunkHeader, ProtocolError> {
    let mut c = Cursor::new(buf, "structured reply header");
    Ok(ChunkHeader {
        flags: c.u16()?,
        chunk_type: c.u16()?,
        cookie: c.u64()?,
        length: c.u32()?,
    })
}

/// Checks a chunk's length against what its type allows before any of its
/// payload is read. `max_data` bounds the data of an `OFFSET_DATA` chunk.
pub fn check_chunk_length(h: &ChunkHeader, max_data: u32) -> Result<(), ProtocolError> {
    let len = h.length;
    let (min, max) = match h.chunk_type {
        REPLY_TYPE_NONE => (0, 0),
        REPLY_TYPE_OFFSET_DATA => (9, max_data.saturating_add(8)),
        REPLY_TYPE_OFFSET_HOLE => (12, 12),
        REPLY_TYPE_BLOCK_STATUS => (12, MAX_BLOCK_STATUS_PAYLOAD),
        REPLY_TYPE_ERROR_OFFSET => (14, MAX_ERROR_PAYLOAD),
        t if t & REPLY_TYPE_ERROR_BIT != 0 => (6, MAX_ERROR_PAYLOAD),
        // Unknown non-error types cannot be interpreted: the spec demands a
        // hard disconnect, which the caller does on this error.
        t => return Err(ProtocolError::UnknownChunkType(t)),
    };
    let bad_shape = h.chunk_type == REPLY_TYPE_BLOCK_STATUS && (len.saturating_sub(4)) % 8 != 0;
    if len < min || bad_shape || (len > max && min == max) {
        return Err(ProtocolError::BadChunkLength {
            chunk_type: h.chunk_type,
            len,
        });
    }
    if len > max {
        return Err(ProtocolError::ChunkTooLarge { len, max });
    }
    Ok(())
}

/// Decodes an `OFFSET_HOLE` payload into (offset, length).
pub fn decode_hole(payload: &[u8]) -> Result<(u64, u32), ProtocolError> {
    if payload.len() != 12 {
        return Err(ProtocolError::Truncated("hole chunk"));
    }
    let mut c = Cursor::new(payload, "hole chunk");
    let offset = c.u64()?;
    let len = c.u32()?;
    if len == 0 {
        return Err(ProtocolError::BadChunkLength {
            chunk_type: REPLY_TYPE_OFFSET_HOLE,
            len: 0,
        });
    }
    Ok((offset, len))
}

/// A decoded error chunk.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ErrorChunk {
    pub error: u32,
    pub message: String,
    pub offset: Option<u64>,
}

/// Decodes an error chunk of any type with the error bit set.
pub fn decode_error_chunk(chunk_type: u16, payload: &[u8]) -> Result<ErrorChunk, ProtocolError> {
    let len = u32::try_from(payload.len()).unwrap_or(u32::MAX);
    let mut c = Cursor::new(payload, "error chunk");
    let error = c.u32()?;
    let msg_len = c.u16()?;
    let msg = c
        .bytes(usize::from(msg_len))
        .map_err(|_| ProtocolError::BadErrorMessage { msg_len, len })?;
    if error == 0 {
        return Err(ProtocolError::ZeroErrorValue);
    }
    let offset = if chunk_type == REPLY_TYPE_ERROR_OFFSET {
        if c.remaining() != 8 {
            return Err(ProtocolError::BadErrorMessage { msg_len, len });
        }
        Some(c.u64()?)
    } else {
        if chunk_type == REPLY_TYPE_ERROR && c.remaining() != 0 {
            return Err(ProtocolError::BadErrorMessage { msg_len, len });
        }
        None
    };
    Ok(ErrorChunk {
        error,
        message: String::from_utf8_lossy(msg).into_owned(),
        offset,
    })
}

/// One block status descriptor.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BlockStatusDescriptor {
    pub length: u32,
    pub flags: u32,
}

/// Decodes a `BLOCK_STATUS` payload into (context id, descriptors),
/// refusing zero-length descriptors and a sum beyond `requested`.
pub fn decode_block_status(
    payload: &[u8],
    requested: u64,
) -> Result<(u32, Vec<BlockStatusDescriptor>), ProtocolError> {
    if payload.len() < 12 || (payload.len() - 4) % 8 != 0 {
        return Err(ProtocolError::BadChunkLength {
            chunk_type: REPLY_TYPE_BLOCK_STATUS,
            len: u32::try_from(payload.len()).unwrap_or(u32::MAX),
        });
    }
    let mut c = Cursor::new(payload, "block status chunk");
    let context = c.u32()?;
    let mut out = Vec::with_capacity(c.remaining() / 8);
    let mut sum: u64 = 0;
    while c.remaining() > 0 {
        let length = c.u32()?;
        let flags = c.u32()?;
        if length == 0 {
            return Err(ProtocolError::ZeroLengthExtent);
        }
        // u64 cannot overflow: at most 2^18 descriptors of < 2^32 each.
        sum += u64::from(length);
        if sum > requested {
            return Err(ProtocolError::ExtentsExceedRequest { sum, requested });
        }
        out.push(BlockStatusDescriptor { length, flags });
    }
    Ok((context, out))
}

/// Encodes a simple reply header (used by test servers).
pub fn encode_simple_reply(error: u32, cookie: u64) -> [u8; 16] {
    let mut out = [0u8; 16];
    out[0..4].copy_from_slice(&SIMPLE_REPLY_MAGIC.to_be_bytes());
    out[4..8].copy_from_slice(&error.to_be_bytes());
    out[8..16].copy_from_slice(&cookie.to_be_bytes());
    out
}

/// Encodes a structured reply chunk header (used by test servers).
pub fn encode_chunk_header(h: &ChunkHeader) -> [u8; 20] {
    let mut out = [0u8; 20];
    out[0..4].copy_from_slice(&STRUCTURED_REPLY_MAGIC.to_be_bytes());
    out[4..6].copy_from_slice(&h.flags.to_be_bytes());
    out[6..8].copy_from_slice(&h.chunk_type.to_be_bytes());
    out[8..16].copy_from_slice(&h.cookie.to_be_bytes());
    out[16..20].copy_from_slice(&h.length.to_be_bytes());
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(chunk_type: u16, length: u32) -> ChunkHeader {
        ChunkHeader {
            flags: 0,
            chunk_type,
            cookie: 1,
            length,
        }
    }

    #[test]
    fn request_round_trips() {
        let h = RequestHeader {
            flags: 1,
            command: 1,
            cookie: 0xdead_beef,
            offset: 1 << 40,
            length: 4096,
        };
        assert_eq!(RequestHeader::decode(&h.encode()), Ok(h));
    }

    #[test]
    fn chunk_lengths_are_checked_per_type() {
        assert!(check_chunk_length(&header(REPLY_TYPE_NONE, 0), 4096).is_ok());
        assert!(check_chunk_length(&header(REPLY_TYPE_NONE, 1), 4096).is_err());
        assert!(check_chunk_length(&header(REPLY_TYPE_OFFSET_DATA, 8), 4096).is_err());
        assert!(check_chunk_length(&header(REPLY_TYPE_OFFSET_DATA, 4104), 4096).is_ok());
        assert_eq!(
            check_chunk_length(&header(REPLY_TYPE_OFFSET_DATA, u32::MAX), 4096),
            Err(ProtocolError::ChunkTooLarge {
                len: u32::MAX,
                max: 4104
            })
        );
        assert!(check_chunk_length(&header(REPLY_TYPE_OFFSET_HOLE, 13), 4096).is_err());
        assert!(check_chunk_length(&header(REPLY_TYPE_BLOCK_STATUS, 12), 4096).is_ok());
        assert!(check_chunk_length(&header(REPLY_TYPE_BLOCK_STATUS, 13), 4096).is_err());
        assert!(check_chunk_length(&header(REPLY_TYPE_ERROR, 5), 4096).is_err());
        assert!(check_chunk_length(&header(0x8007, 6), 4096).is_ok());
        assert!(check_chunk_length(&header(42, 0), 4096).is_err());
    }

    #[test]
    fn block_status_refuses_zero_and_overlong_extents() {
        let mut p = 1u32.to_be_bytes().to_vec();
        p.extend_from_slice(&512u32.to_be_bytes());
        p.extend_from_slice(&3u32.to_be_bytes());
        let (ctx, d) = decode_block_status(&p, 512).unwrap();
        assert_eq!(ctx, 1);
        assert_eq!(
            d,
            vec![BlockStatusDescriptor {
                length: 512,
                flags: 3
            }]
        );
        assert_eq!(
            decode_block_status(&p, 511),
            Err(ProtocolError::ExtentsExceedRequest {
                sum: 512,
                requested: 511
            })
        );
        p[4..8].copy_from_slice(&0u32.to_be_bytes());
        assert_eq!(
            decode_block_status(&p, 512),
            Err(ProtocolError::ZeroLengthExtent)
        );
    }

    #[test]
    fn error_chunk_message_must_fit() {
        let mut p = 5u32.to_be_bytes().to_vec();
        p.extend_from_slice(&10u16.to_be_bytes());
        p.extend_from_slice(b"short");
        assert!(matches!(
            decode_error_chunk(REPLY_TYPE_ERROR, &p),
            Err(ProtocolError::BadErrorMessage { msg_len: 10, .. })
        ));
        let mut p = 5u32.to_be_bytes().to_vec();
        p.extend_from_slice(&2u16.to_be_bytes());
        p.extend_from_slice(b"hi");
        p.extend_from_slice(&77u64.to_be_bytes());
        assert_eq!(
            decode_error_chunk(REPLY_TYPE_ERROR_OFFSET, &p),
            Ok(ErrorChunk {
                error: 5,
                message: "hi".into(),
                offset: Some(77)
            })
        );
    }
}
