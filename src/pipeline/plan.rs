//! Turns the allocation map into work: fixed, aligned windows that hold
//! data, and runs of whole windows that read as zeros.
//!
//! Windows are aligned to the window size (a multiple of the digest block),
//! so work, resume bookkeeping and hashing all share one grid whatever the
//! shape of the map.

use std::collections::VecDeque;

use crate::nbd::Extent;

/// One unit of work.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WorkItem {
    /// One window `[start, end)` with at least one data byte; `data` are
    /// its data ranges, sorted and disjoint. The rest of the window reads
    /// as zeros.
    Window {
        start: u64,
        end: u64,
        data: Vec<(u64, u64)>,
    },
    /// Whole windows `[start, end)` that read as zeros.
    Zeros { start: u64, end: u64 },
}

impl WorkItem {
    pub fn range(&self) -> (u64, u64) {
        match self {
            WorkItem::Window { start, end, .. } | WorkItem::Zeros { start, end } => (*start, *end),
        }
    }
}

/// Map mistakes a planner refuses (a bug or a broken source).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PlanError {
    /// An extent does not start where the previous one ended, is empty, or
    /// passes the end of the disk.
    NotContiguous,
    /// The map ended before the disk did.
    Incomplete,
}

/// Consumes extents in order and queues work items.
#[derive(Debug)]
pub struct Planner {
    size: u64,
    window: u64,
    /// Where the next extent must start.
    pos: u64,
    /// Data ranges of the window being filled.
    data: Vec<(u64, u64)>,
    /// The zero run being extended.
    zeros: Option<(u64, u64)>,
    ready: VecDeque<WorkItem>,
}

impl Planner {
    /// Plans `[start, size)`; `start` must be window-aligned.
    pub fn new(start: u64, size: u64, window: u64) -> Self {
        Self {
            size,
            window: window.max(1),
            pos: start,
            data: Vec::new(),
            zeros: None,
            ready: VecDeque::new(),
        }
    }

    /// Where the map is needed from next (`size` when complete).
    pub fn position(&self) -> u64 {
        self.pos
    }

    pub fn is_mapped(&self) -> bool {
        self.pos >= self.size
    }

    /// Items ready to run.
    pub fn ready(&self) -> usize {
        self.ready.len()
    }

    pub fn pop(&mut self) -> Option<WorkItem> {
        self.ready.pop_front()
    }

    /// Adds the next extent of the map.
    pub fn push(&mut self, e: Extent) -> Result<(), PlanError> {
        let end = e
            .offset
            .checked_add(e.length)
            .ok_or(PlanError::NotContiguous)?;
        if e.offset != self.pos || e.length == 0 || end > self.size {
            return Err(PlanError::NotContiguous);
        }
        let data = !e.kind.reads_as_zero();
        let mut o = e.offset;
        while o < end {
            let ws = o - o % self.window;
            let we = (ws + self.window).min(self.size);
            if !data && self.data.is_empty() && o == ws && end >= we {
                // Whole zero windows: jump to the last window boundary.
                let last = if end >= self.size {
                    self.size
                } else {
                    end - end % self.window
                };
                self.extend_zeros(ws, last);
                o = last;
                continue;
            }
            let pe = end.min(we);
            if data {
                match self.data.last_mut() {
                    Some(last) if last.1 == o => last.1 = pe,
                    _ => self.data.push((o, pe)),
                }
            }
            o = pe;
            if o == we {
                self.close_window(ws, we);
            }
        }
        self.pos = end;
        if self.pos == self.size {
            self.flush_zeros();
        }
        Ok(())
    }

    /// Checks the map reached the end of the disk.
    pub fn finish(&mut self) -> Result<(), PlanError> {
        if self.pos < self.size {
            return Err(PlanError::Incomplete);
        }
        self.flush_zeros();
        Ok(())
    }

    fn close_window(&mut self, ws: u64, we: u64) {
        if self.data.is_empty() {
            self.extend_zeros(ws, we);
        } else {
            self.flush_zeros();
            self.ready.push_back(WorkItem::Window {
                start: ws,
                end: we,
                data: std::mem::take(&mut self.data),
            });
        }
    }

    fn extend_zeros(&mut self, s: u64, e: u64) {
        match &mut self.zeros {
            Some((_, end)) if *end == s => *end = e,
            _ => {
                self.flush_zeros();
                self.zeros = Some((s, e));
            }
        }
    }

