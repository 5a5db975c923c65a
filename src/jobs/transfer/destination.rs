//! The destination side of a copy (clone and restore): a run directory,
//! one fresh image per disk in the pool, each exported writable over NBD.
//! Every piece is in the journal and in `made` before the next one starts,
//! so a failure at any point is undone.

use super::{Endpoint, start_sink};
use crate::jobs::error::{JobError, journal_err, step, taken_after_checks};
use crate::jobs::hosts::HostLink;
use crate::jobs::journal::{Journal, Resource};
use crate::jobs::preflight::PlannedDisk;
use crate::jobs::undo::{Made, note};
use crate::model::checklist::ids;
use crate::remote::qemu_nbd::ExportSpec;
use crate::remote::{Image, RemoteError, RunDir};

/// Creates `disks` (each with its virtual size) in `pool` on `dst` and
/// returns their writable NBD endpoints, in the same order.
pub async fn prepare_sinks<'a>(
    dst: &HostLink,
    tag: &str,
    pool: &str,
    disks: impl IntoIterator<Item = (&'a PlannedDisk, u64)>,
    made: &mut Made,
    journal: &mut Journal,
) -> Result<Vec<Endpoint>, JobError> {
    let dst_dir = RunDir::create(dst.session.clone(), tag)
        .await
        .map_err(step("preparing the destination"))?;
    note(
        journal,
        made,
        Resource::RemoteDir {
            host: dst.name.clone(),
            path: dst_dir.path().as_str().into(),
        },
    )
    .map_err(journal_err)?;
    // Kept in `made` from here on, so a failure below removes it.
    made.dst_dir = Some(dst_dir);
    let mut sinks = Vec::new();
    for (d, capacity) in disks {
        let file = d.path.rsplit('/').next().unwrap_or(&d.path).to_string();
        let image = Image::create(
            dst.session.clone(),
            dst.worker.clone(),
            pool,
            &file,
            d.format,
            capacity,
        )
        .await
        .map_err(|e| match e {
            RemoteError::Exists { path, .. } => taken_after_checks(
                ids::DEST_PATHS_FREE,
                "Target files",
                format!("{path} appeared on {}", dst.name),
            ),
            e => step("creating the destination image")(e),
        })?;
        note(
            journal,
            made,
            Resource::Image {
                host: dst.name.clone(),
                path: image.path().as_str().into(),
                pool: pool.to_string(),
            },
        )
        .map_err(journal_err)?;
        let export = ExportSpec::writable(image.path().clone(), d.format, &d.target);
        made.images.push(image);
        let Some(dir) = made.dst_dir.as_ref() else {
            return Err(JobError::Step {
                step: "preparing the destination",
                message: "the run directory is gone".into(),
            });
        };
        let nbd = start_sink(dir, export)
            .await
            .map_err(step("exporting the destination image"))?;
        sinks.push(Endpoint {
            conn: dst.conn.clone(),
            socket: nbd.socket().clone(),
            export: nbd.export_name().to_string(),
        });
        made.dst_nbd.push(nbd);
    }
    Ok(sinks)
}
