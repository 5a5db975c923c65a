//! Typed errors of the pipeline: [`BlockError`] from one source or sink
//! operation, [`CopyError`] from a whole copy.

use std::error::Error as StdError;
use std::fmt;

use thiserror::Error;

use crate::nbd::{Errno, NbdError};

/// One source or sink operation failed.
#[derive(Debug, Error)]
pub enum BlockError {
    #[error(transparent)]
    Nbd(#[from] NbdError),
    /// The transport under the block device failed (SSH channel closed,
    /// socket refused while reconnecting). Always worth a retry.
    #[error("transport: {0}")]
    Transport(#[source] Box<dyn StdError + Send + Sync>),
    /// A caller-defined failure that retrying cannot fix.
    #[error("{0}")]
    Fatal(#[source] Box<dyn StdError + Send + Sync>),
    #[error("request {offset}+{length} is outside the disk of {size} bytes")]
    OutOfBounds { offset: u64, length: u64, size: u64 },
    #[error("a connection pool needs at least one connection")]
    NoConnections,
    #[error("connections of one pool disagree on the disk size ({first} vs {other} bytes)")]
    PoolSizeMismatch { first: u64, other: u64 },
    /// The source answered a read or a map query with something that does
    /// not fit the request (a bug in a source implementation).
    #[error("source returned an inconsistent answer: {0}")]
    BadAnswer(&'static str),
}

impl BlockError {
    /// Wraps a transport error (retried).
    pub fn transport(e: impl Into<Box<dyn StdError + Send + Sync>>) -> Self {
        BlockError::Transport(e.into())
    }

    /// Wraps a caller error that retrying cannot fix.
    pub fn fatal(e: impl Into<Box<dyn StdError + Send + Sync>>) -> Self {
        BlockError::Fatal(e.into())
    }

    /// Whether reconnecting and retrying may succeed: a lost connection,
    /// an I/O error or timeout on it, a transport failure, or a server
    /// that is shutting down. Server errors such as ENOSPC or EIO,
    /// protocol violations and local checks are final.
    pub fn is_transient(&self) -> bool {
        match self {
            BlockError::Nbd(e) => match e.root() {
                NbdError::Io(_) | NbdError::TimedOut { .. } => true,
                NbdError::Server(s) => s.errno == Errno::Shutdown,
                _ => false,
            },
            BlockError::Transport(_) => true,
            _ => false,
        }
    }

    /// The server's errno, when the server refused the request.
    pub fn server_errno(&self) -> Option<Errno> {
        match self {
            BlockError::Nbd(e) => match e.root() {
                NbdError::Server(s) => Some(s.errno),
                _ => None,
            },
            _ => None,
        }
    }
}

/// What the copy was doing when it failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    Map,
    Read,
    Write,
    WriteZeroes,
    Flush,
    Reconnect,
}

impl fmt::Display for Op {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Op::Map => "reading the allocation map",
            Op::Read => "reading",
            Op::Write => "writing",
            Op::WriteZeroes => "zeroing",
            Op::Flush => "flushing",
            Op::Reconnect => "reconnecting",
        })
    }
}

/// Why a copy stopped.
#[derive(Debug, Error)]
pub enum CopyError {
    #[error("copy cancelled")]
    Cancelled,
    #[error("the target disk ({sink_size} bytes) is smaller than the source ({source_size} bytes)")]
    SinkTooSmall { source_size: u64, sink_size: u64 },
    #[error("after reconnecting the source is {now} bytes, it was {before}")]
    SourceResized { before: u64, now: u64 },
    /// A non-transient failure; the copy stopped at once.
    #[error("{op} at offset {offset} failed: {error}")]
    Failed {
        op: Op,
        offset: u64,
        #[source]
        error: BlockError,
    },
    /// Transient failures outlasted the retry policy.
    #[error("gave up after {retries} retries; last failure {op} at offset {offset}: {error}")]
    RetriesExhausted {
        retries: u32,
        op: Op,
        offset: u64,
        #[source]
        error: BlockError,
    },
    /// The engine's own bookkeeping found a hole in what it copied (the
    /// source's map changed under it, or a bug).
    #[error("internal error: {0}")]
    Internal(&'static str),
}

impl CopyError {
    /// The block error behind a failure, if any.
    pub fn block_error(&self) -> Option<&BlockError> {
        match self {
            CopyError::Failed { error, .. } | CopyError::RetriesExhausted { error, .. } => {
                Some(error)
            }
            _ => None,
        }
    }

    /// Whether the target ran out of space (ENOSPC from the server).
    pub fn is_no_space(&self) -> bool {
        self.block_error()
            .and_then(BlockError::server_errno)
            .is_some_and(|e| e == Errno::NoSpc)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::nbd::{Command, ProtocolError, ServerError};

    fn server(errno: Errno) -> BlockError {
        BlockError::Nbd(NbdError::Server(ServerError {
            command: Command::Write,
            errno,
            message: String::new(),
            offset: None,
        }))
    }

    #[test]
    fn transient_or_final() {
        let reset = || NbdError::Io(std::io::ErrorKind::ConnectionReset.into());
        let lost = |e| BlockError::Nbd(NbdError::ConnectionLost(Arc::new(e)));
        assert!(lost(reset()).is_transient());
        assert!(BlockError::Nbd(reset()).is_transient());
        assert!(BlockError::transport("channel closed".to_string()).is_transient());
        assert!(server(Errno::Shutdown).is_transient());
        assert!(!lost(NbdError::Protocol(ProtocolError::OverlappingChunks)).is_transient());
        assert!(!server(Errno::NoSpc).is_transient());
        assert!(!server(Errno::Io).is_transient());
        assert!(!BlockError::Nbd(NbdError::Closed).is_transient());
        assert!(!BlockError::fatal("no".to_string()).is_transient());
        let e = CopyError::Failed {
            op: Op::Write,
            offset: 0,
            error: server(Errno::NoSpc),
        };
        assert!(e.is_no_space());
        assert!(e.to_string().contains("ENOSPC"), "{e}");
    }
}
