//! The export repository: a directory of content-addressed, compressed,
//! encrypted chunks plus one sealed manifest per snapshot
//! (docs/repository-format.md).
//!
//! Everything here is blocking file I/O: callers on the async runtime use
//! `tokio::task::spawn_blocking`. A [`Repo`] is `Send + Sync`; share it as
//! `Arc<Repo>`.

pub mod compression;
mod config;
mod error;
mod fsutil;
mod id;
mod keys;
mod lock;
mod manifest;
pub mod prune;
pub mod retention;
pub mod seal;
mod snapshots;
mod store;
pub mod verify;

pub use config::{DEFAULT_CHUNK_SIZE, MAX_CHUNK_SIZE, MIN_CHUNK_SIZE, RepoConfig};
pub use error::RepoError;
pub use id::{ChunkId, ParseIdError, SnapshotId};
pub use keys::{InitEncryption, Protection, Unlock};
pub use lock::RepoLock;
pub use manifest::{ChunkRef, DiskIndex, Manifest, NvramCopy, Totals};
pub use snapshots::{DamagedManifest, SnapshotInfo, SnapshotScan};
pub use store::{SealedChunk, StoredChunk};

use config::check_chunk_size;
use seal::Sealer;
use std::path::{Path, PathBuf};
use zeroize::Zeroizing;

pub const CONFIG_FILE: &str = "config";
pub const KEYS_FILE: &str = "keys";
pub const LOCK_FILE: &str = "lock";
pub const CHUNKS_DIR: &str = "chunks";
pub const SNAPSHOTS_DIR: &str = "snapshots";

#[derive(Debug)]
pub struct InitOptions {
    pub encryption: InitEncryption,
    /// Power of two, 64 KiB..=64 MiB.
    pub chunk_size: u32,
    /// log2 of scrypt's cost N for a passphrase; None =
    /// [`keys::DEFAULT_SCRYPT_LOG_N`]. Tests lower it.
    pub scrypt_log_n: Option<u8>,
}

impl Default for InitOptions {
    /// Note: `InitEncryption::None` here; `repo init` asks for a key unless
    /// told `--no-encryption`.
    fn default() -> Self {
        InitOptions {
            encryption: InitEncryption::None,
            chunk_size: DEFAULT_CHUNK_SIZE,
            scrypt_log_n: None,
        }
    }
}

/// An open repository.
pub struct Repo {
    path: PathBuf,
    config: RepoConfig,
    sealer: Option<Sealer>,
    id_key: Option<Zeroizing<[u8; 32]>>,
}

impl std::fmt::Debug for Repo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Repo")
            .field("path", &self.path)
            .field("id", &self.config.id)
            .field("encrypted", &self.encrypted())
            .finish()
    }
}

