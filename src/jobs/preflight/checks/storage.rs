//! Destination storage: the name and paths are free, the pool is usable and
//! has room, and the files the clone keeps pointing at exist there.

use super::{Ctx, list, size};
use crate::jobs::preflight::derive::{pool_dir, shared_paths};
use crate::jobs::preflight::facts::Facts;
use crate::jobs::preflight::probe::Probe;
use crate::jobs::preflight::request::ValidationRequest;
use crate::model::checklist::{CheckItem, ids};

/// After the copy the filesystem should keep at least this share of its
/// capacity free; less is "running low" (a warning).
pub(in crate::jobs::preflight) const LOW_SPACE_FRACTION: f64 = 0.10;

pub(super) fn name_free(req: &ValidationRequest, facts: &Facts) -> CheckItem {
    const TITLE: &str = "Name on destination";
    let host = &facts.dest_host;
    if facts.dest.name_taken {
        CheckItem::fail(
            ids::DEST_NAME_FREE,
            TITLE,
            format!("a domain named {:?} already exists on {host}", req.new_name),
            format!(
                "choose another name, or remove the existing domain on {host} first \
                 (`virsh undefine {}`)",
                req.new_name
            ),
        )
    } else {
        CheckItem::pass(
            ids::DEST_NAME_FREE,
            TITLE,
            format!("no domain named {:?} on {host}", req.new_name),
        )
    }
}

pub(super) fn pool(req: &ValidationRequest, facts: &Facts) -> CheckItem {
    const TITLE: &str = "Destination pool";
    let host = &facts.dest_host;
    let fail = |msg: String, hint: String| CheckItem::fail(ids::DEST_POOL, TITLE, msg, hint);
    let Some(pool) = &facts.dest.pool else {
        return fail(
            format!(
                "there is no storage pool named {:?} on {host}",
                req.dest_pool
            ),
            format!(
                "choose an existing pool (`virsh pool-list --all` on {host}) or create this one"
            ),
        );
    };
    if !pool.active {
        return fail(
            format!("pool {} on {host} exists but is not active", pool.name),
            format!(
                "start it: `virsh pool-start {}` on {host} (and `pool-autostart` to keep it so)",
                pool.name
            ),
        );
    }
    let Some(dir) = pool_dir(pool) else {
        let what = if pool.target_path.is_none() {
            format!("of type {} without a target directory", pool.pool_type)
        } else {
            format!("of type {}", pool.pool_type)
        };
        return fail(
            format!(
                "pool {} on {host} is {what}; clones go into directory pools only (dir, fs, netfs)",
                pool.name
            ),
            "choose a dir, fs or netfs pool on the destination".into(),
        );
    };
    CheckItem::pass(
        ids::DEST_POOL,
        TITLE,
        format!(
            "pool {} ({}) at {dir} on {host} is active",
            pool.name, pool.pool_type
        ),
    )
}

/// None when there is no plan to check (the pool check has failed).
pub(super) fn paths_free(ctx: &Ctx) -> Option<CheckItem> {
    const TITLE: &str = "Target files";
    let host = &ctx.facts.dest_host;
    let plan = match ctx.derived.plan.as_ref()? {
        Ok(plan) => plan,
        Err(e) => {
            return Some(CheckItem::fail(
                ids::DEST_PATHS_FREE,
                TITLE,
                format!("the clone's file names cannot be planned: {e}"),
                "choose another name or pool",
            ));
        }
    };
    let dest = &ctx.facts.dest;
    let mut taken = Vec::new();
    let mut unknown = Vec::new();
    for path in plan.paths() {
        let is_volume = dest.existing_volumes.contains(&path);
        match (is_volume, dest.probes.yes(&Probe::Exists(path.clone()))) {
            (true, _) => taken.push(format!("{path} (a libvirt volume)")),
            (false, Some(true)) => taken.push(path),
            (false, Some(false)) => {}
            (false, None) => unknown.push(path),
        }
    }
    let item = if !taken.is_empty() {
        CheckItem::fail(
            ids::DEST_PATHS_FREE,
            TITLE,
            format!(
                "the clone would overwrite existing files on {host}: {}",
                list(&taken)
            ),
            "choose another name, or move those files away on the destination first",
        )
    } else if !unknown.is_empty() {
        CheckItem::warn(
            ids::DEST_PATHS_FREE,
            TITLE,
            format!(
                "could not check on {host} whether these exist: {}",
                list(&unknown)
            ),
            "check them by hand before starting",
        )
    } else if plan.paths().is_empty() {
        CheckItem::pass(ids::DEST_PATHS_FREE, TITLE, "the clone creates no files")
    } else {
        CheckItem::pass(
            ids::DEST_PATHS_FREE,
            TITLE,
            format!("free on {host}: {}", list(&plan.paths())),
        )
    };
    Some(item)
}

