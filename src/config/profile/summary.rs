//! A profile's settings as label/value lines, for the TUI's profile menu.

use super::load::LoadedProfile;
use super::schema::{Profile, ProfileKind};
use crate::config::duration::format_duration;
use humansize::{BINARY, format_size};

/// What a menu shows of one profile; in `model` because it crosses to
/// front ends (and into the backend's state snapshot).
pub use crate::model::profile::ProfileSummary;

impl From<&LoadedProfile> for ProfileSummary {
    fn from(l: &LoadedProfile) -> Self {
        ProfileSummary {
            name: l.profile.name.clone(),
            kind: l.profile.kind,
            description: l.profile.description.clone(),
            source: l.source.clone(),
            overrides_builtin: l.overrides_builtin,
            settings: settings(&l.profile),
            values: super::edit::values(&l.profile),
        }
    }
}

fn yes(b: bool) -> String {
    if b { "yes" } else { "no" }.into()
}

/// The settings that apply to the profile's kind.
pub fn settings(p: &Profile) -> Vec<(String, String)> {
    let mut out: Vec<(&str, String)> = vec![("kind", p.kind.label().into())];
    let live = match p.live {
        super::LivePolicy::Live => "live if possible, else must be off".to_string(),
        other => format!(
            "{} (shutdown timeout {})",
            other.label(),
            format_duration(p.shutdown_timeout)
        ),
    };
    out.push(("running VM", live));
    out.push(("format", p.format.label().into()));
    if p.kind == ProfileKind::Clone {
        out.push((
            "pool",
            p.pool.clone().unwrap_or_else(|| "host's default".into()),
        ));
    }
    out.push(("verify", yes(p.verify)));
    out.push((
        "parallelism",
        format!(
            "{} connections × {} requests",
            p.connections, p.requests_in_flight
        ),
    ));
    out.push((
        "bandwidth",
        p.bandwidth_limit
            .map(|b| format!("{}/s", format_size(b, BINARY)))
            .unwrap_or_else(|| "unlimited".into()),
    ));
    out.push((
        "retries",
        format!(
            "{} attempts, {} to {}",
            p.retry.attempts,
            format_duration(p.retry.initial),
            format_duration(p.retry.max)
        ),
    ));
    match p.kind {
        ProfileKind::Clone => {
            out.push(("preserve MACs", yes(p.preserve_macs)));
            out.push(("start after", yes(p.start)));
        }
        ProfileKind::Export => {
            out.push(("incremental", yes(p.incremental)));
            out.push(("compression", p.compression.label()));
            out.push(("encryption", p.encryption.label()));
            out.push((
                "retention",
                p.retention
                    .map(|r| r.label())
                    .unwrap_or_else(|| "keep all".into()),
            ));
        }
    }
    out.push((
        "webhook",
        p.webhook.clone().unwrap_or_else(|| "none".into()),
    ));
    out.into_iter().map(|(k, v)| (k.to_string(), v)).collect()
}
