//! The output file of an extract: written under a hidden temp name in the
//! target's directory (so the final rename stays on one file system), made
//! visible at the end by a link that fails if the target exists, and
//! removed if the extract does not get that far.

use super::ExtractError;
use std::path::{Path, PathBuf};

/// A temp file beside the target; removed on drop unless committed.
#[derive(Debug)]
pub struct TempOutput {
    path: PathBuf,
    done: bool,
}

impl TempOutput {
    /// Picks a fresh temp name beside `target` (nothing is created yet).
    pub fn new(target: &Path) -> Result<TempOutput, ExtractError> {
        let name = target
            .file_name()
            .ok_or_else(|| ExtractError::Io {
                path: target.to_path_buf(),
                source: std::io::Error::new(
                    std::io::ErrorKind::InvalidInput,
                    "the output path names no file",
                ),
            })?
            .to_string_lossy()
            .into_owned();
        let dir = target.parent().filter(|p| !p.as_os_str().is_empty());
        let tmp = format!(".{name}.kvm-clone-{:016x}.part", rand::random::<u64>());
        let path = match dir {
            Some(d) => d.join(tmp),
            None => PathBuf::from(tmp),
        };
        Ok(TempOutput { path, done: false })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Makes the file visible as `target`, refusing to replace anything
    /// there (a hard link fails on an existing name; where the file system
    /// has no hard links, an existence check then a rename).
    pub fn commit(mut self, target: &Path) -> Result<(), ExtractError> {
        match std::fs::hard_link(&self.path, target) {
            Ok(()) => {
                std::fs::remove_file(&self.path).map_err(ExtractError::io(&self.path))?;
            }
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                return Err(ExtractError::Exists(target.to_path_buf()));
            }
            Err(_) => {
                if std::fs::symlink_metadata(target).is_ok() {
                    return Err(ExtractError::Exists(target.to_path_buf()));
                }
                std::fs::rename(&self.path, target).map_err(ExtractError::io(target))?;
            }
        }
        self.done = true;
        Ok(())
    }
}

impl Drop for TempOutput {
    fn drop(&mut self) {
        if !self.done {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commit_never_replaces_and_drop_removes() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("out.raw");
        let t = TempOutput::new(&target).unwrap();
        assert_eq!(t.path().parent(), Some(dir.path()));
        std::fs::write(t.path(), b"new").unwrap();
        t.commit(&target).unwrap();
        assert_eq!(std::fs::read(&target).unwrap(), b"new");

        let t = TempOutput::new(&target).unwrap();
        std::fs::write(t.path(), b"other").unwrap();
        let temp = t.path().to_path_buf();
        let e = t.commit(&target).unwrap_err();
        assert!(matches!(e, ExtractError::Exists(_)), "{e}");
        assert_eq!(std::fs::read(&target).unwrap(), b"new");
        // The refused commit dropped the guard: the temp file is gone.
        assert!(!temp.exists());
        let names: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
        assert_eq!(names.len(), 1);
    }
}
