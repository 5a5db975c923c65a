//! In-memory source and sink for unit tests of the engine: a synthetic
//! source of any virtual size (contents computed from the offset), a
//! sparse sink that can lose unflushed writes, and fault injection.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::SeqCst};
use std::sync::{Arc, Mutex, OnceLock};

use super::error::BlockError;
use super::sink::BlockSink;
use super::source::BlockSource;
use crate::nbd::{Command, Errno, Extent, ExtentKind, NbdError, ServerError};

const TABLE: usize = 1 << 16;
pub const PAGE: u64 = 1 << 16;

fn table() -> &'static [u8] {
    static T: OnceLock<Vec<u8>> = OnceLock::new();
    T.get_or_init(|| {
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        (0..TABLE)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                (x >> 24) as u8
            })
            .collect()
    })
}

/// Deterministic non-zero-ish bytes for `[offset, offset + buf.len())`:
/// each 64 KiB page is the table rotated by a page-dependent amount.
pub fn pattern(offset: u64, buf: &mut [u8]) {
    let t = table();
    let mut pos = 0usize;
    while pos < buf.len() {
        let off = offset + pos as u64;
        let page = off / PAGE;
        let in_page = (off % PAGE) as usize;
        let rot = (page.wrapping_mul(7919) % TABLE as u64) as usize;
        let n = (TABLE - in_page).min(buf.len() - pos);
        let mut done = 0;
        while done < n {
            let idx = (in_page + done + rot) % TABLE;
            let k = (TABLE - idx).min(n - done);
            buf[pos + done..pos + done + k].copy_from_slice(&t[idx..idx + k]);
            done += k;
        }
        pos += n;
    }
}

pub fn transient() -> BlockError {
    BlockError::Nbd(NbdError::ConnectionLost(Arc::new(NbdError::Io(
        std::io::Error::from(std::io::ErrorKind::ConnectionReset),
    ))))
}

pub fn no_space() -> BlockError {
    BlockError::Nbd(NbdError::Server(ServerError {
        command: Command::Write,
        errno: Errno::NoSpc,
        message: "disk full".into(),
        offset: None,
    }))
}

/// Fails every operation once `after` operations succeeded.
#[derive(Debug)]
pub struct Fault {
    after: u64,
    count: AtomicU64,
    dead: AtomicBool,
    error: fn() -> BlockError,
}

impl Fault {
    pub fn after(after: u64, error: fn() -> BlockError) -> Self {
        Self {
            after,
            count: AtomicU64::new(0),
            dead: AtomicBool::new(false),
            error,
        }
    }

    /// Whether this operation fails (and kills the connection).
    fn trips(&self) -> bool {
        if self.dead.load(SeqCst) {
            return true;
        }
        if self.count.fetch_add(1, SeqCst) >= self.after {
            self.dead.store(true, SeqCst);
            return true;
        }
        false
    }
}

/// A synthetic source: data extents read [`pattern`], the rest zeros.
#[derive(Debug, Clone)]
pub struct MemSource {
    size: u64,
    map: Arc<Vec<Extent>>,
    /// Extents per `extents` answer.
    batch: usize,
    max_io: u32,
    fault: Option<Arc<Fault>>,
    /// Reads that never complete (for cancellation).
    stall: bool,
    /// A range the map calls data that reads as zeros (a raw file or block
    /// device without holes).
    zeros_in_data: Option<(u64, u64)>,
}

impl MemSource {
    /// `map` must tile `[0, size)`.
    pub fn new(size: u64, map: Vec<Extent>) -> Self {
        Self {
            size,
            map: Arc::new(map),
            batch: 3,
            max_io: 1 << 20,
            fault: None,
            stall: false,
            zeros_in_data: None,
        }
    }

    /// `[start, end)` reads as zeros, whatever the map says.
    pub fn with_zeros_in_data(mut self, start: u64, end: u64) -> Self {
        self.zeros_in_data = Some((start, end));
        self
    }