/// Free space against allocation × margin. Fail below the requirement; warn
/// when the copy fits but leaves the filesystem low (under
/// [`LOW_SPACE_FRACTION`] of its capacity free), or when the disks could
/// later grow past the free space. None when there is no usable pool.
pub(super) fn space(ctx: &Ctx) -> Option<CheckItem> {
    const TITLE: &str = "Destination space";
    let pool = ctx.facts.dest.pool.as_ref().filter(|p| p.active)?;
    pool_dir(pool)?;
    let plan = ctx.derived.plan.as_ref()?.as_ref().ok()?;
    let host = &ctx.facts.dest_host;
    let margin = ctx.req.space_margin;
    let allocation = plan.allocation_bytes();
    let required = (allocation as f64 * margin).ceil();
    let usable = pool.usable_bytes();
    let mut free = format!("{} free", size(usable));
    if pool
        .fs_available_bytes
        .is_some_and(|fs| fs < pool.available_bytes)
    {
        free.push_str(&format!(
            " (libvirt reports {}, counting blocks the filesystem reserves)",
            size(pool.available_bytes)
        ));
    }
    let need = format!(
        "the copy needs about {} (source allocation {} × margin {margin})",
        size_f(required),
        size(allocation)
    );
    if (usable as f64) < required {
        return Some(CheckItem::fail(
            ids::DEST_SPACE,
            TITLE,
            format!("pool {} on {host} has {free}; {need}", pool.name),
            "free space in the pool, choose another pool, or (if you accept the risk) \
             lower the space margin, which must stay ≥ 1.0",
        ));
    }
    let mut low = Vec::new();
    let after = usable.saturating_sub(allocation);
    let floor = (pool.capacity_bytes as f64 * LOW_SPACE_FRACTION) as u64;
    if pool.capacity_bytes > 0 && after < floor {
        low.push(format!(
            "after the copy only {} of {} would be free",
            size(after),
            size(pool.capacity_bytes)
        ));
    }
    let growth = plan.capacity_bytes().saturating_sub(allocation);
    if growth > after {
        low.push(format!(
            "the disks can grow to {} (virtual size{}), more than the pool can hold",
            size(plan.capacity_bytes()),
            if plan.disks.iter().any(|d| d.backing_chain) {
                "; flattening a backing chain may also copy more than the allocation"
            } else {
                ""
            }
        ));
    }
    Some(if low.is_empty() {
        CheckItem::pass(
            ids::DEST_SPACE,
            TITLE,
            format!("pool {} on {host} has {free}; {need}", pool.name),
        )
    } else {
        CheckItem::warn(
            ids::DEST_SPACE,
            TITLE,
            format!(
                "pool {} on {host} is running low: {}; {free}",
                pool.name,
                low.join("; ")
            ),
            "the copy fits, but free space in the pool soon or the guests may stop on full disks",
        )
    })
}

pub(super) fn shared_disks(ctx: &Ctx) -> CheckItem {
    const TITLE: &str = "Shared disks";
    let host = &ctx.facts.dest_host;
    let Ok(summary) = ctx.derived.plannable() else {
        return CheckItem::pass(ids::SHARED_DISKS, TITLE, "no disks to look at");
    };
    let paths = shared_paths(summary);
    if paths.is_empty() {
        return CheckItem::pass(
            ids::SHARED_DISKS,
            TITLE,
            "the clone refers to no file of the source host",
        );
    }
    let probes = &ctx.facts.dest.probes;
    let missing: Vec<String> = paths
        .iter()
        .filter(|p| probes.yes(&Probe::Exists((*p).clone())) != Some(true))
        .cloned()
        .collect();
    if missing.is_empty() {
        CheckItem::pass(
            ids::SHARED_DISKS,
            TITLE,
            format!("kept disk files exist on {host}: {}", list(&paths)),
        )
    } else if ctx.req.start {
        // Asked to start, it would fail for certain: better now than after
        // the copy.
        CheckItem::fail(
            ids::SHARED_DISKS,
            TITLE,
            format!(
                "the clone is to be started but keeps pointing at {}, missing on {host}: it cannot start",
                list(&missing)
            ),
            "copy those files to the same paths on the destination, eject/detach them, or clone without --start",
        )
    } else {
        CheckItem::warn(
            ids::SHARED_DISKS,
            TITLE,
            format!(
                "the clone keeps pointing at {}, missing on {host}: it will not start until they exist",
                list(&missing)
            ),
            "copy those files to the same paths on the destination, or eject/detach them from the clone",
        )
    }
}

fn size_f(bytes: f64) -> String {
    if bytes >= u64::MAX as f64 {
        "more than any disk holds".to_string()
    } else {
        size(bytes as u64)
    }
}
