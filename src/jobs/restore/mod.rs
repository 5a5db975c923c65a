//! Restore: a repository snapshot back onto a host, as a new VM (new name,
//! UUID and MACs) or, with `keep_identity`, as the same machine for
//! disaster recovery. The same pre-flight checks as a clone (the snapshot
//! stands in for the source host), fresh images written over NBD with holes
//! left as holes, the rewritten domain defined last, everything undone on
//! failure or cancel (docs/restore.md).
//!
//! - [`facts`]: what the snapshot says about the VM, as validation facts.
//! - [`checks`]: the restore's own checklist items.
//! - [`run`]: the job.

pub mod checks;
pub mod facts;
pub mod run;

pub use crate::model::reports::RestoreReport;
pub use crate::model::requests::{RestoreRequest, default_name};
