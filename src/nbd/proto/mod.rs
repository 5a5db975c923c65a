//! NBD wire format: constants, wire structs and pure encoders/decoders.
//!
//! Nothing here does I/O, so everything here can be fuzzed directly.
//! All decoders take byte slices and return [`ProtocolError`] on anything
//! malformed; none of them panics or allocates more than its input.

pub mod option;
pub mod transmission;

use std::fmt;

use super::error::ProtocolError;

/// `NBDMAGIC`, the first 8 bytes from any NBD server.
pub const NBD_MAGIC: u64 = 0x4e42_444d_4147_4943;
/// `IHAVEOPT`: newstyle negotiation, and the prefix of every option request.
pub const IHAVEOPT: u64 = 0x4948_4156_454f_5054;
/// Oldstyle negotiation magic (refused).
pub const CLISERV_MAGIC: u64 = 0x0000_4202_8186_1253;
/// Magic of every fixed-newstyle option reply.
pub const OPTION_REPLY_MAGIC: u64 = 0x0003_e889_0455_65a9;
pub const REQUEST_MAGIC: u32 = 0x2560_9513;
pub const SIMPLE_REPLY_MAGIC: u32 = 0x6744_6698;
pub const STRUCTURED_REPLY_MAGIC: u32 = 0x668e_33ef;

// Handshake flags (server) and client flags.
pub const FLAG_FIXED_NEWSTYLE: u16 = 1 << 0;
pub const FLAG_NO_ZEROES: u16 = 1 << 1;
pub const FLAG_C_FIXED_NEWSTYLE: u32 = 1 << 0;
pub const FLAG_C_NO_ZEROES: u32 = 1 << 1;

// Options.
pub const OPT_EXPORT_NAME: u32 = 1;
pub const OPT_ABORT: u32 = 2;
pub const OPT_GO: u32 = 7;
pub const OPT_STRUCTURED_REPLY: u32 = 8;
pub const OPT_SET_META_CONTEXT: u32 = 10;

// Option reply types.
pub const REP_ACK: u32 = 1;
pub const REP_INFO: u32 = 3;
pub const REP_META_CONTEXT: u32 = 4;
pub const REP_ERR_BIT: u32 = 1 << 31;

// Info types.
pub const INFO_EXPORT: u16 = 0;
pub const INFO_BLOCK_SIZE: u16 = 3;

// Transmission flags.
pub const TFLAG_HAS_FLAGS: u16 = 1 << 0;
pub const TFLAG_READ_ONLY: u16 = 1 << 1;
pub const TFLAG_SEND_FLUSH: u16 = 1 << 2;
pub const TFLAG_SEND_FUA: u16 = 1 << 3;
pub const TFLAG_ROTATIONAL: u16 = 1 << 4;
pub const TFLAG_SEND_TRIM: u16 = 1 << 5;
pub const TFLAG_SEND_WRITE_ZEROES: u16 = 1 << 6;
pub const TFLAG_SEND_DF: u16 = 1 << 7;
pub const TFLAG_CAN_MULTI_CONN: u16 = 1 << 8;
pub const TFLAG_SEND_FAST_ZERO: u16 = 1 << 11;

// Command flags.
pub const CMD_FLAG_FUA: u16 = 1 << 0;
pub const CMD_FLAG_NO_HOLE: u16 = 1 << 1;
pub const CMD_FLAG_FAST_ZERO: u16 = 1 << 4;

// Structured reply flags and chunk types.
pub const REPLY_FLAG_DONE: u16 = 1 << 0;
pub const REPLY_TYPE_NONE: u16 = 0;
pub const REPLY_TYPE_OFFSET_DATA: u16 = 1;
pub const REPLY_TYPE_OFFSET_HOLE: u16 = 2;
pub const REPLY_TYPE_BLOCK_STATUS: u16 = 5;
pub const REPLY_TYPE_ERROR_BIT: u16 = 1 << 15;
pub const REPLY_TYPE_ERROR: u16 = REPLY_TYPE_ERROR_BIT | 1;
pub const REPLY_TYPE_ERROR_OFFSET: u16 = REPLY_TYPE_ERROR_BIT | 2;

