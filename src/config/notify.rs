//! `[notify.email]`: an e-mail when a job ends (docs/notify.md).

use std::path::PathBuf;

use serde::Deserialize;

/// `[notify]`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NotifySettings {
    #[serde(default)]
    pub email: Option<EmailSettings>,
}

/// `[notify.email]`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EmailSettings {
    /// The SMTP server.
    pub host: String,
    /// Default: 587 for STARTTLS, 465 for implicit TLS, 25 without TLS.
    #[serde(default)]
    pub port: Option<u16>,
    #[serde(default)]
    pub tls: EmailTls,
    #[serde(default)]
    pub user: Option<String>,
    /// The password's file (0600); never the password itself.
    #[serde(default)]
    pub password_file: Option<PathBuf>,
    /// `"kvm-clone <backup@example.com>"` or a bare address.
    pub from: String,
    pub to: Vec<String>,
    /// Which results are sent: `done`, `failed`, `cancelled`.
    #[serde(default = "default_on")]
    pub on: Vec<String>,
}

fn default_on() -> Vec<String> {
    vec!["failed".into()]
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EmailTls {
    /// Plain connection upgraded with STARTTLS, which must succeed.
    #[default]
    Starttls,
    /// TLS from the first byte (SMTPS).
    Tls,
    /// No TLS: only to a server on this machine (loopback).
    None,
}

impl EmailSettings {
    pub fn port(&self) -> u16 {
        self.port.unwrap_or(match self.tls {
            EmailTls::Starttls => 587,
            EmailTls::Tls => 465,
            EmailTls::None => 25,
        })
    }

    /// Whether a job that ended so (`done`, `failed`, `cancelled`) is sent.
    pub fn sends(&self, result: &str) -> bool {
        self.on.iter().any(|r| r == result)
    }
}

/// What is wrong with the table, and which field.
pub(super) fn check(e: &EmailSettings) -> Result<(), (&'static str, String)> {
    let at = |field, why: String| Err((field, why));
    if e.host.is_empty() || e.host.starts_with('-') {
        return at("host", "not a host name".into());
    }
    if e.tls == EmailTls::None && !is_loopback(&e.host) {
        return at(
            "tls",
            format!(
                "\"none\" sends mail (and the password) in clear; it is allowed only to a \
                 server on this machine, not {}: use \"starttls\" or \"tls\"",
                e.host
            ),
        );
    }
    if e.user.is_some() != e.password_file.is_some() {
        return at(
            "user",
            "give both user and password_file, or neither".into(),
        );
    }
    for addr in std::iter::once(&e.from).chain(&e.to) {
        if let Err(why) = addr.parse::<lettre::message::Mailbox>() {
            let field = if addr == &e.from { "from" } else { "to" };
            return at(field, format!("{addr:?} is not an e-mail address ({why})"));
        }
    }
    if e.to.is_empty() {
        return at("to", "name at least one recipient".into());
    }
    if let Some(bad) =
        e.on.iter()
            .find(|r| !["done", "failed", "cancelled"].contains(&r.as_str()))
    {
        return at("on", format!("{bad:?}: use done, failed or cancelled"));
    }
    Ok(())
}

fn is_loopback(host: &str) -> bool {
    host == "localhost"
        || host
            .trim_matches(['[', ']'])
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}
