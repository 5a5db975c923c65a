//! `kvm-clone profiles`: every profile with its kind, description and source.

use super::table;
use crate::config::profile::{LoadedProfile, Profile, ProfileKind, ProfileSource};
use serde::Serialize;

pub fn render_table(profiles: &[LoadedProfile]) -> String {
    let rows: Vec<Vec<String>> = profiles
        .iter()
        .map(|l| {
            let mut source = l.source.label();
            if l.overrides_builtin {
                source.push_str(" (overrides built-in)");
            }
            vec![
                l.profile.name.clone(),
                l.profile.kind.label().to_string(),
                l.profile.description.clone(),
                source,
            ]
        })
        .collect();
    table::render(&["NAME", "KIND", "DESCRIPTION", "SOURCE"], &rows)
}

#[derive(Serialize)]
struct Entry<'a> {
    name: &'a str,
    kind: ProfileKind,
    description: &'a str,
    /// "built-in" or "user".
    source: &'static str,
    /// The user file, for user profiles.
    path: Option<String>,
    overrides_builtin: bool,
    settings: &'a Profile,
}

#[derive(Serialize)]
struct ProfilesJson<'a> {
    profiles: Vec<Entry<'a>>,
}

/// JSON as documented in docs/json.md: `{"profiles": [...]}`.
pub fn render_json(profiles: &[LoadedProfile]) -> Result<String, serde_json::Error> {
    let profiles = profiles
        .iter()
        .map(|l| Entry {
            name: &l.profile.name,
            kind: l.profile.kind,
            description: &l.profile.description,
            source: match l.source {
                ProfileSource::BuiltIn => "built-in",
                ProfileSource::User(_) => "user",
            },
            path: match &l.source {
                ProfileSource::BuiltIn => None,
                ProfileSource::User(p) => Some(p.display().to_string()),
            },
            overrides_builtin: l.overrides_builtin,
            settings: &l.profile,
        })
        .collect();
    serde_json::to_string_pretty(&ProfilesJson { profiles })
}