// base:allocation status flags.
pub const STATE_HOLE: u32 = 1 << 0;
pub const STATE_ZERO: u32 = 1 << 1;

/// The allocation meta context every copy asks for.
pub const BASE_ALLOCATION: &str = "base:allocation";
/// Prefix of qemu's dirty-bitmap meta contexts (`qemu:dirty-bitmap:<name>`).
pub const DIRTY_BITMAP_PREFIX: &str = "qemu:dirty-bitmap:";
/// `qemu:dirty-bitmap:*` status flag: the region changed since the bitmap began.
pub const STATE_DIRTY: u32 = 1 << 0;

/// Longest string (export name, message) the spec allows.
pub const MAX_STRING: usize = 4096;

/// A transmission command.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Command {
    Read,
    Write,
    Disconnect,
    Flush,
    Trim,
    WriteZeroes,
    BlockStatus,
}

impl Command {
    pub const fn code(self) -> u16 {
        match self {
            Command::Read => 0,
            Command::Write => 1,
            Command::Disconnect => 2,
            Command::Flush => 3,
            Command::Trim => 4,
            Command::WriteZeroes => 6,
            Command::BlockStatus => 7,
        }
    }

    pub const fn from_code(code: u16) -> Option<Self> {
        Some(match code {
            0 => Command::Read,
            1 => Command::Write,
            2 => Command::Disconnect,
            3 => Command::Flush,
            4 => Command::Trim,
            6 => Command::WriteZeroes,
            7 => Command::BlockStatus,
            _ => return None,
        })
    }
}

impl fmt::Display for Command {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Command::Read => "NBD_CMD_READ",
            Command::Write => "NBD_CMD_WRITE",
            Command::Disconnect => "NBD_CMD_DISC",
            Command::Flush => "NBD_CMD_FLUSH",
            Command::Trim => "NBD_CMD_TRIM",
            Command::WriteZeroes => "NBD_CMD_WRITE_ZEROES",
            Command::BlockStatus => "NBD_CMD_BLOCK_STATUS",
        })
    }
}

/// A transmission-phase error value (`NBD_E*`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Errno {
    Perm,
    Io,
    NoMem,
    Inval,
    NoSpc,
    Overflow,
    NotSup,
    Shutdown,
    /// A value the spec does not define; treat like `EINVAL`.
    Other(u32),
}

impl Errno {
    pub const fn from_code(code: u32) -> Self {
        match code {
            1 => Errno::Perm,
            5 => Errno::Io,
            12 => Errno::NoMem,
            22 => Errno::Inval,
            28 => Errno::NoSpc,
            75 => Errno::Overflow,
            95 => Errno::NotSup,
            108 => Errno::Shutdown,
            other => Errno::Other(other),
        }
    }
}

impl fmt::Display for Errno {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Errno::Perm => f.write_str("EPERM (operation not permitted)"),
            Errno::Io => f.write_str("EIO (input/output error)"),
            Errno::NoMem => f.write_str("ENOMEM (out of memory)"),
            Errno::Inval => f.write_str("EINVAL (invalid argument)"),
            Errno::NoSpc => f.write_str("ENOSPC (no space left)"),
            Errno::Overflow => f.write_str("EOVERFLOW (value too large)"),
            Errno::NotSup => f.write_str("ENOTSUP (not supported)"),
            Errno::Shutdown => f.write_str("ESHUTDOWN (server shutting down)"),
            Errno::Other(v) => write!(f, "unknown error {v}"),
        }
    }
}

/// Why an option was refused (`NBD_REP_ERR_*`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OptionErrorCode {
    Unsupported,
    Policy,
    Invalid,
    Platform,
    TlsRequired,
    UnknownExport,
    Shutdown,
    BlockSizeRequired,
    TooBig,
    Other(u32),
}

