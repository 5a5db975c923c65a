//! Source checks: the VM exists, its state allows a copy, its disks can be copied.

use super::{Ctx, list, size};
use crate::jobs::preflight::facts::Facts;
use crate::jobs::preflight::request::ValidationRequest;
use crate::libvirt::domain::DiskSource;
use crate::model::VmState;
use crate::model::checklist::{CheckItem, ids};

pub(super) fn vm_exists(req: &ValidationRequest, facts: &Facts) -> CheckItem {
    const TITLE: &str = "Source VM";
    let host = &facts.source_host;
    match (&facts.source.vm, &facts.source.vm_error) {
        (Some(vm), _) => CheckItem::pass(
            ids::SOURCE_VM_EXISTS,
            TITLE,
            format!(
                "{} on {host}: {}, {} vCPU, {}, {} disk(s), {} NIC(s)",
                vm.name,
                vm.state.label(),
                vm.vcpus,
                size(vm.memory_bytes),
                vm.disks.len(),
                vm.nics.len()
            ),
        ),
        (None, Some(err)) => CheckItem::fail(
            ids::SOURCE_VM_EXISTS,
            TITLE,
            format!("{} on {host} cannot be read: {err}", req.vm),
            format!("check the domain with `virsh dumpxml {}` on {host}", req.vm),
        ),
        (None, None) => CheckItem::fail(
            ids::SOURCE_VM_EXISTS,
            TITLE,
            format!("there is no VM named {:?} on {host}", req.vm),
            format!(
                "check the name: `kvm-clone vms --host {host}` or `virsh list --all` on {host} lists them"
            ),
        ),
    }
}

pub(super) fn state(ctx: &Ctx) -> CheckItem {
    const TITLE: &str = "Source state";
    let (vm, host) = (ctx.vm, &ctx.facts.source_host);
    let reason = vm.live_clone.reason.as_deref().unwrap_or("not possible");
    match vm.state {
        // The profile's live policy shuts a running source down, live or not.
        VmState::Running if ctx.req.allow_shutdown => CheckItem::warn(
            ids::SOURCE_STATE,
            TITLE,
            format!(
                "{} on {host} is running; the profile shuts it down (gracefully) for an \
                 offline copy",
                vm.name
            ),
            "plan the downtime, or pick a profile with live = \"live\"",
        ),
        VmState::Paused | VmState::Suspended if ctx.req.allow_shutdown => CheckItem::fail(
            ids::SOURCE_STATE,
            TITLE,
            format!(
                "{} on {host} is {}: the profile shuts the source down, but a {} guest \
                 cannot act on a shutdown request",
                vm.name,
                vm.state.label(),
                vm.state.label()
            ),
            format!(
                "resume it (`virsh resume {}`) or shut it down first",
                vm.name
            ),
        ),
        VmState::Running | VmState::Paused if vm.live_clone.possible => CheckItem::pass(
            ids::SOURCE_STATE,
            TITLE,
            format!(
                "{} is {}: live clone through a libvirt backup job, no downtime",
                vm.name,
                vm.state.label()
            ),
        ),
        VmState::ShutOff => CheckItem::pass(
            ids::SOURCE_STATE,
            TITLE,
            format!("{} is shut off: offline copy", vm.name),
        ),
        VmState::Running | VmState::Paused | VmState::Suspended => CheckItem::fail(
            ids::SOURCE_STATE,
            TITLE,
            format!(
                "{} on {host} is {} and cannot be cloned live: {reason}",
                vm.name,
                vm.state.label()
            ),
            "shut the VM down first, or use a profile with live = \"shutdown-restart\"",
        ),
        VmState::Crashed | VmState::Other => CheckItem::fail(
            ids::SOURCE_STATE,
            TITLE,
            format!(
                "{} on {host} is {}: its disks are in no known state to copy",
                vm.name,
                vm.state.label()
            ),
            format!(
                "bring it to a clean state (`virsh destroy {}`, then start and shut it down) and retry",
                vm.name
            ),
        ),
    }
}

pub(super) fn disks(ctx: &Ctx) -> CheckItem {
    const TITLE: &str = "Source disks";
    let host = &ctx.facts.source_host;
    let summary = match ctx.derived.plannable() {
        Ok(s) => s,
        Err(e) => {
            return CheckItem::fail(
                ids::SOURCE_DISKS,
                TITLE,
                format!("the disks of {} cannot be read: {e}", ctx.vm.name),
                "fix the domain XML on the source (every disk needs a unique <target dev>)",
            );
        }
    };
    let mut problems = Vec::new();
    let mut copied = Vec::new();
    let mut kept = Vec::new();
    for disk in &summary.disks {
        if let Some(why) = disk.keep_reason() {
            kept.push(format!("{} ({why})", disk.target));
            continue;
        }
        let sized = ctx.vm.disks.iter().find(|d| d.target == disk.target);
        match &disk.source {
            DiskSource::Network { protocol, name } => problems.push(format!(
                "{} is a {protocol} network disk ({name}); only file, block and pool-volume disks can be copied",
                disk.target
            )),
            DiskSource::Dir(_) | DiskSource::Other(_) => problems.push(format!(
                "{} is a {}; only file, block and pool-volume disks can be copied",
                disk.target,
                disk.source.kind()
            )),
            DiskSource::Volume { pool, volume } if sized.and_then(|s| s.source.as_ref()).is_none() => {
                problems.push(format!(
                    "{}: volume {volume} of pool {pool} has no path on {host} (pool inactive?)",
                    disk.target
                ));
            }
            _ if disk.encrypted => problems.push(format!(
                "{} is encrypted; its secret lives on {host} and is not carried over",
                disk.target
            )),
            _ => {
                let (alloc, cap) = sized.map_or((0, 0), |s| (s.allocation_bytes, s.capacity_bytes));
                let chain = if disk.backing_chain {
                    ", backing chain flattened"
                } else {
                    ""
                };
                // A format change is said, never silent.
                let to = ctx.req.format.for_source(disk.format.as_deref());
                let from = disk.format.as_deref().unwrap_or("unknown format");
                let convert = if from == to.as_str() {
                    String::new()
                } else {
                    format!(", {from} → {to}")
                };
                copied.push(format!(
                    "{} ({} of {}{chain}{convert})",
                    disk.target,
                    size(alloc),
                    size(cap)
                ));
            }
        }
    }
    if !problems.is_empty() {
        return CheckItem::fail(
            ids::SOURCE_DISKS,
            TITLE,
            format!("{} cannot be cloned: {}", ctx.vm.name, problems.join("; ")),
            "move those disks to file or pool storage (or detach them) before cloning",
        );
    }
    let mut msg = if copied.is_empty() {
        "no disk to copy".to_string()
    } else {
        format!("to copy: {}", list(&copied))
    };
    if !kept.is_empty() {
        msg.push_str(&format!("; kept as they are: {}", list(&kept)));
    }
    CheckItem::pass(ids::SOURCE_DISKS, TITLE, msg)
}
