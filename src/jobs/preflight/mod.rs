//! Pre-flight validation of a job (clone and restore today): every check that can fail before a
//! clone starts, as a checklist of pass / warn / fail items
//! ([`ValidationReport`]). A fail blocks the start. docs/validation.md lists
//! every check id and the JSON shape.
//!
//! Two halves, so each rule is testable without hosts:
//! - fact gathering ([`gather`]): libvirt calls on each host's
//!   [`HostWorker`](crate::libvirt::HostWorker) thread and one SSH round trip
//!   ([`probe`]) for what libvirt does not know (files, bridges, programs,
//!   real free space). Read-only on both hosts.
//! - pure checks ([`check`]) over those [`Facts`].
//!
//! [`targets`] holds the path rule for the clone's files; the clone job
//! uses the same functions, so what is checked is what gets written.

mod checks;
mod derive;
pub mod domcaps;
mod error;
pub mod facts;
mod gather;
pub mod probe;
mod request;
pub mod targets;

pub use crate::model::checklist::{CheckItem, CheckStatus, ValidationReport, ids};
pub use error::ValidationError;
pub use facts::{DestFacts, Facts, NetworkFact, PoolFacts, RunningLoad, SourceFacts};
pub use gather::{gather, gather_dest};
pub use request::{
    DEFAULT_SPACE_MARGIN, DEFAULT_VCPU_RATIO, MAX_NAME_LEN, ValidationRequest, name_problem,
};
pub use targets::{
    PlanError, PlannedDisk, PlannedNvram, TargetPlan, disk_path, nvram_path, plan_targets,
};

use crate::libvirt::HostWorker;
use crate::model::checklist::CheckStatus as Status;
use crate::transport::Session;

/// The checks over gathered facts. Pure.
pub fn check(req: &ValidationRequest, facts: &Facts) -> ValidationReport {
    checks::run(req, facts)
}

/// The checks on the request alone (name, options); they need no host.
pub fn check_request(req: &ValidationRequest) -> ValidationReport {
    let mut r = ValidationReport::default();
    r.push(request::check_name(req));
    r.push(request::check_options(req));
    r
}

/// Validates a clone from `source` to `dest`. An invalid request (name,
/// options) is reported without touching either host; otherwise the facts
/// are gathered and every check runs. Err only when a host cannot be asked.
pub async fn validate(
    source: &HostWorker,
    dest: &HostWorker,
    dest_ssh: &Session,
    req: &ValidationRequest,
) -> Result<ValidationReport, ValidationError> {
    let pre = check_request(req);
    if pre.items.iter().any(|i| i.status == Status::Fail) {
        return Ok(pre);
    }
    let facts = gather(source, dest, dest_ssh, req).await?;
    Ok(check(req, &facts))
}

/// The destination paths the clone will create, as validation planned
/// them: `None` when the facts give no plan (no VM or no usable pool).
pub fn planned_targets(
    req: &ValidationRequest,
    facts: &Facts,
) -> Option<Result<TargetPlan, PlanError>> {
    let vm = facts.source.vm.as_ref()?;
    derive::derive(req, vm, facts.dest.pool.as_ref()).plan
}
