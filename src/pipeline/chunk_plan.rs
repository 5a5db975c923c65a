//! The chunk planner: what an export does with each fixed-size chunk of a
//! disk, from the allocation map, the dirty bitmap of an incremental
//! backup, and what is already known about the chunk (the parent
//! snapshot's index, or a resumed run's done chunks). Pure, so every rule
//! is tested.

use crate::nbd::proto::STATE_DIRTY;
use crate::nbd::{Extent, ExtentKind, StatusExtent};
use crate::repo::ChunkId;

/// Largest stretch of a disk planned at once (rounded to whole chunks), so
/// the maps held stay small however large the disk.
pub const WINDOW: u64 = 1 << 30;

/// The chunk grid of one disk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Geometry {
    pub chunk_size: u64,
    pub disk_size: u64,
}

impl Geometry {
    pub fn chunk_count(&self) -> u64 {
        self.disk_size.div_ceil(self.chunk_size)
    }

    /// Offset and length of chunk `index` (the last one may be short).
    pub fn range(&self, index: u64) -> (u64, u64) {
        let off = index * self.chunk_size;
        (off, self.chunk_size.min(self.disk_size.saturating_sub(off)))
    }

    /// Bytes per planning window: whole chunks, about [`WINDOW`].
    pub fn window(&self) -> u64 {
        self.chunk_size * (WINDOW / self.chunk_size).max(1)
    }
}

/// What an earlier state says a chunk holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Known {
    /// All zeros (not stored).
    Zero,
    Chunk(ChunkId),
}

/// What to do with one chunk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Holes or zeros only: nothing is read or stored.
    Zero,
    /// Unchanged since the known state: take its chunk without reading.
    Reuse(ChunkId),
    /// Read it, then store it.
    Read,
}

/// Plans the chunks `first..first+count` of a disk. `alloc` and `dirty`
/// cover (at least) those chunks' bytes. A chunk is unchanged when the
/// dirty bitmap says so, or, without a bitmap, when `trust_known` (an
/// offline image that did not change since the known state). `known`
/// answers for an index, `None` when nothing is known.
pub fn classify(
    geo: Geometry,
    first: u64,
    count: u64,
    alloc: &[Extent],
    dirty: Option<&[StatusExtent]>,
    trust_known: bool,
    known: impl Fn(u64) -> Option<Known>,
) -> Vec<(u64, Action)> {
    let n = count as usize;
    let mut data = vec![false; n];
    let mut changed = vec![dirty.is_none() && !trust_known; n];
    let mark = |flags: &mut [bool], off: u64, len: u64| {
        if len == 0 {
            return;
        }
        let lo = (off / geo.chunk_size).max(first);
        let hi = ((off + len).div_ceil(geo.chunk_size)).min(first + count);
        for i in lo..hi {
            flags[(i - first) as usize] = true;
        }
    };
    for e in alloc.iter().filter(|e| e.kind == ExtentKind::Data) {
        mark(&mut data, e.offset, e.length);
    }
    if let Some(d) = dirty {
        for e in d.iter().filter(|e| e.flags & STATE_DIRTY != 0) {
            mark(&mut changed, e.offset, e.length);
        }
    }
    (0..n)
        .map(|k| {
            let index = first + k as u64;
            let action = if !data[k] {
                Action::Zero
            } else if changed[k] {
                Action::Read
            } else {
                match known(index) {
                    Some(Known::Zero) => Action::Zero,
                    Some(Known::Chunk(id)) => Action::Reuse(id),
                    None => Action::Read,
                }
            };
            (index, action)
        })
        .collect()
}

/// Whether a chunk's bytes are all zero (then it is not stored).
pub use kvm_clone_codec::is_zero;

#[cfg(test)]
mod tests {
    use super::*;

    const MIB: u64 = 1 << 20;
    const GEO: Geometry = Geometry {
        chunk_size: 4 * MIB,
        disk_size: 18 * MIB,
    };

    fn ext(offset: u64, length: u64, kind: ExtentKind) -> Extent {
        Extent {
            offset,
            length,
            kind,
        }
    }

