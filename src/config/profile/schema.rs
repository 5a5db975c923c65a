//! A profile as the rest of the program uses it: checked, defaults filled
//! in, human units already converted. The file format is in `file.rs`.

use serde::Serialize;
use std::path::PathBuf;
use std::time::Duration;

/// Which job a profile is for; in `model` because front ends see it.
pub use crate::model::profile::ProfileKind;

/// What happens to a running source VM; in `model` because the TUI edits it.
pub use crate::model::profile::LivePolicy;

/// How an export compresses chunks; in `model` because front ends show it.
pub use crate::model::profile::Compression;

pub use crate::model::FormatChoice;
pub use crate::model::ImageFormat;

/// Transient failures: exponential backoff with jitter.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct RetryProfile {
    /// Attempts in all, the first included.
    pub attempts: u32,
    #[serde(with = "secs")]
    pub initial: Duration,
    #[serde(with = "secs")]
    pub max: Duration,
}

impl Default for RetryProfile {
    fn default() -> Self {
        RetryProfile {
            attempts: 5,
            initial: Duration::from_secs(1),
            max: Duration::from_secs(30),
        }
    }
}

/// Where an export's passphrase comes from. The passphrase itself is never
/// written in a profile.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "from", content = "name")]
pub enum PassphraseSource {
    /// Asked for when the job starts (TUI prompt, or the terminal).
    Prompt,
    /// The first line of this file (which should be mode 0600).
    File(PathBuf),
    /// This environment variable of the kvm-clone process.
    Env(String),
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Default)]
#[serde(rename_all = "snake_case", tag = "mode")]
pub enum Encryption {
    #[default]
    None,
    Passphrase {
        source: PassphraseSource,
    },
    /// age X25519 public keys (`age1…`); any one of the matching identities decrypts.
    Recipients {
        recipients: Vec<String>,
    },
}

impl Encryption {
    pub fn label(&self) -> String {
        match self {
            Encryption::None => "none".into(),
            Encryption::Passphrase { source } => match source {
                PassphraseSource::Prompt => "passphrase (asked for)".into(),
                PassphraseSource::File(p) => format!("passphrase from file {}", p.display()),
                PassphraseSource::Env(v) => format!("passphrase from ${v}"),
            },
            Encryption::Recipients { recipients } => {
                let n = recipients.len();
                format!("age, {n} recipient{}", if n == 1 { "" } else { "s" })
            }
        }
    }
}

/// Which exports to keep; the others are removed after a successful export.
/// At least one rule is set when the table is present.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Default)]
pub struct Retention {
    pub keep_last: Option<u32>,
    pub keep_daily: Option<u32>,
    pub keep_weekly: Option<u32>,
    pub keep_monthly: Option<u32>,
    pub keep_yearly: Option<u32>,
}

impl Retention {
    /// The rules by their file keys, in the documented order.
    pub fn rules(&self) -> [(&'static str, Option<u32>); 5] {
        [
            ("keep_last", self.keep_last),
            ("keep_daily", self.keep_daily),
            ("keep_weekly", self.keep_weekly),
            ("keep_monthly", self.keep_monthly),
            ("keep_yearly", self.keep_yearly),
        ]
    }

    pub fn label(&self) -> String {
        let rules = [
            ("last", self.keep_last),
            ("daily", self.keep_daily),
            ("weekly", self.keep_weekly),
            ("monthly", self.keep_monthly),
            ("yearly", self.keep_yearly),
        ];
        rules
            .iter()
            .filter_map(|(k, v)| v.map(|n| format!("{n} {k}")))
            .collect::<Vec<_>>()
            .join(", ")
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Profile {
    pub name: String,
    pub description: String,
    pub kind: ProfileKind,
    pub live: LivePolicy,
    /// How long a graceful shutdown may take before the job gives up.
    #[serde(with = "secs")]
    pub shutdown_timeout: Duration,
    /// Image format created on the destination: each disk's own (`same`),
    /// or one for every disk.
    pub format: FormatChoice,
    /// Storage pool on the destination; None: the host's configured pool.
    pub pool: Option<String>,
    /// Read the copy back and compare BLAKE3 hashes.
    pub verify: bool,
    /// NBD connections per disk.
    pub connections: u8,
    /// NBD requests in flight on each connection.
    pub requests_in_flight: u8,
    /// Bytes per second for the whole job.
    pub bandwidth_limit: Option<u64>,
    /// Required destination free space as a multiple of the data to copy.
    pub space_margin: f64,
    pub retry: RetryProfile,
    /// Clone: keep the source's MAC addresses.
    pub preserve_macs: bool,
    /// Clone: start the new VM once it is defined.
    pub start: bool,
    /// Export: only what changed since the previous export.
    pub incremental: bool,
    /// Export: how chunks are compressed.
    pub compression: Compression,
    /// Export.
    pub encryption: Encryption,
    /// Export.
    pub retention: Option<Retention>,
    /// POSTed a JSON summary when the job ends (docs/profiles.md).
    pub webhook: Option<String>,
}

impl Profile {
    /// Windows in flight for one disk's copy: every connection's requests.
    pub fn copy_workers(&self) -> usize {
        usize::from(self.connections) * usize::from(self.requests_in_flight)
    }
}

/// Durations as whole seconds (fractions kept) in JSON.
mod secs {
    use serde::Serializer;
    use std::time::Duration;

    pub fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_f64(d.as_secs_f64())
    }
}
