//! The pure checks: each turns facts into one checklist item. No I/O.

mod network;
mod platform;
mod resources;
mod source;
mod storage;
#[cfg(test)]
mod tests;

use super::derive::{self, Derived};
use super::domcaps::{DomainCaps, parse_domcaps};
use super::facts::Facts;
use super::request::{ValidationRequest, check_name, check_options};
use crate::model::VmInfo;
use crate::model::checklist::{CheckStatus, ValidationReport};

/// What every VM-dependent check reads.
pub(super) struct Ctx<'a> {
    pub req: &'a ValidationRequest,
    pub facts: &'a Facts,
    pub vm: &'a VmInfo,
    pub derived: Derived,
    /// The destination's capabilities for this VM; Err is libvirt's refusal
    /// or a parse error.
    pub dest_caps: Option<Result<DomainCaps, String>>,
    pub source_caps: Option<DomainCaps>,
}

/// Runs every check that the facts allow. Items whose facts are missing
/// (no source VM, no usable pool) are left out; their cause has failed.
pub fn run(req: &ValidationRequest, facts: &Facts) -> ValidationReport {
    let mut r = ValidationReport::default();
    let name = check_name(req);
    let name_ok = name.status != CheckStatus::Fail;
    r.push(name);
    r.push(check_options(req));
    if name_ok {
        r.push(storage::name_free(req, facts));
    }
    r.push(storage::pool(req, facts));
    r.push(source::vm_exists(req, facts));

    let Some(vm) = &facts.source.vm else {
        r.order();
        return r;
    };
    let ctx = Ctx {
        req,
        facts,
        vm,
        derived: derive::derive(req, vm, facts.dest.pool.as_ref()),
        dest_caps: facts
            .dest
            .domcaps
            .clone()
            .map(|c| c.and_then(|xml| parse_domcaps(&xml).map_err(|e| e.to_string()))),
        source_caps: facts
            .source
            .domcaps
            .as_ref()
            .and_then(|c| c.as_ref().ok())
            .and_then(|xml| parse_domcaps(xml).ok()),
    };
    r.push(source::state(&ctx));
    r.push(source::disks(&ctx));
    if name_ok {
        if let Some(item) = storage::paths_free(&ctx) {
            r.push(item);
        }
    }
    if let Some(item) = storage::space(&ctx) {
        r.push(item);
    }
    r.push(storage::shared_disks(&ctx));
    r.push(resources::memory(&ctx));
    r.push(resources::vcpus(&ctx));
    r.push(network::networks(&ctx));
    r.push(network::bridges(&ctx));
    r.push(platform::hypervisor(&ctx));
    r.push(platform::cpu(&ctx));
    r.push(platform::firmware(&ctx));
    r.push(platform::tpm(&ctx));
    r.order();
    r
}

/// Binary sizes as operators read them: "300 MiB".
pub(super) fn size(bytes: u64) -> String {
    humansize::format_size(bytes, humansize::BINARY)
}

/// "a, b and c".
pub(super) fn list(items: &[String]) -> String {
    match items {
        [] => String::new(),
        [one] => one.clone(),
        [init @ .., last] => format!("{} and {last}", init.join(", ")),
    }
}
