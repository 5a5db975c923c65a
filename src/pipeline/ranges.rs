//! A set of disjoint half-open byte ranges, merged on insert: what a copy
//! has written, flushed or hashed, so a resumed copy redoes only the rest.

use std::collections::BTreeMap;

/// Disjoint, non-adjacent `[start, end)` ranges keyed by start.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RangeSet {
    map: BTreeMap<u64, u64>,
}

impl RangeSet {
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds `[start, end)`, merging with overlapping or touching ranges.
    pub fn insert(&mut self, start: u64, end: u64) {
        if start >= end {
            return;
        }
        let (mut s, mut e) = (start, end);
        // A range starting at or before `start` that reaches it.
        if let Some((&ps, &pe)) = self.map.range(..=start).next_back() {
            if pe >= start {
                s = ps;
                e = e.max(pe);
            }
        }
        // Ranges starting inside `[s, e]` are swallowed.
        let swallowed: Vec<(u64, u64)> = self.map.range(s..=e).map(|(&a, &b)| (a, b)).collect();
        for (a, b) in swallowed {
            self.map.remove(&a);
            e = e.max(b);
        }
        self.map.insert(s, e);
    }

    /// Removes `[start, end)` from the set.
    pub fn remove(&mut self, start: u64, end: u64) {
        if start >= end {
            return;
        }
        let hit: Vec<(u64, u64)> = self.overlapping(start, end).collect();
        for (a, b) in hit {
            self.map.remove(&a);
            if a < start {
                self.map.insert(a, start);
            }
            if b > end {
                self.map.insert(end, b);
            }
        }
    }

    /// Every range of `other` added to `self`.
    pub fn insert_all(&mut self, other: &RangeSet) {
        for (s, e) in other.iter() {
            self.insert(s, e);
        }
    }

    /// Whether all of `[start, end)` is in the set (true for an empty range).
    pub fn contains(&self, start: u64, end: u64) -> bool {
        if start >= end {
            return true;
        }
        self.map
            .range(..=start)
            .next_back()
            .is_some_and(|(_, &e)| e >= end)
    }

    /// The parts of `[start, end)` not in the set, in order.
    pub fn gaps(&self, start: u64, end: u64) -> Vec<(u64, u64)> {
        let mut out = Vec::new();
        let mut pos = start;
        for (a, b) in self.overlapping(start, end) {
            if a > pos {
                out.push((pos, a));
            }
            pos = pos.max(b);
        }
        if pos < end {
            out.push((pos, end));
        }
        out
    }

    /// The smallest offset `>= from` not in the set.
    pub fn first_gap(&self, from: u64) -> u64 {
        match self.map.range(..=from).next_back() {
            Some((_, &e)) if e > from => e,
            _ => from,
        }
    }

    /// Total bytes covered.
    pub fn total(&self) -> u64 {
        self.map.iter().map(|(s, e)| e - s).sum()
    }

    /// Number of disjoint ranges.
    pub fn len(&self) -> usize {
        self.map.len()
    }

    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    pub fn clear(&mut self) {
        self.map.clear();
    }

    pub fn iter(&self) -> impl Iterator<Item = (u64, u64)> + '_ {
        self.map.iter().map(|(&s, &e)| (s, e))
    }

    /// Ranges that share at least one byte with `[start, end)`.
    fn overlapping(&self, start: u64, end: u64) -> impl Iterator<Item = (u64, u64)> + '_ {
        let before = self
            .map
            .range(..start)
            .next_back()
            .filter(|(_, e)| **e > start)
            .map(|(&s, &e)| (s, e));
        before
            .into_iter()
            .chain(self.map.range(start..end).map(|(&s, &e)| (s, e)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn merges_touching_and_overlapping() {
        let mut s = RangeSet::new();
        s.insert(10, 20);
        s.insert(30, 40);
        s.insert(20, 30);
        assert_eq!(s.iter().collect::<Vec<_>>(), vec![(10, 40)]);
        s.insert(5, 12);
        s.insert(39, 50);
        assert_eq!(s.iter().collect::<Vec<_>>(), vec![(5, 50)]);
        s.remove(20, 25);
        assert_eq!(s.iter().collect::<Vec<_>>(), vec![(5, 20), (25, 50)]);
        assert!(s.contains(25, 50));
        assert!(!s.contains(19, 26));
        assert_eq!(s.gaps(0, 60), vec![(0, 5), (20, 25), (50, 60)]);
        assert_eq!(s.first_gap(5), 20);
        assert_eq!(s.first_gap(22), 22);
        assert_eq!(s.total(), 40);
    }

    const N: usize = 64;

    fn model(ops: &[(bool, u64, u64)]) -> [bool; N] {
        let mut bits = [false; N];
        for &(add, a, b) in ops {
            for bit in bits.iter_mut().take(b as usize).skip(a as usize) {
                *bit = add;
            }
        }
        bits
    }

    proptest! {
        #[test]
        fn matches_a_bitmap(ops in prop::collection::vec((any::<bool>(), 0u64..N as u64, 0u64..N as u64), 0..40)) {
            let ops: Vec<(bool, u64, u64)> = ops.into_iter().map(|(add, a, b)| (add, a.min(b), a.max(b))).collect();
            let mut set = RangeSet::new();
            for &(add, a, b) in &ops {
                if add { set.insert(a, b) } else { set.remove(a, b) }
            }
            let bits = model(&ops);
            // Canonical form: sorted, disjoint, non-adjacent, non-empty.
            let ranges: Vec<_> = set.iter().collect();
            for w in ranges.windows(2) {
                prop_assert!(w[0].1 < w[1].0);
            }
            for &(s, e) in &ranges {
                prop_assert!(s < e);
            }
            for (i, &bit) in bits.iter().enumerate() {
                prop_assert_eq!(set.contains(i as u64, i as u64 + 1), bit);
            }
            prop_assert_eq!(set.total(), bits.iter().filter(|b| **b).count() as u64);
            let gaps = set.gaps(0, N as u64);
            let gap_bytes: u64 = gaps.iter().map(|(s, e)| e - s).sum();
            prop_assert_eq!(gap_bytes, N as u64 - set.total());
            let first = bits.iter().position(|b| !b).unwrap_or(N) as u64;
            prop_assert_eq!(set.first_gap(0), first);
        }
    }
}