    fn id(n: u8) -> ChunkId {
        ChunkId([n; 32])
    }

    #[test]
    fn geometry_has_a_short_last_chunk() {
        assert_eq!(GEO.chunk_count(), 5);
        assert_eq!(GEO.range(4), (16 * MIB, 2 * MIB));
        assert_eq!(GEO.range(1), (4 * MIB, 4 * MIB));
        assert_eq!(GEO.window() % GEO.chunk_size, 0);
    }

    #[test]
    fn full_read_skips_only_chunks_without_data() {
        // Data in chunk 0 (one byte range), 2..=3 (spanning), hole in 1 and 4.
        let alloc = [
            ext(0, 4096, ExtentKind::Data),
            ext(4096, 8 * MIB - 4096, ExtentKind::Hole),
            ext(8 * MIB + MIB, 4 * MIB, ExtentKind::Data),
            ext(13 * MIB, 5 * MIB, ExtentKind::Zero),
        ];
        let plan = classify(GEO, 0, 5, &alloc, None, false, |_| Some(Known::Zero));
        let actions: Vec<Action> = plan.iter().map(|(_, a)| *a).collect();
        assert_eq!(
            actions,
            vec![
                Action::Read,
                Action::Zero,
                Action::Read,
                Action::Read,
                Action::Zero
            ]
        );
    }

    #[test]
    fn incremental_reuses_clean_chunks_and_reads_dirty_ones() {
        let alloc = [ext(0, 18 * MIB, ExtentKind::Data)];
        let dirty = [
            StatusExtent {
                offset: 0,
                length: 5 * MIB,
                flags: 0,
            },
            StatusExtent {
                offset: 5 * MIB,
                length: 64 * 1024,
                flags: STATE_DIRTY,
            },
            StatusExtent {
                offset: 5 * MIB + 64 * 1024,
                length: 13 * MIB - 64 * 1024,
                flags: 0,
            },
        ];
        // Chunk 2 was zero in the parent, chunk 3 unknown.
        let known = |i: u64| match i {
            2 => Some(Known::Zero),
            3 => None,
            i => Some(Known::Chunk(id(i as u8))),
        };
        let plan = classify(GEO, 0, 5, &alloc, Some(&dirty), false, known);
        assert_eq!(
            plan,
            vec![
                (0, Action::Reuse(id(0))),
                (1, Action::Read),
                (2, Action::Zero),
                (3, Action::Read),
                (4, Action::Reuse(id(4))),
            ]
        );
    }

    #[test]
    fn offline_resume_trusts_known_chunks_only_when_told() {
        let alloc = [ext(0, 18 * MIB, ExtentKind::Data)];
        let known = |i: u64| (i < 2).then(|| Known::Chunk(id(i as u8)));
        let trusted = classify(GEO, 0, 5, &alloc, None, true, known);
        assert_eq!(trusted[0].1, Action::Reuse(id(0)));
        assert_eq!(trusted[1].1, Action::Reuse(id(1)));
        assert_eq!(trusted[2].1, Action::Read);
        let untrusted = classify(GEO, 0, 5, &alloc, None, false, known);
        assert!(untrusted.iter().all(|(_, a)| *a == Action::Read));
    }

    #[test]
    fn a_window_in_the_middle_only_plans_its_chunks() {
        let alloc = [ext(4 * MIB, 8 * MIB, ExtentKind::Data)];
        let plan = classify(GEO, 1, 2, &alloc, None, false, |_| None);
        assert_eq!(plan, vec![(1, Action::Read), (2, Action::Read)]);
    }

    #[test]
    fn zero_detection() {
        let mut buf = vec![0u8; 4 * MIB as usize + 3];
        assert!(is_zero(&buf));
        buf[4 * MIB as usize + 2] = 1;
        assert!(!is_zero(&buf));
        buf[4 * MIB as usize + 2] = 0;
        buf[12345] = 7;
        assert!(!is_zero(&buf));
        assert!(is_zero(&[]));
    }
}
