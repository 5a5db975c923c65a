//! The repository's chunk store as the end of a copy: [`ChunkStoreSink`]
//! seals and stores each chunk it is given, and the [`ChunkLedger`] keeps
//! what every chunk of the disk became, whether the planner settled it
//! without reading ([`super::chunk_source::PlannedSource`]) or the copy
//! stored it. The ledger becomes the snapshot's chunk index.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, PoisonError};

use tokio::sync::Semaphore;

use super::chunk_plan::Geometry;
use super::error::BlockError;
use super::sink::BlockSink;
use crate::repo::compression::Compression;
use crate::repo::{ChunkId, ChunkRef, Repo};

/// Called with chunks as they are settled (`None`: all zeros), on the
/// blocking pool; export appends them to its resume state.
pub type ChunkJournal = Box<dyn Fn(&[(u64, Option<ChunkId>)]) + Send + Sync>;

/// What one chunk became.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Entry {
    /// Unchanged since the known state: its chunk taken without reading.
    Reused { id: ChunkId, resumed: bool },
    /// Read and stored; `new` when the repository did not hold it yet.
    Stored {
        id: ChunkId,
        new: bool,
        stored_bytes: u64,
    },
}

/// One disk's chunks, as the copy settles them.
pub struct ChunkLedger {
    geo: Geometry,
    entries: Mutex<BTreeMap<u64, Entry>>,
    /// Chunks the known state named but the repository lacks, read again.
    reread: Mutex<u64>,
    journal: ChunkJournal,
}

/// A disk's chunks when its copy is done.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct LedgerTotals {
    /// The chunk index, sorted; chunks that read as zeros are absent.
    pub chunks: Vec<ChunkRef>,
    /// Bytes of the disk the index covers.
    pub data_bytes: u64,
    pub new_chunks: u64,
    pub new_bytes: u64,
    /// Chunks the repository already held (unchanged ones included).
    pub reused_chunks: u64,
    /// Chunks taken unchanged without reading.
    pub unchanged: u64,
    /// Of those, taken from an interrupted run's state.
    pub resumed: u64,
    pub reread: u64,
}

impl ChunkLedger {
    pub fn new(geo: Geometry, journal: ChunkJournal) -> Self {
        Self {
            geo,
            entries: Mutex::new(BTreeMap::new()),
            reread: Mutex::new(0),
            journal,
        }
    }

    pub fn geometry(&self) -> Geometry {
        self.geo
    }

