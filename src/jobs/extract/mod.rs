//! Extract: one disk of a repository snapshot to a plain local image file,
//! with no host involved. A raw file is written sparse with `pwrite`; a
//! qcow2 file through a local `qemu-nbd` on a private unix socket and the
//! same NBD sink a restore uses. Written to a temp name beside the target,
//! renamed at the end without ever replacing a file; removed on failure or
//! cancel.
//!
//! - [`output`]: the temp file and the final no-replace rename.
//! - [`raw_file`]: the sparse raw sink.
//! - [`local_nbd`]: a qemu-nbd of this machine, for qcow2.

pub mod local_nbd;
pub mod output;
pub mod raw_file;

use crate::pipeline::{
    BlockError, CopyError, CopyJob, CopyOptions, NbdSink, Progress, SnapshotSource, no_reconnect,
};
use crate::repo::{Repo, RepoError, Unlock};
use output::TempOutput;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use tokio_util::sync::CancellationToken;

/// Image formats extract writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum OutFormat {
    Raw,
    Qcow2,
}

impl OutFormat {
    pub fn as_str(self) -> &'static str {
        match self {
            OutFormat::Raw => "raw",
            OutFormat::Qcow2 => "qcow2",
        }
    }

    /// From the output file's extension: `.qcow2`; `.raw`, `.img`.
    pub fn from_path(path: &Path) -> Option<OutFormat> {
        match path.extension()?.to_str()?.to_ascii_lowercase().as_str() {
            "qcow2" => Some(OutFormat::Qcow2),
            "raw" | "img" => Some(OutFormat::Raw),
            _ => None,
        }
    }

    pub fn parse(s: &str) -> Option<OutFormat> {
        match s {
            "raw" => Some(OutFormat::Raw),
            "qcow2" => Some(OutFormat::Qcow2),
            _ => None,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ExtractError {
    #[error(transparent)]
    Repo(#[from] RepoError),
    #[error("snapshot {snapshot} has no disk {disk:?} (it has: {have})")]
    NoSuchDisk {
        snapshot: String,
        disk: String,
        have: String,
    },
    #[error("{0} exists already; extract never replaces a file")]
    Exists(PathBuf),
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{what}: {message}")]
    Tool { what: &'static str, message: String },
    #[error("copying: {0}")]
    Copy(#[from] CopyError),
    #[error("cancelled; nothing was left at the output path")]
    Cancelled,
}

impl ExtractError {
    pub(crate) fn io(path: &Path) -> impl FnOnce(std::io::Error) -> ExtractError + '_ {
        move |source| ExtractError::Io {
            path: path.to_path_buf(),
            source,
        }
    }
}

/// What to extract, and where.
#[derive(Clone)]
pub struct ExtractRequest {
    pub repo: PathBuf,
    pub snapshot: String,
    /// Disk target, e.g. "vda".
    pub disk: String,
    pub out: PathBuf,
    pub format: OutFormat,
    pub unlock: Arc<Unlock>,
}

/// What an extract did (`--json` prints it).
#[derive(Debug, Clone, serde::Serialize)]
pub struct ExtractReport {
    pub snapshot: String,
    pub vm: String,
    pub disk: String,
    pub out: PathBuf,
    pub format: OutFormat,
    pub virtual_size: u64,
    /// Data bytes written (chunks the snapshot stores).
    pub bytes_written: u64,
    /// Bytes left as holes.
    pub bytes_skipped: u64,
}

/// Runs one extract. `progress` is updated as the copy goes.
pub async fn extract(
    req: &ExtractRequest,
    progress: Arc<Progress>,
    cancel: CancellationToken,
) -> Result<ExtractReport, ExtractError> {
    if tokio::fs::symlink_metadata(&req.out).await.is_ok() {
        return Err(ExtractError::Exists(req.out.clone()));
    }
    let (path, unlock, query) = (req.repo.clone(), req.unlock.clone(), req.snapshot.clone());
    let (repo, snap) = tokio::task::spawn_blocking(move || {
        let repo = Repo::open(&path, &unlock)?;
        let snap = repo.load_snapshot(&query)?;
        Ok::<_, RepoError>((Arc::new(repo), snap))
    })
    .await
    .map_err(|e| ExtractError::Tool {
        what: "opening the repository",
        message: e.to_string(),
    })??;
    let disk = snap
        .manifest
        .disks
        .iter()
        .find(|d| d.target == req.disk)
        .cloned()
        .ok_or_else(|| ExtractError::NoSuchDisk {
            snapshot: snap.id.to_string(),
            disk: req.disk.clone(),
            have: snap
                .manifest
                .disks
                .iter()
                .map(|d| d.target.as_str())
                .collect::<Vec<_>>()
                .join(", "),
        })?;
    let size = disk.virtual_size;
    let source = SnapshotSource::new(repo, Arc::new(disk));
    let job = CopyJob::new(CopyOptions {
        window: source.window(),
        ..CopyOptions::default()
    })
    .with_progress(progress)
    .with_cancel(cancel);
    let temp = TempOutput::new(&req.out)?;
    let stats = match req.format {
        OutFormat::Raw => {
            let sink = raw_file::RawFileSink::create(temp.path(), size)?;
            let out = run_copy(&job, source, sink).await?;
            out.sink.sync().await?;
            out.stats
        }
        OutFormat::Qcow2 => {
            let mut nbd = local_nbd::LocalNbd::create_qcow2(temp.path(), size).await?;
            let pool = nbd.pool(crate::pipeline::DEFAULT_CONNECTIONS).await?;
            let out = run_copy(&job, source, NbdSink::new(pool, true)).await?;
            let _ = out.sink.pool().close().await;
            nbd.stop().await?;
            out.stats
        }
    };
    temp.commit(&req.out)?;
    Ok(ExtractReport {
        snapshot: snap.id.to_string(),
        vm: snap.manifest.vm.clone(),
        disk: req.disk.clone(),
        out: req.out.clone(),
        format: req.format,
        virtual_size: size,
        bytes_written: stats.bytes_written,
        bytes_skipped: size.saturating_sub(stats.bytes_done),
    })
}

async fn run_copy<K: crate::pipeline::BlockSink>(
    job: &CopyJob,
    source: SnapshotSource,
    sink: K,
) -> Result<crate::pipeline::CopyOutcome<SnapshotSource, K>, ExtractError> {
    // Everything is local: a failure is never worth a reconnect.
    job.run(source, sink, no_reconnect::<SnapshotSource, K>())
        .await
        .map_err(|e| match e {
            CopyError::Cancelled => ExtractError::Cancelled,
            other => ExtractError::Copy(other),
        })
}

impl From<BlockError> for ExtractError {
    fn from(e: BlockError) -> Self {
        ExtractError::Tool {
            what: "connecting to the local qemu-nbd",
            message: e.to_string(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn format_from_extension() {
        assert_eq!(
            OutFormat::from_path(Path::new("/x/a.qcow2")),
            Some(OutFormat::Qcow2)
        );
        assert_eq!(
            OutFormat::from_path(Path::new("a.RAW")),
            Some(OutFormat::Raw)
        );
        assert_eq!(
            OutFormat::from_path(Path::new("a.img")),
            Some(OutFormat::Raw)
        );
        assert_eq!(OutFormat::from_path(Path::new("a.vmdk")), None);
        assert_eq!(OutFormat::from_path(Path::new("a")), None);
    }
}