impl OptionErrorCode {
    /// Decodes a reply type that has the error bit set.
    pub const fn from_reply(reply: u32) -> Self {
        match reply {
            r if r == REP_ERR_BIT | 1 => OptionErrorCode::Unsupported,
            r if r == REP_ERR_BIT | 2 => OptionErrorCode::Policy,
            r if r == REP_ERR_BIT | 3 => OptionErrorCode::Invalid,
            r if r == REP_ERR_BIT | 4 => OptionErrorCode::Platform,
            r if r == REP_ERR_BIT | 5 => OptionErrorCode::TlsRequired,
            r if r == REP_ERR_BIT | 6 => OptionErrorCode::UnknownExport,
            r if r == REP_ERR_BIT | 7 => OptionErrorCode::Shutdown,
            r if r == REP_ERR_BIT | 8 => OptionErrorCode::BlockSizeRequired,
            r if r == REP_ERR_BIT | 9 => OptionErrorCode::TooBig,
            other => OptionErrorCode::Other(other),
        }
    }
}

impl fmt::Display for OptionErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            OptionErrorCode::Unsupported => f.write_str("unsupported option"),
            OptionErrorCode::Policy => f.write_str("forbidden by server policy"),
            OptionErrorCode::Invalid => f.write_str("invalid option"),
            OptionErrorCode::Platform => f.write_str("unsupported on the server platform"),
            OptionErrorCode::TlsRequired => f.write_str("TLS required"),
            OptionErrorCode::UnknownExport => f.write_str("no such export"),
            OptionErrorCode::Shutdown => f.write_str("server shutting down"),
            OptionErrorCode::BlockSizeRequired => f.write_str("block size negotiation required"),
            OptionErrorCode::TooBig => f.write_str("option too big"),
            OptionErrorCode::Other(v) => write!(f, "error {v:#x}"),
        }
    }
}

/// The spec name of an option, for messages.
pub fn option_name(option: u32) -> String {
    match option {
        OPT_EXPORT_NAME => "NBD_OPT_EXPORT_NAME".into(),
        OPT_ABORT => "NBD_OPT_ABORT".into(),
        OPT_GO => "NBD_OPT_GO".into(),
        OPT_STRUCTURED_REPLY => "NBD_OPT_STRUCTURED_REPLY".into(),
        OPT_SET_META_CONTEXT => "NBD_OPT_SET_META_CONTEXT".into(),
        other => format!("option {other}"),
    }
}

/// A bounds-checked big-endian reader over a byte slice.
#[derive(Debug)]
pub struct Cursor<'a> {
    buf: &'a [u8],
    what: &'static str,
}

impl<'a> Cursor<'a> {
    /// `what` names the message in [`ProtocolError::Truncated`].
    pub fn new(buf: &'a [u8], what: &'static str) -> Self {
        Self { buf, what }
    }

    pub fn remaining(&self) -> usize {
        self.buf.len()
    }

    pub fn bytes(&mut self, n: usize) -> Result<&'a [u8], ProtocolError> {
        if n > self.buf.len() {
            return Err(ProtocolError::Truncated(self.what));
        }
        let (head, tail) = self.buf.split_at(n);
        self.buf = tail;
        Ok(head)
    }

    pub fn rest(&mut self) -> &'a [u8] {
        std::mem::take(&mut self.buf)
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N], ProtocolError> {
        let mut out = [0u8; N];
        out.copy_from_slice(self.bytes(N)?);
        Ok(out)
    }

    pub fn u16(&mut self) -> Result<u16, ProtocolError> {
        self.array().map(u16::from_be_bytes)
    }

    pub fn u32(&mut self) -> Result<u32, ProtocolError> {
        self.array().map(u32::from_be_bytes)
    }

    pub fn u64(&mut self) -> Result<u64, ProtocolError> {
        self.array().map(u64::from_be_bytes)
    }
}
