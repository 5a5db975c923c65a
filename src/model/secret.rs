//! A secret typed by the operator (an SSH key or repository passphrase).

use std::fmt;

/// Its Debug never shows the value, so it cannot reach a log by accident.
/// It serialises as its value: it crosses the daemon's socket (a 0700
/// directory, peer-checked) on its way to the backend, and nothing else
/// that serialises messages may store them.
#[derive(Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    pub fn new(s: String) -> Self {
        Secret(s)
    }
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}
