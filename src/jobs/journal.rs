//! The job journal: every job writes down each thing it creates on a host
//! (an image, a runtime directory, a qemu-nbd process, a backup job …)
//! before creating it, and removes the journal when it ends cleanly. A
//! restarted app reads what a killed one left behind and undoes it.
//!
//! One JSON file per job in `<data dir>/journal/`, replaced atomically on
//! every change (write to a temp file, fsync, rename).

use serde::{Deserialize, Serialize};
use std::io::Write;
use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum JournalError {
    #[error("job journal {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("job journal {path} is damaged: {source}")]
    Damaged {
        path: PathBuf,
        #[source]
        source: serde_json::Error,
    },
}

/// Something a job made on a host that must go if the job does not finish.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Resource {
    /// A private runtime directory (sockets, pid files).
    RemoteDir { host: String, path: String },
    /// A qemu-nbd server started by the job.
    QemuNbd {
        host: String,
        pid: u32,
        socket: String,
    },
    /// A disk image created on the destination, in `pool`.
    Image {
        host: String,
        path: String,
        pool: String,
    },
    /// A scratch file of a pull-mode backup, in `pool`.
    Scratch {
        host: String,
        path: String,
        pool: String,
    },
    /// A libvirt pull-mode backup of the source VM: its NBD socket, and the
    /// pool and tag that name its scratch files.
    BackupJob {
        host: String,
        domain: String,
        socket: String,
        pool: String,
        tag: String,
    },
    /// A domain defined on the destination (the last step of a clone).
    Domain { host: String, name: String },
}

impl Resource {
    pub fn host(&self) -> &str {
        match self {
            Resource::RemoteDir { host, .. }
            | Resource::QemuNbd { host, .. }
            | Resource::Image { host, .. }
            | Resource::Scratch { host, .. }
            | Resource::BackupJob { host, .. }
            | Resource::Domain { host, .. } => host,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JournalEntry {
    pub job_id: String,
    /// Written as "clone", "export", "restore".
    pub kind: crate::model::JobKind,
    /// Unix seconds.
    pub started: u64,
    pub summary: String,
    /// In creation order; cleanup runs them in reverse.
    pub resources: Vec<Resource>,
}

/// The journal of one running job. It holds an exclusive lock on
/// `<job>.lock` for as long as it lives, so another kvm-clone process never
/// mistakes a running job for an interrupted one.
#[derive(Debug)]
pub struct Journal {
    path: PathBuf,
    entry: JournalEntry,
    _lock: std::fs::File,
}

/// Takes the job's lock; None when another process holds it.
fn lock(path: &Path) -> Result<Option<std::fs::File>, JournalError> {
    use std::os::fd::AsRawFd;
    let lock_path = path.with_extension("lock");
    let f = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&lock_path)
        .map_err(io(&lock_path))?;
    // SAFETY: flock on a descriptor we own; no memory is involved.
    let r = unsafe { libc::flock(f.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
    if r == 0 {
        return Ok(Some(f));
    }
    let e = std::io::Error::last_os_error();
    if e.kind() == std::io::ErrorKind::WouldBlock {
        Ok(None)
    } else {
        Err(io(&lock_path)(e))
    }
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> JournalError + '_ {
    move |source| JournalError::Io {
        path: path.to_path_buf(),
        source,
    }
}

impl Journal {
    /// Starts a journal in `dir` (created if needed) for a new job.
    pub fn create(dir: &Path, entry: JournalEntry) -> Result<Journal, JournalError> {
        std::fs::create_dir_all(dir).map_err(io(dir))?;
        let safe: String = entry
            .job_id
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '-' {
                    c
                } else {
                    '_'
                }
            })
            .collect();
        let path = dir.join(format!("{safe}.json"));
        let lock = lock(&path)?.ok_or_else(|| JournalError::Io {
            path: path.clone(),
            source: std::io::Error::other("another process runs a job with this id"),
        })?;
        let j = Journal {
            path,
            entry,
            _lock: lock,
        };
        j.save()?;
        Ok(j)
    }

    pub fn entry(&self) -> &JournalEntry {
        &self.entry
    }

    /// Records a resource; call this BEFORE creating it, so a crash in
    /// between leaves a harmless entry rather than an unknown leftover.
    pub fn record(&mut self, r: Resource) -> Result<(), JournalError> {
        self.entry.resources.push(r);
        self.save()
    }

    /// Forgets a resource once it has been removed (or handed over for good,
    /// like the defined domain at the end of a successful clone).
    pub fn forget(&mut self, r: &Resource) -> Result<(), JournalError> {
        self.entry.resources.retain(|x| x != r);
        self.save()
    }

    /// The job ended and nothing of it needs undoing.
    pub fn finish(self) -> Result<(), JournalError> {
        let _ = std::fs::remove_file(self.path.with_extension("lock"));
        match std::fs::remove_file(&self.path) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(io(&self.path)(e)),
        }
    }

    fn save(&self) -> Result<(), JournalError> {
        let tmp = self.path.with_extension("json.tmp");
        let text =
            serde_json::to_vec_pretty(&self.entry).map_err(|source| JournalError::Damaged {
                path: self.path.clone(),
                source,
            })?;
        let mut f = std::fs::File::create(&tmp).map_err(io(&tmp))?;
        f.write_all(&text).map_err(io(&tmp))?;
        f.sync_all().map_err(io(&tmp))?;
        std::fs::rename(&tmp, &self.path).map_err(io(&self.path))
    }

    /// Journals of jobs that did not finish, oldest first. Each comes back
    /// as a live [`Journal`] so cleanup can forget what it removed.
    pub fn leftovers(dir: &Path) -> Result<Vec<Journal>, JournalError> {
        let rd = match std::fs::read_dir(dir) {
            Ok(rd) => rd,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(io(dir)(e)),
        };
        let mut out = Vec::new();
        for e in rd {
            let path = e.map_err(io(dir))?.path();
            if path.extension().is_none_or(|x| x != "json") {
                continue;
            }
            // A job another process is running right now is not a leftover.
            let Some(lock) = lock(&path)? else {
                continue;
            };
            let text = std::fs::read(&path).map_err(io(&path))?;
            let entry: JournalEntry =
                serde_json::from_slice(&text).map_err(|source| JournalError::Damaged {
                    path: path.clone(),
                    source,
                })?;
            out.push(Journal {
                path,
                entry,
                _lock: lock,
            });
        }
        out.sort_by_key(|j| j.entry.started);
        Ok(out)
    }
}

/// Now, in Unix seconds (a journal entry's start).
pub fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(id: &str, started: u64) -> JournalEntry {
        JournalEntry {
            job_id: id.into(),
            kind: crate::model::JobKind::Clone,
            started,
            summary: "web01 alpha→beta as web01-clone".into(),
            resources: Vec::new(),
        }
    }

