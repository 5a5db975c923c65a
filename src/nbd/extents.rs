//! Allocation map of an export: `NBD_CMD_BLOCK_STATUS` walked across a
//! range and merged into data / zero / hole extents.

use super::client::NbdClient;
use super::error::NbdError;
use super::proto::transmission::BlockStatusDescriptor;
use super::proto::{STATE_HOLE, STATE_ZERO};

/// Largest range asked for in one `NBD_CMD_BLOCK_STATUS` (a multiple of
/// any legal minimum block size).
pub const BLOCK_STATUS_STEP: u32 = 1 << 30;

/// How a region reads and whether it is allocated.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ExtentKind {
    /// Contents must be read (also: unknown, or a hole not known to read
    /// as zeros).
    Data,
    /// Allocated, but reads as zeros.
    Zero,
    /// Unallocated and reads as zeros.
    Hole,
}

impl ExtentKind {
    /// Maps `base:allocation` flags. A hole without `NBD_STATE_ZERO` may
    /// read as anything, so it is data to a copier.
    pub fn from_flags(flags: u32) -> Self {
        match (flags & STATE_HOLE != 0, flags & STATE_ZERO != 0) {
            (true, true) => ExtentKind::Hole,
            (false, true) => ExtentKind::Zero,
            _ => ExtentKind::Data,
        }
    }

    /// Whether the region reads as zeros (no need to read it).
    pub fn reads_as_zero(self) -> bool {
        self != ExtentKind::Data
    }
}

/// One region of an export.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Extent {
    pub offset: u64,
    pub length: u64,
    pub kind: ExtentKind,
}

impl Extent {
    pub fn end(&self) -> u64 {
        self.offset + self.length
    }

    /// The part of this extent within `[start, end)` (it must overlap).
    pub fn clipped(&self, start: u64, end: u64) -> Extent {
        let s = self.offset.max(start);
        Extent {
            offset: s,
            length: self.end().min(end) - s,
            kind: self.kind,
        }
    }
}

/// Walks `offset..offset+length` batch by batch, so a caller can act on
/// extents without holding the whole map. Adjacent extents of one kind are
/// merged, also across batches.
#[derive(Debug)]
pub struct ExtentWalker<'a> {
    client: &'a NbdClient,
    pos: u64,
    end: u64,
    /// The last extent seen, held back in case the next one extends it.
    carry: Option<Extent>,
}

impl<'a> ExtentWalker<'a> {
    pub fn new(client: &'a NbdClient, offset: u64, length: u64) -> Result<Self, NbdError> {
        let size = client.size();
        let end = offset
            .checked_add(length)
            .filter(|&end| end <= size)
            .ok_or(NbdError::OutOfBounds {
                offset,
                length,
                size,
            })?;
        Ok(Self {
            client,
            pos: offset,
            end,
            carry: None,
        })
    }

    /// The next merged extents, or `None` when the range is done.
    pub async fn next_batch(&mut self) -> Result<Option<Vec<Extent>>, NbdError> {
        if self.pos >= self.end {
            return Ok(self.carry.take().map(|e| vec![e]));
        }
        let remaining = self.end - self.pos;
        if !self.client.info().has_allocation() {
            // Without allocation information everything must be copied.
            self.pos = self.end;
            return Ok(Some(vec![Extent {
                offset: self.end - remaining,
                length: remaining,
                kind: ExtentKind::Data,
            }]));
        }
        let step = u32::try_from(remaining)
            .unwrap_or(u32::MAX)
            .min(BLOCK_STATUS_STEP);
        let descs = self.client.block_status(self.pos, step).await?;
        let mut out = Vec::with_capacity(descs.len());
        self.absorb(&descs, &mut out);
        Ok(Some(out))
    }

    /// Appends `descs` (validated: non-empty, non-zero lengths, sum within
    /// the request) starting at `self.pos`, keeping the tail in `carry`.
    fn absorb(&mut self, descs: &[BlockStatusDescriptor], out: &mut Vec<Extent>) {
        for d in descs {
            let e = Extent {
                offset: self.pos,
                length: u64::from(d.length),
                kind: ExtentKind::from_flags(d.flags),
            };
            self.pos += e.length;
            match &mut self.carry {
                Some(c) if c.kind == e.kind && c.end() == e.offset => c.length += e.length,
                carry => {
                    if let Some(prev) = carry.replace(e) {
                        out.push(prev);
                    }
                }
            }
        }
    }
}

/// The merged allocation map of `offset..offset+length`. Without
/// `base:allocation` the whole range is one [`ExtentKind::Data`] extent.
pub async fn extents(
    client: &NbdClient,
    offset: u64,
    length: u64,
) -> Result<Vec<Extent>, NbdError> {
    let mut walker = ExtentWalker::new(client, offset, length)?;
    let mut all: Vec<Extent> = Vec::new();
    while let Some(batch) = walker.next_batch().await? {
        for e in batch {
            match all.last_mut() {
                Some(last) if last.kind == e.kind && last.end() == e.offset => {
                    last.length += e.length
                }
                _ => all.push(e),
            }
        }
    }
    Ok(all)
}

/// A region of an export with the raw flags of one meta context.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct StatusExtent {
    pub offset: u64,
    pub length: u64,
    pub flags: u32,
}

/// The status map of meta context `context` (e.g. a dirty bitmap) over
/// `offset..offset+length`, adjacent regions with equal flags merged.
/// Asks in steps of at most [`BLOCK_STATUS_STEP`]; callers bound `length`
/// to keep the map small.
pub async fn status_map(
    client: &NbdClient,
    context: u32,
    offset: u64,
    length: u64,
) -> Result<Vec<StatusExtent>, NbdError> {
    let size = client.size();
    let end = offset
        .checked_add(length)
        .filter(|&end| end <= size)
        .ok_or(NbdError::OutOfBounds {
            offset,
            length,
            size,
        })?;
    let mut out: Vec<StatusExtent> = Vec::new();
    let mut pos = offset;
    while pos < end {
        let step = u32::try_from(end - pos)
            .unwrap_or(u32::MAX)
            .min(BLOCK_STATUS_STEP);
        let descs = client.block_status_of(context, pos, step).await?;
        for d in descs {
            let e = StatusExtent {
                offset: pos,
                length: u64::from(d.length),
                flags: d.flags,
            };
            pos += e.length;
            match out.last_mut() {
                Some(last) if last.flags == e.flags && last.offset + last.length == e.offset => {
                    last.length += e.length
                }
                _ => out.push(e),
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_from_flags() {
        assert_eq!(ExtentKind::from_flags(0), ExtentKind::Data);
        assert_eq!(ExtentKind::from_flags(STATE_HOLE), ExtentKind::Data);
        assert_eq!(ExtentKind::from_flags(STATE_ZERO), ExtentKind::Zero);
        assert_eq!(
            ExtentKind::from_flags(STATE_HOLE | STATE_ZERO | 0x10),
            ExtentKind::Hole
        );
    }
}
