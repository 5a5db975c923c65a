//! Creating a repository from a front end: how it is protected, and what a
//! path holds before that (so a front end can offer to create one).

use super::Secret;
use serde::{Deserialize, Serialize};

/// How a new repository is protected. The passphrase stays a [`Secret`]:
/// its Debug shows nothing.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NewRepoKey {
    /// Encrypted with this passphrase (the front end asked for it twice).
    Passphrase(Secret),
    /// Encrypted for these age X25519 recipients (`age1…`).
    Recipients(Vec<String>),
    /// Not encrypted (integrity is still checked).
    None,
}

/// What a repository path holds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "place")]
pub enum RepoPlace {
    /// A kvm-clone repository (it has its config file).
    Repository,
    /// Nothing yet: a missing or empty directory, where one can be created.
    Absent,
    /// Something else (a file, or a directory with other things in it).
    Other { reason: String },
}
