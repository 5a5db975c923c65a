//! The TUI's profile editor on the file side: a profile's editable values,
//! and writing them, either into the user file the profile came from (its
//! comments and other settings kept) or as a new file.

use super::file::parse_profile;
use super::load::{LoadedProfile, ProfileSource};
use super::save::{SaveError, save_profile};
use super::schema::{Profile, ProfileKind, Retention};
use crate::config::ConfigError;
use crate::model::KeepPolicy;
use crate::model::profile::ProfileEdit;
use std::path::{Path, PathBuf};
use toml_edit::{DocumentMut, Item, Table, value};

/// What the editor starts from.
pub fn values(p: &Profile) -> ProfileEdit {
    ProfileEdit {
        live: p.live,
        format: p.format,
        verify: p.verify,
        bandwidth_limit: p.bandwidth_limit,
        connections: p.connections,
        requests_in_flight: p.requests_in_flight,
        retention: p.retention.map(|r| KeepPolicy {
            last: r.keep_last.unwrap_or(0),
            daily: r.keep_daily.unwrap_or(0),
            weekly: r.keep_weekly.unwrap_or(0),
            monthly: r.keep_monthly.unwrap_or(0),
            yearly: r.keep_yearly.unwrap_or(0),
        }),
    }
}

fn rule(n: u32) -> Option<u32> {
    (n > 0).then_some(n)
}

/// The retention an edit asks for; None keeps every export.
fn retention(e: &ProfileEdit) -> Option<Retention> {
    e.retention.filter(|k| !k.is_empty()).map(|k| Retention {
        keep_last: rule(k.last),
        keep_daily: rule(k.daily),
        keep_weekly: rule(k.weekly),
        keep_monthly: rule(k.monthly),
        keep_yearly: rule(k.yearly),
    })
}

pub fn apply(p: &mut Profile, e: &ProfileEdit) {
    p.live = e.live;
    p.format = e.format;
    p.verify = e.verify;
    p.bandwidth_limit = e.bandwidth_limit;
    p.connections = e.connections;
    p.requests_in_flight = e.requests_in_flight;
    if p.kind == ProfileKind::Export {
        p.retention = retention(e);
    }
}

/// `text` (a profile file) with the edited keys set; everything else,
/// comments included, as it was.
pub fn edit_text(text: &str, kind: ProfileKind, e: &ProfileEdit) -> Result<String, String> {
    let mut doc: DocumentMut = text
        .parse()
        .map_err(|e: toml_edit::TomlError| e.to_string())?;
    doc["live"] = value(e.live.label());
    doc["format"] = value(e.format.label());
    doc["verify"] = value(e.verify);
    doc["connections"] = value(i64::from(e.connections));
    doc["requests_in_flight"] = value(i64::from(e.requests_in_flight));
    match e.bandwidth_limit {
        Some(b) => doc["bandwidth_limit"] = value(i64::try_from(b).map_err(|_| "too large")?),
        None => {
            doc.remove("bandwidth_limit");
        }
    }
    if kind == ProfileKind::Export {
        match retention(e) {
            None => {
                doc.remove("retention");
            }
            Some(r) => {
                let mut t = Table::new();
                for (k, v) in r.rules() {
                    if let Some(n) = v {
                        t[k] = value(i64::from(n));
                    }
                }
                doc["retention"] = Item::Table(t);
            }
        }
    }
    Ok(doc.to_string())
}

