//! The profile file format (TOML, docs/profiles.md): every value keeps its
//! position so that a bad one is reported with the file, line and reason.

use super::schema::{
    Compression, Encryption, LivePolicy, PassphraseSource, Profile, ProfileKind, Retention,
    RetryProfile,
};
use crate::config::ConfigError;
use crate::config::duration::parse_duration;
use crate::config::error::line_col;
use crate::config::rate::parse_rate;
use crate::model::FormatChoice;
use serde::Deserialize;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::time::Duration;
use toml::Spanned;

type S<T> = Option<Spanned<T>>;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ProfileFile {
    name: Spanned<String>,
    description: S<String>,
    kind: S<Kind>,
    live: S<Policy>,
    shutdown_timeout: S<String>,
    format: S<Format>,
    pool: S<String>,
    verify: S<bool>,
    connections: S<i64>,
    requests_in_flight: S<i64>,
    bandwidth_limit: S<toml::Value>,
    space_margin: S<f64>,
    retry: S<RetryFile>,
    preserve_macs: S<bool>,
    start: S<bool>,
    incremental: S<bool>,
    /// The older switch, still read: true is lz4, false none.
    compress: S<bool>,
    compression: S<Codec>,
    compression_level: S<i64>,
    encryption: S<EncryptionFile>,
    retention: S<RetentionFile>,
    webhook: S<String>,
    /// Replaced by `live`; named so its error can say so.
    allow_shutdown: S<toml::Value>,
}

#[derive(Deserialize, Clone, Copy)]
#[serde(rename_all = "lowercase")]
enum Kind {
    Clone,
    Export,
}

#[derive(Deserialize, Clone, Copy)]
#[serde(rename_all = "kebab-case")]
enum Policy {
    Live,
    RequireShutdown,
    ShutdownRestart,
}

#[derive(Deserialize, Clone, Copy, PartialEq)]
#[serde(rename_all = "lowercase")]
enum Codec {
    Lz4,
    Zstd,
    None,
}

