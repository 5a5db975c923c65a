//! [`BlockSource`] over NBD connections.

use super::error::BlockError;
use super::pool::NbdPool;
use super::source::BlockSource;
use crate::nbd::{Extent, ExtentWalker, extents::BLOCK_STATUS_STEP};

/// Reads an NBD export through a pool of connections.
#[derive(Debug, Clone)]
pub struct NbdSource {
    pool: NbdPool,
}

impl NbdSource {
    pub fn new(pool: NbdPool) -> Self {
        Self { pool }
    }

    pub fn pool(&self) -> &NbdPool {
        &self.pool
    }
}

impl BlockSource for NbdSource {
    fn size(&self) -> u64 {
        self.pool.size()
    }

    fn max_io(&self) -> u32 {
        self.pool.max_io()
    }

    /// At most one block-status step (1 GiB) per call, merged.
    async fn extents(&self, offset: u64, length: u64) -> Result<Vec<Extent>, BlockError> {
        let length = length.min(u64::from(BLOCK_STATUS_STEP));
        let mut walker = ExtentWalker::new(self.pool.client(), offset, length)?;
        let mut out = Vec::new();
        while let Some(batch) = walker.next_batch().await? {
            out.extend(batch);
        }
        Ok(out)
    }

    async fn read(&self, offset: u64, length: u32) -> Result<Vec<u8>, BlockError> {
        Ok(self.pool.client().read(offset, length).await?)
    }
}
