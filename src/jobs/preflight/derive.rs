//! What both fact gathering and the checks compute from the source VM and
//! the destination pool: the domain model and the target plan. Pure, and
//! one place, so the probes asked and the probes read always match.

use super::facts::PoolFacts;
use super::probe::Probe;
use super::request::ValidationRequest;
use super::targets::{PlanError, TargetPlan, plan_targets};
use crate::jobs::rewrite::{RewriteError, check_domain};
use crate::libvirt::domain::{DiskSource, DomainDef, parse_domain};
use crate::libvirt::pool_xml::volume_dir;
use crate::model::VmInfo;

pub(super) struct Derived {
    /// The source's domain XML, read once; Err: why it cannot be read.
    pub domain: Result<DomainDef, String>,
    /// Err: why the rewrite would refuse the domain (no name, a disk
    /// without a target or two with one), which leaves no disks to plan.
    rewritable: Result<(), String>,
    /// None when the pool gives no directory to plan in.
    pub plan: Option<Result<TargetPlan, PlanError>>,
}

impl Derived {
    /// The domain, when a clone can be planned from it.
    pub fn plannable(&self) -> Result<&DomainDef, &str> {
        self.rewritable.as_ref().map_err(String::as_str)?;
        self.domain.as_ref().map_err(String::as_str)
    }
}

/// The pool's directory, when the clone's path rule applies to it.
pub(super) fn pool_dir(pool: &PoolFacts) -> Option<&str> {
    volume_dir(&pool.pool_type, pool.target_path.as_deref())
}

pub(super) fn derive(req: &ValidationRequest, vm: &VmInfo, pool: Option<&PoolFacts>) -> Derived {
    let parsed = parse_domain(&vm.xml);
    // In the rewrite's words, which tell what to fix for the clone.
    let rewritable = match &parsed {
        Ok(d) => check_domain(d),
        Err(e) => Err(RewriteError::from(e.clone())),
    }
    .map_err(|e| e.to_string());
    let mut derived = Derived {
        domain: parsed.map_err(|e| e.to_string()),
        rewritable,
        plan: None,
    };
    if let (Ok(domain), Some(dir)) = (derived.plannable(), pool.and_then(pool_dir)) {
        derived.plan = Some(plan_targets(
            dir,
            &req.new_name,
            req.format,
            domain,
            &vm.disks,
        ));
    }
    derived
}

/// The destination probes the checks will read.
pub(super) fn probes(derived: &Derived, vm: &VmInfo, pool: Option<&PoolFacts>) -> Vec<Probe> {
    let mut p = Vec::new();
    if let Some(dir) = pool.and_then(pool_dir) {
        p.push(Probe::FreeSpace(dir.to_string()));
    }
    if let Some(Ok(plan)) = &derived.plan {
        p.extend(plan.paths().into_iter().map(Probe::Exists));
    }
    for nic in &vm.nics {
        match (nic.kind.as_str(), &nic.source) {
            ("bridge", Some(br)) => p.push(Probe::Bridge(br.clone())),
            ("direct", Some(dev)) => p.push(Probe::NetDev(dev.clone())),
            _ => {}
        }
    }
    if let Ok(g) = &derived.domain {
        if let Some(path) = g.loader.as_ref().and_then(|l| l.path.clone()) {
            p.push(Probe::Exists(path));
        }
        if let Some(t) = g.nvram.as_ref().and_then(|n| n.template.as_ref()) {
            p.push(Probe::Exists(t.clone()));
        }
        for tpm in &g.tpms {
            match (tpm.backend.as_str(), &tpm.device_path) {
                ("emulator", _) => p.push(Probe::Program(SWTPM.into())),
                ("passthrough", Some(dev)) => p.push(Probe::Exists(dev.clone())),
                _ => {}
            }
        }
    }
    if let Ok(summary) = derived.plannable() {
        p.extend(shared_paths(summary).into_iter().map(Probe::Exists));
    }
    p.sort();
    p.dedup();
    p
}

/// The swtpm binary libvirt runs for an emulated TPM.
pub(super) const SWTPM: &str = "swtpm";

/// Host paths of disks the clone keeps pointing at (ISOs, shared images):
/// they must exist on the destination for the clone to start.
pub(super) fn shared_paths(summary: &DomainDef) -> Vec<String> {
    summary
        .disks
        .iter()
        .filter(|d| d.keep_reason().is_some())
        .filter_map(|d| match &d.source {
            DiskSource::File(p) | DiskSource::Block(p) => Some(p.clone()),
            _ => None,
        })
        .collect()
}
