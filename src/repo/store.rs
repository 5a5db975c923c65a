//! Chunk files: `chunks/<first 2 hex>/<64 hex>`, each a sealed frame.
//! Written as a temp file and renamed, without fsync: `commit_snapshot`
//! makes them durable together before any manifest refers to them.

use super::compression::Compression;
use super::config::MAX_CHUNK_SIZE;
use super::error::RepoError;
use super::id::ChunkId;
use super::seal::{self, Frame, HEADER_LEN, Kind, NONCE_LEN, TAG_LEN};
use super::{CHUNKS_DIR, Repo, fsutil};
use std::path::PathBuf;

/// The result of [`Repo::store_chunk`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StoredChunk {
    pub id: ChunkId,
    /// False when the repository already held it (deduplicated).
    pub new: bool,
    /// The chunk file's size when new, else 0.
    pub stored_bytes: u64,
}

/// A chunk sealed by [`Repo::seal_chunk`], to be written by
/// [`Repo::put_chunk`].
pub struct SealedChunk {
    pub id: ChunkId,
    /// None when the repository already holds it.
    frame: Option<Frame>,
}

/// No chunk file is larger: the largest plaintext, stored raw, sealed.
const MAX_FRAME: u64 = (MAX_CHUNK_SIZE as u64) + (HEADER_LEN + NONCE_LEN + TAG_LEN) as u64;

impl Repo {
    pub fn chunk_path(&self, id: &ChunkId) -> PathBuf {
        let hex = id.to_hex();
        self.path().join(CHUNKS_DIR).join(&hex[..2]).join(hex)
    }

    pub fn has_chunk(&self, id: &ChunkId) -> Result<bool, RepoError> {
        let p = self.chunk_path(id);
        p.try_exists().map_err(RepoError::io(p))
    }

    /// Ids, deduplicates, compresses (lz4), seals and writes one chunk.
    /// `plain` is at most 64 MiB (a disk chunk, or a whole NVRAM file).
    pub fn store_chunk(&self, plain: &[u8]) -> Result<StoredChunk, RepoError> {
        self.store_chunk_with(plain, Compression::Lz4)
    }

    /// As [`store_chunk`](Self::store_chunk), compressed as `compression`
    /// says. The id is the plaintext's either way, so a chunk already
    /// stored with another codec is deduplicated, not stored again.
    pub fn store_chunk_with(
        &self,
        plain: &[u8],
        compression: Compression,
    ) -> Result<StoredChunk, RepoError> {
        self.put_chunk(self.seal_chunk_with(plain, compression)?)
    }

    /// The CPU half of [`store_chunk`](Self::store_chunk), lz4-compressed.
    pub fn seal_chunk(&self, plain: &[u8]) -> Result<SealedChunk, RepoError> {
        self.seal_chunk_with(plain, Compression::Lz4)
    }

    /// The CPU half of [`store_chunk_with`](Self::store_chunk_with): the
    /// id, and the sealed frame unless the repository already holds the chunk.
    pub fn seal_chunk_with(
        &self,
        plain: &[u8],
        compression: Compression,
    ) -> Result<SealedChunk, RepoError> {
        if plain.len() > MAX_CHUNK_SIZE as usize {
            return Err(RepoError::BadOptions(format!(
                "a chunk of {} bytes is larger than the 64 MiB limit",
                plain.len()
            )));
        }
        let id = self.chunk_id(plain);
        let path = self.chunk_path(&id);
        if path.try_exists().map_err(RepoError::io(&path))? {
            return Ok(SealedChunk { id, frame: None });
        }
        let frame = seal::seal_frame(Kind::Chunk, self.sealer(), &id.0, plain, compression)
            .map_err(|e| RepoError::BadOptions(e.to_string()))?;
        Ok(SealedChunk {
            id,
            frame: Some(frame),
        })
    }

    /// The I/O half of [`store_chunk`](Self::store_chunk): writes the frame,
    /// if any, to its chunk file.
    pub fn put_chunk(&self, chunk: SealedChunk) -> Result<StoredChunk, RepoError> {
        let SealedChunk { id, frame } = chunk;
        let Some(frame) = frame else {
            return Ok(StoredChunk {
                id,
                new: false,
                stored_bytes: 0,
            });
        };
        let path = self.chunk_path(&id);
        let dir = path.parent().unwrap_or(self.path());
        std::fs::create_dir_all(dir).map_err(RepoError::io(dir))?;
        // Two writers of one chunk write the same bytes; the last rename wins.
        fsutil::write_atomic_direct(&path, frame.bytes())?;
        Ok(StoredChunk {
            id,
            new: true,
            stored_bytes: frame.len() as u64,
        })
    }

    /// Reads, authenticates, decrypts and decompresses a chunk, and checks
    /// that its content still has its id.
    pub fn read_chunk(&self, id: &ChunkId) -> Result<Vec<u8>, RepoError> {
        let path = self.chunk_path(id);
        let damaged = |reason: String| RepoError::ChunkDamaged { id: *id, reason };
        let file = match std::fs::File::open(&path) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(RepoError::ChunkMissing { id: *id });
            }
            Err(e) => return Err(RepoError::io(&path)(e)),
        };
        let len = file.metadata().map_err(RepoError::io(&path))?.len();
        if len > MAX_FRAME {
            return Err(damaged(format!(
                "the file is {len} bytes, more than any chunk"
            )));
        }
        let mut frame = Vec::with_capacity(len as usize);
        std::io::Read::read_to_end(&mut &file, &mut frame).map_err(RepoError::io(&path))?;
        let plain = seal::open(
            Kind::Chunk,
            self.sealer(),
            &id.0,
            &frame,
            MAX_CHUNK_SIZE as usize,
        )
        .map_err(|e| damaged(e.to_string()))?;
        if self.chunk_id(&plain) != *id {
            return Err(damaged("its content does not match its id".into()));
        }
        Ok(plain)
    }
}
