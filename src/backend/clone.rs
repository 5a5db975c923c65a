//! The backend's side of the clone flow: turning a [`CloneRequest`] into a
//! validation run on the two hosts' live connections.

use super::host::Live;
use crate::config::profile::{self, ImageFormat, Profile};
use crate::jobs::clone::validate::{self, ValidationRequest};
use crate::jobs::clone::xml_rewrite::DiskFormat;
use crate::model::{Checklist, CloneRequest};

/// The named profile, from the built-in set and the user's directory.
pub(super) fn find_profile(name: &str) -> Result<Profile, String> {
    let dir = profile::user_profile_dir();
    let all = profile::load_profiles(dir.as_deref()).map_err(|e| e.to_string())?;
    let names: Vec<String> = all.iter().map(|p| p.name.clone()).collect();
    all.into_iter()
        .find(|p| p.name == name)
        .ok_or_else(|| format!("no profile named {name:?} (have: {})", names.join(", ")))
}

/// What validation is asked, from the request, the profile and the
/// destination's default pool.
pub(super) fn validation_request(req: &CloneRequest, p: &Profile, pool: &str) -> ValidationRequest {
    let mut v = ValidationRequest::new(&req.vm, &req.new_name, pool);
    v.allow_shutdown = p.allow_shutdown;
    v.space_margin = p.space_margin;
    v.format = match p.format {
        ImageFormat::Qcow2 => DiskFormat::Qcow2,
        ImageFormat::Raw => DiskFormat::Raw,
    };
    v
}

/// Runs every pre-flight check of `req`. Read-only on both hosts.
pub(super) async fn validate(
    req: &CloneRequest,
    source: &Live,
    dest: &Live,
) -> Result<Checklist, String> {
    let p = find_profile(&req.profile)?;
    let v = validation_request(req, &p, &dest.pool);
    validate::validate(&source.worker, &dest.worker, &dest.session, &v)
        .await
        .map_err(|e| e.to_string())
}
