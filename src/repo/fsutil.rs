//! Atomic file creation and the fsyncs that make it durable.

use super::error::RepoError;
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

/// Prefix of temp files; readers skip them, prune removes stale ones.
pub const TEMP_PREFIX: &str = ".tmp-";

pub fn temp_path(dir: &Path) -> PathBuf {
    let tag: [u8; 8] = rand::random();
    dir.join(format!("{TEMP_PREFIX}{}", super::id::hex(&tag)))
}

/// Writes `bytes` to a fresh temp file in `dest`'s directory and renames it
/// over `dest`. With `durable`, the file is fsynced before the rename and
/// the directory after it.
pub fn write_atomic(dest: &Path, bytes: &[u8], durable: bool) -> Result<(), RepoError> {
    let dir = dest.parent().unwrap_or(Path::new("."));
    let tmp = temp_path(dir);
    let result = (|| {
        let mut f = OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&tmp)
            .map_err(RepoError::io(&tmp))?;
        f.write_all(bytes).map_err(RepoError::io(&tmp))?;
        if durable {
            f.sync_all().map_err(RepoError::io(&tmp))?;
        }
        drop(f);
        std::fs::rename(&tmp, dest).map_err(RepoError::io(dest))
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result?;
    if durable {
        sync_dir(dir)?;
    }
    Ok(())
}

pub fn sync_dir(dir: &Path) -> Result<(), RepoError> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(RepoError::io(dir))
}

/// Flushes every file of the filesystem holding `dir` (syncfs(2)): one call
/// makes all chunks written so far durable, instead of one fsync each.
pub fn sync_filesystem(dir: &Path) -> Result<(), RepoError> {
    use std::os::fd::AsRawFd;
    let d = File::open(dir).map_err(RepoError::io(dir))?;
    // SAFETY: the descriptor is open for the duration of the call.
    let rc = unsafe { libc::syncfs(d.as_raw_fd()) };
    if rc != 0 {
        return Err(RepoError::Io {
            path: dir.to_path_buf(),
            source: std::io::Error::last_os_error(),
        });
    }
    Ok(())
}

/// Whether `name` is one of our temp files.
pub fn is_temp(name: &str) -> bool {
    name.starts_with(TEMP_PREFIX)
}
