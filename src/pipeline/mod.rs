//! The block copy pipeline every data-moving job runs: a [`BlockSource`]
//! to a [`BlockSink`], with stages between them (throttle, hash, progress)
//! and retry/resume around them. See `docs/pipeline.md`.
//!
//! - [`source`], [`sink`]: the traits; [`DiscardSink`] for hashing.
//! - [`pool`], [`nbd_source`], [`nbd_sink`]: NBD implementations over a
//!   round-robin pool of [`crate::nbd::NbdClient`]s; [`snapshot_source`]:
//!   a disk of a repository snapshot.
//! - [`chunk_plan`], [`chunk_source`], [`chunk_store`]: export's ends: a
//!   disk read through its chunk plan (only changed chunks are data) into
//!   the repository's chunk store.
//! - [`engine`]: [`CopyJob`], the copy itself; [`plan`] turns the
//!   allocation map into windows; `window` copies one; `state` keeps
//!   what is done across reconnects in a [`ranges::RangeSet`].
//! - [`throttle`], [`hash`], [`progress`]: the stages.
//! - [`retry`]: backoff policy; [`error`]: typed errors.

pub mod chunk_plan;
pub mod chunk_source;
pub mod chunk_store;
pub mod engine;
pub mod error;
pub mod hash;
pub mod nbd_sink;
pub mod nbd_source;
pub mod plan;
pub mod pool;
pub mod progress;
pub mod ranges;
pub mod retry;
pub mod sink;
pub mod snapshot_source;
pub mod source;
mod state;
pub mod throttle;
mod window;

#[cfg(test)]
mod chunk_tests;
#[cfg(test)]
mod mem;
#[cfg(test)]
mod tests;

pub use chunk_source::{DiskPlan, PlanInputs, PlannedSource};
pub use chunk_store::{ChunkLedger, ChunkStoreSink, LedgerTotals};
pub use engine::{CopyJob, CopyOptions, CopyOutcome, no_reconnect};
pub use error::{BlockError, CopyError, Op};
pub use hash::{DIGEST_BLOCK, Digest};
pub use nbd_sink::NbdSink;
pub use nbd_source::NbdSource;
pub use pool::{DEFAULT_CONNECTIONS, NbdPool};
pub use progress::{Progress, ProgressSnapshot, RateEstimator, RetryEvent};
pub use ranges::RangeSet;
pub use retry::RetryPolicy;
pub use sink::{BlockSink, DiscardSink};
pub use snapshot_source::SnapshotSource;
pub use source::BlockSource;
pub use throttle::Throttle;
