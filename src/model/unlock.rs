//! How to open an encrypted repository: what a request carries, never a
//! derived key.

use std::path::PathBuf;
use zeroize::Zeroizing;

/// Debug never prints secrets. It serialises the passphrase as its value,
/// for the daemon's socket only (see [`crate::model::Secret`]).
#[derive(Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Unlock {
    /// Only opens unencrypted repositories.
    None,
    Passphrase(#[serde(with = "zeroizing")] Zeroizing<String>),
    /// age identity files (`AGE-SECRET-KEY-1…` lines).
    Identities(Vec<PathBuf>),
}

impl std::fmt::Debug for Unlock {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Unlock::None => f.write_str("Unlock::None"),
            Unlock::Passphrase(_) => f.write_str("Unlock::Passphrase(<hidden>)"),
            Unlock::Identities(p) => f.debug_tuple("Unlock::Identities").field(p).finish(),
        }
    }
}

impl Unlock {
    /// What was offered, for messages ("a passphrase").
    pub fn label(&self) -> &'static str {
        match self {
            Unlock::None => "nothing",
            Unlock::Passphrase(_) => "a passphrase",
            Unlock::Identities(_) => "an age identity",
        }
    }

    /// The kind only, for logs and Debug of requests.
    pub fn kind(&self) -> &'static str {
        match self {
            Unlock::None => "none",
            Unlock::Passphrase(_) => "passphrase",
            Unlock::Identities(_) => "identities",
        }
    }
}

mod zeroizing {
    use serde::{Deserialize, Deserializer, Serializer};
    use zeroize::Zeroizing;

    pub fn serialize<S: Serializer>(v: &Zeroizing<String>, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(v)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Zeroizing<String>, D::Error> {
        String::deserialize(d).map(Zeroizing::new)
    }
}
