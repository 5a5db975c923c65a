//! The disk digest: BLAKE3 over guest-visible contents, independent of
//! allocation and of the order in which workers finish.
//!
//! Scheme (version 1): cut the virtual disk into [`DIGEST_BLOCK`]-sized
//! blocks (the last may be short). Each block's leaf hash is plain
//! `BLAKE3(contents)`, where holes and zero extents contribute zeros. The
//! digest is `BLAKE3-derive-key(DIGEST_CONTEXT)` over `le64(disk size) ||
//! le64(DIGEST_BLOCK) || leaf_0 || leaf_1 || …`. Blocks known to read as
//! zeros use a precomputed leaf, so a sparse terabyte costs a few
//! microseconds per MiB. Any reader (the copy itself, or a read-back of the
//! target) gets the same digest for the same contents.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::OnceLock;

/// Leaf block size of the digest. Part of the scheme: changing it changes
/// every digest.
pub const DIGEST_BLOCK: u64 = 1 << 20;
/// BLAKE3 key-derivation context of the digest.
pub const DIGEST_CONTEXT: &str = "kvm-clone 2025 disk digest v1";

static ZEROS: [u8; 64 * 1024] = [0; 64 * 1024];

/// A 32-byte disk digest.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Digest(pub [u8; 32]);

impl Digest {
    pub fn to_hex(&self) -> String {
        blake3::Hash::from_bytes(self.0).to_hex().to_string()
    }
}

impl fmt::Display for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

impl fmt::Debug for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Digest({})", self.to_hex())
    }
}

type Leaf = [u8; 32];

fn feed_zeros(h: &mut blake3::Hasher, mut n: u64) {
    while n > 0 {
        let k = n.min(ZEROS.len() as u64) as usize;
        h.update(&ZEROS[..k]);
        n -= k as u64;
    }
}

/// Leaf hash of `len` zero bytes (cached for a full block).
pub fn zero_leaf(len: u64) -> Leaf {
    static FULL: OnceLock<Leaf> = OnceLock::new();
    let compute = |len| {
        let mut h = blake3::Hasher::new();
        feed_zeros(&mut h, len);
        *h.finalize().as_bytes()
    };
    if len == DIGEST_BLOCK {
        *FULL.get_or_init(|| compute(DIGEST_BLOCK))
    } else {
        compute(len)
    }
}

/// Hashes the blocks of one block-aligned region from its data pieces,
/// given in increasing offset order; gaps between pieces are zeros.
#[derive(Debug)]
pub struct RegionHasher {
    end: u64,
    /// Where the next byte goes.
    cursor: u64,
    /// The block being filled and whether any data went into it.
    current: Option<(u64, blake3::Hasher)>,
    leaves: Vec<Leaf>,
}

impl RegionHasher {
    /// `start` must be a multiple of [`DIGEST_BLOCK`]; `end` too, unless it
    /// is the end of the disk.
    pub fn new(start: u64, end: u64) -> Self {
        Self {
            end,
            cursor: start,
            current: None,
            leaves: Vec::new(),
        }
    }

    /// Adds `data` found at `offset` (`>=` the end of the previous piece).
    pub fn feed(&mut self, offset: u64, mut data: &[u8]) {
        self.zeros_until(offset);
        // Bytes before the cursor were already accounted for.
        let skip = self.cursor.saturating_sub(offset).min(data.len() as u64) as usize;
        data = &data[skip..];
        let mut pos = offset.max(self.cursor);
        while !data.is_empty() && pos < self.end {
            let block_end = self.block_end(pos);
            let n = (block_end - pos).min(data.len() as u64) as usize;
            let (_, h) = self
                .current
                .get_or_insert_with(|| (pos, blake3::Hasher::new()));
            h.update(&data[..n]);
            data = &data[n..];
            pos += n as u64;
            if pos == block_end {
                self.close_block();
            }
        }
        self.cursor = pos;
    }

