//! Job profiles: named sets of choices an operator picks from a menu (disk
//! format, verification, bandwidth, retries …). Built-in profiles ship in
//! `profiles/`; files in the user's `profiles/` config directory add to them
//! or replace them by name. Format: docs/profiles.md.

use super::ConfigError;
use super::error::line_col;
use super::rate;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Profiles compiled into the binary, so they exist on every machine.
const BUILTIN: &[(&str, &str)] = &[
    (
        "profiles/default.toml",
        include_str!("../../profiles/default.toml"),
    ),
    (
        "profiles/fast.toml",
        include_str!("../../profiles/fast.toml"),
    ),
    ("profiles/raw.toml", include_str!("../../profiles/raw.toml")),
    (
        "profiles/throttled.toml",
        include_str!("../../profiles/throttled.toml"),
    ),
];

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum ImageFormat {
    #[default]
    Qcow2,
    Raw,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RetryProfile {
    /// Attempts in all, the first included.
    #[serde(default = "default_attempts")]
    pub attempts: u32,
    #[serde(default = "default_initial_ms")]
    pub initial_ms: u64,
    #[serde(default = "default_max_ms")]
    pub max_ms: u64,
}

impl Default for RetryProfile {
    fn default() -> Self {
        RetryProfile {
            attempts: default_attempts(),
            initial_ms: default_initial_ms(),
            max_ms: default_max_ms(),
        }
    }
}

impl RetryProfile {
    pub fn initial(&self) -> Duration {
        Duration::from_millis(self.initial_ms)
    }
    pub fn max(&self) -> Duration {
        Duration::from_millis(self.max_ms)
    }
}

fn default_attempts() -> u32 {
    5
}
fn default_initial_ms() -> u64 {
    1000
}
fn default_max_ms() -> u64 {
    30_000
}
fn default_true() -> bool {
    true
}
fn default_connections() -> u8 {
    4
}
fn default_margin() -> f64 {
    1.1
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Profile {
    pub name: String,
    #[serde(default)]
    pub description: String,
    /// Image format created on the destination.
    #[serde(default)]
    pub format: ImageFormat,
    /// Read the copy back and compare BLAKE3 hashes before defining the VM.
    #[serde(default = "default_true")]
    pub verify: bool,
    /// May a running VM that cannot be cloned live be shut down for the copy?
    #[serde(default)]
    pub allow_shutdown: bool,
    /// Start the new VM once it is defined.
    #[serde(default)]
    pub start: bool,
    /// Keep the source's MAC addresses (only for VMs that never run side by side).
    #[serde(default)]
    pub preserve_macs: bool,
    /// Bytes per second for the whole job, or a string such as "50MiB/s".
    #[serde(default, deserialize_with = "rate::deserialize_opt")]
    pub bandwidth_limit: Option<u64>,
    /// NBD connections per disk.
    #[serde(default = "default_connections")]
    pub connections: u8,
    /// Required destination free space as a multiple of the data to copy.
    #[serde(default = "default_margin")]
    pub space_margin: f64,
    #[serde(default)]
    pub retry: RetryProfile,
}

/// Parses one profile file's text; `path` is only used in messages.
pub fn parse_profile(text: &str, path: &Path) -> Result<Profile, ConfigError> {
    let invalid = |offset: Option<usize>, message: String| {
        let (line, column) = match offset {
            Some(o) => {
                let (l, c) = line_col(text, o);
                (l, Some(c))
            }
            None => (1, None),
        };
        ConfigError::Invalid {
            path: path.to_path_buf(),
            line,
            column,
            message,
        }
    };
    let p: Profile = toml::from_str(text)
        .map_err(|e| invalid(e.span().map(|s| s.start), e.message().replace('`', "")))?;
    let field_at = |field: &str| text.find(&format!("{field} ")).or_else(|| text.find(field));
    let bad = |field: &str, why: String| invalid(field_at(field), format!("{field}: {why}"));
    if p.name.is_empty()
        || p.name.len() > 64
        || !p
            .name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
    {
        return Err(bad(
            "name",
            format!(
                "{:?} is not a profile name (1-64 of A-Z a-z 0-9 . _ -)",
                p.name
            ),
        ));
    }
    if !(1..=16).contains(&p.connections) {
        return Err(bad(
            "connections",
            format!("{} is not in 1..=16", p.connections),
        ));
    }
    if !(1.0..=10.0).contains(&p.space_margin) {
        return Err(bad(
            "space_margin",
            format!("{} is not in 1.0..=10.0", p.space_margin),
        ));
    }
    if p.retry.attempts == 0 || p.retry.attempts > 100 {
        return Err(bad(
            "attempts",
            format!("{} is not in 1..=100", p.retry.attempts),
        ));
    }
    if p.retry.initial_ms == 0 || p.retry.initial_ms > p.retry.max_ms {
        return Err(bad(
            "initial_ms",
            format!(
                "{} must be at least 1 and at most max_ms ({})",
                p.retry.initial_ms, p.retry.max_ms
            ),
        ));
    }
    Ok(p)
}

/// The built-in profiles, then every `*.toml` in `user_dir` (if it exists),
/// which replaces a built-in profile of the same name. Sorted by name, with
/// "default" first.
pub fn load_profiles(user_dir: Option<&Path>) -> Result<Vec<Profile>, ConfigError> {
    let mut out: Vec<Profile> = Vec::new();
    let mut add = |p: Profile| match out.iter_mut().find(|q| q.name == p.name) {
        Some(slot) => *slot = p,
        None => out.push(p),
    };
    for (path, text) in BUILTIN {
        add(parse_profile(text, Path::new(path))?);
    }
    if let Some(dir) = user_dir {
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
            add(parse_profile(&text, &f)?);
        }
    }
    out.sort_by(|a, b| (a.name != "default", &a.name).cmp(&(b.name != "default", &b.name)));
    Ok(out)
}

/// `~/.config/kvm-clone/profiles`: beside the default config file.
pub fn user_profile_dir() -> Option<PathBuf> {
    crate::paths::default_config_file().and_then(|f| f.parent().map(|d| d.join("profiles")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtin_profiles_parse_and_default_comes_first() {
        let all = load_profiles(None).unwrap();
        let names: Vec<&str> = all.iter().map(|p| p.name.as_str()).collect();
        assert_eq!(names, ["default", "fast", "raw", "throttled"]);
        let throttled = all.iter().find(|p| p.name == "throttled").unwrap();
        assert_eq!(throttled.bandwidth_limit, Some(50 << 20));
        assert_eq!(all[0].retry.attempts, 5);
        assert_eq!(
            all.iter().find(|p| p.name == "raw").unwrap().format,
            ImageFormat::Raw
        );
    }

    #[test]
    fn user_profile_replaces_builtin_of_same_name() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("fast.toml"),
            "name = \"fast\"\nverify = true\n",
        )
        .unwrap();
        std::fs::write(
            dir.path().join("nightly.toml"),
            "name = \"nightly\"\nstart = true\n",
        )
        .unwrap();
        let all = load_profiles(Some(dir.path())).unwrap();
        assert!(all.iter().find(|p| p.name == "fast").unwrap().verify);
        assert!(all.iter().find(|p| p.name == "nightly").unwrap().start);
        assert_eq!(all.len(), 5);
    }

    #[test]
    fn unknown_field_is_rejected_with_line() {
        let e = parse_profile("name = \"x\"\nverfy = true\n", Path::new("p.toml"))
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("p.toml:2:"), "{e}");
        assert!(e.contains("unknown field verfy"), "{e}");
    }

    #[test]
    fn bad_values_name_their_field_and_line() {
        let cases = [
            (
                "name = \"x\"\nconnections = 0\n",
                "p.toml:2:",
                "connections: 0 is not in 1..=16",
            ),
            (
                "name = \"x\"\nspace_margin = 0.5\n",
                "p.toml:2:",
                "space_margin",
            ),
            ("name = \"a/b\"\n", "p.toml:1:", "not a profile name"),
            ("name = \"x\"\nformat = \"vmdk\"\n", "p.toml:2:", "vmdk"),
            (
                "name = \"x\"\nbandwidth_limit = \"fast\"\n",
                "p.toml:2:",
                "not a rate",
            ),
            (
                "name = \"x\"\n[retry]\ninitial_ms = 5000\nmax_ms = 100\n",
                "p.toml:3:",
                "initial_ms",
            ),
        ];
        for (text, place, what) in cases {
            let e = parse_profile(text, Path::new("p.toml"))
                .unwrap_err()
                .to_string();
            assert!(e.starts_with(place), "{text:?}: {e}");
            assert!(e.contains(what), "{text:?}: {e}");
        }
    }
}
