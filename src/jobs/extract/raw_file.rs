//! A [`BlockSink`] over a local raw image file: a sparse file of the disk's
//! size, data written with `pwrite` on the blocking pool. Blocks of zeros
//! inside written data are skipped too, so the file holds no more than the
//! data (the file reads as zeros wherever nothing was written).

use super::ExtractError;
use crate::pipeline::{BlockError, BlockSink};
use std::os::unix::fs::FileExt;
use std::path::Path;
use std::sync::Arc;

/// Zero runs shorter than this are written (a file system block).
const SPARSE_BLOCK: usize = 4096;

#[derive(Debug, Clone)]
pub struct RawFileSink {
    file: Arc<std::fs::File>,
    size: u64,
}

impl RawFileSink {
    /// Creates the file (never over an existing one) with `size` bytes of holes.
    pub fn create(path: &Path, size: u64) -> Result<RawFileSink, ExtractError> {
        let file = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(path)
            .map_err(ExtractError::io(path))?;
        file.set_len(size).map_err(ExtractError::io(path))?;
        Ok(RawFileSink {
            file: Arc::new(file),
            size,
        })
    }

    /// Makes everything written durable.
    pub async fn sync(&self) -> Result<(), ExtractError> {
        self.flush().await.map_err(|e| ExtractError::Tool {
            what: "syncing the output file",
            message: e.to_string(),
        })
    }
}

/// Writes `data` at `offset`, skipping whole blocks of zeros.
fn write_sparse(file: &std::fs::File, offset: u64, data: &[u8]) -> std::io::Result<()> {
    let mut pos = 0;
    while pos < data.len() {
        let end = (pos + SPARSE_BLOCK).min(data.len());
        if data[pos..end].iter().all(|&b| b == 0) {
            pos = end;
            continue;
        }
        // Extend over the following non-zero blocks: one pwrite per run.
        let mut run_end = end;
        while run_end < data.len() {
            let next = (run_end + SPARSE_BLOCK).min(data.len());
            if data[run_end..next].iter().all(|&b| b == 0) {
                break;
            }
            run_end = next;
        }
        file.write_all_at(&data[pos..run_end], offset + pos as u64)?;
        pos = run_end;
    }
    Ok(())
}

impl BlockSink for RawFileSink {
    fn size(&self) -> u64 {
        self.size
    }

    fn max_io(&self) -> u32 {
        64 << 20
    }

    /// A new sparse file reads as zeros.
    fn is_zeroed(&self) -> bool {
        true
    }

    async fn write(&self, offset: u64, data: Vec<u8>) -> Result<(), BlockError> {
        if offset
            .checked_add(data.len() as u64)
            .is_none_or(|e| e > self.size)
        {
            return Err(BlockError::OutOfBounds {
                offset,
                length: data.len() as u64,
                size: self.size,
            });
        }
        let file = self.file.clone();
        tokio::task::spawn_blocking(move || write_sparse(&file, offset, &data))
            .await
            .map_err(BlockError::fatal)?
            .map_err(BlockError::fatal)
    }

    /// Punches a hole: the range reads as zeros and holds no blocks.
    async fn write_zeroes(&self, offset: u64, length: u64) -> Result<(), BlockError> {
        use std::os::fd::AsRawFd;
        let file = self.file.clone();
        tokio::task::spawn_blocking(move || {
            let (off, len) = (
                libc::off_t::try_from(offset).map_err(BlockError::fatal)?,
                libc::off_t::try_from(length).map_err(BlockError::fatal)?,
            );
            // SAFETY: fallocate on a descriptor this sink owns; no memory involved.
            let r = unsafe {
                libc::fallocate(
                    file.as_raw_fd(),
                    libc::FALLOC_FL_PUNCH_HOLE | libc::FALLOC_FL_KEEP_SIZE,
                    off,
                    len,
                )
            };
            if r == 0 {
                Ok(())
            } else {
                Err(BlockError::fatal(std::io::Error::last_os_error()))
            }
        })
        .await
        .map_err(BlockError::fatal)?
    }

    async fn flush(&self) -> Result<(), BlockError> {
        let file = self.file.clone();
        tokio::task::spawn_blocking(move || file.sync_all())
            .await
            .map_err(BlockError::fatal)?
            .map_err(BlockError::fatal)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::MetadataExt;

    #[tokio::test]
    async fn data_is_written_and_zero_blocks_stay_holes() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("d.raw");
        let size = 16 << 20;
        let sink = RawFileSink::create(&path, size).unwrap();
        // 4 MiB: 8 KiB of data, then zeros, then 4 KiB of data at the end.
        let mut buf = vec![0u8; 4 << 20];
        buf[..8192].fill(0x5a);
        let n = buf.len();
        buf[n - 4096..].fill(0xa5);
        sink.write(1 << 20, buf.clone()).await.unwrap();
        sink.flush().await.unwrap();
        let got = std::fs::read(&path).unwrap();
        assert_eq!(got.len() as u64, size);
        assert_eq!(&got[1 << 20..(1 << 20) + n], &buf[..]);
        assert!(got[..1 << 20].iter().all(|&b| b == 0));
        // 12 KiB of data: far less than the 16 MiB file, or the 4 MiB written.
        let allocated = std::fs::metadata(&path).unwrap().blocks() * 512;
        assert!(allocated < 1 << 20, "{allocated} bytes allocated");
        assert!(sink.write(size - 10, vec![1; 11]).await.is_err());
        // Refuses an existing file.
        assert!(RawFileSink::create(&path, size).is_err());
    }
}