#[derive(Deserialize, Clone, Copy)]
#[serde(rename_all = "lowercase")]
enum Format {
    Same,
    Qcow2,
    Raw,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RetryFile {
    attempts: S<i64>,
    initial_delay: S<String>,
    max_delay: S<String>,
    /// The older millisecond keys, still read.
    initial_ms: S<i64>,
    max_ms: S<i64>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct EncryptionFile {
    mode: Spanned<Mode>,
    passphrase_file: S<String>,
    passphrase_env: S<String>,
    recipients: S<Vec<Spanned<String>>>,
    /// Never allowed; named so its error can say why.
    passphrase: S<toml::Value>,
}

#[derive(Deserialize, Clone, Copy, PartialEq)]
#[serde(rename_all = "lowercase")]
enum Mode {
    None,
    Passphrase,
    Recipients,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RetentionFile {
    keep_last: S<i64>,
    keep_daily: S<i64>,
    keep_weekly: S<i64>,
    keep_monthly: S<i64>,
    keep_yearly: S<i64>,
}

/// NBD connections per disk.
pub const CONNECTIONS: std::ops::RangeInclusive<i64> = 1..=16;
/// NBD requests in flight per connection.
pub const REQUESTS_IN_FLIGHT: std::ops::RangeInclusive<i64> = 1..=64;
/// Each retention rule.
pub const KEEP_RULE: std::ops::RangeInclusive<i64> = 1..=10_000;

/// Longest profile name; names become file names.
pub const NAME_MAX: usize = 64;

/// Why `name` cannot name a profile, or None.
pub fn name_problem(name: &str) -> Option<String> {
    let ok_chars = name
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    if name.is_empty()
        || name.len() > NAME_MAX
        || !ok_chars
        || !name.starts_with(|c: char| c.is_ascii_alphanumeric())
    {
        Some(format!(
            "{name:?} is not a profile name (1-{NAME_MAX} of A-Z a-z 0-9 . _ -, starting with a letter or digit)"
        ))
    } else {
        None
    }
}

/// Why `url` is not a webhook address, or None.
pub fn webhook_problem(url: &str) -> Option<String> {
    let why = match url.parse::<ureq::http::Uri>() {
        Err(e) => e.to_string(),
        Ok(u) if !matches!(u.scheme_str(), Some("http" | "https")) => {
            "only http:// and https:// URLs are supported".into()
        }
        Ok(u) if u.host().is_none_or(str::is_empty) => "it names no host".into(),
        Ok(_) => return None,
    };
    Some(format!("{url:?} is not a webhook URL: {why}"))
}

/// Why `key` is not an age X25519 recipient (`age1…`, Bech32), or None.
pub fn recipient_problem(key: &str) -> Option<String> {
    let why = match bech32::decode(key) {
        Err(e) => format!("not Bech32 ({e})"),
        Ok((hrp, _)) if hrp.to_lowercase() != "age" => {
            format!("the prefix is {:?}, not \"age\"", hrp.as_str())
        }
        Ok((_, data)) if data.len() != 32 => format!("{} bytes of key, not 32", data.len()),
        Ok(_) if key.chars().any(|c| c.is_ascii_uppercase()) => {
            "write it in lower case, as age-keygen prints it".into()
        }
        Ok(_) => return None,
    };
    Some(format!("{key:?} is not an age X25519 public key: {why}"))
}

/// Turns byte spans into `ConfigError`s that point at the line.
struct Here<'a> {
    text: &'a str,
    path: &'a Path,
}

impl Here<'_> {
    fn err(&self, span: Option<Range<usize>>, message: String) -> ConfigError {
        let (line, column) = match span {
            Some(s) => {
                let (l, c) = line_col(self.text, s.start);
                (l, Some(c))
            }
            None => (1, None),
        };
        ConfigError::Invalid {
            path: self.path.to_path_buf(),
            line,
            column,
            message,
        }
    }

    fn at<T>(&self, v: &Spanned<T>, field: &str, why: impl std::fmt::Display) -> ConfigError {
        self.err(Some(v.span()), format!("{field}: {why}"))
    }

    /// An integer field within `range`, or its default.
    fn int(
        &self,
        v: &S<i64>,
        field: &str,
        range: std::ops::RangeInclusive<i64>,
        default: i64,
    ) -> Result<i64, ConfigError> {
        match v {
            None => Ok(default),
            Some(x) if range.contains(x.get_ref()) => Ok(*x.get_ref()),
            Some(x) => Err(self.at(
                x,
                field,
                format!(
                    "{} is not in {}..={}",
                    x.get_ref(),
                    range.start(),
                    range.end()
                ),
            )),
        }
    }

    fn duration(&self, v: &Spanned<String>, field: &str) -> Result<Duration, ConfigError> {
        parse_duration(v.get_ref()).map_err(|e| self.at(v, field, e))
    }
}

fn get<T: Copy>(v: &S<T>, default: T) -> T {
    v.as_ref().map_or(default, |x| *x.get_ref())
}

/// Parses one profile file's text; `path` is only used in messages.
pub fn parse_profile(text: &str, path: &Path) -> Result<Profile, ConfigError> {
    let here = Here { text, path };
    let f: ProfileFile =
        toml::from_str(text).map_err(|e| here.err(e.span(), e.message().replace('`', "")))?;
    if let Some(v) = &f.allow_shutdown {
        return Err(here.at(
            v,
            "allow_shutdown",
            "replaced by live = \"shutdown-restart\" (or \"require-shutdown\"); see docs/profiles.md",
        ));
    }
    if let Some(why) = name_problem(f.name.get_ref()) {
        return Err(here.at(&f.name, "name", why));
    }
    let kind = match get(&f.kind, Kind::Clone) {
        Kind::Clone => ProfileKind::Clone,
        Kind::Export => ProfileKind::Export,
    };
    kind_fields(&here, &f, kind)?;
    let live = match get(&f.live, Policy::Live) {
        Policy::Live => LivePolicy::Live,
        Policy::RequireShutdown => LivePolicy::RequireShutdown,
        Policy::ShutdownRestart => LivePolicy::ShutdownRestart,
    };
    let shutdown_timeout = match &f.shutdown_timeout {
        None => DEFAULT_SHUTDOWN_TIMEOUT,
        Some(v) => {
            let d = here.duration(v, "shutdown_timeout")?;
            if !(Duration::from_secs(1)..=Duration::from_secs(3600)).contains(&d) {
                return Err(here.at(v, "shutdown_timeout", "must be between 1s and 1h"));
            }
            d
        }
    };
    let format = match get(&f.format, Format::Same) {
        Format::Same => FormatChoice::Same,
        Format::Qcow2 => FormatChoice::Qcow2,
        Format::Raw => FormatChoice::Raw,
    };
    if let Some(p) = &f.pool
        && (p.get_ref().is_empty() || p.get_ref().chars().any(|c| c.is_control() || c == '/'))
    {
        return Err(here.at(p, "pool", format!("{:?} is not a pool name", p.get_ref())));
    }
    let bandwidth_limit = match &f.bandwidth_limit {
        None => None,
        Some(v) => Some(
            match v.get_ref() {
                toml::Value::String(s) => parse_rate(s),
                toml::Value::Integer(n) if *n > 0 => Ok(*n as u64),
                other => parse_rate(&other.to_string()),
            }
            .map_err(|e| here.at(v, "bandwidth_limit", e))?,
        ),
    };
    let space_margin = match &f.space_margin {
        None => DEFAULT_SPACE_MARGIN,
        Some(v) if (1.0..=10.0).contains(v.get_ref()) => *v.get_ref(),
        Some(v) => {
            return Err(here.at(
                v,
                "space_margin",
                format!("{} is not in 1.0..=10.0", v.get_ref()),
            ));
        }
    };
    let retry = match &f.retry {
        None => RetryProfile::default(),
        Some(r) => retry(&here, r.get_ref())?,
    };
    let compression = compression(&here, &f)?;
    let encryption = match &f.encryption {
        None => Encryption::None,
        Some(e) => encryption(&here, e.get_ref())?,
    };
    let retention = match &f.retention {
        None => None,
        Some(r) => Some(retention(&here, r)?),
    };
    if let Some(w) = &f.webhook
        && let Some(why) = webhook_problem(w.get_ref())
    {
        return Err(here.at(w, "webhook", why));
    }
    Ok(Profile {
        name: f.name.get_ref().clone(),
        description: f
            .description
            .as_ref()
            .map(|d| d.get_ref().clone())
            .unwrap_or_default(),
        kind,
        live,
        shutdown_timeout,
        format,
        pool: f.pool.as_ref().map(|p| p.get_ref().clone()),
        verify: get(&f.verify, true),
        connections: here.int(&f.connections, "connections", CONNECTIONS, 4)? as u8,
        requests_in_flight: here.int(
            &f.requests_in_flight,
            "requests_in_flight",
            REQUESTS_IN_FLIGHT,
            4,
        )? as u8,
        bandwidth_limit,
        space_margin,
        retry,
        preserve_macs: get(&f.preserve_macs, false),
        start: get(&f.start, false),
        incremental: get(&f.incremental, false),
        compression,
        encryption,
        retention,
        webhook: f.webhook.as_ref().map(|w| w.get_ref().clone()),
    })
}

pub const DEFAULT_SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(120);
pub const DEFAULT_SPACE_MARGIN: f64 = 1.1;

/// Fields that belong to one kind of job are refused in the other's profiles.
fn kind_fields(here: &Here, f: &ProfileFile, kind: ProfileKind) -> Result<(), ConfigError> {
    let span = |v: &S<bool>| v.as_ref().map(|x| x.span());
    let clone_only = [
        ("preserve_macs", span(&f.preserve_macs)),
        ("start", span(&f.start)),
        ("pool", f.pool.as_ref().map(|x| x.span())),
    ];
    let export_only = [
        ("incremental", span(&f.incremental)),
        ("compress", span(&f.compress)),
        ("compression", f.compression.as_ref().map(|x| x.span())),
        (
            "compression_level",
            f.compression_level.as_ref().map(|x| x.span()),
        ),
        ("encryption", f.encryption.as_ref().map(|x| x.span())),
        ("retention", f.retention.as_ref().map(|x| x.span())),
    ];
    let (wrong, other) = match kind {
        ProfileKind::Clone => (&export_only[..], "export"),
        ProfileKind::Export => (&clone_only[..], "clone"),
    };
    if let Some((field, Some(s))) = wrong.iter().find(|(_, s)| s.is_some()) {
        return Err(here.err(
            Some(s.clone()),
            format!(
                "{field}: only {other} profiles take it (this profile has kind = \"{}\")",
                kind.label()
            ),
        ));
    }
    Ok(())
}

/// `compression` and `compression_level`, or the older `compress`; lz4
/// when none is given, as every chunk was before there was a choice.
fn compression(here: &Here, f: &ProfileFile) -> Result<Compression, ConfigError> {
    if let (Some(old), Some(new)) = (&f.compress, &f.compression) {
        return Err(here.at(
            old,
            "compress",
            format!(
                "give compression or the older compress, not both (compression at line {})",
                line_col(here.text, new.span().start).0
            ),
        ));
    }
    let codec = match (&f.compression, &f.compress) {
        (Some(c), _) => *c.get_ref(),
        (None, Some(on)) if *on.get_ref() => Codec::Lz4,
        (None, Some(_)) => Codec::None,
        (None, None) => Codec::Lz4,
    };
    if let Some(level) = &f.compression_level
        && codec != Codec::Zstd
    {
        return Err(here.at(
            level,
            "compression_level",
            "only with compression = \"zstd\" (lz4 has no levels)",
        ));
    }
    let levels = kvm_clone_codec::zstd::LEVELS;
    let range = i64::from(*levels.start())..=i64::from(*levels.end());
    let default = i64::from(kvm_clone_codec::zstd::DEFAULT_LEVEL);
    Ok(match codec {
        Codec::None => Compression::None,
        Codec::Lz4 => Compression::Lz4,
        Codec::Zstd => {
            Compression::Zstd(
                here.int(&f.compression_level, "compression_level", range, default)? as i32,
            )
        }
    })
}

fn retry(here: &Here, r: &RetryFile) -> Result<RetryProfile, ConfigError> {
    let d = RetryProfile::default();
    let attempts = here.int(&r.attempts, "attempts", 1..=100, i64::from(d.attempts))? as u32;
    let delay = |human: &S<String>,
                 ms: &S<i64>,
                 field: &str,
                 legacy: &str,
                 default: Duration|
     -> Result<(Duration, Option<Range<usize>>), ConfigError> {
        match (human, ms) {
            (Some(h), Some(m)) => Err(here.at(
                m,
                legacy,
                format!("give {field} or {legacy}, not both ({field} at line {})", {
                    line_col(here.text, h.span().start).0
                }),
            )),
            (Some(h), None) => Ok((here.duration(h, field)?, Some(h.span()))),
            (None, Some(m)) if *m.get_ref() >= 0 => {
                Ok((Duration::from_millis(*m.get_ref() as u64), Some(m.span())))
            }
            (None, Some(m)) => Err(here.at(m, legacy, "cannot be negative")),
            (None, None) => Ok((default, None)),
        }
    };
    let (initial, at) = delay(
        &r.initial_delay,
        &r.initial_ms,
        "initial_delay",
        "initial_ms",
        d.initial,
    )?;
    let (max, _) = delay(&r.max_delay, &r.max_ms, "max_delay", "max_ms", d.max)?;
    if initial.is_zero() || initial > max {
        return Err(here.err(
            at,
            format!(
                "initial_delay: {initial:?} must be more than 0 and at most max_delay ({max:?})"
            ),
        ));
    }
    Ok(RetryProfile {
        attempts,
        initial,
        max,
    })
}

fn encryption(here: &Here, e: &EncryptionFile) -> Result<Encryption, ConfigError> {
    if let Some(p) = &e.passphrase {
        return Err(here.at(
            p,
            "passphrase",
            "a passphrase is never written in a profile; name passphrase_file or \
             passphrase_env, or leave both out to be asked",
        ));
    }
    let mode = *e.mode.get_ref();
    let misplaced = [
        (
            "passphrase_file",
            e.passphrase_file.as_ref().map(|x| x.span()),
            Mode::Passphrase,
        ),
        (
            "passphrase_env",
            e.passphrase_env.as_ref().map(|x| x.span()),
            Mode::Passphrase,
        ),
        (
            "recipients",
            e.recipients.as_ref().map(|x| x.span()),
            Mode::Recipients,
        ),
    ];
    for (field, span, wants) in misplaced {
        if span.is_some() && mode != wants {
            let m = if wants == Mode::Passphrase {
                "passphrase"
            } else {
                "recipients"
            };
            return Err(here.err(span, format!("{field}: only with mode = \"{m}\"")));
        }
    }
    Ok(match mode {
        Mode::None => Encryption::None,
        Mode::Passphrase => {
            let source = match (&e.passphrase_file, &e.passphrase_env) {
                (Some(_), Some(v)) => {
                    return Err(here.at(
                        v,
                        "passphrase_env",
                        "give passphrase_file or passphrase_env, not both",
                    ));
                }
                (Some(f), None) if f.get_ref().is_empty() => {
                    return Err(here.at(f, "passphrase_file", "is empty"));
                }
                (Some(f), None) => PassphraseSource::File(expand_home(f.get_ref())),
                (None, Some(v)) => {
                    let ok = !v.get_ref().is_empty()
                        && !v.get_ref().starts_with(|c: char| c.is_ascii_digit())
                        && v.get_ref()
                            .chars()
                            .all(|c| c.is_ascii_alphanumeric() || c == '_');
                    if !ok {
                        return Err(here.at(
                            v,
                            "passphrase_env",
                            format!("{:?} is not an environment variable name", v.get_ref()),
                        ));
                    }
                    PassphraseSource::Env(v.get_ref().clone())
                }
                (None, None) => PassphraseSource::Prompt,
            };
            Encryption::Passphrase { source }
        }
        Mode::Recipients => {
            let list = e.recipients.as_ref().ok_or_else(|| {
                here.at(
                    &e.mode,
                    "recipients",
                    "mode = \"recipients\" needs a recipients list",
                )
            })?;
            if list.get_ref().is_empty() {
                return Err(here.at(list, "recipients", "the list is empty"));
            }
            for r in list.get_ref() {
                if let Some(why) = recipient_problem(r.get_ref()) {
                    return Err(here.at(r, "recipients", why));
                }
            }
            Encryption::Recipients {
                recipients: list.get_ref().iter().map(|r| r.get_ref().clone()).collect(),
            }
        }
    })
}

fn retention(here: &Here, r: &Spanned<RetentionFile>) -> Result<Retention, ConfigError> {
    let f = r.get_ref();
    let one = |v: &S<i64>, field: &str| -> Result<Option<u32>, ConfigError> {
        match v {
            None => Ok(None),
            Some(x) if KEEP_RULE.contains(x.get_ref()) => Ok(Some(*x.get_ref() as u32)),
            Some(x) => Err(here.at(
                x,
                field,
                format!(
                    "{} is not in 1..=10000 (leave the rule out to not use it)",
                    x.get_ref()
                ),
            )),
        }
    };
    let out = Retention {
        keep_last: one(&f.keep_last, "keep_last")?,
        keep_daily: one(&f.keep_daily, "keep_daily")?,
        keep_weekly: one(&f.keep_weekly, "keep_weekly")?,
        keep_monthly: one(&f.keep_monthly, "keep_monthly")?,
        keep_yearly: one(&f.keep_yearly, "keep_yearly")?,
    };
    if out == Retention::default() {
        return Err(here.at(
            r,
            "retention",
            "names no rule; set at least one of keep_last, keep_daily, keep_weekly, \
             keep_monthly, keep_yearly (or remove the table to keep every export)",
        ));
    }
    Ok(out)
}

/// `~/x` as the operator means it; other paths as written.
fn expand_home(path: &str) -> PathBuf {
    if let Some(rest) = path.strip_prefix("~/")
        && let Some(home) = std::env::var_os("HOME")
    {
        return PathBuf::from(home).join(rest);
    }
    PathBuf::from(path)
}
