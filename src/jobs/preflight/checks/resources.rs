//! Destination memory and vCPUs: overcommit is a warning (the clone can be
//! defined, starting it may hurt); more vCPUs than the hypervisor allows is a
//! failure.

use super::{Ctx, size};
use crate::model::checklist::{CheckItem, ids};

/// The memory the clone may take: `<memory>` of its XML, else the inventory's.
fn clone_memory(ctx: &Ctx) -> u64 {
    match &ctx.derived.domain {
        Ok(g) if g.memory_bytes > 0 => g.memory_bytes,
        _ => ctx.vm.memory_bytes,
    }
}

pub(super) fn memory(ctx: &Ctx) -> CheckItem {
    const TITLE: &str = "Destination memory";
    let dest = &ctx.facts.dest;
    let host = &ctx.facts.dest_host;
    let vm = clone_memory(ctx);
    let total = dest.running.memory_bytes.saturating_add(vm);
    let load = format!(
        "{} running VM(s) use up to {}, the clone {}: {} of {} on {host}",
        dest.running.domains,
        size(dest.running.memory_bytes),
        size(vm),
        size(total),
        size(dest.memory_bytes)
    );
    if vm > dest.memory_bytes {
        CheckItem::warn(
            ids::DEST_MEMORY,
            TITLE,
            format!("the clone alone needs more memory than {host} has; {load}"),
            "lower the clone's memory after cloning, or pick a bigger host",
        )
    } else if total > dest.memory_bytes {
        CheckItem::warn(
            ids::DEST_MEMORY,
            TITLE,
            format!("{host} would be overcommitted if the clone runs: {load}"),
            "the clone can be defined; stop another VM or lower memory before starting it",
        )
    } else {
        CheckItem::pass(ids::DEST_MEMORY, TITLE, load)
    }
}

pub(super) fn vcpus(ctx: &Ctx) -> CheckItem {
    const TITLE: &str = "Destination vCPUs";
    let dest = &ctx.facts.dest;
    let host = &ctx.facts.dest_host;
    let vm = match &ctx.derived.domain {
        Ok(g) => g.vcpus,
        Err(_) => ctx.vm.vcpus,
    };
    let max = ctx
        .dest_caps
        .as_ref()
        .and_then(|c| c.as_ref().ok())
        .and_then(|c| c.vcpu_max);
    if let Some(max) = max.filter(|m| vm > *m) {
        return CheckItem::fail(
            ids::DEST_VCPUS,
            TITLE,
            format!(
                "the VM has {vm} vCPUs; the hypervisor on {host} allows at most {max} for this machine type"
            ),
            "lower the vCPU count on the source, or use a machine type with more",
        );
    }
    let ratio = ctx.req.vcpu_ratio;
    let limit = (f64::from(dest.cpus) * ratio).floor() as u64;
    let total = dest.running.vcpus + u64::from(vm);
    let load = format!(
        "running VMs use {} vCPU(s), the clone {vm}: {total} on {} host CPU(s) (limit {limit} at ratio {ratio})",
        dest.running.vcpus, dest.cpus
    );
    if u64::from(vm) > u64::from(dest.cpus) {
        CheckItem::warn(
            ids::DEST_VCPUS,
            TITLE,
            format!("the clone has more vCPUs than {host} has CPUs; {load}"),
            "lower the clone's vCPUs after cloning for predictable performance",
        )
    } else if total > limit {
        CheckItem::warn(
            ids::DEST_VCPUS,
            TITLE,
            format!("{host} would be overcommitted if the clone runs: {load}"),
            "the clone can be defined; expect contention, or stop another VM before starting it",
        )
    } else {
        CheckItem::pass(ids::DEST_VCPUS, TITLE, load)
    }
}
