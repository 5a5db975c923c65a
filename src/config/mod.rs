//! The config file (TOML): hosts, extra known_hosts files, key bindings,
//! clone defaults; and the `~/.ssh/config` aliases hosts may name.
//! Format documented in docs/config.md.
//!
//! - [`load`] finds and reads the file, [`parse`] checks it;
//! - [`resolve`] turns a [`HostConfig`] into the address, port, user and keys to
//!   connect with, consulting [`ssh_config`] when the host names an alias;
//! - [`append_host`] adds a host to the file, keeping its comments.

mod append;
mod duration;
mod error;
mod load;
mod notify;
mod parse;
pub mod profile;
mod rate;
mod resolve;
mod schedule;
mod secret_file;
pub mod ssh_config;
mod validate;

pub use append::append_host;
pub(crate) use append::write_atomically;
pub(crate) use duration::format_duration;
pub use duration::parse_duration;
pub use error::ConfigError;
pub use load::{ConfigOrigin, LoadedConfig, load, load_from};
pub use notify::{EmailSettings, EmailTls, NotifySettings};
pub use parse::parse;
pub(crate) use rate::parse_rate;
pub use resolve::{ResolveEnv, ResolvedHost, resolve, resolve_with};
pub use schedule::{CronExpr, ScheduleConfig, ScheduleJob, glob};
pub use secret_file::read_secret_file;
pub use validate::{MAX_HOST_NAME_LEN, validate_host};

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::PathBuf;

/// The whole config file.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Hosts in file order (the order the hosts pane shows).
    #[serde(default)]
    pub hosts: Vec<HostConfig>,
    /// known_hosts files read in addition to `~/.ssh/known_hosts`.
    #[serde(default)]
    pub known_hosts: Vec<PathBuf>,
    /// Key-binding overrides: action name -> key specs. The TUI validates them.
    #[serde(default)]
    pub keys: BTreeMap<String, Vec<String>>,
    /// Defaults for clone jobs; `None` when the file has no `[clone]` table.
    #[serde(default)]
    pub clone: Option<CloneSettings>,
    /// Job concurrency limits; `None` when the file has no `[jobs]` table.
    #[serde(default)]
    pub jobs: Option<JobSettings>,
    /// Export defaults; `None` when the file has no `[export]` table.
    #[serde(default)]
    pub export: Option<ExportSettings>,
    /// The daemon's REST API and metrics; off without an `[api]` table.
    #[serde(default)]
    pub api: Option<ApiSettings>,
    /// Notifications for every job (`[notify.email]`).
    #[serde(default)]
    pub notify: Option<NotifySettings>,
    /// Jobs the daemon runs by the clock (`[[schedules]]`).
    #[serde(default)]
    pub schedules: Vec<ScheduleConfig>,
}

impl Config {
    /// The host with this name (names are unique, compared case-insensitively).
    pub fn host(&self, name: &str) -> Option<&HostConfig> {
        self.hosts
            .iter()
            .find(|h| h.name.eq_ignore_ascii_case(name))
    }

    /// The `[clone]` settings, or their defaults when the table is absent.
    pub fn clone_settings(&self) -> CloneSettings {
        self.clone.clone().unwrap_or_default()
    }

    /// The `[jobs]` settings, or their defaults when the table is absent.
    pub fn job_settings(&self) -> JobSettings {
        self.jobs.unwrap_or_default()
    }
}

/// One host as written in the config file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HostConfig {
    /// Name shown in the UI and used on the command line.
    pub name: String,
    /// Name of a `Host` block in `~/.ssh/config`; its HostName, Port, User and
    /// IdentityFile fill in whatever this entry leaves out.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ssh_alias: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub address: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub port: Option<u16>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub identity_files: Vec<PathBuf>,
    #[serde(default = "default_libvirt_uri")]
    pub libvirt_uri: String,
    #[serde(default = "default_pool")]
    pub pool: String,
}

impl HostConfig {
    /// A host reached at `address`, everything else default.
    pub fn new(name: impl Into<String>, address: impl Into<String>) -> Self {
        HostConfig {
            name: name.into(),
            ssh_alias: None,
            address: Some(address.into()),
            port: None,
            user: None,
            identity_files: Vec::new(),
            libvirt_uri: default_libvirt_uri(),
            pool: default_pool(),
        }
    }
}

pub fn default_libvirt_uri() -> String {
    "qemu:///system".to_string()
}

pub fn default_pool() -> String {
    "default".to_string()
}

/// `[clone]`: defaults for clone jobs.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CloneSettings {
    /// Compress blocks on the wire (lz4).
    #[serde(default = "yes")]
    pub compress: bool,
    /// Compare checksums of source and copy before defining the clone.
    #[serde(default = "yes")]
    pub verify: bool,
    /// Bandwidth limit in bytes per second; `None` for no limit. Written as
    /// an integer (bytes/s) or a string such as "50MiB/s" or "1G".
    #[serde(default, deserialize_with = "rate::deserialize_opt")]
    pub bandwidth_limit: Option<u64>,
}

impl Default for CloneSettings {
    fn default() -> Self {
        CloneSettings {
            compress: true,
            verify: true,
            bandwidth_limit: None,
        }
    }
}

fn yes() -> bool {
    true
}

/// `[export]`: defaults for exports and the repository view.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExportSettings {
    /// The repository the export dialog and the repository view start with.
    #[serde(default)]
    pub repository: Option<PathBuf>,
}

/// `[api]`: the daemon's REST API and `/metrics` (docs/api.md).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApiSettings {
    /// Where it listens (plain HTTP): `"127.0.0.1:8765"`.
    pub listen: std::net::SocketAddr,
    /// A file (mode 0600 or stricter) holding the bearer token.
    pub token_file: PathBuf,
    /// Serve `/metrics` to callers without the token.
    #[serde(default)]
    pub metrics_without_token: bool,
    /// Listen on an address other than loopback. The API is plain HTTP, so
    /// the token crosses the network in clear: put it behind a TLS proxy.
    #[serde(default)]
    pub allow_remote: bool,
}

/// `[jobs]`: how many jobs run at once; the rest wait in the queue.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JobSettings {
    /// Jobs touching one host (as source or destination) at once.
    #[serde(default = "default_per_host")]
    pub per_host: usize,
    /// Jobs running at once overall.
    #[serde(default = "default_max_jobs")]
    pub max: usize,
}

/// Concurrency limits (`[jobs]` in the config file).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    pub per_host: usize,
    pub max: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            per_host: 2,
            max: 4,
        }
    }
}

impl Default for JobSettings {
    fn default() -> Self {
        JobSettings {
            per_host: default_per_host(),
            max: default_max_jobs(),
        }
    }
}

impl JobSettings {
    pub fn limits(&self) -> Limits {
        Limits {
            per_host: self.per_host,
            max: self.max,
        }
    }
}

fn default_per_host() -> usize {
    Limits::default().per_host
}

fn default_max_jobs() -> usize {
    Limits::default().max
}
