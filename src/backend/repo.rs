//! The repository view's actions: read a repository's snapshots, verify,
//! prune. Every repository call is blocking file I/O (and one scrypt on
//! open), so each runs on the blocking pool and answers with an event.
//! Opened repositories are kept for the session, so verify and prune do
//! not derive the key again; nothing of them is written anywhere.

use super::bus::EventBus;
use super::messages::{Event, Secret};
use crate::model::{
    KeepPolicy, NewRepoKey, PruneLine, PruneView, RepoPlace, RepoView, SnapshotRow, VerifyView,
};
use crate::repo::{InitEncryption, InitOptions, Repo, RepoError, SnapshotInfo, Unlock};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

/// The environment variable headless commands read a passphrase from.
pub const PASSPHRASE_ENV: &str = "KVM_CLONE_PASSPHRASE";

/// An open repository and how it was unlocked.
type Opened = (Unlock, Arc<Repo>);

/// Repositories opened this session, by path, with how each was unlocked.
#[derive(Clone, Default)]
pub struct OpenRepos {
    /// What the repository view opened: a later export without a key of
    /// its own uses these.
    open: Arc<Mutex<HashMap<PathBuf, Opened>>>,
    /// What jobs and [`unlock`] opened. Kept apart: a job's key never
    /// unlocks the repository view, which asks the operator itself.
    for_jobs: Arc<Mutex<HashMap<PathBuf, Opened>>>,
    /// One opener at a time per path: a second one waits and then finds
    /// the first one's result instead of deriving the key again.
    gates: Arc<Mutex<HashMap<PathBuf, Arc<Mutex<()>>>>>,
}

/// How to unlock: the typed passphrase, else `KVM_CLONE_PASSPHRASE`, else
/// nothing (an unencrypted repository).
pub fn unlock_from(passphrase: Option<&Secret>) -> Unlock {
    match passphrase {
        Some(p) => Unlock::Passphrase(zeroize::Zeroizing::new(p.expose().to_string())),
        None => match std::env::var(PASSPHRASE_ENV) {
            Ok(p) if !p.is_empty() => Unlock::Passphrase(zeroize::Zeroizing::new(p)),
            _ => Unlock::None,
        },
    }
}

/// Errors that a (different) passphrase can cure.
fn needs_key(e: &RepoError) -> bool {
    matches!(
        e,
        RepoError::Locked { .. }
            | RepoError::WrongPassphrase
            | RepoError::WrongUnlock { .. }
            | RepoError::NoMatchingIdentity
    )
}