    #[test]
    fn a_killed_job_leaves_its_resources_for_the_next_start() {
        let dir = tempfile::tempdir().unwrap();
        let mut j = Journal::create(dir.path(), entry("job-2", 20)).unwrap();
        let img = Resource::Image {
            host: "beta".into(),
            path: "/var/lib/libvirt/images/web01-clone-vda.qcow2".into(),
            pool: "default".into(),
        };
        let nbd = Resource::QemuNbd {
            host: "beta".into(),
            pid: 4242,
            socket: "/run/kvm-clone.x/vda.sock".into(),
        };
        j.record(img.clone()).unwrap();
        j.record(nbd.clone()).unwrap();
        j.forget(&nbd).unwrap();
        drop(Journal::create(dir.path(), entry("job-1", 10)).unwrap());
        // While job-2 still runs in this process, it is nobody's leftover.
        let running: Vec<String> = Journal::leftovers(dir.path())
            .unwrap()
            .iter()
            .map(|j| j.entry().job_id.clone())
            .collect();
        assert_eq!(running, ["job-1"]);
        drop(j); // the app dies here: no finish()

        let left = Journal::leftovers(dir.path()).unwrap();
        let ids: Vec<&str> = left.iter().map(|j| j.entry().job_id.as_str()).collect();
        assert_eq!(ids, ["job-1", "job-2"]);
        assert_eq!(left[1].entry().resources, vec![img]);
        assert_eq!(left[1].entry().resources[0].host(), "beta");
    }

    #[test]
    fn finished_jobs_leave_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let mut j = Journal::create(dir.path(), entry("job/../x", 1)).unwrap();
        j.record(Resource::RemoteDir {
            host: "alpha".into(),
            path: "/run/kvm-clone.abc".into(),
        })
        .unwrap();
        j.finish().unwrap();
        assert!(Journal::leftovers(dir.path()).unwrap().is_empty());
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
    }

    #[test]
    fn a_damaged_journal_is_reported_with_its_path() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("bad.json"), b"{ not json").unwrap();
        let e = Journal::leftovers(dir.path()).unwrap_err().to_string();
        assert!(e.contains("bad.json") && e.contains("damaged"), "{e}");
    }
}