    /// Clears the part of `buf` (at `offset`) that reads as zeros.
    fn clear_zeros(&self, offset: u64, buf: &mut [u8]) {
        if let Some((s, e)) = self.zeros_in_data {
            let end = offset + buf.len() as u64;
            let (a, b) = (s.max(offset), e.min(end));
            if a < b {
                buf[(a - offset) as usize..(b - offset) as usize].fill(0);
            }
        }
    }

    /// A map from `(length, kind)` pieces laid end to end.
    pub fn from_pieces(pieces: &[(u64, ExtentKind)]) -> Self {
        let mut map = Vec::new();
        let mut pos = 0;
        for &(length, kind) in pieces {
            map.push(Extent {
                offset: pos,
                length,
                kind,
            });
            pos += length;
        }
        Self::new(pos, map)
    }

    pub fn with_fault(mut self, fault: Fault) -> Self {
        self.fault = Some(Arc::new(fault));
        self
    }

    pub fn without_fault(mut self) -> Self {
        self.fault = None;
        self
    }

    pub fn stalling(mut self) -> Self {
        self.stall = true;
        self
    }

    pub fn with_max_io(mut self, max_io: u32) -> Self {
        self.max_io = max_io;
        self
    }

    pub fn data_bytes(&self) -> u64 {
        self.map
            .iter()
            .filter(|e| e.kind == ExtentKind::Data)
            .map(|e| e.length)
            .sum()
    }

    /// The whole guest-visible image (small disks only).
    pub fn image(&self) -> Vec<u8> {
        let mut v = vec![0u8; self.size as usize];
        for e in self.map.iter().filter(|e| e.kind == ExtentKind::Data) {
            pattern(e.offset, &mut v[e.offset as usize..e.end() as usize]);
        }
        self.clear_zeros(0, &mut v);
        v
    }
}

impl BlockSource for MemSource {
    fn size(&self) -> u64 {
        self.size
    }

    fn max_io(&self) -> u32 {
        self.max_io
    }

    async fn extents(&self, offset: u64, length: u64) -> Result<Vec<Extent>, BlockError> {
        let end = (offset + length).min(self.size);
        let first = self.map.partition_point(|e| e.end() <= offset);
        Ok(self.map[first..]
            .iter()
            .take_while(|e| e.offset < end)
            .take(self.batch)
            .map(|e| e.clipped(offset, end))
            .collect())
    }

    async fn read(&self, offset: u64, length: u32) -> Result<Vec<u8>, BlockError> {
        if self.stall {
            std::future::pending::<()>().await;
        }
        if let Some(f) = &self.fault {
            if f.trips() {
                return Err((f.error)());
            }
        }
        let end = offset + u64::from(length);
        if end > self.size {
            return Err(BlockError::OutOfBounds {
                offset,
                length: length.into(),
                size: self.size,
            });
        }
        let mut buf = vec![0u8; length as usize];
        let first = self.map.partition_point(|e| e.end() <= offset);
        for e in self.map[first..].iter().take_while(|e| e.offset < end) {
            if e.kind != ExtentKind::Data {
                continue;
            }
            let s = e.offset.max(offset);
            let t = e.end().min(end);
            pattern(s, &mut buf[(s - offset) as usize..(t - offset) as usize]);
        }
        self.clear_zeros(offset, &mut buf);
        Ok(buf)
    }
}

#[derive(Debug, Default)]
struct Disk {
    /// Durable pages (absent = zeros, unallocated).
    pages: BTreeMap<u64, Vec<u8>>,
    /// Writes not yet flushed, when volatile: applied by a flush, lost by
    /// a crash.
    pending: Vec<(u64, Option<Vec<u8>>, u64)>,
    zero_requests: u64,
}

impl Disk {
    fn apply(&mut self, offset: u64, data: Option<&[u8]>, len: u64) {
        let mut pos = offset;
        let end = offset + len;
        while pos < end {
            let page = pos / PAGE;
            let in_page = (pos % PAGE) as usize;
            let n = ((PAGE - pos % PAGE).min(end - pos)) as usize;
            match data {
                Some(d) => {
                    let p = self
                        .pages
                        .entry(page)
                        .or_insert_with(|| vec![0u8; PAGE as usize]);
                    let at = (pos - offset) as usize;
                    p[in_page..in_page + n].copy_from_slice(&d[at..at + n]);
                }
                None if n as u64 == PAGE => {
                    self.pages.remove(&page);
                }
                None => {
                    if let Some(p) = self.pages.get_mut(&page) {
                        p[in_page..in_page + n].fill(0);
                    }
                }
            }
            pos += n as u64;
        }
    }
}

