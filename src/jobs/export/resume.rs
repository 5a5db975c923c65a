//! The resume state of an export: what an interrupted run had already
//! stored, so a rerun with the same arguments reads only the rest.
//!
//! One file per (repository, host, VM) in `<data dir>/export-resume/`:
//! a JSON header line, then one JSON line per finished chunk, appended as
//! chunks complete (`{"d":"vda","i":12,"c":"<64 hex>"}`, `"c":null` for a
//! chunk found all zero). A line cut short by a kill is ignored. The file
//! is removed once the snapshot is committed. Format: docs/export.md.
//! Blocking file I/O: call from the blocking pool.

use crate::repo::ChunkId;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap};
use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};

pub const VERSION: u32 = 1;

#[derive(Debug, thiserror::Error)]
pub enum ResumeError {
    #[error("export resume state {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("export resume state {path}: {source}")]
    Json {
        path: PathBuf,
        #[source]
        source: serde_json::Error,
    },
}

/// What a run was, so a rerun can tell whether its chunks still hold.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Header {
    pub version: u32,
    pub repo: String,
    pub host: String,
    pub vm: String,
    pub chunk_size: u32,
    /// Read from a running VM (pull backup).
    pub live: bool,
    /// The checkpoint the run created: a rerun is incremental from it, and
    /// keeps the done chunks its dirty bitmap says are unchanged.
    pub checkpoint: Option<String>,
    /// Offline: each image file's path and `size mtime`, which must be
    /// unchanged for the done chunks to count.
    pub files: Vec<FileStamp>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileStamp {
    pub path: String,
    pub stamp: String,
}

#[derive(Debug, Serialize, Deserialize)]
struct Line {
    d: String,
    i: u64,
    c: Option<ChunkId>,
}

/// A loaded resume state: the header and each disk's done chunks
/// (`None`: all zero).
#[derive(Debug, Clone, Default)]
pub struct Done {
    pub disks: HashMap<String, BTreeMap<u64, Option<ChunkId>>>,
}

impl Done {
    pub fn get(&self, target: &str, index: u64) -> Option<Option<ChunkId>> {
        self.disks.get(target)?.get(&index).copied()
    }

    pub fn count(&self) -> usize {
        self.disks.values().map(BTreeMap::len).sum()
    }
}

/// `<data dir>/export-resume/<repo id>-<host>-<vm>`; characters outside
/// `[A-Za-z0-9._-]` become `_` (the header names host and VM exactly).
pub fn path_for(data_dir: &Path, repo: &str, host: &str, vm: &str) -> PathBuf {
    let clean = |s: &str| -> String {
        s.chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-') {
                    c
                } else {
                    '_'
                }
            })
            .collect()
    };
    data_dir
        .join("export-resume")
        .join(format!("{}-{}-{}", clean(repo), clean(host), clean(vm)))
}

/// Reads a resume state; `None` when there is none, or when it belongs to
/// another repository/host/VM or format (then it is not ours to use).
pub fn load(path: &Path) -> Result<Option<(Header, Done)>, ResumeError> {
    let io = |source| ResumeError::Io {
        path: path.to_path_buf(),
        source,
    };
    let file = match std::fs::File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(io(e)),
    };
    let mut lines = std::io::BufReader::new(file).lines();
    let Some(first) = lines.next().transpose().map_err(io)? else {
        return Ok(None);
    };
    let header: Header = match serde_json::from_str(&first) {
        Ok(h) => h,
        Err(_) => return Ok(None),
    };
    if header.version != VERSION {
        return Ok(None);
    }
    let mut done = Done::default();
    for line in lines {
        let line = line.map_err(io)?;
        // The last line may be cut short by a kill: it just does not count.
        let Ok(l) = serde_json::from_str::<Line>(&line) else {
            continue;
        };
        done.disks.entry(l.d).or_default().insert(l.i, l.c);
    }
    Ok(Some((header, done)))
}

/// The resume state being written by a run.
#[derive(Debug)]
pub struct Log {
    path: PathBuf,
    file: std::fs::File,
}

