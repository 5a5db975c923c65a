//! The config file (TOML): hosts, extra known_hosts files, key bindings.
//! Format documented in docs/config.md.

use serde::{Deserialize, Serialize};
use std::path::PathBuf;

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

pub fn default_libvirt_uri() -> String {
    "qemu:///system".to_string()
}

pub fn default_pool() -> String {
    "default".to_string()
}
