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
pub(super) fn save(
    name: String,
    from: String,
    replace: bool,
    edit: Option<crate::model::profile::ProfileEdit>,
    events: EventBus,
) {
    tokio::task::spawn_blocking(move || {
        let result = (|| {
            let dir = profile::user_profile_dir()
                .ok_or_else(|| "no config directory (no home directory?)".to_string())?;
            let all = profile::load_profiles(Some(&dir)).map_err(|e| e.to_string())?;
            let base = all
                .iter()
                .find(|l| l.profile.name == from)
                .ok_or_else(|| format!("no profile named {from:?}"))?;
            if let Some(edit) = &edit {
                return profile::edit::save_edit(&dir, base, &name, edit, replace)
                    .map_err(|e| e.to_string());
            }
            let mut p = base.profile.clone();
            p.name = name.clone();
            p.description = format!("saved from the {} dialog, based on {from}", p.kind.label());
            profile::save_profile(&dir, &p, replace).map_err(|e| e.to_string())
        })();
        match result {
            Ok(path) => {
                events.send(Event::ProfileSaved { name, path });
                send_list(&events);
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

/// Sends every profile, or the error naming the bad file.
fn send_list(events: &EventBus) {
    events.send(match summaries() {
        Ok(list) => Event::Profiles(list),
        Err(message) => Event::Error {
            host: None,
            message,
        },
    });
}

/// Reads the profiles again and sends them.
pub(super) fn list(events: EventBus) {
    tokio::task::spawn_blocking(move || send_list(&events));
}
