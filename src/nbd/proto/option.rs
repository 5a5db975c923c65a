//! Handshake wire format: greeting, option requests and option replies.

use super::{
    Cursor, FLAG_FIXED_NEWSTYLE, IHAVEOPT, INFO_BLOCK_SIZE, INFO_EXPORT, MAX_STRING, NBD_MAGIC,
    OPTION_REPLY_MAGIC, TFLAG_HAS_FLAGS,
};
use crate::nbd::error::ProtocolError;

/// Length of the server greeting: magic, newstyle magic, handshake flags.
pub const GREETING_LEN: usize = 18;
/// Length of an option reply header.
pub const OPTION_REPLY_HEADER_LEN: usize = 20;
/// Length of the reply to `NBD_OPT_EXPORT_NAME` without the zero padding.
pub const EXPORT_NAME_REPLY_LEN: usize = 10;
/// Zero padding after the `NBD_OPT_EXPORT_NAME` reply unless NO_ZEROES.
pub const EXPORT_NAME_PADDING: usize = 124;

/// Decodes the greeting and returns the handshake flags. Refuses oldstyle
/// servers and servers without fixed newstyle.
pub fn decode_greeting(buf: &[u8]) -> Result<u16, ProtocolError> {
    let mut c = Cursor::new(buf, "greeting");
    let magic = c.u64()?;
    if magic != NBD_MAGIC {
        return Err(ProtocolError::NotNbd(magic));
    }
    match c.u64()? {
        IHAVEOPT => {}
        super::CLISERV_MAGIC => return Err(ProtocolError::Oldstyle),
        other => return Err(ProtocolError::BadNegotiationMagic(other)),
    }
    let flags = c.u16()?;
    if flags & FLAG_FIXED_NEWSTYLE == 0 {
        return Err(ProtocolError::NotFixedNewstyle);
    }
    Ok(flags)
}

/// Encodes one option request: `IHAVEOPT`, option, length, data.
/// `data` is built by this module, so its length always fits in u32.
pub fn encode_option(option: u32, data: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(16 + data.len());
    out.extend_from_slice(&IHAVEOPT.to_be_bytes());
    out.extend_from_slice(&option.to_be_bytes());
    out.extend_from_slice(&(data.len() as u32).to_be_bytes());
    out.extend_from_slice(data);
    out
}

fn push_string(out: &mut Vec<u8>, s: &str) -> Result<(), ProtocolError> {
    if s.len() > MAX_STRING {
        return Err(ProtocolError::Truncated("string longer than 4096 bytes"));
    }
    out.extend_from_slice(&(s.len() as u32).to_be_bytes());
    out.extend_from_slice(s.as_bytes());
    Ok(())
}

/// Option data of `NBD_OPT_GO`: export name and the info types wanted.
pub fn encode_go(export: &str, infos: &[u16]) -> Result<Vec<u8>, ProtocolError> {
    let mut out = Vec::new();
    push_string(&mut out, export)?;
    let count = u16::try_from(infos.len()).map_err(|_| ProtocolError::Truncated("info list"))?;
    out.extend_from_slice(&count.to_be_bytes());
    for info in infos {
        out.extend_from_slice(&info.to_be_bytes());
    }
    Ok(out)
}

/// Option data of `NBD_OPT_SET_META_CONTEXT`: export name and queries.
pub fn encode_set_meta_context(export: &str, queries: &[&str]) -> Result<Vec<u8>, ProtocolError> {
    let mut out = Vec::new();
    push_string(&mut out, export)?;
    let count = u32::try_from(queries.len()).map_err(|_| ProtocolError::Truncated("queries"))?;
    out.extend_from_slice(&count.to_be_bytes());
    for q in queries {
        push_string(&mut out, q)?;
    }
    Ok(out)
}

/// Header of a fixed-newstyle option reply.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OptionReplyHeader {
    pub option: u32,
    pub reply: u32,
    pub length: u32,
}