    fn flush_zeros(&mut self) {
        if let Some((start, end)) = self.zeros.take() {
            self.ready.push_back(WorkItem::Zeros { start, end });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::nbd::ExtentKind::{self, *};
    use proptest::prelude::*;

    fn ext(offset: u64, length: u64, kind: ExtentKind) -> Extent {
        Extent {
            offset,
            length,
            kind,
        }
    }

    fn plan(size: u64, window: u64, map: &[Extent]) -> Vec<WorkItem> {
        let mut p = Planner::new(0, size, window);
        for e in map {
            p.push(*e).unwrap();
        }
        p.finish().unwrap();
        std::iter::from_fn(|| p.pop()).collect()
    }

    #[test]
    fn windows_and_zero_runs() {
        let map = [
            ext(0, 5, Data),
            ext(5, 30, Hole),
            ext(35, 2, Zero),
            ext(37, 3, Data),
            ext(40, 55, Hole),
        ];
        let items = plan(95, 10, &map);
        assert_eq!(
            items,
            vec![
                WorkItem::Window {
                    start: 0,
                    end: 10,
                    data: vec![(0, 5)]
                },
                WorkItem::Zeros { start: 10, end: 30 },
                WorkItem::Window {
                    start: 30,
                    end: 40,
                    data: vec![(37, 40)]
                },
                WorkItem::Zeros { start: 40, end: 95 },
            ]
        );
    }

    #[test]
    fn rejects_gaps_and_short_maps() {
        let mut p = Planner::new(0, 100, 10);
        assert_eq!(p.push(ext(5, 5, Data)), Err(PlanError::NotContiguous));
        p.push(ext(0, 50, Data)).unwrap();
        assert_eq!(p.push(ext(50, 51, Data)), Err(PlanError::NotContiguous));
        assert_eq!(p.finish(), Err(PlanError::Incomplete));
    }

    proptest! {
        /// Items tile the disk on the window grid, in order; data ranges
        /// are exactly the data extents.
        #[test]
        fn items_tile_the_disk(
            lens in prop::collection::vec((1u64..40, 0u8..3), 1..30),
            window in 1u64..25,
            start_windows in 0u64..3,
        ) {
            let mut map = Vec::new();
            let mut pos = 0;
            for (len, k) in lens {
                let kind = [Data, Zero, Hole][k as usize];
                map.push(ext(pos, len, kind));
                pos += len;
            }
            let size = pos;
            let start = (start_windows * window).min(size - size % window);
            // Clip the map to [start, size) as a resumed walk would see it.
            let clipped: Vec<Extent> = map.iter().filter(|e| e.end() > start).map(|e| {
                let s = e.offset.max(start);
                ext(s, e.end() - s, e.kind)
            }).collect();
            let mut p = Planner::new(start, size, window);
            for e in &clipped {
                p.push(*e).unwrap();
            }
            p.finish().unwrap();
            let items: Vec<WorkItem> = std::iter::from_fn(|| p.pop()).collect();
            let mut at = start;
            let mut data_from_items = Vec::new();
            for item in &items {
                let (s, e) = item.range();
                prop_assert_eq!(s, at);
                prop_assert!(s % window == 0);
                prop_assert!(e % window == 0 || e == size);
                prop_assert!(e > s);
                if let WorkItem::Window { data, .. } = item {
                    prop_assert!(e - s <= window);
                    prop_assert!(!data.is_empty());
                    for &(a, b) in data {
                        prop_assert!(s <= a && a < b && b <= e);
                        match data_from_items.last_mut() {
                            Some((_, last_end)) if *last_end == a => *last_end = b,
                            _ => data_from_items.push((a, b)),
                        }
                    }
                }
                at = e;
            }
            prop_assert_eq!(at, size);
            // Expected: merged data extents clipped to [start, size).
            let mut expected: Vec<(u64, u64)> = Vec::new();
            for e in clipped.iter().filter(|e| e.kind == Data) {
                match expected.last_mut() {
                    Some((_, end)) if *end == e.offset => *end = e.end(),
                    _ => expected.push((e.offset, e.end())),
                }
            }
            prop_assert_eq!(data_from_items, expected);
            // Zero runs are maximal: never two in a row.
            for w in items.windows(2) {
                let both_zero = matches!((&w[0], &w[1]), (WorkItem::Zeros { .. }, WorkItem::Zeros { .. }));
                prop_assert!(!both_zero, "two zero runs in a row");
            }
        }
    }
}