    /// The leaves of every block in the region.
    pub fn finish(mut self) -> Vec<Leaf> {
        self.zeros_until(self.end);
        self.leaves
    }

    fn block_end(&self, pos: u64) -> u64 {
        (pos - pos % DIGEST_BLOCK + DIGEST_BLOCK).min(self.end)
    }

    /// Treats `[cursor, to)` as zeros.
    fn zeros_until(&mut self, to: u64) {
        let to = to.min(self.end);
        while self.cursor < to {
            let block_end = self.block_end(self.cursor);
            let stop = block_end.min(to);
            if let Some((_, h)) = &mut self.current {
                feed_zeros(h, stop - self.cursor);
                self.cursor = stop;
                if stop == block_end {
                    self.close_block();
                }
            } else if stop == block_end {
                // Without a hasher the cursor is at a block start, so the
                // whole block reads as zeros: use the cached leaf.
                self.leaves.push(zero_leaf(block_end - self.cursor));
                self.cursor = stop;
            } else {
                // Zeros at the start of a block that data will follow.
                let mut h = blake3::Hasher::new();
                feed_zeros(&mut h, stop - self.cursor);
                self.current = Some((self.cursor, h));
                self.cursor = stop;
            }
        }
    }

    fn close_block(&mut self) {
        if let Some((_, h)) = self.current.take() {
            self.leaves.push(*h.finalize().as_bytes());
        }
    }
}

enum Pending {
    Leaves(Vec<Leaf>),
    /// `n` blocks that read as zeros.
    Zeros(u64),
}

/// Combines leaves into the digest in block order, whatever order regions
/// complete in. Runs of zero blocks are kept as a count, so memory is
/// bounded by the number of regions in flight, not by the disk size.
pub struct OrderedDigest {
    size: u64,
    blocks: u64,
    next: u64,
    pending: BTreeMap<u64, Pending>,
    outer: blake3::Hasher,
}

impl fmt::Debug for OrderedDigest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OrderedDigest")
            .field("size", &self.size)
            .field("next", &self.next)
            .field("pending", &self.pending.len())
            .finish()
    }
}

impl OrderedDigest {
    pub fn new(size: u64) -> Self {
        let mut outer = blake3::Hasher::new_derive_key(DIGEST_CONTEXT);
        outer.update(&size.to_le_bytes());
        outer.update(&DIGEST_BLOCK.to_le_bytes());
        Self {
            size,
            blocks: size.div_ceil(DIGEST_BLOCK),
            next: 0,
            pending: BTreeMap::new(),
            outer,
        }
    }

    /// Leaves of the region starting at byte `start` (block-aligned).
    pub fn submit_leaves(&mut self, start: u64, leaves: Vec<Leaf>) {
        if !leaves.is_empty() {
            self.pending
                .insert(start / DIGEST_BLOCK, Pending::Leaves(leaves));
            self.drain();
        }
    }

    /// `[start, end)` reads as zeros (block-aligned, or ending at the disk end).
    pub fn submit_zeros(&mut self, start: u64, end: u64) {
        let first = start / DIGEST_BLOCK;
        let last = end.div_ceil(DIGEST_BLOCK);
        if last > first {
            self.pending.insert(first, Pending::Zeros(last - first));
            self.drain();
        }
    }

    /// Regions waiting for an earlier one.
    pub fn pending(&self) -> usize {
        self.pending.len()
    }

    /// The digest, once every block has been submitted.
    pub fn finish(self) -> Option<Digest> {
        (self.next == self.blocks && self.pending.is_empty())
            .then(|| Digest(*self.outer.finalize().as_bytes()))
    }