/// Decodes an option reply header, checking the magic, that it answers
/// `sent` and that its payload is at most `max_len` bytes.
pub fn decode_option_reply_header(
    buf: &[u8],
    sent: u32,
    max_len: u32,
) -> Result<OptionReplyHeader, ProtocolError> {
    let mut c = Cursor::new(buf, "option reply header");
    let magic = c.u64()?;
    if magic != OPTION_REPLY_MAGIC {
        return Err(ProtocolError::BadOptionReplyMagic(magic));
    }
    let option = c.u32()?;
    let reply = c.u32()?;
    let length = c.u32()?;
    if option != sent {
        return Err(ProtocolError::OptionReplyMismatch { sent, got: option });
    }
    if length > max_len {
        return Err(ProtocolError::OptionReplyTooLarge {
            len: length,
            max: max_len,
        });
    }
    Ok(OptionReplyHeader {
        option,
        reply,
        length,
    })
}

/// Transmission flags of an export (`NBD_FLAG_*`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct TransmissionFlags(pub u16);

impl TransmissionFlags {
    fn has(self, bit: u16) -> bool {
        self.0 & bit != 0
    }
    pub fn read_only(self) -> bool {
        self.has(super::TFLAG_READ_ONLY)
    }
    pub fn can_flush(self) -> bool {
        self.has(super::TFLAG_SEND_FLUSH)
    }
    pub fn can_fua(self) -> bool {
        self.has(super::TFLAG_SEND_FUA)
    }
    pub fn rotational(self) -> bool {
        self.has(super::TFLAG_ROTATIONAL)
    }
    pub fn can_trim(self) -> bool {
        self.has(super::TFLAG_SEND_TRIM)
    }
    pub fn can_write_zeroes(self) -> bool {
        self.has(super::TFLAG_SEND_WRITE_ZEROES)
    }
    pub fn can_df(self) -> bool {
        self.has(super::TFLAG_SEND_DF)
    }
    pub fn can_multi_conn(self) -> bool {
        self.has(super::TFLAG_CAN_MULTI_CONN)
    }
    pub fn can_fast_zero(self) -> bool {
        self.has(super::TFLAG_SEND_FAST_ZERO)
    }
}

/// Block size constraints (`NBD_INFO_BLOCK_SIZE`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BlockSize {
    pub min: u32,
    pub preferred: u32,
    pub max: u32,
}

impl BlockSize {
    /// What the spec tells clients to assume when the server sends none.
    pub const DEFAULT: BlockSize = BlockSize {
        min: 1,
        preferred: 4096,
        max: 32 * 1024 * 1024,
    };

    /// Checks the spec's constraints so later arithmetic can rely on them.
    pub fn validate(self) -> Result<Self, ProtocolError> {
        let BlockSize {
            min,
            preferred,
            max,
        } = self;
        let ok = min.is_power_of_two()
            && min <= 64 * 1024
            && preferred.is_power_of_two()
            && preferred >= min
            && max >= min
            && (max % min == 0 || max == u32::MAX);
        if ok {
            Ok(self)
        } else {
            Err(ProtocolError::InvalidBlockSize {
                min,
                preferred,
                max,
            })
        }
    }
}

/// One `NBD_REP_INFO` payload.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Info {
    Export {
        size: u64,
        flags: TransmissionFlags,
    },
    BlockSize(BlockSize),
    /// An info type this client ignores (name, description, …).
    Other(u16),
}

/// Decodes an `NBD_REP_INFO` payload.
pub fn decode_info(payload: &[u8]) -> Result<Info, ProtocolError> {
    let mut c = Cursor::new(payload, "info reply");
    let info = c.u16()?;
    let bad = || ProtocolError::BadInfoLength {
        info,
        len: payload.len(),
    };
    match info {
        INFO_EXPORT => {
            if c.remaining() != 10 {
                return Err(bad());
            }
            let size = c.u64()?;
            let flags = c.u16()?;
            Ok(Info::Export {
                size,
                flags: decode_transmission_flags(flags)?,
            })
        }
        INFO_BLOCK_SIZE => {
            if c.remaining() != 12 {
                return Err(bad());
            }
            let bs = BlockSize {
                min: c.u32()?,
                preferred: c.u32()?,
                max: c.u32()?,
            };
            Ok(Info::BlockSize(bs.validate()?))
        }
        other => Ok(Info::Other(other)),
    }
}