/// Locks a map; a panic while holding it cannot leave it half-changed.
fn locked<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl OpenRepos {
    /// The session's open repository at `path`, or opens it. A typed
    /// passphrase always reopens, so a wrong one cached earlier is replaced.
    /// Blocking (scrypt): call it on the blocking pool.
    pub fn get(&self, path: &Path, passphrase: Option<&Secret>) -> Result<Arc<Repo>, RepoError> {
        let gate = self.gate(path);
        let _one_at_a_time = locked(&gate);
        if passphrase.is_none()
            && let Some(r) = self.cached(path)
        {
            return Ok(r);
        }
        self.open_and_keep(path, unlock_from(passphrase))
    }

    /// The repository at `path` for a job that asks with `unlock`: the
    /// repository view's copy when the job gives no key (or the same one),
    /// else one a job opened with the same key, else opened now (and kept
    /// for jobs only). Blocking, like [`OpenRepos::get`].
    pub fn open_for(&self, path: &Path, unlock: &Unlock) -> Result<Arc<Repo>, RepoError> {
        let gate = self.gate(path);
        let _one_at_a_time = locked(&gate);
        let reusable = |(how, repo): &Opened| {
            (matches!(unlock, Unlock::None) || how == unlock).then(|| repo.clone())
        };
        if let Some(r) = locked(&self.open).get(path).and_then(reusable) {
            return Ok(r);
        }
        // A job's key serves only a job that names the same key.
        if let Some((how, r)) = locked(&self.for_jobs).get(path)
            && how == unlock
        {
            return Ok(r.clone());
        }
        let repo = Arc::new(Repo::open(path, unlock)?);
        let kept = (unlock.clone(), repo.clone());
        locked(&self.for_jobs).insert(path.to_path_buf(), kept);
        Ok(repo)
    }

    /// The repository at `path` if this session has it open already.
    pub fn cached(&self, path: &Path) -> Option<Arc<Repo>> {
        locked(&self.open).get(path).map(|(_, r)| r.clone())
    }

    fn open_and_keep(&self, path: &Path, unlock: Unlock) -> Result<Arc<Repo>, RepoError> {
        let repo = Arc::new(Repo::open(path, &unlock)?);
        locked(&self.open).insert(path.to_path_buf(), (unlock, repo.clone()));
        Ok(repo)
    }

    /// Creates a repository at `path` with [`Repo::init`] (what `repo init`
    /// runs) and keeps it open, so the export or view that asked for it
    /// derives no key again. Returns its encryption ("passphrase", …).
    /// Blocking (scrypt).
    pub fn create(&self, path: &Path, key: NewRepoKey) -> Result<String, RepoError> {
        let (encryption, unlock) = match key {
            NewRepoKey::Passphrase(p) if p.expose().is_empty() => {
                return Err(RepoError::BadOptions("the passphrase is empty".into()));
            }
            NewRepoKey::Passphrase(p) => {
                let p = zeroize::Zeroizing::new(p.expose().to_string());
                (InitEncryption::Passphrase(p.clone()), Unlock::Passphrase(p))
            }
            NewRepoKey::Recipients(r) if r.is_empty() => {
                return Err(RepoError::BadOptions(
                    "give at least one age recipient (age1…)".into(),
                ));
            }
            // The creator holds the keys now; later sessions need an identity.
            NewRepoKey::Recipients(r) => (InitEncryption::Recipients(r), Unlock::None),
            NewRepoKey::None => (InitEncryption::None, Unlock::None),
        };
        let gate = self.gate(path);
        let _one_at_a_time = locked(&gate);
        let opts = InitOptions {
            encryption,
            ..InitOptions::default()
        };
        let repo = Arc::new(Repo::init(path, &opts)?);
        let label = repo.config().encryption.clone();
        locked(&self.open).insert(path.to_path_buf(), (unlock, repo));
        Ok(label)
    }

    fn gate(&self, path: &Path) -> Arc<Mutex<()>> {
        locked(&self.gates)
            .entry(path.to_path_buf())
            .or_default()
            .clone()
    }

    fn forget(&self, path: &Path) {
        locked(&self.open).remove(path);
    }
}

fn row(s: &SnapshotInfo) -> SnapshotRow {
    let m = &s.manifest;
    SnapshotRow {
        id: s.id.to_string(),
        vm: m.vm.clone(),
        host: m.host.clone(),
        time: m.time,
        profile: m.profile.clone(),
        live: m.live,
        disks: m.disks.iter().map(|d| d.target.clone()).collect(),
        virtual_bytes: m.totals.virtual_bytes,
        data_bytes: m.totals.data_bytes,
        new_bytes: m.totals.new_bytes,
    }
}

fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

/// Runs `work` on the blocking pool and sends what it returns; a repository
/// that wants a passphrase answers [`Event::RepoLocked`].
fn spawn<F>(repos: &OpenRepos, path: PathBuf, events: EventBus, work: F)
where
    F: FnOnce(&OpenRepos, &Path) -> Result<Event, RepoError> + Send + 'static,
{
    let repos = repos.clone();
    tokio::task::spawn_blocking(move || {
        let shown = path.display().to_string();
        let event = match work(&repos, &path) {
            Ok(e) => e,
            Err(e) if needs_key(&e) => {
                repos.forget(&path);
                Event::RepoLocked {
                    path: shown,
                    message: e.to_string(),
                }
            }
            Err(e) => Event::RepoFailed {
                path: shown,
                message: e.to_string(),
            },
        };
        events.send(event);
    });
}