/// A sparse in-memory sink. Clones share the disk (a reconnect gets a new
/// handle to the same storage) but not the fault.
#[derive(Debug, Clone)]
pub struct MemSink {
    size: u64,
    disk: Arc<Mutex<Disk>>,
    zeroed: bool,
    volatile: bool,
    fault: Option<Arc<Fault>>,
}

impl MemSink {
    pub fn new(size: u64) -> Self {
        Self {
            size,
            disk: Arc::default(),
            zeroed: true,
            volatile: false,
            fault: None,
        }
    }

    /// Filled with a byte pattern and not known to be zero.
    pub fn dirty(size: u64) -> Self {
        let s = Self {
            zeroed: false,
            ..Self::new(size)
        };
        {
            let mut d = s.disk.lock().unwrap();
            let junk = vec![0xa5u8; size as usize];
            d.apply(0, Some(&junk), size);
        }
        s
    }

    /// Writes only persist at a flush; a fault loses the unflushed ones.
    pub fn volatile(mut self) -> Self {
        self.volatile = true;
        self
    }

    /// A new handle to the same disk, with this fault (or none).
    pub fn handle(&self, fault: Option<Fault>) -> Self {
        Self {
            fault: fault.map(Arc::new),
            ..self.clone()
        }
    }

    pub fn image(&self) -> Vec<u8> {
        let d = self.disk.lock().unwrap();
        let mut v = vec![0u8; self.size as usize];
        for (&page, data) in &d.pages {
            let s = (page * PAGE) as usize;
            let e = (s + PAGE as usize).min(v.len());
            v[s..e].copy_from_slice(&data[..e - s]);
        }
        v
    }

    /// Bytes of allocated pages.
    pub fn allocated(&self) -> u64 {
        self.disk.lock().unwrap().pages.len() as u64 * PAGE
    }

    pub fn zero_requests(&self) -> u64 {
        self.disk.lock().unwrap().zero_requests
    }

    fn op(&self, offset: u64, data: Option<Vec<u8>>, len: u64) -> Result<(), BlockError> {
        if let Some(f) = &self.fault {
            if f.trips() {
                // The server died: what it had not flushed is gone.
                self.disk.lock().unwrap().pending.clear();
                return Err((f.error)());
            }
        }
        if offset + len > self.size {
            return Err(BlockError::OutOfBounds {
                offset,
                length: len,
                size: self.size,
            });
        }
        let mut d = self.disk.lock().unwrap();
        if data.is_none() {
            d.zero_requests += 1;
        }
        if self.volatile {
            d.pending.push((offset, data, len));
        } else {
            d.apply(offset, data.as_deref(), len);
        }
        Ok(())
    }
}

impl BlockSink for MemSink {
    fn size(&self) -> u64 {
        self.size
    }
    fn max_io(&self) -> u32 {
        1 << 20
    }
    fn is_zeroed(&self) -> bool {
        self.zeroed
    }
    async fn write(&self, offset: u64, data: Vec<u8>) -> Result<(), BlockError> {
        let len = data.len() as u64;
        // Let other workers interleave, as a real connection would.
        tokio::task::yield_now().await;
        self.op(offset, Some(data), len)
    }
    async fn write_zeroes(&self, offset: u64, length: u64) -> Result<(), BlockError> {
        self.op(offset, None, length)
    }
    async fn flush(&self) -> Result<(), BlockError> {
        if let Some(f) = &self.fault {
            if f.dead.load(SeqCst) {
                return Err((f.error)());
            }
        }
        let mut d = self.disk.lock().unwrap();
        let pending = std::mem::take(&mut d.pending);
        for (offset, data, len) in pending {
            d.apply(offset, data.as_deref(), len);
        }
        Ok(())
    }
}
