//! `resolve`: a host entry plus `~/.ssh/config` to the address, port, user
//! and identity files to connect with. Entry fields win over the alias's
//! values, as command-line options win in ssh.

use super::ssh_config::{self, PathTokens, SshHostOptions};
use super::validate::{check_address, check_host, check_user};
use super::{ConfigError, HostConfig};
use std::path::{Path, PathBuf};

/// Identity files tried when neither the entry nor ssh_config names one, in
/// ssh's order (those that exist).
const DEFAULT_IDENTITIES: [&str; 3] = ["id_ed25519", "id_ecdsa", "id_rsa"];

/// A host ready to connect to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResolvedHost {
    pub name: String,
    /// Host name or IP address; IPv6 addresses are bare ("::1").
    pub address: String,
    pub port: u16,
    pub user: String,
    /// Keys to offer, in order; `~` and tokens expanded.
    pub identity_files: Vec<PathBuf>,
    pub libvirt_uri: String,
    pub pool: String,
}

impl ResolvedHost {
    /// `user@host:port`, with IPv6 addresses in brackets: `root@[::1]:22`.
    pub fn endpoint(&self) -> String {
        format!("{}@{}:{}", self.user, self.bracketed(), self.port)
    }

    /// The host's name in known_hosts files: `host` on port 22, else
    /// `[host]:port` (OpenSSH's spelling).
    pub fn known_hosts_name(&self) -> String {
        if self.port == 22 {
            self.address.clone()
        } else {
            format!("[{}]:{}", self.address, self.port)
        }
    }

    fn bracketed(&self) -> String {
        if self.address.contains(':') {
            format!("[{}]", self.address)
        } else {
            self.address.clone()
        }
    }
}

/// The parts of the process environment resolution depends on.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ResolveEnv {
    pub home: Option<PathBuf>,
    /// The local user ($USER).
    pub user: Option<String>,
}

impl ResolveEnv {
    pub fn from_process() -> Self {
        let home = std::env::var_os("HOME")
            .filter(|h| !h.is_empty())
            .map(PathBuf::from)
            .or_else(|| directories::BaseDirs::new().map(|d| d.home_dir().to_path_buf()));
        let user = std::env::var("USER").ok().filter(|u| !u.is_empty());
        ResolveEnv { home, user }
    }
}

/// Resolves `host`, reading `ssh_config` (default `~/.ssh/config`) when it
/// names an `ssh_alias`. A missing default ssh_config counts as empty; a
/// missing explicit one is an error.
pub fn resolve(host: &HostConfig, ssh_config: Option<&Path>) -> Result<ResolvedHost, ConfigError> {
    resolve_with(host, ssh_config, &ResolveEnv::from_process())
}

/// [`resolve`] with the environment passed in.
pub fn resolve_with(
    host: &HostConfig,
    ssh_config: Option<&Path>,
    env: &ResolveEnv,
) -> Result<ResolvedHost, ConfigError> {
    let fail = |message: String| ConfigError::Resolve {
        host: host.name.clone(),
        message,
    };
    check_host(host).map_err(|p| {
        fail(match p.field {
            Some(f) => format!("{f}: {}", p.reason),
            None => p.reason,
        })
    })?;
    let opts = match &host.ssh_alias {
        Some(alias) => alias_options(alias, ssh_config, env)?,
        None => SshHostOptions::default(),
    };
    let (address, from) = match (&host.address, &opts.hostname, &host.ssh_alias) {
        (Some(a), _, _) => (a.clone(), "address"),
        (None, Some(h), _) => (h.clone(), "HostName in ssh config"),
        (None, None, Some(alias)) => (
            alias.clone(),
            "ssh_alias (no HostName for it in ssh config)",
        ),
        // check_host has refused an entry with neither.
        (None, None, None) => return Err(fail("has neither address nor ssh_alias".into())),
    };
    check_address(&address).map_err(|e| fail(format!("{from}: {e}")))?;
    let port = host.port.or(opts.port).unwrap_or(22);
    let (user, from) = match (&host.user, &opts.user, &env.user) {
        (Some(u), _, _) => (u.clone(), "user"),
        (None, Some(u), _) => (u.clone(), "User in ssh config"),
        (None, None, Some(u)) => (u.clone(), "$USER"),
        (None, None, None) => ("root".to_string(), "default"),
    };
    check_user(&user).map_err(|e| fail(format!("{from}: {e}")))?;

    let local_user = env.user.as_deref().unwrap_or("root");
    let tokens = PathTokens {
        home: env.home.as_deref(),
        local_user,
        host: &address,
        remote_user: &user,
    };
    let identity_files = if !host.identity_files.is_empty() {
        let mut out = Vec::new();
        for p in &host.identity_files {
            // Paths that are not UTF-8 cannot hold tokens; keep them as written.
            let expanded = match p.to_str() {
                Some(s) => ssh_config::expand_path(s, &tokens)
                    .map_err(|e| fail(format!("identity_files: {e}")))?,
                None => p.clone(),
            };
            push_unique(&mut out, expanded);
        }
        out
    } else if !opts.identity_files.is_empty() {
        let mut out = Vec::new();
        for raw in &opts.identity_files {
            let expanded = ssh_config::expand_path(raw, &tokens)
                .map_err(|e| fail(format!("IdentityFile in ssh config: {e}")))?;
            push_unique(&mut out, expanded);
        }
        out
    } else {
        env.home
            .iter()
            .flat_map(|h| {
                DEFAULT_IDENTITIES
                    .iter()
                    .map(move |f| h.join(".ssh").join(f))
            })
            .filter(|p| p.is_file())
            .collect()
    };

    Ok(ResolvedHost {
        name: host.name.clone(),
        address,
        port,
        user,
        identity_files,
        libvirt_uri: host.libvirt_uri.clone(),
        pool: host.pool.clone(),
    })
}

fn alias_options(
    alias: &str,
    ssh_config: Option<&Path>,
    env: &ResolveEnv,
) -> Result<SshHostOptions, ConfigError> {
    // Without a home directory there is no ~/.ssh; relative Includes then
    // resolve under "/" and simply match nothing.
    let home = env.home.clone().unwrap_or_else(|| PathBuf::from("/"));
    match ssh_config {
        Some(path) => ssh_config::lookup(path, alias, &home),
        None => {
            let path = home.join(".ssh").join("config");
            match std::fs::read_to_string(&path) {
                Ok(text) => ssh_config::lookup_str(&text, &path, alias, &home),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(SshHostOptions::default()),
                Err(source) => Err(ConfigError::Read { path, source }),
            }
        }
    }
}

fn push_unique(v: &mut Vec<PathBuf>, p: PathBuf) {
    if !v.contains(&p) {
        v.push(p);
    }
}
