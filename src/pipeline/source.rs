//! The read side of a copy.

use std::future::Future;

use super::error::BlockError;
use crate::nbd::Extent;

/// A disk to copy from: its size, its allocation map and its contents.
///
/// Implementations must be safe to call concurrently (the engine keeps
/// several requests in flight) and their futures `Send`, so a copy can run
/// as a spawned task.
pub trait BlockSource: Send + Sync {
    /// Size of the disk in bytes.
    fn size(&self) -> u64;

    /// Largest length [`read`](Self::read) accepts.
    fn max_io(&self) -> u32;

    /// The allocation map from `offset` on, for at most `length` bytes:
    /// contiguous extents starting exactly at `offset`, none empty, not
    /// necessarily covering the whole range (the caller asks again from
    /// where the answer ended). Bounded per call, so a caller can walk a
    /// huge disk without holding its whole map.
    fn extents(
        &self,
        offset: u64,
        length: u64,
    ) -> impl Future<Output = Result<Vec<Extent>, BlockError>> + Send;

    /// Exactly `length` bytes at `offset` (`length <= max_io()`).
    fn read(
        &self,
        offset: u64,
        length: u32,
    ) -> impl Future<Output = Result<Vec<u8>, BlockError>> + Send;
}
