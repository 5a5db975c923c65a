//! Writing a user profile ("save as profile" in a job dialog).

use super::builtin::is_builtin;
use super::file::{DEFAULT_SHUTDOWN_TIMEOUT, DEFAULT_SPACE_MARGIN, name_problem, parse_profile};
use super::load::{ProfileSource, load_profiles};
use super::schema::{Compression, Encryption, PassphraseSource, Profile, ProfileKind};
use crate::config::ConfigError;
use crate::config::duration::format_duration;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum SaveError {
    #[error("{0}")]
    BadName(String),
    /// Built-in names are refused: a user file would silently replace the
    /// built-in everywhere. Write such a file by hand if that is the intent.
    #[error("{0:?} is a built-in profile; choose another name")]
    BuiltIn(String),
    /// A user profile of that name exists and `replace` was not set.
    #[error("a user profile named {name:?} exists ({}); confirm to replace it", path.display())]
    Exists { name: String, path: PathBuf },
    #[error(transparent)]
    Config(#[from] ConfigError),
}

/// TOML text of a string, quoted and escaped.
fn q(s: &str) -> String {
    toml::Value::String(s.to_string()).to_string()
}

/// The profile as a file: every setting written out, so the file says
/// exactly what the job will do.
pub fn to_toml(p: &Profile) -> String {
    let mut t = String::new();
    let _ = writeln!(
        t,
        "# Written by kvm-clone (\"save as profile\"). Format: docs/profiles.md"
    );
    let _ = writeln!(t, "name = {}", q(&p.name));
    let _ = writeln!(t, "description = {}", q(&p.description));
    let _ = writeln!(t, "kind = {}", q(p.kind.label()));
    let _ = writeln!(t, "live = {}", q(p.live.label()));
    if p.shutdown_timeout != DEFAULT_SHUTDOWN_TIMEOUT {
        let _ = writeln!(
            t,
            "shutdown_timeout = {}",
            q(&format_duration(p.shutdown_timeout))
        );
    }
    let _ = writeln!(t, "format = {}", q(p.format.label()));
    let _ = writeln!(t, "verify = {}", p.verify);
    let _ = writeln!(t, "connections = {}", p.connections);
    let _ = writeln!(t, "requests_in_flight = {}", p.requests_in_flight);
    if let Some(b) = p.bandwidth_limit {
        let _ = writeln!(t, "bandwidth_limit = {b}");
    }
    if p.space_margin != DEFAULT_SPACE_MARGIN {
        let _ = writeln!(t, "space_margin = {:?}", p.space_margin);
    }
    match p.kind {
        ProfileKind::Clone => {
            if let Some(pool) = &p.pool {
                let _ = writeln!(t, "pool = {}", q(pool));
            }
            let _ = writeln!(t, "preserve_macs = {}", p.preserve_macs);
            let _ = writeln!(t, "start = {}", p.start);
        }
        ProfileKind::Export => {
            let _ = writeln!(t, "incremental = {}", p.incremental);
            let codec = match p.compression {
                Compression::None => "none",
                Compression::Lz4 => "lz4",
                Compression::Zstd(_) => "zstd",
            };
            let _ = writeln!(t, "compression = {}", q(codec));
            if let Compression::Zstd(level) = p.compression {
                let _ = writeln!(t, "compression_level = {level}");
            }
        }
    }
    if let Some(w) = &p.webhook {
        let _ = writeln!(t, "webhook = {}", q(w));
    }
    let _ = writeln!(t, "\n[retry]");
    let _ = writeln!(t, "attempts = {}", p.retry.attempts);
    let _ = writeln!(
        t,
        "initial_delay = {}",
        q(&format_duration(p.retry.initial))
    );
    let _ = writeln!(t, "max_delay = {}", q(&format_duration(p.retry.max)));
    if p.kind == ProfileKind::Export {
        match &p.encryption {
            Encryption::None => {}
            Encryption::Passphrase { source } => {
                let _ = writeln!(t, "\n[encryption]\nmode = \"passphrase\"");
                match source {
                    PassphraseSource::Prompt => {}
                    PassphraseSource::File(f) => {
                        let _ = writeln!(t, "passphrase_file = {}", q(&f.display().to_string()));
                    }
                    PassphraseSource::Env(v) => {
                        let _ = writeln!(t, "passphrase_env = {}", q(v));
                    }
                }
            }
            Encryption::Recipients { recipients } => {
                let list: Vec<String> = recipients.iter().map(|r| q(r)).collect();
                let _ = writeln!(
                    t,
                    "\n[encryption]\nmode = \"recipients\"\nrecipients = [{}]",
                    list.join(", ")
                );
            }
        }
        if let Some(r) = &p.retention {
            let _ = writeln!(t, "\n[retention]");
            for (k, v) in r.rules() {
                if let Some(n) = v {
                    let _ = writeln!(t, "{k} = {n}");
                }
            }
        }
    }
    t
}

/// Writes `p` into `dir` (created 0700 if needed) atomically, as
/// `<name>.toml`, or over the user file that already holds that name when
/// `replace` is set. Built-in names are refused. Returns the file written.
pub fn save_profile(dir: &Path, p: &Profile, replace: bool) -> Result<PathBuf, SaveError> {
    if let Some(why) = name_problem(&p.name) {
        return Err(SaveError::BadName(why));
    }
    if is_builtin(&p.name) {
        return Err(SaveError::BuiltIn(p.name.clone()));
    }
    let existing = load_profiles(Some(dir))?
        .into_iter()
        .find(|l| l.profile.name == p.name)
        .and_then(|l| match l.source {
            ProfileSource::User(path) => Some(path),
            ProfileSource::BuiltIn => None,
        });
    let path = match existing {
        Some(path) if !replace => {
            return Err(SaveError::Exists {
                name: p.name.clone(),
                path,
            });
        }
        Some(path) => path,
        None => dir.join(format!("{}.toml", p.name)),
    };
    let text = to_toml(p);
    // What is written must read back as the same profile.
    parse_profile(&text, &path)?;
    crate::config::append::write_atomically(&path, text.as_bytes(), 0o600)?;
    Ok(path)
}
