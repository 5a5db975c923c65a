//! Public-key authentication: the ssh-agent first, then identity files.
//!
//! Unencrypted identity files are tried before any encrypted one is reported
//! as needing a passphrase, so an operator is only asked when no other key
//! worked (as OpenSSH asks only when it reaches that key).

use super::error::SshError;
use super::session::ClientHandler;
use crate::model::Secret;
use russh::client::{AuthResult, Handle};
use russh::keys::agent::AgentIdentity;
use russh::keys::agent::client::AgentClient;
use russh::keys::{HashAlg, PrivateKey, PrivateKeyWithHashAlg};
use std::collections::HashMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

/// Where to find an ssh-agent.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum AgentSource {
    /// `SSH_AUTH_SOCK` of this process, when set.
    #[default]
    Env,
    /// This socket.
    Socket(PathBuf),
    /// No agent.
    Disabled,
}

/// A passphrase the operator typed for one identity file.
#[derive(Debug, Clone)]
pub struct KeyPassphrase {
    pub key_path: PathBuf,
    pub passphrase: Secret,
}

/// Identity files decrypted with an operator's passphrase, kept in memory
/// (like an agent would) so reconnects do not ask again. The passphrase
/// itself is dropped after use. Shared between clones.
#[derive(Clone, Default)]
pub struct KeyCache(Arc<Mutex<HashMap<PathBuf, Arc<PrivateKey>>>>);

impl KeyCache {
    fn get(&self, path: &Path) -> Option<Arc<PrivateKey>> {
        self.0.lock().ok()?.get(path).cloned()
    }
    fn put(&self, path: &Path, key: Arc<PrivateKey>) {
        if let Ok(mut m) = self.0.lock() {
            m.insert(path.to_path_buf(), key);
        }
    }
    /// Forget every cached key.
    pub fn clear(&self) {
        if let Ok(mut m) = self.0.lock() {
            m.clear();
        }
    }
}

impl fmt::Debug for KeyCache {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let n = self.0.lock().map(|m| m.len()).unwrap_or(0);
        write!(f, "KeyCache({n} keys)")
    }
}

/// The identity files OpenSSH tries when none are configured, those that exist.
pub fn default_identity_files() -> Vec<PathBuf> {
    let Some(home) = std::env::var_os("HOME") else {
        return Vec::new();
    };
    let ssh = PathBuf::from(home).join(".ssh");
    ["id_ed25519", "id_ecdsa", "id_rsa"]
        .iter()
        .map(|n| ssh.join(n))
        .filter(|p| p.exists())
        .collect()
}

pub(crate) struct AuthInput<'a> {
    pub user: &'a str,
    pub target: &'a str,
    pub agent: &'a AgentSource,
    pub identity_files: &'a [PathBuf],
    pub passphrase: Option<&'a KeyPassphrase>,
    pub cache: &'a KeyCache,
}

enum Loaded {
    Key(Arc<PrivateKey>),
    NeedsPassphrase,
    Failed(String),
}

pub(crate) async fn authenticate(
    handle: &mut Handle<ClientHandler>,
    input: AuthInput<'_>,
) -> Result<(), SshError> {
    let mut tried = Vec::new();
    let mut server_methods: Vec<String> = Vec::new();
    let mut rsa_hash: Option<Option<HashAlg>> = None;

    if try_agent(
        handle,
        &input,
        &mut tried,
        &mut server_methods,
        &mut rsa_hash,
    )
    .await?
    {
        return Ok(());
    }

    let mut encrypted = Vec::new();
    for path in input.identity_files {
        let key = match load_identity(path, input.passphrase, input.cache)? {
            Loaded::Key(k) => k,
            Loaded::NeedsPassphrase => {
                tried.push(format!("{}: encrypted, no passphrase", path.display()));
                encrypted.push(path.clone());
                continue;
            }
            Loaded::Failed(why) => {
                tried.push(format!("{}: {why}", path.display()));
                continue;
            }
        };
        let hash = if key.algorithm().is_rsa() {
            rsa_hash_for(handle, &mut rsa_hash).await
        } else {
            None
        };
        let result = handle
            .authenticate_publickey(input.user, PrivateKeyWithHashAlg::new(key.clone(), hash))
            .await;
        match result {
            Ok(AuthResult::Success) => {
                if input.passphrase.is_some_and(|p| p.key_path == *path) {
                    input.cache.put(path, key);
                }
                return Ok(());
            }
            Ok(AuthResult::Failure {
                remaining_methods, ..
            }) => {
                server_methods = remaining_methods.iter().map(String::from).collect();
                tried.push(format!("{}: rejected by server", path.display()));
            }
            Err(e) => {
                tried.push(format!("{}: {e}", path.display()));
                break;
            }
        }
    }
    if let Some(key_path) = encrypted.into_iter().next() {
        return Err(SshError::NeedsPassphrase { key_path });
    }
    Err(SshError::AuthFailed {
        user: input.user.to_string(),
        target: input.target.to_string(),
        tried,
        server_methods,
    })
}

