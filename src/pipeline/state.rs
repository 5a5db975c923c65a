//! What a copy has achieved so far, kept across reconnects: which windows
//! are written, which of those are flushed (durable), which are hashed.

use super::hash::OrderedDigest;
use super::progress::Progress;
use super::ranges::RangeSet;
use super::window::WindowDone;

#[derive(Debug)]
pub(crate) struct State {
    pub size: u64,
    /// Data bytes to move, once the map has been scanned.
    pub total: Option<u64>,
    /// Written and acknowledged, or known zero on a zeroed sink.
    pub done: RangeSet,
    /// Data bytes inside `done`, and of them, those found to be zeros.
    committed_data: u64,
    committed_found_zero: u64,
    unflushed_found_zero: u64,
    flushing_found_zero: u64,
    /// Written since the last flush was started.
    unflushed: RangeSet,
    unflushed_data: u64,
    /// Bytes written or zeroed since the last flush was started.
    pub unflushed_bytes: u64,
    /// Covered by the flush in flight.
    flushing: RangeSet,
    flushing_data: u64,
    /// Windows whose leaves went into the digest.
    hashed: RangeSet,
    pub digest: Option<OrderedDigest>,
}

impl State {
    pub fn new(size: u64, hash: bool) -> Self {
        Self {
            size,
            total: None,
            done: RangeSet::new(),
            committed_data: 0,
            committed_found_zero: 0,
            unflushed_found_zero: 0,
            flushing_found_zero: 0,
            unflushed: RangeSet::new(),
            unflushed_data: 0,
            unflushed_bytes: 0,
            flushing: RangeSet::new(),
            flushing_data: 0,
            hashed: RangeSet::new(),
            digest: hash.then(|| OrderedDigest::new(size)),
        }
    }

    /// Whether a window still needs its leaves.
    pub fn needs_hash(&self, start: u64, end: u64) -> bool {
        self.digest.is_some() && !self.hashed.contains(start, end)
    }

    pub fn commit_window(&mut self, w: WindowDone) {
        self.done.insert(w.start, w.end);
        self.unflushed.insert(w.start, w.end);
        self.unflushed_data += w.data;
        self.unflushed_bytes += w.data + w.zeroed;
        self.committed_data += w.data;
        self.unflushed_found_zero += w.found_zero;
        self.committed_found_zero += w.found_zero;
        if let (Some(d), Some(leaves)) = (&mut self.digest, w.leaves) {
            if !self.hashed.contains(w.start, w.end) {
                d.submit_leaves(w.start, leaves);
                self.hashed.insert(w.start, w.end);
            }
        }
    }

    /// `[start, end)` reads as zeros on the sink; `durable` when nothing
    /// was written (a zeroed sink), so no flush is needed to keep it.
    pub fn commit_zeros(&mut self, start: u64, end: u64, durable: bool) {
        self.done.insert(start, end);
        if !durable {
            self.unflushed.insert(start, end);
            self.unflushed_bytes += end - start;
        }
        if let Some(d) = &mut self.digest {
            for (a, b) in self.hashed.gaps(start, end) {
                d.submit_zeros(a, b);
            }
            self.hashed.insert(start, end);
        }
    }

    /// A flush is being sent: it covers everything written so far.
    pub fn start_flush(&mut self) {
        let taken = std::mem::take(&mut self.unflushed);
        self.flushing.insert_all(&taken);
        self.flushing_data += std::mem::take(&mut self.unflushed_data);
        self.flushing_found_zero += std::mem::take(&mut self.unflushed_found_zero);
        self.unflushed_bytes = 0;
    }

    pub fn flushed(&mut self) {
        self.flushing.clear();
        self.flushing_data = 0;
        self.flushing_found_zero = 0;
    }

    /// After a failure nothing unflushed can be trusted (the target server
    /// may have died with it in memory): forget it, so it is copied again.
    /// Hashes stay: they were taken from the source, which did not change.
    pub fn rollback(&mut self, progress: &Progress) {
        for set in [&self.unflushed, &self.flushing] {
            for (s, e) in set.iter() {
                self.done.remove(s, e);
            }
        }
        self.committed_data = self
            .committed_data
            .saturating_sub(self.unflushed_data + self.flushing_data);
        self.committed_found_zero = self
            .committed_found_zero
            .saturating_sub(self.unflushed_found_zero + self.flushing_found_zero);
        self.unflushed_found_zero = 0;
        self.flushing_found_zero = 0;
        self.unflushed.clear();
        self.flushing.clear();
        self.unflushed_data = 0;
        self.flushing_data = 0;
        self.unflushed_bytes = 0;
        progress.set_done(self.committed_data, self.committed_found_zero);
    }

    pub fn all_done(&self) -> bool {
        self.done.contains(0, self.size)
    }
}
