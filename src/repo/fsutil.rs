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
    via_temp(dest, |tmp| {
        let mut f = create_new(tmp, 0)?;
        f.write_all(bytes).map_err(RepoError::io(tmp))?;
        if durable {
            f.sync_all().map_err(RepoError::io(tmp))?;
        }
        Ok(())
    })?;
    if durable {
        sync_dir(dest.parent().unwrap_or(Path::new(".")))?;
    }
    Ok(())
}

/// Has `write` fill a fresh temp file in `dest`'s directory, then renames
/// it over `dest`; on any failure the temp file is removed.
fn via_temp(
    dest: &Path,
    write: impl FnOnce(&Path) -> Result<(), RepoError>,
) -> Result<(), RepoError> {
    let tmp = temp_path(dest.parent().unwrap_or(Path::new(".")));
    let result =
        write(&tmp).and_then(|()| std::fs::rename(&tmp, dest).map_err(RepoError::io(dest)));
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

/// Creates `path` (it must not exist) for writing, with extra open flags.
fn create_new(path: &Path, flags: libc::c_int) -> Result<File, RepoError> {
    use std::os::unix::fs::OpenOptionsExt;
    OpenOptions::new()
        .write(true)
        .create_new(true)
        .custom_flags(flags)
        .open(path)
        .map_err(RepoError::io(path))
}

/// Alignment of `O_DIRECT` I/O: memory address, length and file offset.
pub const DIRECT_ALIGN: usize = 4096;

/// As [`write_atomic`] without `durable`, for chunk files: when `bytes`
/// starts on a [`DIRECT_ALIGN`] boundary, its whole pages go to the disk
/// with `O_DIRECT`, and only the last partial page through the page cache.
/// Chunk data is not read back soon; copying it into the page cache cost
/// more CPU than anything else an export does, and syncing it out again at
/// commit added time on top. The durability is the same as a buffered
/// write: [`sync_filesystem`] at commit flushes the device's cache and the
/// files' metadata. Filesystems without `O_DIRECT` get a buffered write.
pub fn write_atomic_direct(dest: &Path, bytes: &[u8]) -> Result<(), RepoError> {
    let whole = bytes.len() / DIRECT_ALIGN * DIRECT_ALIGN;
    if whole == 0 || bytes.as_ptr() as usize % DIRECT_ALIGN != 0 {
        return write_atomic(dest, bytes, false);
    }
    via_temp(dest, |tmp| {
        let (f, mut direct) = match create_new(tmp, libc::O_DIRECT) {
            Ok(f) => (f, true),
            Err(RepoError::Io { source, .. }) if source.raw_os_error() == Some(libc::EINVAL) => {
                (create_new(tmp, 0)?, false)
            }
            Err(e) => return Err(e),
        };
        let mut done = 0;
        while done < bytes.len() {
            if direct && done >= whole {
                clear_direct(&f).map_err(RepoError::io(tmp))?;
                direct = false;
            }
            let end = if direct { whole } else { bytes.len() };
            match (&f).write(&bytes[done..end]) {
                Ok(0) => {
                    return Err(RepoError::io(tmp)(std::io::ErrorKind::WriteZero.into()));
                }
                Ok(n) => done += n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                // A device with a larger block, or a short write that left
                // the offset unaligned: the rest goes through the cache.
                Err(e) if direct && e.raw_os_error() == Some(libc::EINVAL) => {
                    clear_direct(&f).map_err(RepoError::io(tmp))?;
                    direct = false;
                }
                Err(e) => return Err(RepoError::io(tmp)(e)),
            }
        }
        Ok(())
    })
}

/// Turns `O_DIRECT` off on an open file.
fn clear_direct(f: &File) -> std::io::Result<()> {
    use std::os::fd::AsRawFd;
    let fd = f.as_raw_fd();
    // SAFETY: fcntl on a descriptor that stays open for both calls.
    let flags = unsafe { libc::fcntl(fd, libc::F_GETFL) };
    if flags < 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: as above.
    if unsafe { libc::fcntl(fd, libc::F_SETFL, flags & !libc::O_DIRECT) } < 0 {
        return Err(std::io::Error::last_os_error());
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

#[cfg(test)]
mod tests {
    use super::*;

    /// A buffer of `len` bytes starting `skew` bytes past a page boundary.
    fn placed(len: usize, skew: usize) -> (Vec<u8>, usize) {
        let mut v = vec![0u8; len + skew + DIRECT_ALIGN];
        let start = (DIRECT_ALIGN - v.as_ptr() as usize % DIRECT_ALIGN) % DIRECT_ALIGN + skew;
        for (i, b) in v[start..start + len].iter_mut().enumerate() {
            *b = (i % 251) as u8;
        }
        (v, start)
    }

    #[test]
    fn direct_writes_hold_exactly_the_bytes_whatever_the_length_or_alignment() {
        // On the build directory's filesystem (O_DIRECT on ext4 and xfs),
        // and on /dev/shm (tmpfs refuses O_DIRECT on older kernels: the
        // buffered fallback).
        let build = Path::new(env!("CARGO_MANIFEST_DIR")).join("target");
        std::fs::create_dir_all(&build).unwrap();
        let shm = Path::new("/dev/shm");
        for base in [build.as_path(), shm].into_iter().filter(|p| p.is_dir()) {
            let dir = tempfile::tempdir_in(base).unwrap();
            for len in [0, 1, 4095, 4096, 4097, 3 * 4096 + 17, 1 << 20] {
                for skew in [0, 8] {
                    let (buf, start) = placed(len, skew);
                    let bytes = &buf[start..start + len];
                    let dest = dir.path().join(format!("f-{len}-{skew}"));
                    write_atomic_direct(&dest, bytes).unwrap();
                    assert_eq!(
                        std::fs::read(&dest).unwrap(),
                        bytes,
                        "{len} bytes, skew {skew}"
                    );
                }
            }
            let names: Vec<_> = std::fs::read_dir(dir.path())
                .unwrap()
                .map(|e| e.unwrap().file_name().into_string().unwrap())
                .collect();
            assert!(names.iter().all(|n| !is_temp(n)), "{names:?}");
            assert_eq!(names.len(), 14);
        }
    }

    #[test]
    fn a_failed_direct_write_leaves_no_file() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("no-such-dir").join("f");
        let (buf, start) = placed(8192, 0);
        assert!(write_atomic_direct(&missing, &buf[start..start + 8192]).is_err());
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
    }
}