    fn drain(&mut self) {
        while let Some(p) = self.pending.remove(&self.next) {
            match p {
                Pending::Leaves(leaves) => {
                    for l in &leaves {
                        self.outer.update(l);
                    }
                    self.next += leaves.len() as u64;
                }
                Pending::Zeros(n) => {
                    let full = zero_leaf(DIGEST_BLOCK);
                    for _ in 0..n {
                        let start = self.next * DIGEST_BLOCK;
                        let len = (self.size - start.min(self.size)).min(DIGEST_BLOCK);
                        if len == DIGEST_BLOCK {
                            self.outer.update(&full);
                        } else {
                            self.outer.update(&zero_leaf(len));
                        }
                        self.next += 1;
                    }
                }
            }
        }
    }
}

/// The digest of an in-memory image, straight from the definition (used to
/// check the streaming implementation).
pub fn digest_of_bytes(image: &[u8]) -> Digest {
    let mut outer = blake3::Hasher::new_derive_key(DIGEST_CONTEXT);
    outer.update(&(image.len() as u64).to_le_bytes());
    outer.update(&DIGEST_BLOCK.to_le_bytes());
    for block in image.chunks(DIGEST_BLOCK as usize) {
        outer.update(blake3::hash(block).as_bytes());
    }
    Digest(*outer.finalize().as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    const B: u64 = DIGEST_BLOCK;

    fn image(size: usize, pieces: &[(usize, usize, u8)]) -> Vec<u8> {
        let mut v = vec![0u8; size];
        for &(off, len, byte) in pieces {
            for (i, b) in v[off..off + len].iter_mut().enumerate() {
                *b = byte ^ (i as u8);
            }
        }
        v
    }

    #[test]
    fn region_hasher_matches_definition() {
        let size = (3 * B + 12345) as usize;
        let pieces = [
            (10, 100, 1),
            (B as usize - 5, 20, 2),
            (3 * B as usize + 7, 30, 3),
        ];
        let img = image(size, &pieces);
        // Two regions: [0, 2B) and [2B, size), submitted in reverse order.
        let mut d = OrderedDigest::new(size as u64);
        let mut second = RegionHasher::new(2 * B, size as u64);
        second.feed(3 * B + 7, &img[3 * B as usize + 7..3 * B as usize + 37]);
        d.submit_leaves(2 * B, second.finish());
        let mut first = RegionHasher::new(0, 2 * B);
        first.feed(10, &img[10..110]);
        first.feed(B - 5, &img[B as usize - 5..B as usize + 15]);
        let leaves = first.finish();
        assert_eq!(leaves.len(), 2);
        assert_eq!(d.pending(), 1, "waits for the first region");
        d.submit_leaves(0, leaves);
        assert_eq!(d.finish(), Some(digest_of_bytes(&img)));
    }

    #[test]
    fn zero_runs_and_data_give_the_same_digest_as_bytes() {
        let size = 5 * B + 1;
        let img = vec![0u8; size as usize];
        let mut d = OrderedDigest::new(size);
        d.submit_zeros(B, size);
        d.submit_leaves(0, RegionHasher::new(0, B).finish());
        assert_eq!(d.finish(), Some(digest_of_bytes(&img)));
        // Reading zeros as data gives the same leaves.
        let mut h = RegionHasher::new(0, 2 * B);
        h.feed(0, &img[..2 * B as usize]);
        assert_eq!(h.finish(), vec![zero_leaf(B), zero_leaf(B)]);
    }

    #[test]
    fn incomplete_or_changed_content_differs() {
        let size = 2 * B;
        let mut d = OrderedDigest::new(size);
        d.submit_zeros(0, B);
        assert!(d.pending() == 0);
        let incomplete = OrderedDigest::new(size);
        assert_eq!(incomplete.finish(), None);
        d.submit_zeros(B, size);
        let zeros = d.finish().unwrap();
        let mut img = vec![0u8; size as usize];
        img[B as usize + 3] = 1;
        assert_ne!(zeros, digest_of_bytes(&img));
        assert_eq!(zeros, digest_of_bytes(&vec![0u8; size as usize]));
        // The size is part of the digest.
        assert_ne!(digest_of_bytes(&[0u8; 10]), digest_of_bytes(&[0u8; 11]));
    }
}
