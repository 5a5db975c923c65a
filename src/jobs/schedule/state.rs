//! What the daemon keeps of its schedules between runs, in
//! `<data dir>/schedules.json` (docs/schedules.md): per schedule, the
//! newest due time it handled (for catching up a missed run) and its last
//! run. Written whole, through a rename, after every change.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::model::schedule::ScheduleRun;

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ScheduleState {
    #[serde(default)]
    pub schedules: BTreeMap<String, Kept>,
}

/// One schedule's memory.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Kept {
    /// The newest due time handled (run, skipped or caught up), Unix ms.
    pub last_due_ms: Option<u64>,
    pub last: Option<ScheduleRun>,
}

pub fn file(data_dir: &Path) -> PathBuf {
    data_dir.join("schedules.json")
}

/// The kept state; a missing file is an empty one. An unreadable one is
/// logged and treated as empty: the schedules still run, nothing is
/// caught up.
pub fn load(path: &Path) -> ScheduleState {
    match std::fs::read(path) {
        Ok(bytes) => serde_json::from_slice(&bytes).unwrap_or_else(|e| {
            tracing::warn!(
                "schedules: {} is not readable ({e}); starting afresh",
                path.display()
            );
            ScheduleState::default()
        }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => ScheduleState::default(),
        Err(e) => {
            tracing::warn!("schedules: cannot read {}: {e}", path.display());
            ScheduleState::default()
        }
    }
}

pub fn save(path: &Path, state: &ScheduleState) -> std::io::Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let tmp = path.with_extension("json.tmp");
    let bytes = serde_json::to_vec_pretty(state).map_err(std::io::Error::other)?;
    std::fs::write(&tmp, bytes)?;
    std::fs::rename(&tmp, path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn state_round_trips_and_a_broken_file_starts_afresh() {
        let dir = tempfile::tempdir().unwrap();
        let path = file(dir.path());
        assert_eq!(load(&path), ScheduleState::default());
        let mut s = ScheduleState::default();
        s.schedules.insert(
            "nightly".into(),
            Kept {
                last_due_ms: Some(5),
                last: None,
            },
        );
        save(&path, &s).unwrap();
        assert_eq!(load(&path), s);
        std::fs::write(&path, "{ broken").unwrap();
        assert_eq!(load(&path), ScheduleState::default());
    }
}
