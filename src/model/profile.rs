//! What front ends see of a job profile: its kind, where it was read
//! from, and its settings as menu lines. The profiles themselves are read
//! and checked in `config::profile`, which re-exports these types.

use serde::{Deserialize, Serialize};
use std::path::PathBuf;

/// Which job a profile is for (restore uses clone profiles).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum ProfileKind {
    #[default]
    Clone,
    Export,
}

impl ProfileKind {
    pub fn label(self) -> &'static str {
        match self {
            ProfileKind::Clone => "clone",
            ProfileKind::Export => "export",
        }
    }
}

/// Where a profile was read from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "type", content = "path")]
pub enum ProfileSource {
    BuiltIn,
    User(PathBuf),
}

impl ProfileSource {
    /// "built-in", or the user file's path.
    pub fn label(&self) -> String {
        match self {
            ProfileSource::BuiltIn => "built-in".into(),
            ProfileSource::User(p) => p.display().to_string(),
        }
    }
}

/// What a menu shows of one profile.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProfileSummary {
    pub name: String,
    pub kind: ProfileKind,
    pub description: String,
    pub source: ProfileSource,
    pub overrides_builtin: bool,
    /// (label, value), in display order.
    pub settings: Vec<(String, String)>,
}
