//! The profiles on this machine: the built-ins, then the user's directory,
//! whose files replace built-ins of the same name.

use super::builtin::BUILTIN;
use super::file::parse_profile;
use super::schema::{Profile, ProfileKind};
use crate::config::ConfigError;
use std::path::{Path, PathBuf};

/// Where a profile was read from; in `model` because front ends see it.
pub use crate::model::profile::ProfileSource;

#[derive(Debug, Clone, PartialEq)]
pub struct LoadedProfile {
    pub profile: Profile,
    pub source: ProfileSource,
    /// A built-in profile of this name exists and this one replaces it.
    pub overrides_builtin: bool,
}

/// The built-in profiles in their order, then every `*.toml` in `user_dir`
/// (if it exists) by file name; a user file replaces the built-in profile
/// of the same name in place. Any bad file is an error naming it.
pub fn load_profiles(user_dir: Option<&Path>) -> Result<Vec<LoadedProfile>, ConfigError> {
    let mut out: Vec<LoadedProfile> = Vec::new();
    for (path, text) in BUILTIN {
        out.push(LoadedProfile {
            profile: parse_profile(text, Path::new(path))?,
            source: ProfileSource::BuiltIn,
            overrides_builtin: false,
        });
    }
    let Some(dir) = user_dir else {
        return Ok(out);
    };
    let mut files: Vec<PathBuf> = match std::fs::read_dir(dir) {
        Ok(rd) => rd
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "toml"))
            .collect(),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
        Err(source) => {
            return Err(ConfigError::Read {
                path: dir.to_path_buf(),
                source,
            });
        }
    };
    files.sort();
    for f in files {
        let text = std::fs::read_to_string(&f).map_err(|source| ConfigError::Read {
            path: f.clone(),
            source,
        })?;
        let profile = parse_profile(&text, &f)?;
        let source = ProfileSource::User(f);
        match out.iter_mut().find(|q| q.profile.name == profile.name) {
            Some(slot) => {
                let overrides_builtin = slot.source == ProfileSource::BuiltIn;
                *slot = LoadedProfile {
                    profile,
                    source,
                    overrides_builtin,
                };
            }
            None => out.push(LoadedProfile {
                profile,
                source,
                overrides_builtin: false,
            }),
        }
    }
    Ok(out)
}

/// Where user profiles are: see [`crate::paths::profile_dir`].
pub fn user_profile_dir() -> Option<PathBuf> {
    crate::paths::profile_dir()
}

/// The profile named `name` for a job of `kind`, from this machine's set.
pub fn find_profile(name: &str, kind: ProfileKind) -> Result<Profile, String> {
    let dir = user_profile_dir();
    let all = load_profiles(dir.as_deref()).map_err(|e| e.to_string())?;
    let names = || {
        all.iter()
            .filter(|p| p.profile.kind == kind)
            .map(|p| p.profile.name.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    };
    match all.iter().find(|p| p.profile.name == name) {
        Some(p) if p.profile.kind == kind => Ok(p.profile.clone()),
        Some(p) => Err(format!(
            "profile {name:?} is a {} profile, not a {} one (have: {})",
            p.profile.kind.label(),
            kind.label(),
            names()
        )),
        None => Err(format!("no profile named {name:?} (have: {})", names())),
    }
}