    fn entries(&self) -> std::sync::MutexGuard<'_, BTreeMap<u64, Entry>> {
        self.entries.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Records chunks settled without reading (blocking: the journal
    /// writes).
    pub(crate) fn settle(&self, reused: &[(u64, ChunkId)], zeros: &[u64], resumed: bool) {
        {
            let mut e = self.entries();
            for &(i, id) in reused {
                e.insert(i, Entry::Reused { id, resumed });
            }
        }
        let line: Vec<(u64, Option<ChunkId>)> = reused
            .iter()
            .map(|&(i, id)| (i, Some(id)))
            .chain(zeros.iter().map(|&i| (i, None)))
            .collect();
        if !line.is_empty() {
            (self.journal)(&line);
        }
    }

    pub(crate) fn add_reread(&self, n: u64) {
        *self.reread.lock().unwrap_or_else(PoisonError::into_inner) += n;
    }

    /// Records a stored chunk (blocking). A chunk stored again after a
    /// reconnect keeps the first store's figures: that one made it new.
    fn stored(&self, index: u64, id: ChunkId, new: bool, stored_bytes: u64) {
        {
            let mut e = self.entries();
            let entry = match e.get(&index) {
                Some(Entry::Stored {
                    id: was,
                    new: first_new,
                    stored_bytes: first_bytes,
                }) if *was == id => Entry::Stored {
                    id,
                    new: new || *first_new,
                    stored_bytes: stored_bytes.max(*first_bytes),
                },
                _ => Entry::Stored {
                    id,
                    new,
                    stored_bytes,
                },
            };
            e.insert(index, entry);
        }
        (self.journal)(&[(index, Some(id))]);
    }

    pub fn totals(&self) -> LedgerTotals {
        let mut t = LedgerTotals {
            reread: *self.reread.lock().unwrap_or_else(PoisonError::into_inner),
            ..LedgerTotals::default()
        };
        for (&index, entry) in self.entries().iter() {
            let (id, len) = (entry.id(), self.geo.range(index).1);
            t.chunks.push(ChunkRef { index, id });
            t.data_bytes += len;
            match *entry {
                Entry::Reused { resumed, .. } => {
                    t.reused_chunks += 1;
                    t.unchanged += 1;
                    t.resumed += u64::from(resumed);
                }
                Entry::Stored {
                    new: true,
                    stored_bytes,
                    ..
                } => {
                    t.new_chunks += 1;
                    t.new_bytes += stored_bytes;
                }
                Entry::Stored { new: false, .. } => t.reused_chunks += 1,
            }
        }
        t
    }
}

impl Entry {
    fn id(&self) -> ChunkId {
        match *self {
            Entry::Reused { id, .. } | Entry::Stored { id, .. } => id,
        }
    }
}

/// A [`BlockSink`] that stores whole chunks in a repository: each write is
/// one chunk at its place on the chunk grid, hashed, compressed, sealed and
/// written on the blocking pool. Nothing is stored for what reads as zeros.
#[derive(Clone)]
pub struct ChunkStoreSink {
    repo: Arc<Repo>,
    ledger: Arc<ChunkLedger>,
    /// Bounds the chunks being sealed at once (CPU work).
    cpu: Arc<Semaphore>,
    compression: Compression,
}

impl ChunkStoreSink {
    /// Stores lz4-compressed chunks; see [`compressed`](Self::compressed).
    pub fn new(repo: Arc<Repo>, ledger: Arc<ChunkLedger>, cpu: Arc<Semaphore>) -> Self {
        Self {
            repo,
            ledger,
            cpu,
            compression: Compression::Lz4,
        }
    }

    /// Stores chunks compressed as the export profile says.
    pub fn compressed(mut self, compression: Compression) -> Self {
        self.compression = compression;
        self
    }

    pub fn ledger(&self) -> &Arc<ChunkLedger> {
        &self.ledger
    }
}

impl BlockSink for ChunkStoreSink {
    fn size(&self) -> u64 {
        self.ledger.geo.disk_size
    }

    /// One chunk per write.
    fn max_io(&self) -> u32 {
        self.ledger.geo.chunk_size.min(u64::from(u32::MAX)) as u32
    }

    /// A new snapshot starts empty: what is not stored reads as zeros.
    fn is_zeroed(&self) -> bool {
        true
    }

    async fn write(&self, offset: u64, data: Vec<u8>) -> Result<(), BlockError> {
        let geo = self.ledger.geo;
        let index = offset / geo.chunk_size;
        if offset % geo.chunk_size != 0 || data.len() as u64 != geo.range(index).1 {
            return Err(BlockError::fatal(format!(
                "a write of {} bytes at {offset} is not one chunk of {} bytes",
                data.len(),
                geo.chunk_size
            )));
        }
        let permit = self
            .cpu
            .clone()
            .acquire_owned()
            .await
            .map_err(BlockError::fatal)?;
        let (repo, ledger) = (self.repo.clone(), self.ledger.clone());
        let compression = self.compression;
        tokio::task::spawn_blocking(move || {
            let sealed = repo.seal_chunk_with(&data, compression)?;
            // The CPU work is done: the write waits on the disk, and
            // another chunk can be sealed meanwhile.
            drop((permit, data));
            let c = repo.put_chunk(sealed)?;
            ledger.stored(index, c.id, c.new, c.stored_bytes);
            Ok::<_, crate::repo::RepoError>(())
        })
        .await
        .map_err(BlockError::fatal)?
        .map_err(BlockError::fatal)
    }

    /// Never asked of a zeroed sink; a snapshot stores no zeros anyway.
    async fn write_zeroes(&self, _offset: u64, _length: u64) -> Result<(), BlockError> {
        Ok(())
    }

    /// Each chunk is in place once its write returns.
    async fn flush(&self) -> Result<(), BlockError> {
        Ok(())
    }
}
