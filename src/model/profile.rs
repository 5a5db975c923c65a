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

/// What happens to a running source VM.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum LivePolicy {
    /// Copy a running VM live (libvirt backup job); a VM that cannot be
    /// copied live must be shut off already.
    #[default]
    Live,
    /// Shut a running source down for the copy and leave it off once the
    /// job succeeds (a move); after a failure or cancel it is started again.
    RequireShutdown,
    /// Shut a running source down for the copy and start it again after,
    /// whatever the outcome.
    ShutdownRestart,
}

impl LivePolicy {
    pub fn label(self) -> &'static str {
        match self {
            LivePolicy::Live => "live",
            LivePolicy::RequireShutdown => "require-shutdown",
            LivePolicy::ShutdownRestart => "shutdown-restart",
        }
    }

    /// Whether a running source is shut down for the copy.
    pub fn shuts_down(self) -> bool {
        self != LivePolicy::Live
    }

    /// Every policy, in the order the profile editor cycles them.
    pub const ALL: [LivePolicy; 3] = [
        LivePolicy::Live,
        LivePolicy::RequireShutdown,
        LivePolicy::ShutdownRestart,
    ];
}

/// The settings the TUI's profile editor changes; the rest of a profile
/// stays as it is. Crosses to the backend in [`crate::backend::messages::Action::SaveProfile`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct ProfileEdit {
    pub live: LivePolicy,
    pub format: super::FormatChoice,
    pub verify: bool,
    /// Bytes per second for the whole job; None: unlimited.
    pub bandwidth_limit: Option<u64>,
    pub connections: u8,
    pub requests_in_flight: u8,
    /// Export profiles only; None (or no rule): keep every export.
    pub retention: Option<super::KeepPolicy>,
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
    /// The settings the profile editor starts from.
    #[serde(default)]
    pub values: ProfileEdit,
}

/// How an export compresses the chunks it stores (docs/profiles.md). A
/// chunk that would not shrink is stored as it is whatever this says.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case", tag = "codec", content = "level")]
pub enum Compression {
    None,
    /// lz4 blocks: fast, modest ratio; what every chunk used before zstd.
    #[default]
    Lz4,
    /// zstd at this level (1-22).
    Zstd(i32),
}

impl Compression {
    /// As the profile file spells it: `lz4`, `zstd 19`, `none`.
    pub fn label(&self) -> String {
        match self {
            Compression::None => "none".into(),
            Compression::Lz4 => "lz4".into(),
            Compression::Zstd(level) => format!("zstd {level}"),
        }
    }
}
