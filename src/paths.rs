//! Where kvm-clone keeps its files (config, logs, journal, history).

use std::path::PathBuf;

/// Environment variable that names the config file, overriding the default location.
pub const CONFIG_ENV: &str = "KVM_CLONE_CONFIG";

fn project_dirs() -> Option<directories::ProjectDirs> {
    directories::ProjectDirs::from("", "", "kvm-clone")
}

/// Default config file path (`~/.config/kvm-clone/config.toml` on Linux).
pub fn default_config_file() -> Option<PathBuf> {
    project_dirs().map(|d| d.config_dir().join("config.toml"))
}

/// Environment variable that names the user profiles directory.
pub const PROFILE_DIR_ENV: &str = "KVM_CLONE_PROFILE_DIR";

/// The user profiles directory: `KVM_CLONE_PROFILE_DIR` (an empty value
/// counts as unset), else `profiles/` beside the default config file
/// (`~/.config/kvm-clone/profiles`). docs/profiles.md says why not beside
/// a `--config` file.
pub fn profile_dir() -> Option<PathBuf> {
    if let Some(d) = std::env::var_os(PROFILE_DIR_ENV).filter(|d| !d.is_empty()) {
        return Some(PathBuf::from(d));
    }
    default_config_file().and_then(|f| f.parent().map(|d| d.join("profiles")))
}

/// Data directory: logs, job journal, history (`~/.local/share/kvm-clone`).
/// `KVM_CLONE_DATA_DIR` overrides it, which tests use to stay isolated.
pub fn data_dir() -> Option<PathBuf> {
    if let Some(d) = std::env::var_os("KVM_CLONE_DATA_DIR") {
        return Some(PathBuf::from(d));
    }
    project_dirs().map(|d| d.data_dir().to_path_buf())
}