/// What `path` holds. Blocking (a stat and a directory read).
pub fn place(path: &Path) -> RepoPlace {
    if path.join(crate::repo::CONFIG_FILE).is_file() {
        return RepoPlace::Repository;
    }
    match std::fs::read_dir(path) {
        Ok(mut entries) => match entries.next() {
            None => RepoPlace::Absent,
            Some(_) => RepoPlace::Other {
                reason: format!(
                    "{}: not a kvm-clone repository, and not empty",
                    path.display()
                ),
            },
        },
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => RepoPlace::Absent,
        Err(e) if e.kind() == std::io::ErrorKind::NotADirectory => RepoPlace::Other {
            reason: format!("{}: a file, not a directory", path.display()),
        },
        Err(e) => RepoPlace::Other {
            reason: format!("{}: {e}", path.display()),
        },
    }
}

pub fn probe(path: PathBuf, events: EventBus) {
    tokio::task::spawn_blocking(move || {
        let place = place(&path);
        events.send(Event::RepoProbed {
            path: path.display().to_string(),
            place,
        });
    });
}

pub fn create(repos: &OpenRepos, path: PathBuf, key: NewRepoKey, events: EventBus) {
    let repos = repos.clone();
    tokio::task::spawn_blocking(move || {
        let shown = path.display().to_string();
        events.send(match repos.create(&path, key) {
            Ok(encryption) => Event::RepoCreated {
                path: shown,
                encryption,
            },
            Err(message) => Event::RepoFailed {
                path: shown,
                message: message.to_string(),
            },
        });
    });
}

pub fn open(repos: &OpenRepos, path: PathBuf, passphrase: Option<Secret>, events: EventBus) {
    spawn(repos, path, events, move |repos, path| {
        // Nothing there yet: say so, so the front end can offer to create it.
        if place(path) == RepoPlace::Absent {
            return Ok(Event::RepoProbed {
                path: path.display().to_string(),
                place: RepoPlace::Absent,
            });
        }
        let repo = repos.get(path, passphrase.as_ref())?;
        let snapshots = repo.snapshots()?;
        Ok(Event::Repo(RepoView {
            path: path.display().to_string(),
            encrypted: repo.encrypted(),
            read_at: now(),
            snapshots: snapshots.iter().map(row).collect(),
        }))
    });
}

/// Opens the repository and keeps its key ([`OpenRepos::open_for`]);
/// nothing is sent unless that fails.
pub fn unlock(repos: &OpenRepos, path: PathBuf, unlock: Unlock, events: EventBus) {
    let repos = repos.clone();
    tokio::task::spawn_blocking(move || {
        if let Err(e) = repos.open_for(&path, &unlock) {
            let (path, message) = (path.display().to_string(), e.to_string());
            let event = if needs_key(&e) {
                Event::RepoLocked { path, message }
            } else {
                Event::RepoFailed { path, message }
            };
            events.send(event);
        }
    });
}

/// What a verify is asked to do: read every chunk, then remove the damaged
/// ones.
pub struct VerifyAsk {
    pub snapshot: Option<String>,
    pub read_data: bool,
    pub repair: bool,
}

pub fn verify(
    repos: &OpenRepos,
    path: PathBuf,
    passphrase: Option<Secret>,
    ask: VerifyAsk,
    events: EventBus,
) {
    spawn(repos, path, events, move |repos, path| {
        let repo = repos.get(path, passphrase.as_ref())?;
        let read_data = ask.read_data || ask.repair;
        let mut r = crate::repo::verify::verify(&repo, ask.snapshot.as_deref(), read_data)?;
        let repairable = r.damaged_chunks().len() as u64;
        if ask.repair {
            crate::repo::verify::remove_damaged(&repo, &mut r)?;
        }
        let mut problems: Vec<String> = r
            .damaged_manifests
            .iter()
            .map(|m| format!("snapshot {}: manifest unreadable: {}", m.id, m.reason))
            .collect();
        problems.extend(r.damage.iter().map(|d| {
            format!(
                "snapshot {} ({}) disk {} at offset {}: chunk {}: {}",
                d.snapshot, d.vm, d.disk, d.offset, d.chunk, d.problem
            )
        }));
        Ok(Event::RepoVerified {
            path: path.display().to_string(),
            report: VerifyView {
                read_data,
                snapshots: r.snapshots,
                chunks: r.chunks,
                problems,
                // What is left to remove.
                repairable: repairable.saturating_sub(r.repaired.len() as u64),
                repaired: r.repaired.len() as u64,
            },
        })
    });
}

