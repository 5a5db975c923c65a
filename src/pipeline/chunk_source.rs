//! [`PlannedSource`]: a disk served over NBD, seen through the chunk plan
//! of an export. Its allocation map has one extent per run of chunks: data
//! for the chunks that must be read, zeros for the rest. The rest is
//! settled in the [`ChunkLedger`] as the map is made: unchanged chunks
//! (clean in the backup's dirty bitmap, or done by an interrupted run) are
//! taken from the known state, empty ones need nothing. So the engine
//! reads exactly the chunks that changed, one chunk per read.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use super::chunk_plan::{self, Action, Known};
use super::chunk_store::ChunkLedger;
use super::error::BlockError;
use super::pool::NbdPool;
use super::source::BlockSource;
use crate::nbd::{Extent, ExtentKind};
use crate::repo::Repo;

/// What an earlier state says of chunk `index` (`None`: nothing known).
pub type KnownFn = Box<dyn Fn(u64) -> Option<Known> + Send + Sync>;

/// Where the plan's "unchanged" comes from.
pub struct PlanInputs {
    /// The dirty bitmap's meta context, when the backup is incremental.
    pub dirty_context: Option<String>,
    /// Without a bitmap, trust the known state (an offline image that did
    /// not change since an interrupted run).
    pub trust_known: bool,
    pub known: KnownFn,
    /// Check that reused chunks are still in this repository; a missing
    /// one (removed as damaged) is read again, which heals it.
    pub check_in: Option<Arc<Repo>>,
    /// The known state is an interrupted run of this export.
    pub resumed: bool,
}

/// The plan of one disk, shared by every connection set of its copy.
pub struct DiskPlan {
    inputs: PlanInputs,
    ledger: Arc<ChunkLedger>,
    /// The map of each planning window, made once: the engine scans the
    /// whole map for its total, then walks it again to copy.
    maps: Mutex<HashMap<u64, Arc<Vec<Extent>>>>,
}

impl DiskPlan {
    pub fn new(inputs: PlanInputs, ledger: Arc<ChunkLedger>) -> Arc<Self> {
        Arc::new(Self {
            inputs,
            ledger,
            maps: Mutex::new(HashMap::new()),
        })
    }

    fn cached(&self, window: u64) -> Option<Arc<Vec<Extent>>> {
        self.maps
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(&window)
            .cloned()
    }
}

/// A [`super::BlockSource`] over one connection pool and a [`DiskPlan`].
pub struct PlannedSource {
    pool: NbdPool,
    dirty: Option<u32>,
    plan: Arc<DiskPlan>,
}

impl PlannedSource {
    /// Fails when the plan wants a dirty bitmap the export does not offer.
    pub fn new(pool: NbdPool, plan: Arc<DiskPlan>) -> Result<Self, BlockError> {
        let dirty = match &plan.inputs.dirty_context {
            Some(name) => Some(
                pool.clients()
                    .first()
                    .and_then(|c| c.info().context_id(name))
                    .ok_or_else(|| {
                        BlockError::fatal(format!("the export offers no dirty bitmap {name}"))
                    })?,
            ),
            None => None,
        };
        if pool.size() != plan.ledger.geometry().disk_size {
            return Err(BlockError::fatal(format!(
                "the export is {} bytes, the plan {}",
                pool.size(),
                plan.ledger.geometry().disk_size
            )));
        }
        Ok(Self { pool, dirty, plan })
    }

    pub fn pool(&self) -> &NbdPool {
        &self.pool
    }

