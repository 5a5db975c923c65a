//! The backend's side of profiles: the list the menus show, and "save as
//! profile". File I/O runs on the blocking pool.

use super::bus::EventBus;
use super::messages::Event;
use crate::config::profile::{self, ProfileSummary};

/// Every profile with its menu summary, or the error naming the bad file.
pub(super) fn summaries() -> Result<Vec<ProfileSummary>, String> {
    let dir = profile::user_profile_dir();
    profile::load_profiles(dir.as_deref())
        .map(|all| all.iter().map(ProfileSummary::from).collect())
        .map_err(|e| e.to_string())
}

/// Writes user profile `name` with the settings of profile `from`, then
/// sends the new list.
pub(super) fn save(name: String, from: String, replace: bool, events: EventBus) {
    tokio::task::spawn_blocking(move || {
        let result = (|| {
            let dir = profile::user_profile_dir()
                .ok_or_else(|| "no config directory (no home directory?)".to_string())?;
            let all = profile::load_profiles(Some(&dir)).map_err(|e| e.to_string())?;
            let base = all
                .iter()
                .find(|l| l.profile.name == from)
                .ok_or_else(|| format!("no profile named {from:?}"))?;
            let mut p = base.profile.clone();
            p.name = name.clone();
            p.description = format!("saved from the {} dialog, based on {from}", p.kind.label());
            profile::save_profile(&dir, &p, replace).map_err(|e| e.to_string())
        })();
        match result {
            Ok(path) => {
                events.send(Event::ProfileSaved { name, path });
                match summaries() {
                    Ok(list) => {
                        events.send(Event::Profiles(list));
                    }
                    Err(message) => {
                        events.send(Event::Error {
                            host: None,
                            message,
                        });
                    }
                }
            }
            Err(message) => {
                events.send(Event::Error {
                    host: None,
                    message: format!("saving profile {name:?}: {message}"),
                });
            }
        }
    });
}