/// A prune as the front end asks for it.
pub struct PruneAsk {
    pub policy: KeepPolicy,
    pub dry_run: bool,
    /// The removals of the dry run the operator confirmed.
    pub confirmed: Option<Vec<String>>,
}

pub fn prune(
    repos: &OpenRepos,
    path: PathBuf,
    passphrase: Option<Secret>,
    ask: PruneAsk,
    events: EventBus,
) {
    let PruneAsk {
        policy,
        dry_run,
        confirmed,
    } = ask;
    spawn(repos, path, events, move |repos, path| {
        let repo = repos.get(path, passphrase.as_ref())?;
        let confirmed = match confirmed {
            None => None,
            Some(ids) => Some(
                ids.iter()
                    .map(|i| {
                        i.parse::<crate::repo::SnapshotId>().map_err(|e| {
                            RepoError::BadOptions(format!("confirmed snapshot id: {e}"))
                        })
                    })
                    .collect::<Result<_, _>>()?,
            ),
        };
        let opts = crate::repo::prune::PruneOptions {
            policy: crate::repo::retention::Policy {
                last: policy.last,
                daily: policy.daily,
                weekly: policy.weekly,
                monthly: policy.monthly,
                yearly: policy.yearly,
            },
            vm: None,
            dry_run,
            confirmed,
        };
        let r = crate::repo::prune::prune(&repo, &opts)?;
        Ok(Event::RepoPruned {
            path: path.display().to_string(),
            policy,
            report: PruneView {
                dry_run: r.dry_run,
                snapshots: r
                    .snapshots
                    .iter()
                    .map(|d| PruneLine {
                        id: d.id.to_string(),
                        vm: d.vm.clone(),
                        time: d.time,
                        keep: d.keep,
                        reasons: d.reasons.clone(),
                    })
                    .collect(),
                chunks_removed: r.chunks_removed,
                bytes_freed: r.bytes_freed,
            },
        })
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_created_repository_stays_open_and_places_read_as_they_are() {
        let dir = tempfile::tempdir().unwrap();
        let repos = OpenRepos::default();
        let new = dir.path().join("a").join("repo");
        assert_eq!(place(&new), RepoPlace::Absent);
        let label = repos
            .create(&new, NewRepoKey::Passphrase(Secret::new("pw".into())))
            .unwrap();
        assert_eq!(label, "passphrase");
        assert_eq!(place(&new), RepoPlace::Repository);
        // Kept open: the view reads it without the key, an export with it.
        assert!(repos.cached(&new).is_some_and(|r| r.encrypted()));
        let with_key = Unlock::Passphrase(zeroize::Zeroizing::new("pw".into()));
        assert!(repos.open_for(&new, &with_key).is_ok());
        // A directory with other things in it is neither created over nor absent.
        let busy = dir.path().join("busy");
        std::fs::create_dir(&busy).unwrap();
        std::fs::write(busy.join("x"), b"x").unwrap();
        assert!(matches!(place(&busy), RepoPlace::Other { .. }));
        assert!(matches!(
            repos.create(&busy, NewRepoKey::None),
            Err(RepoError::AlreadyExists { .. })
        ));
        assert!(matches!(place(&busy.join("x")), RepoPlace::Other { .. }));
        let empty = dir.path().join("empty");
        std::fs::create_dir(&empty).unwrap();
        assert_eq!(place(&empty), RepoPlace::Absent);
        assert!(matches!(
            repos.create(&empty, NewRepoKey::Passphrase(Secret::new(String::new()))),
            Err(RepoError::BadOptions(_))
        ));
        assert!(matches!(
            repos.create(&empty, NewRepoKey::Recipients(vec!["age1nope".into()])),
            Err(RepoError::BadRecipient { .. })
        ));
        assert_eq!(repos.create(&empty, NewRepoKey::None).unwrap(), "none");
    }
}
