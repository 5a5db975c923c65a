//! [`BlockSink`] over NBD connections.

use std::sync::atomic::{AtomicBool, Ordering};

use super::error::BlockError;
use super::nbd_source::NbdSource;
use super::pool::NbdPool;
use super::sink::BlockSink;
use crate::nbd::{NbdError, ZeroFlags};

/// Longest single WRITE_ZEROES (NBD lengths are 32-bit; a multiple of any
/// legal minimum block size).
const ZERO_STEP: u64 = 1 << 30;
/// Buffer size when the export cannot zero and zeros must be written.
const ZERO_BUFFER: u32 = 1 << 20;

/// Writes an NBD export through a pool of connections.
#[derive(Debug)]
pub struct NbdSink {
    pool: NbdPool,
    zeroed: bool,
    /// Cleared after the server refused a fast zero once.
    try_fast_zero: AtomicBool,
}

impl NbdSink {
    /// `zeroed`: the export is known to read as all zeros (a freshly
    /// created image), so zero extents need no request at all.
    pub fn new(pool: NbdPool, zeroed: bool) -> Self {
        let fast = pool
            .clients()
            .iter()
            .all(|c| c.info().flags.can_fast_zero());
        Self {
            pool,
            zeroed,
            try_fast_zero: AtomicBool::new(fast),
        }
    }

    pub fn pool(&self) -> &NbdPool {
        &self.pool
    }

    /// The same connections as a source, to read the copy back.
    pub fn as_source(&self) -> NbdSource {
        NbdSource::new(self.pool.clone())
    }

    async fn zero_piece(&self, offset: u64, len: u32) -> Result<(), BlockError> {
        let client = self.pool.client();
        if !client.info().flags.can_write_zeroes() {
            return self.write_zero_buffers(offset, len).await;
        }
        if self.try_fast_zero.load(Ordering::Relaxed) {
            let fast = ZeroFlags {
                fast: true,
                ..ZeroFlags::default()
            };
            match client.write_zeroes(offset, len, fast).await {
                Ok(()) => return Ok(()),
                Err(NbdError::FastZeroUnsupported) => {
                    self.try_fast_zero.store(false, Ordering::Relaxed);
                }
                Err(e) => return Err(e.into()),
            }
        }
        Ok(client
            .write_zeroes(offset, len, ZeroFlags::default())
            .await?)
    }

    async fn write_zero_buffers(&self, offset: u64, len: u32) -> Result<(), BlockError> {
        let step = ZERO_BUFFER.min(self.pool.max_io()).max(1);
        let mut pos = 0u32;
        while pos < len {
            let n = step.min(len - pos);
            self.pool
                .client()
                .write(offset + u64::from(pos), vec![0u8; n as usize], false)
                .await?;
            pos += n;
        }
        Ok(())
    }
}

impl BlockSink for NbdSink {
    fn size(&self) -> u64 {
        self.pool.size()
    }

    fn max_io(&self) -> u32 {
        self.pool.max_io()
    }

    fn is_zeroed(&self) -> bool {
        self.zeroed
    }

    async fn write(&self, offset: u64, data: Vec<u8>) -> Result<(), BlockError> {
        Ok(self.pool.client().write(offset, data, false).await?)
    }

    /// WRITE_ZEROES in steps of 1 GiB, with FAST_ZERO first where the
    /// export offers it, then plain; written zeros only when the export
    /// cannot zero at all.
    async fn write_zeroes(&self, offset: u64, length: u64) -> Result<(), BlockError> {
        let end = offset
            .checked_add(length)
            .filter(|&e| e <= self.size())
            .ok_or(BlockError::OutOfBounds {
                offset,
                length,
                size: self.size(),
            })?;
        let mut pos = offset;
        while pos < end {
            let n = (end - pos).min(ZERO_STEP);
            // n <= 1 GiB fits in u32.
            self.zero_piece(pos, n as u32).await?;
            pos += n;
        }
        Ok(())
    }

    /// Flushes every connection: without multi-conn consistency, a flush
    /// only covers writes made on its own connection.
    async fn flush(&self) -> Result<(), BlockError> {
        let all = self
            .pool
            .clients()
            .iter()
            .filter(|c| c.info().flags.can_flush())
            .map(|c| c.flush());
        futures::future::try_join_all(all).await?;
        Ok(())
    }
}
