//! [`BlockSource`] over one disk of a repository snapshot: the chunks its
//! index lists are data, every other byte reads as zeros (a hole), so a copy
//! to a fresh image leaves those holes unallocated.
//!
//! Chunks are read (decrypted, decompressed, checked) on the blocking pool.
//! A missing or damaged chunk is final: retrying cannot repair a
//! repository, and a restore must fail rather than write wrong data.

use std::sync::Arc;

use super::engine::DEFAULT_WINDOW;
use super::error::BlockError;
use super::source::BlockSource;
use crate::nbd::{Extent, ExtentKind};
use crate::repo::{ChunkId, DiskIndex, Repo, RepoError};

/// Longest map answered per call, as for an NBD source.
const MAP_STEP: u64 = 1 << 30;

/// A chunk that could not be read, with where in the guest disk it belongs.
#[derive(Debug, thiserror::Error)]
#[error("disk {disk} at offset {offset}: {source}")]
pub struct SnapshotReadError {
    pub disk: String,
    pub offset: u64,
    #[source]
    pub source: RepoError,
}

/// One disk of a snapshot, read from its repository.
#[derive(Clone)]
pub struct SnapshotSource {
    repo: Arc<Repo>,
    disk: Arc<DiskIndex>,
}

impl std::fmt::Debug for SnapshotSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SnapshotSource")
            .field("repo", &self.repo.path())
            .field("disk", &self.disk.target)
            .finish()
    }
}

impl SnapshotSource {
    pub fn new(repo: Arc<Repo>, disk: Arc<DiskIndex>) -> Self {
        Self { repo, disk }
    }

    pub fn disk(&self) -> &DiskIndex {
        &self.disk
    }

    fn chunk_size(&self) -> u64 {
        u64::from(self.disk.chunk_size.max(1))
    }

    /// The copy window that suits this disk: whole chunks, at least the
    /// engine's default, so each read decodes each chunk once.
    pub fn window(&self) -> u64 {
        self.chunk_size().max(DEFAULT_WINDOW)
    }

    /// The stored chunk at `index`, if the index lists one.
    fn chunk_at(&self, index: u64) -> Option<ChunkId> {
        self.disk
            .chunks
            .binary_search_by_key(&index, |c| c.index)
            .ok()
            .map(|i| self.disk.chunks[i].id)
    }

    /// `[offset, offset + length)` of the disk, read chunk by chunk on the
    /// calling thread (blocking).
    fn read_blocking(&self, offset: u64, length: usize) -> Result<Vec<u8>, BlockError> {
        let cs = self.chunk_size();
        let end = offset + length as u64;
        let mut out = vec![0u8; length];
        let mut pos = offset;
        while pos < end {
            let index = pos / cs;
            let (start, len) = self.disk.chunk_range(index);
            let chunk_end = (start + len).min(end);
            if chunk_end <= pos {
                return Err(BlockError::BadAnswer("chunk range does not advance"));
            }
            if let Some(id) = self.chunk_at(index) {
                let fail = |source| {
                    BlockError::fatal(SnapshotReadError {
                        disk: self.disk.target.clone(),
                        offset: start,
                        source,
                    })
                };
                let plain = self.repo.read_chunk(&id).map_err(fail)?;
                if plain.len() as u64 != len {
                    return Err(fail(RepoError::ChunkDamaged {
                        id,
                        reason: format!("{} bytes, the index expects {len}", plain.len()),
                    }));
                }
                let from = (pos - start) as usize;
                let n = (chunk_end - pos) as usize;
                let at = (pos - offset) as usize;
                out[at..at + n].copy_from_slice(&plain[from..from + n]);
            }
            pos = chunk_end;
        }
        Ok(out)
    }
}

impl BlockSource for SnapshotSource {
    fn size(&self) -> u64 {
        self.disk.virtual_size
    }

    fn max_io(&self) -> u32 {
        u32::try_from(self.window()).unwrap_or(u32::MAX)
    }

    /// Whole chunks: listed ones are data, the others holes; adjacent
    /// extents of one kind are merged. At most 1 GiB per call.
    async fn extents(&self, offset: u64, length: u64) -> Result<Vec<Extent>, BlockError> {
        let size = self.size();
        let end = offset
            .checked_add(length.min(MAP_STEP))
            .filter(|&e| e <= size)
            .ok_or(BlockError::OutOfBounds {
                offset,
                length,
                size,
            })?;
        let cs = self.chunk_size();
        let mut out: Vec<Extent> = Vec::new();
        let mut pos = offset;
        while pos < end {
            let index = pos / cs;
            let (start, len) = self.disk.chunk_range(index);
            let stop = (start + len).min(end);
            if stop <= pos {
                return Err(BlockError::BadAnswer("chunk range does not advance"));
            }
            let kind = if self.chunk_at(index).is_some() {
                ExtentKind::Data
            } else {
                ExtentKind::Hole
            };
            match out.last_mut() {
                Some(last) if last.kind == kind => last.length += stop - pos,
                _ => out.push(Extent {
                    offset: pos,
                    length: stop - pos,
                    kind,
                }),
            }
            pos = stop;
        }
        Ok(out)
    }

    async fn read(&self, offset: u64, length: u32) -> Result<Vec<u8>, BlockError> {
        let size = self.size();
        if offset
            .checked_add(u64::from(length))
            .is_none_or(|e| e > size)
        {
            return Err(BlockError::OutOfBounds {
                offset,
                length: u64::from(length),
                size,
            });
        }
        let me = self.clone();
        tokio::task::spawn_blocking(move || me.read_blocking(offset, length as usize))
            .await
            .map_err(BlockError::fatal)?
    }
}

#[cfg(test)]
mod tests;
