//! What the TUI remembers between runs: the repository used last, so the
//! export dialog and the repository view start there. Kept in
//! `<data dir>/tui-state.toml`; front-end state only, the backend never
//! reads it.

use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

pub const FILE: &str = "tui-state.toml";

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Remembered {
    /// The last repository an export went to or the view opened.
    #[serde(default)]
    pub repository: Option<PathBuf>,
}

/// `<data dir>/tui-state.toml`, or None without a data directory.
pub fn file() -> Option<PathBuf> {
    crate::paths::data_dir().map(|d| d.join(FILE))
}

/// What `path` remembers; nothing when it is missing or unreadable (it is
/// a convenience: a damaged file is replaced on the next save).
pub fn load(path: &Path) -> Remembered {
    std::fs::read_to_string(path)
        .ok()
        .and_then(|t| toml::from_str(&t).ok())
        .unwrap_or_default()
}

pub fn save(path: &Path, r: &Remembered) -> Result<(), crate::config::ConfigError> {
    let text = toml::to_string(r).map_err(|e| crate::config::ConfigError::Invalid {
        path: path.to_path_buf(),
        line: 1,
        column: None,
        message: e.to_string(),
    })?;
    crate::config::write_atomically(path, text.as_bytes(), 0o600)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_last_repository_reads_back_and_a_bad_file_reads_as_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("sub").join(FILE);
        assert_eq!(load(&f), Remembered::default());
        let r = Remembered {
            repository: Some("/srv/backups/repo".into()),
        };
        save(&f, &r).unwrap();
        assert_eq!(load(&f), r);
        std::fs::write(&f, "repository = [").unwrap();
        assert_eq!(load(&f), Remembered::default());
    }
}
