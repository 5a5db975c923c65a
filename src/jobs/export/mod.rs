//! The export job: a VM's disks read over NBD (a pull-mode backup for a
//! running VM, qemu-nbd for a shut-off one) into a repository
//! ([`crate::repo`]) as deduplicated, compressed, encrypted chunks, with
//! the domain XML and NVRAM, committed as one snapshot. docs/export.md.
//!
//! - [`crate::pipeline::chunk_plan`]: what to do with each chunk (pure).
//! - [`resume`]: the resume state of an interrupted export.
//! - [`run`]: the job itself.

pub mod resume;
pub mod run;

pub use crate::model::reports::{DiskReport, ExportReport};
pub use crate::model::requests::ExportRequest;

/// The profile an export uses unless told otherwise.
pub const DEFAULT_PROFILE: &str = "quick-backup";

/// An export fails as every job does ([`JobError`]): a failed check
/// (with the checklist), a cancel, or a named step.
pub use crate::jobs::error::JobError as ExportError;