impl Log {
    /// Starts a fresh state at `path` (replacing any), with `header`.
    pub fn create(path: &Path, header: &Header) -> Result<Log, ResumeError> {
        let io = |source| ResumeError::Io {
            path: path.to_path_buf(),
            source,
        };
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(io)?;
        }
        let mut line = serde_json::to_string(header).map_err(|source| ResumeError::Json {
            path: path.to_path_buf(),
            source,
        })?;
        line.push('\n');
        let tmp = path.with_extension("tmp");
        std::fs::write(&tmp, line).map_err(io)?;
        std::fs::rename(&tmp, path).map_err(io)?;
        let file = std::fs::OpenOptions::new()
            .append(true)
            .open(path)
            .map_err(io)?;
        Ok(Log {
            path: path.to_path_buf(),
            file,
        })
    }

    /// Records finished chunks of disk `target` (one write, so a kill
    /// loses at most the line being written).
    pub fn append(
        &mut self,
        target: &str,
        chunks: &[(u64, Option<ChunkId>)],
    ) -> Result<(), ResumeError> {
        if chunks.is_empty() {
            return Ok(());
        }
        let mut buf = String::new();
        for &(i, c) in chunks {
            let line = Line {
                d: target.to_string(),
                i,
                c,
            };
            let s = serde_json::to_string(&line).map_err(|source| ResumeError::Json {
                path: self.path.clone(),
                source,
            })?;
            buf.push_str(&s);
            buf.push('\n');
        }
        self.file
            .write_all(buf.as_bytes())
            .map_err(|source| ResumeError::Io {
                path: self.path.clone(),
                source,
            })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}

/// Removes the state (after the commit); a missing file is fine.
pub fn remove(path: &Path) -> Result<(), ResumeError> {
    match std::fs::remove_file(path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(source) => Err(ResumeError::Io {
            path: path.to_path_buf(),
            source,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header() -> Header {
        Header {
            version: VERSION,
            repo: "r1".into(),
            host: "alpha".into(),
            vm: "web 01".into(),
            chunk_size: 4 << 20,
            live: true,
            checkpoint: Some("kvm-clone-e1".into()),
            files: vec![],
        }
    }

    #[test]
    fn appended_chunks_come_back_and_a_torn_line_is_ignored() {
        let dir = tempfile::tempdir().unwrap();
        let path = path_for(dir.path(), "r1", "alpha", "web 01/x");
        assert!(path.ends_with("export-resume/r1-alpha-web_01_x"));
        assert!(load(&path).unwrap().is_none());
        let mut log = Log::create(&path, &header()).unwrap();
        log.append("vda", &[(0, Some(ChunkId([1; 32]))), (3, None)])
            .unwrap();
        log.append("vdb", &[(7, Some(ChunkId([2; 32])))]).unwrap();
        drop(log);
        // A kill in the middle of a line.
        let mut f = std::fs::OpenOptions::new()
            .append(true)
            .open(&path)
            .unwrap();
        f.write_all(b"{\"d\":\"vda\",\"i\":9,\"c\":\"ab").unwrap();
        let (h, done) = load(&path).unwrap().unwrap();
        assert_eq!(h, header());
        assert_eq!(done.count(), 3);
        assert_eq!(done.get("vda", 0), Some(Some(ChunkId([1; 32]))));
        assert_eq!(done.get("vda", 3), Some(None));
        assert_eq!(done.get("vda", 9), None);
        assert_eq!(done.get("vdb", 7), Some(Some(ChunkId([2; 32]))));
        // A new run starts over from its own header.
        let mut h2 = header();
        h2.checkpoint = Some("kvm-clone-e2".into());
        Log::create(&path, &h2).unwrap();
        let (h, done) = load(&path).unwrap().unwrap();
        assert_eq!(h.checkpoint.as_deref(), Some("kvm-clone-e2"));
        assert_eq!(done.count(), 0);
        remove(&path).unwrap();
        remove(&path).unwrap();
        assert!(load(&path).unwrap().is_none());
    }

    #[test]
    fn another_format_is_not_used() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x");
        std::fs::write(&path, "{\"version\":99}\n").unwrap();
        assert!(load(&path).unwrap().is_none());
        std::fs::write(&path, "garbage\n").unwrap();
        assert!(load(&path).unwrap().is_none());
    }
}
