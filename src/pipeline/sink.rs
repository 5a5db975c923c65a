//! The write side of a copy, and a sink that discards (for hashing).

use std::future::Future;

use super::error::BlockError;

/// A disk to copy to.
///
/// Implementations must be safe to call concurrently and their futures
/// `Send`.
pub trait BlockSink: Send + Sync {
    /// Size of the disk in bytes (at least the source's).
    fn size(&self) -> u64;

    /// Largest length [`write`](Self::write) accepts.
    fn max_io(&self) -> u32;

    /// Whether every byte is known to read as zeros before the copy (a
    /// freshly created image). Then zero and hole extents are skipped
    /// instead of zeroed, which also keeps them unallocated.
    fn is_zeroed(&self) -> bool;

    /// Writes `data` at `offset` (`data.len() <= max_io()`).
    fn write(
        &self,
        offset: u64,
        data: Vec<u8>,
    ) -> impl Future<Output = Result<(), BlockError>> + Send;

    /// Makes `[offset, offset + length)` read as zeros without sending
    /// them, as fast as the target allows; any length.
    fn write_zeroes(
        &self,
        offset: u64,
        length: u64,
    ) -> impl Future<Output = Result<(), BlockError>> + Send;

    /// Persists every write that has completed.
    fn flush(&self) -> impl Future<Output = Result<(), BlockError>> + Send;
}

/// A sink that drops what it gets: copying to it hashes a source.
#[derive(Debug, Clone, Copy)]
pub struct DiscardSink {
    size: u64,
}

impl DiscardSink {
    pub fn new(size: u64) -> Self {
        Self { size }
    }
}

impl BlockSink for DiscardSink {
    fn size(&self) -> u64 {
        self.size
    }
    fn max_io(&self) -> u32 {
        u32::MAX
    }
    fn is_zeroed(&self) -> bool {
        true
    }
    async fn write(&self, _offset: u64, _data: Vec<u8>) -> Result<(), BlockError> {
        Ok(())
    }
    async fn write_zeroes(&self, _offset: u64, _length: u64) -> Result<(), BlockError> {
        Ok(())
    }
    async fn flush(&self) -> Result<(), BlockError> {
        Ok(())
    }
}
