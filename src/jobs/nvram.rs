//! The NVRAM (UEFI variable store): read from the source (clone, export)
//! and written next to the disks (clone, restore).

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

/// The variable store at `source` on `host`. A store libvirt derives
/// (`derived`: firmware='efi' with no `<nvram>`) exists only once the
/// domain has run: None then, and libvirt makes one from its template at
/// the copy's first start, as it would have for the source.
pub async fn read_nvram(
    host: &HostLink,
    source: &str,
    derived: bool,
) -> Result<Option<Vec<u8>>, JobError> {
    use crate::transport::quote::Command;
    let from = RemotePath::new(source).map_err(step("reading the source NVRAM"))?;
    let host = host.fresh().await?;
    if derived {
        let test = Command::new("test").arg("-e").arg(from.as_str()).build();
        let out = host
            .session
            .exec(&test)
            .await
            .map_err(step("reading the source NVRAM"))?;
        if out.status != Some(0) {
            tracing::info!("no variable store at {source} yet (the domain never ran)");
            return Ok(None);
        }
    }
    let read = Command::new("cat").arg("--").arg(from.as_str()).build();
    let data = host
        .session
        .exec(&read)
        .await
        .and_then(|o| o.check(&read))
        .map_err(step("reading the source NVRAM"))?
        .stdout;
    Ok(Some(data))
}
