//! The NVRAM (UEFI variable store) copy a clone or restore writes next to
//! its disks.

use super::error::{JobError, journal_err, step};
use super::hosts::HostLink;
use super::journal::{Journal, Resource};
use super::undo::{Made, note};
use crate::remote::RemotePath;

/// Writes an NVRAM file at `dest` on `dst`, never overwriting (`set -C`).
/// It is recorded as an image of `pool` first, so an undo removes it like
/// the disks.
pub async fn write_nvram(
    dst: &HostLink,
    pool: &str,
    dest: &str,
    data: &[u8],
    made: &mut Made,
    journal: &mut Journal,
) -> Result<(), JobError> {
    use tokio::io::AsyncWriteExt;
    let to = RemotePath::new(dest).map_err(step("copying NVRAM"))?;
    let dst = dst.fresh().await?;
    let file = Resource::Image {
        host: dst.name.clone(),
        path: to.as_str().into(),
        pool: pool.to_string(),
    };
    note(journal, made, file.clone()).map_err(journal_err)?;
    made.nvram = Some(file);
    let write = format!(
        "set -C; umask 077; cat > {}",
        crate::transport::quote::quote(to.as_str())
    );
    let mut stream = dst
        .session
        .exec_stream(&write)
        .await
        .map_err(step("writing the NVRAM copy"))?;
    stream
        .write_all(data)
        .await
        .map_err(step("writing the NVRAM copy"))?;
    let exit = stream
        .finish()
        .await
        .map_err(step("writing the NVRAM copy"))?;
    if !exit.success() {
        return Err(JobError::Step {
            step: "writing the NVRAM copy",
            message: exit.describe(),
        });
    }
    Ok(())
}