    /// Plans the window at `start` (settling what is not read) and returns
    /// its map.
    async fn plan_window(&self, start: u64) -> Result<Arc<Vec<Extent>>, BlockError> {
        let geo = self.plan.ledger.geometry();
        let len = geo.window().min(geo.disk_size - start);
        let alloc = crate::nbd::extents(self.pool.client(), start, len).await?;
        let dirty = match self.dirty {
            Some(ctx) => Some(crate::nbd::status_map(self.pool.client(), ctx, start, len).await?),
            None => None,
        };
        let inputs = &self.plan.inputs;
        let planned = chunk_plan::classify(
            geo,
            start / geo.chunk_size,
            len.div_ceil(geo.chunk_size),
            &alloc,
            dirty.as_deref(),
            inputs.trust_known,
            &inputs.known,
        );
        let plan = self.plan.clone();
        tokio::task::spawn_blocking(move || plan.settle(start, planned))
            .await
            .map_err(BlockError::fatal)?
    }
}

impl DiskPlan {
    /// Checks reused chunks, settles what is not read, and keeps the map
    /// (blocking: repository and journal I/O). A window planned twice at
    /// once is settled once.
    fn settle(
        &self,
        start: u64,
        mut planned: Vec<(u64, Action)>,
    ) -> Result<Arc<Vec<Extent>>, BlockError> {
        let mut missing = 0;
        if let Some(repo) = &self.inputs.check_in {
            for (_, a) in planned.iter_mut() {
                if let Action::Reuse(id) = *a
                    && !repo.has_chunk(&id).map_err(BlockError::fatal)?
                {
                    *a = Action::Read;
                    missing += 1;
                }
            }
        }
        let geo = self.ledger.geometry();
        let mut map: Vec<Extent> = Vec::new();
        let (mut reused, mut zeros) = (Vec::new(), Vec::new());
        for &(i, a) in &planned {
            let (offset, length) = geo.range(i);
            let kind = match a {
                Action::Read => ExtentKind::Data,
                Action::Reuse(id) => {
                    reused.push((i, id));
                    ExtentKind::Zero
                }
                Action::Zero => {
                    zeros.push(i);
                    ExtentKind::Zero
                }
            };
            match map.last_mut() {
                Some(last) if last.kind == kind => last.length += length,
                _ => map.push(Extent {
                    offset,
                    length,
                    kind,
                }),
            }
        }
        let map = Arc::new(map);
        let mut maps = self.maps.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(m) = maps.get(&start) {
            return Ok(m.clone());
        }
        maps.insert(start, map.clone());
        drop(maps);
        self.ledger.add_reread(missing);
        self.ledger.settle(&reused, &zeros, self.inputs.resumed);
        Ok(map)
    }
}

impl BlockSource for PlannedSource {
    fn size(&self) -> u64 {
        self.pool.size()
    }

    /// One chunk: a read is split into requests the server accepts.
    fn max_io(&self) -> u32 {
        self.plan
            .ledger
            .geometry()
            .chunk_size
            .min(u64::from(u32::MAX)) as u32
    }

    /// The planning window holding `offset`, clipped to the request.
    async fn extents(&self, offset: u64, length: u64) -> Result<Vec<Extent>, BlockError> {
        let geo = self.plan.ledger.geometry();
        if offset >= geo.disk_size || length == 0 {
            return Ok(Vec::new());
        }
        let start = offset - offset % geo.window();
        let map = match self.plan.cached(start) {
            Some(m) => m,
            None => self.plan_window(start).await?,
        };
        let end = offset.saturating_add(length);
        Ok(map
            .iter()
            .filter(|e| e.end() > offset && e.offset < end)
            .map(|e| e.clipped(offset, end))
            .collect())
    }

    async fn read(&self, offset: u64, length: u32) -> Result<Vec<u8>, BlockError> {
        let max = self.pool.max_io().max(1);
        if length <= max {
            // Within the server's limit: its buffer as is.
            return Ok(self.pool.client().read(offset, length).await?);
        }
        let mut buf = Vec::with_capacity(length as usize);
        let end = offset + u64::from(length);
        let mut pos = offset;
        while pos < end {
            let n = u64::from(max).min(end - pos) as u32;
            buf.extend_from_slice(&self.pool.client().read(pos, n).await?);
            pos += u64::from(n);
        }
        Ok(buf)
    }
}
