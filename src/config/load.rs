//! `load`: which config file to read, and reading it.

use super::{Config, ConfigError, parse};
use std::ffi::OsString;
use std::fmt;
use std::io;
use std::path::{Path, PathBuf};

/// Where the config path came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConfigOrigin {
    /// `--config PATH`.
    Explicit,
    /// The `KVM_CLONE_CONFIG` environment variable.
    Env,
    /// The default location (`~/.config/kvm-clone/config.toml`).
    Default,
}

impl fmt::Display for ConfigOrigin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConfigOrigin::Explicit => f.write_str("--config"),
            ConfigOrigin::Env => f.write_str(crate::paths::CONFIG_ENV),
            ConfigOrigin::Default => f.write_str("the default location"),
        }
    }
}

/// A config as loaded, with where it came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoadedConfig {
    pub config: Config,
    /// The file read, or the one `append_host` would create.
    pub path: PathBuf,
    pub origin: ConfigOrigin,
    /// False when there is no file yet at the default location: `config` is
    /// then empty and the UI should explain how to add a host.
    pub exists: bool,
}

/// Loads the config: `explicit` (`--config`), else `$KVM_CLONE_CONFIG`, else
/// the default location. Only a missing file at the default location is not
/// an error.
pub fn load(explicit: Option<&Path>) -> Result<LoadedConfig, ConfigError> {
    load_from(
        explicit,
        std::env::var_os(crate::paths::CONFIG_ENV),
        crate::paths::default_config_file(),
    )
}

/// [`load`] with the environment value and default location passed in, so
/// the resolution order can be tested without touching the process env.
/// An empty environment value counts as unset.
pub fn load_from(
    explicit: Option<&Path>,
    env: Option<OsString>,
    default: Option<PathBuf>,
) -> Result<LoadedConfig, ConfigError> {
    let (path, origin) = match (explicit, env.filter(|v| !v.is_empty())) {
        (Some(p), _) => (p.to_path_buf(), ConfigOrigin::Explicit),
        (None, Some(v)) => (PathBuf::from(v), ConfigOrigin::Env),
        (None, None) => (
            default.ok_or(ConfigError::NoDefaultPath)?,
            ConfigOrigin::Default,
        ),
    };
    match std::fs::read_to_string(&path) {
        Ok(text) => Ok(LoadedConfig {
            config: parse(&text, &path)?,
            path,
            origin,
            exists: true,
        }),
        Err(e) if e.kind() == io::ErrorKind::NotFound => match origin {
            ConfigOrigin::Default => Ok(LoadedConfig {
                config: Config::default(),
                path,
                origin,
                exists: false,
            }),
            _ => Err(ConfigError::NotFound { path, origin }),
        },
        Err(source) => Err(ConfigError::Read { path, source }),
    }
}
