//! The restore's own checklist items, beside the clone's: every chunk the
//! snapshot references is in the repository, and (keeping the identity)
//! no domain on the destination has the snapshot's UUID.

use crate::model::CheckItem;
use crate::repo::{Manifest, Repo, RepoError};

/// Check ids of the restore's own items (docs/validation.md).
pub mod ids {
    pub const SNAPSHOT_CHUNKS: &str = "snapshot_chunks";
    pub const DEST_UUID_FREE: &str = "dest_uuid_free";
}

/// Whether every chunk the snapshot references exists (a cheap `stat`
/// each; their contents are checked as the copy reads them). Blocking.
pub fn chunks_present(repo: &Repo, snapshot: &str, m: &Manifest) -> Result<CheckItem, RepoError> {
    const TITLE: &str = "Snapshot data";
    let mut missing = Vec::new();
    let mut count = 0u64;
    for disk in &m.disks {
        for c in &disk.chunks {
            count += 1;
            if !repo.has_chunk(&c.id)? {
                let (offset, _) = disk.chunk_range(c.index);
                missing.push(format!("disk {} at offset {offset}", disk.target));
            }
        }
    }
    if let Some(id) = m.nvram.as_ref().and_then(|n| n.chunk) {
        count += 1;
        if !repo.has_chunk(&id)? {
            missing.push("the NVRAM".to_string());
        }
    }
    Ok(if missing.is_empty() {
        CheckItem::pass(
            ids::SNAPSHOT_CHUNKS,
            TITLE,
            format!("all {count} chunks of snapshot {snapshot} are in the repository"),
        )
    } else {
        let shown: Vec<&str> = missing.iter().take(5).map(String::as_str).collect();
        let more = missing.len().saturating_sub(shown.len());
        CheckItem::fail(
            ids::SNAPSHOT_CHUNKS,
            TITLE,
            format!(
                "{} of {count} chunks of snapshot {snapshot} are missing: {}{}",
                missing.len(),
                shown.join(", "),
                if more > 0 {
                    format!(" and {more} more")
                } else {
                    String::new()
                }
            ),
            "the repository is damaged: run `kvm-clone verify --repo PATH` and restore an older snapshot",
        )
    })
}

/// With `keep_identity`: the destination must not already know the UUID.
pub fn uuid_free(uuid: &str, taken_by: Option<&str>, host: &str) -> CheckItem {
    const TITLE: &str = "UUID on destination";
    match taken_by {
        Some(name) => CheckItem::fail(
            ids::DEST_UUID_FREE,
            TITLE,
            format!("domain {name:?} on {host} already has UUID {uuid}"),
            format!(
                "restore under a new identity (without --keep-identity), or remove {name} \
                 on {host} first"
            ),
        ),
        None => CheckItem::pass(
            ids::DEST_UUID_FREE,
            TITLE,
            format!("no domain on {host} has UUID {uuid}"),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::CheckStatus;

    #[test]
    fn uuid_item_names_the_domain_that_has_it() {
        let i = uuid_free("u-1", Some("web01"), "beta");
        assert_eq!(i.status, CheckStatus::Fail);
        assert!(i.message.contains("\"web01\"") && i.message.contains("u-1"));
        assert_eq!(uuid_free("u-1", None, "beta").status, CheckStatus::Pass);
    }
}