/// Checks `NBD_FLAG_HAS_FLAGS`, which the spec makes mandatory.
pub fn decode_transmission_flags(flags: u16) -> Result<TransmissionFlags, ProtocolError> {
    if flags & TFLAG_HAS_FLAGS == 0 {
        return Err(ProtocolError::MissingHasFlags(flags));
    }
    Ok(TransmissionFlags(flags))
}

/// Decodes an `NBD_REP_META_CONTEXT` payload into (context id, name).
pub fn decode_meta_context(payload: &[u8]) -> Result<(u32, &[u8]), ProtocolError> {
    if payload.len() < 4 || payload.len() > 4 + MAX_STRING {
        return Err(ProtocolError::BadMetaContextReply(payload.len()));
    }
    let mut c = Cursor::new(payload, "meta context reply");
    let id = c.u32()?;
    Ok((id, c.rest()))
}

/// Decodes the 10-byte reply to `NBD_OPT_EXPORT_NAME`: size and flags.
pub fn decode_export_name_reply(buf: &[u8]) -> Result<(u64, TransmissionFlags), ProtocolError> {
    let mut c = Cursor::new(buf, "export name reply");
    let size = c.u64()?;
    let flags = decode_transmission_flags(c.u16()?)?;
    Ok((size, flags))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn greeting_refuses_oldstyle_and_plain_newstyle() {
        let mut g = Vec::new();
        g.extend_from_slice(&NBD_MAGIC.to_be_bytes());
        g.extend_from_slice(&super::super::CLISERV_MAGIC.to_be_bytes());
        g.extend_from_slice(&[0, 3]);
        assert_eq!(decode_greeting(&g), Err(ProtocolError::Oldstyle));

        let mut g = Vec::new();
        g.extend_from_slice(&NBD_MAGIC.to_be_bytes());
        g.extend_from_slice(&IHAVEOPT.to_be_bytes());
        g.extend_from_slice(&[0, 0]);
        assert_eq!(decode_greeting(&g), Err(ProtocolError::NotFixedNewstyle));
        g[17] = 3;
        assert_eq!(decode_greeting(&g), Ok(3));
        assert_eq!(
            decode_greeting(&g[..17]),
            Err(ProtocolError::Truncated("greeting"))
        );
    }

    #[test]
    fn option_reply_header_checks_length_and_option() {
        let mut h = Vec::new();
        h.extend_from_slice(&OPTION_REPLY_MAGIC.to_be_bytes());
        h.extend_from_slice(&7u32.to_be_bytes());
        h.extend_from_slice(&3u32.to_be_bytes());
        h.extend_from_slice(&100_000u32.to_be_bytes());
        assert_eq!(
            decode_option_reply_header(&h, 7, 65536),
            Err(ProtocolError::OptionReplyTooLarge {
                len: 100_000,
                max: 65536
            })
        );
        assert_eq!(
            decode_option_reply_header(&h, 8, u32::MAX),
            Err(ProtocolError::OptionReplyMismatch { sent: 8, got: 7 })
        );
    }

    #[test]
    fn block_size_validation() {
        assert!(BlockSize::DEFAULT.validate().is_ok());
        let bad = BlockSize {
            min: 3,
            preferred: 4096,
            max: 4096,
        };
        assert!(bad.validate().is_err());
        let bad = BlockSize {
            min: 512,
            preferred: 4096,
            max: 256,
        };
        assert!(bad.validate().is_err());
    }

    #[test]
    fn info_export_requires_exact_length() {
        let mut p = vec![0, 0];
        p.extend_from_slice(&1024u64.to_be_bytes());
        p.extend_from_slice(&1u16.to_be_bytes());
        assert_eq!(
            decode_info(&p),
            Ok(Info::Export {
                size: 1024,
                flags: TransmissionFlags(1)
            })
        );
        p.push(0);
        assert!(matches!(
            decode_info(&p),
            Err(ProtocolError::BadInfoLength { info: 0, len: 13 })
        ));
    }
}