/// Tries every plain key the agent holds. Ok(true) when one was accepted.
async fn try_agent(
    handle: &mut Handle<ClientHandler>,
    input: &AuthInput<'_>,
    tried: &mut Vec<String>,
    server_methods: &mut Vec<String>,
    rsa_hash: &mut Option<Option<HashAlg>>,
) -> Result<bool, SshError> {
    let socket = match input.agent {
        AgentSource::Disabled => return Ok(false),
        AgentSource::Socket(p) => p.clone(),
        AgentSource::Env => match std::env::var_os("SSH_AUTH_SOCK") {
            Some(s) if !s.is_empty() => PathBuf::from(s),
            _ => return Ok(false),
        },
    };
    let mut agent = match AgentClient::connect_uds(&socket).await {
        Ok(a) => a,
        Err(e) => {
            tried.push(format!("agent at {}: unavailable ({e})", socket.display()));
            return Ok(false);
        }
    };
    let identities = match agent.request_identities().await {
        Ok(ids) => ids,
        Err(e) => {
            tried.push(format!("agent: cannot list keys ({e})"));
            return Ok(false);
        }
    };
    if identities.is_empty() {
        tried.push("agent: holds no keys".into());
    }
    for id in identities {
        let AgentIdentity::PublicKey { key, comment } = id else {
            continue;
        };
        let label = format!(
            "agent key {} {}{}",
            key.algorithm().as_str(),
            super::known_hosts::fingerprint(&key),
            if comment.is_empty() {
                String::new()
            } else {
                format!(" ({comment})")
            }
        );
        let hash = if key.algorithm().is_rsa() {
            rsa_hash_for(handle, rsa_hash).await
        } else {
            None
        };
        match handle
            .authenticate_publickey_with(input.user, key, hash, &mut agent)
            .await
        {
            Ok(AuthResult::Success) => return Ok(true),
            Ok(AuthResult::Failure {
                remaining_methods, ..
            }) => {
                *server_methods = remaining_methods.iter().map(String::from).collect();
                tried.push(format!("{label}: rejected by server"));
            }
            Err(e) => tried.push(format!("{label}: {e}")),
        }
        if handle.is_closed() {
            return Err(SshError::AuthFailed {
                user: input.user.to_string(),
                target: input.target.to_string(),
                tried: std::mem::take(tried),
                server_methods: std::mem::take(server_methods),
            });
        }
    }
    Ok(false)
}

async fn rsa_hash_for(
    handle: &Handle<ClientHandler>,
    cached: &mut Option<Option<HashAlg>>,
) -> Option<HashAlg> {
    if let Some(h) = cached {
        return *h;
    }
    // Servers without server-sig-algs get SHA-256, which every OpenSSH
    // since 7.2 accepts.
    let h = match handle.best_supported_rsa_hash().await {
        Ok(Some(h)) => h,
        _ => Some(HashAlg::Sha256),
    };
    *cached = Some(h);
    h
}

fn load_identity(
    path: &Path,
    passphrase: Option<&KeyPassphrase>,
    cache: &KeyCache,
) -> Result<Loaded, SshError> {
    if let Some(k) = cache.get(path) {
        return Ok(Loaded::Key(k));
    }
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Ok(Loaded::Failed("not found".into()));
        }
        Err(e) => return Ok(Loaded::Failed(format!("cannot read ({e})"))),
    };
    let encrypted = looks_encrypted(&text);
    match russh::keys::decode_secret_key(&text, None) {
        Ok(k) => return Ok(Loaded::Key(Arc::new(k))),
        Err(russh::keys::Error::KeyIsEncrypted) => {}
        Err(_) if encrypted => {}
        Err(e) => return Ok(Loaded::Failed(format!("not a usable private key ({e})"))),
    }
    let Some(pass) = passphrase.filter(|p| p.key_path == path) else {
        return Ok(Loaded::NeedsPassphrase);
    };
    match russh::keys::decode_secret_key(&text, Some(pass.passphrase.expose())) {
        Ok(k) => Ok(Loaded::Key(Arc::new(k))),
        // Deliberately no detail: it would only echo decryption internals.
        Err(_) => Err(SshError::BadPassphrase {
            key_path: path.to_path_buf(),
        }),
    }
}

/// PEM encodings that carry encryption in their headers (PKCS#8, legacy PEM).
fn looks_encrypted(text: &str) -> bool {
    text.contains("-----BEGIN ENCRYPTED PRIVATE KEY-----")
        || text.contains("Proc-Type: 4,ENCRYPTED")
}