impl Repo {
    /// Creates a repository at `path`: a new directory, or an empty one.
    pub fn init(path: &Path, opts: &InitOptions) -> Result<Repo, RepoError> {
        check_chunk_size(opts.chunk_size)?;
        match std::fs::read_dir(path) {
            Ok(mut entries) => {
                if entries.next().is_some() {
                    return Err(RepoError::AlreadyExists {
                        path: path.to_path_buf(),
                    });
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                std::fs::create_dir_all(path).map_err(RepoError::io(path))?;
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotADirectory => {
                return Err(RepoError::AlreadyExists {
                    path: path.to_path_buf(),
                });
            }
            Err(e) => return Err(RepoError::io(path)(e)),
        }
        let id = uuid::Uuid::new_v4().to_string();
        let keys = keys::Keys::generate()?;
        let protection = match &opts.encryption {
            InitEncryption::None => None,
            how => {
                let (file, p) = keys::wrap(&keys, &id, how, opts.scrypt_log_n)?;
                fsutil::write_atomic(&path.join(KEYS_FILE), &file, true)?;
                Some(p)
            }
        };
        for dir in [CHUNKS_DIR, SNAPSHOTS_DIR] {
            let d = path.join(dir);
            std::fs::create_dir_all(&d).map_err(RepoError::io(&d))?;
        }
        fsutil::write_atomic(&path.join(LOCK_FILE), b"", false)?;
        let config = RepoConfig {
            format: config::FORMAT.into(),
            version: config::VERSION,
            id,
            chunk_size: opts.chunk_size,
            encryption: match protection {
                None => "none",
                Some(keys::Protection::Passphrase) => "passphrase",
                Some(keys::Protection::Recipients) => "recipients",
            }
            .into(),
            created: chrono::Utc::now().timestamp(),
        };
        let json =
            serde_json::to_vec_pretty(&config).map_err(|e| RepoError::BadOptions(e.to_string()))?;
        // The config is written last: a directory without it is no repository.
        fsutil::write_atomic(&path.join(CONFIG_FILE), &json, true)?;
        Ok(Repo::assemble(path, config, protection.map(|_| keys)))
    }

    /// Opens the repository at `path`; an encrypted one needs `unlock`.
    pub fn open(path: &Path, unlock: &Unlock) -> Result<Repo, RepoError> {
        let cfg_path = path.join(CONFIG_FILE);
        let bytes = match std::fs::read(&cfg_path) {
            Ok(b) => b,
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::NotFound | std::io::ErrorKind::NotADirectory
                ) =>
            {
                return Err(RepoError::NotARepo {
                    path: path.to_path_buf(),
                });
            }
            Err(e) => return Err(RepoError::io(&cfg_path)(e)),
        };
        let config = RepoConfig::parse(&bytes, &cfg_path)?;
        let keys = match config.protection() {
            None => None,
            Some(protection) => {
                if matches!(unlock, Unlock::None) {
                    return Err(RepoError::Locked {
                        path: path.to_path_buf(),
                    });
                }
                let kpath = path.join(KEYS_FILE);
                let file = std::fs::read(&kpath).map_err(RepoError::io(&kpath))?;
                Some(keys::unwrap(&file, &kpath, &config.id, protection, unlock)?)
            }
        };
        Ok(Repo::assemble(path, config, keys))
    }

    fn assemble(path: &Path, config: RepoConfig, keys: Option<keys::Keys>) -> Repo {
        let (sealer, id_key) = match keys {
            Some(k) => (Some(Sealer::new(&k.aead)), Some(k.id)),
            None => (None, None),
        };
        Repo {
            path: path.to_path_buf(),
            config,
            sealer,
            id_key,
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The repository's uuid.
    pub fn id(&self) -> &str {
        &self.config.id
    }

    pub fn config(&self) -> &RepoConfig {
        &self.config
    }

    pub fn chunk_size(&self) -> u32 {
        self.config.chunk_size
    }

    pub fn encrypted(&self) -> bool {
        self.sealer.is_some()
    }

    pub fn chunk_id(&self, plain: &[u8]) -> ChunkId {
        ChunkId::compute(self.id_key.as_deref(), plain)
    }

    /// Waits for a running prune, then holds the lock shared until dropped.
    /// Exports hold it for their whole run.
    pub fn lock_shared(&self) -> Result<RepoLock, RepoError> {
        lock::acquire(&self.path.join(LOCK_FILE), &self.path, false, true)
    }

    /// Shared, but `Busy` instead of waiting while a prune runs.
    pub fn try_lock_shared(&self) -> Result<RepoLock, RepoError> {
        lock::acquire(&self.path.join(LOCK_FILE), &self.path, false, false)
    }

    /// Exclusive (prune): `Busy` while any export holds the shared lock.
    pub fn try_lock_exclusive(&self) -> Result<RepoLock, RepoError> {
        lock::acquire(&self.path.join(LOCK_FILE), &self.path, true, false)
    }

    pub(crate) fn sealer(&self) -> Option<&Sealer> {
        self.sealer.as_ref()
    }
}

#[cfg(test)]
pub(crate) mod testutil {
    use super::*;

    /// An encrypted repository with a fast scrypt, in a temp dir.
    pub fn repo() -> (tempfile::TempDir, Repo) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("repo");
        let repo = Repo::init(
            &path,
            &InitOptions {
                encryption: InitEncryption::Passphrase(Zeroizing::new("pw".into())),
                chunk_size: MIN_CHUNK_SIZE,
                scrypt_log_n: Some(4),
            },
        )
        .unwrap();
        (dir, repo)
    }
}

#[cfg(test)]
mod tests;
