//! The repository's `config` file: plain JSON, readable without a key.

use super::error::RepoError;
use super::keys::Protection;
use serde::{Deserialize, Serialize};
use std::path::Path;

pub const FORMAT: &str = "kvm-clone repository";
pub const VERSION: u32 = 1;
pub const MIN_CHUNK_SIZE: u32 = 64 << 10;
pub const MAX_CHUNK_SIZE: u32 = 64 << 20;
pub const DEFAULT_CHUNK_SIZE: u32 = 4 << 20;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RepoConfig {
    pub format: String,
    pub version: u32,
    pub id: String,
    pub chunk_size: u32,
    /// "none", "passphrase" or "recipients".
    pub encryption: String,
    /// Unix seconds.
    pub created: i64,
}

impl RepoConfig {
    pub fn protection(&self) -> Option<Protection> {
        match self.encryption.as_str() {
            "passphrase" => Some(Protection::Passphrase),
            "recipients" => Some(Protection::Recipients),
            _ => None,
        }
    }

    pub fn parse(bytes: &[u8], path: &Path) -> Result<RepoConfig, RepoError> {
        let bad = |reason: String| RepoError::BadConfig {
            path: path.to_path_buf(),
            reason,
        };
        let c: RepoConfig = serde_json::from_slice(bytes).map_err(|e| bad(e.to_string()))?;
        if c.format != FORMAT {
            return Err(RepoError::NotARepo {
                path: path.parent().unwrap_or(path).to_path_buf(),
            });
        }
        if c.version > VERSION {
            return Err(RepoError::UnsupportedVersion {
                path: path.to_path_buf(),
                what: "repository",
                found: c.version,
                supported: VERSION,
            });
        }
        check_chunk_size(c.chunk_size).map_err(|e| bad(e.to_string()))?;
        if uuid::Uuid::parse_str(&c.id).is_err() || c.id.len() != 36 {
            return Err(bad(format!("id {:?} is not a uuid", c.id)));
        }
        if c.encryption != "none" && c.protection().is_none() {
            return Err(bad(format!("unknown encryption {:?}", c.encryption)));
        }
        Ok(c)
    }
}

pub fn check_chunk_size(size: u32) -> Result<(), RepoError> {
    if !size.is_power_of_two() || !(MIN_CHUNK_SIZE..=MAX_CHUNK_SIZE).contains(&size) {
        return Err(RepoError::BadOptions(format!(
            "chunk size {size} must be a power of two from 64 KiB to 64 MiB"
        )));
    }
    Ok(())
}
