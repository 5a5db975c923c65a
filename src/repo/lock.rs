//! The repository lock: flock(2) on `<repo>/lock`. Exports hold it shared
//! for their whole run; prune takes it exclusive, so it never deletes a
//! chunk an export in flight relies on.

use super::error::RepoError;
use std::fs::{File, OpenOptions};
use std::os::fd::AsRawFd;
use std::path::Path;

/// Held until dropped (closing the file releases the flock).
#[derive(Debug)]
pub struct RepoLock {
    _file: File,
    exclusive: bool,
}

impl RepoLock {
    pub fn is_exclusive(&self) -> bool {
        self.exclusive
    }
}

fn open(path: &Path) -> Result<File, RepoError> {
    // Read-only is enough for flock, and works on a read-only mount.
    match File::open(path) {
        Ok(f) => Ok(f),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(false)
            .open(path)
            .map_err(RepoError::io(path)),
        Err(e) => Err(RepoError::Io {
            path: path.to_path_buf(),
            source: e,
        }),
    }
}

/// `op` is LOCK_SH or LOCK_EX; `wait` false adds LOCK_NB (then Busy).
pub fn acquire(
    path: &Path,
    repo: &Path,
    exclusive: bool,
    wait: bool,
) -> Result<RepoLock, RepoError> {
    let file = open(path)?;
    let mut op = if exclusive {
        libc::LOCK_EX
    } else {
        libc::LOCK_SH
    };
    if !wait {
        op |= libc::LOCK_NB;
    }
    loop {
        // SAFETY: the descriptor stays open for the call.
        if unsafe { libc::flock(file.as_raw_fd(), op) } == 0 {
            return Ok(RepoLock {
                _file: file,
                exclusive,
            });
        }
        let e = std::io::Error::last_os_error();
        match e.raw_os_error() {
            Some(libc::EINTR) => continue,
            Some(libc::EWOULDBLOCK) => {
                return Err(RepoError::Busy {
                    path: repo.to_path_buf(),
                });
            }
            _ => {
                return Err(RepoError::Io {
                    path: path.to_path_buf(),
                    source: e,
                });
            }
        }
    }
}