/// Saves an edit of `from` as profile `name`: into `from`'s own file when
/// it is a user profile keeping its name, else as a new user file (as
/// "save as profile" does; `replace` allows replacing another user
/// profile of that name). What is written must read back.
pub fn save_edit(
    dir: &Path,
    from: &LoadedProfile,
    name: &str,
    e: &ProfileEdit,
    replace: bool,
) -> Result<PathBuf, SaveError> {
    if let ProfileSource::User(path) = &from.source
        && from.profile.name == name
    {
        let read = |source| ConfigError::Read {
            path: path.clone(),
            source,
        };
        let text = std::fs::read_to_string(path).map_err(read)?;
        let new =
            edit_text(&text, from.profile.kind, e).map_err(|message| ConfigError::Invalid {
                path: path.clone(),
                line: 1,
                column: None,
                message,
            })?;
        parse_profile(&new, path)?;
        crate::config::write_atomically(path, new.as_bytes(), 0o600)?;
        return Ok(path.clone());
    }
    let mut p = from.profile.clone();
    p.name = name.to_string();
    p.description = format!(
        "{} (edited from {})",
        from.profile.description, from.profile.name
    );
    apply(&mut p, e);
    save_profile(dir, &p, replace)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::profile::load_profiles;
    use crate::model::FormatChoice;
    use crate::model::profile::LivePolicy;

    fn an_edit() -> ProfileEdit {
        ProfileEdit {
            live: LivePolicy::ShutdownRestart,
            format: FormatChoice::Raw,
            verify: false,
            bandwidth_limit: Some(50 << 20),
            connections: 8,
            requests_in_flight: 16,
            retention: Some(KeepPolicy {
                last: 3,
                weekly: 4,
                ..KeepPolicy::default()
            }),
        }
    }

    #[test]
    fn a_user_file_is_edited_in_place_keeping_its_comments_and_other_keys() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("nightly.toml");
        let text = "# our nightly backup\nname = \"nightly\"\nkind = \"export\"\ndescription = \"nightly\" # shown in the menu\nbandwidth_limit = \"10M\"\ncompress = true\n[retention]\nkeep_daily = 7\n";
        std::fs::write(&file, text).unwrap();
        let all = load_profiles(Some(dir.path())).unwrap();
        let from = all.iter().find(|p| p.profile.name == "nightly").unwrap();
        let path = save_edit(dir.path(), from, "nightly", &an_edit(), false).unwrap();
        assert_eq!(path, file);
        let new = std::fs::read_to_string(&file).unwrap();
        assert!(new.contains("# our nightly backup"), "{new}");
        assert!(new.contains("# shown in the menu"), "{new}");
        assert!(new.contains("compress = true"), "{new}");
        let p = parse_profile(&new, &file).unwrap();
        assert_eq!(values(&p), an_edit());
        assert_eq!(p.compression, crate::model::profile::Compression::Lz4);
        assert_eq!(
            p.retention.unwrap().keep_daily,
            None,
            "the rules are replaced"
        );
        // No limit and no rule: the keys go.
        let none = ProfileEdit {
            bandwidth_limit: None,
            retention: None,
            ..an_edit()
        };
        let all = load_profiles(Some(dir.path())).unwrap();
        let from = all.iter().find(|p| p.profile.name == "nightly").unwrap();
        save_edit(dir.path(), from, "nightly", &none, false).unwrap();
        let p = parse_profile(&std::fs::read_to_string(&file).unwrap(), &file).unwrap();
        assert_eq!((p.bandwidth_limit, p.retention), (None, None));
    }

    #[test]
    fn a_builtin_is_saved_under_a_new_name_and_a_bad_value_writes_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let all = load_profiles(Some(dir.path())).unwrap();
        let base = all.iter().find(|p| p.profile.name == "default").unwrap();
        let e = ProfileEdit {
            retention: None,
            ..an_edit()
        };
        let path = save_edit(dir.path(), base, "mine", &e, false).unwrap();
        assert_eq!(path, dir.path().join("mine.toml"));
        let p = parse_profile(&std::fs::read_to_string(&path).unwrap(), &path).unwrap();
        assert_eq!(values(&p), e);
        assert!(
            p.description.contains("edited from default"),
            "{}",
            p.description
        );
        // Its own name is a built-in's: refused.
        assert!(save_edit(dir.path(), base, "default", &e, false).is_err());
        // Out of range: the file that would be written does not read back.
        let all = load_profiles(Some(dir.path())).unwrap();
        let mine = all.iter().find(|p| p.profile.name == "mine").unwrap();
        let before = std::fs::read_to_string(&path).unwrap();
        let bad = ProfileEdit {
            connections: 0,
            ..e
        };
        let err = save_edit(dir.path(), mine, "mine", &bad, false).unwrap_err();
        assert!(err.to_string().contains("connections"), "{err}");
        assert_eq!(std::fs::read_to_string(&path).unwrap(), before);
    }
}
