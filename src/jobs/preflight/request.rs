//! What the operator asked for, and the checks on the request itself that
//! need no host: the new name and the numeric options.

use crate::jobs::rewrite::TpmPolicy;
use crate::model::FormatChoice;
use crate::model::checklist::{CheckItem, ids};

/// Free space must be at least the source allocation × this by default.
pub const DEFAULT_SPACE_MARGIN: f64 = 1.1;
/// Running vCPUs may reach host CPUs × this before a warning.
pub const DEFAULT_VCPU_RATIO: f64 = 4.0;

/// One clone to validate. Build with [`ValidationRequest::new`] and adjust fields.
#[derive(Debug, Clone, PartialEq)]
pub struct ValidationRequest {
    /// The VM on the source host.
    pub vm: String,
    /// The clone's name on the destination.
    pub new_name: String,
    /// Storage pool on the destination that receives the disks (and NVRAM).
    pub dest_pool: String,
    /// The profile's live policy shuts a running source down for an
    /// offline copy (require-shutdown or shutdown-restart).
    pub allow_shutdown: bool,
    /// The copy is started once defined (`--start` or the profile): a kept
    /// file missing on the destination then fails instead of warning.
    pub start: bool,
    /// Image format of the copies: each disk's own, or one for all.
    pub format: FormatChoice,
    /// Required free space = allocation × margin; must be finite and ≥ 1.0.
    pub space_margin: f64,
    /// vCPU overcommit allowed before a warning: running vCPUs ≤ host CPUs × ratio.
    pub vcpu_ratio: f64,
    /// What to do with an emulated TPM's state (see the XML rewrite).
    pub tpm: TpmPolicy,
}

impl ValidationRequest {
    /// Defaults: no shutdown, each disk's own format, margin 1.1, vCPU ratio 4, TPM refused.
    pub fn new(
        vm: impl Into<String>,
        new_name: impl Into<String>,
        dest_pool: impl Into<String>,
    ) -> Self {
        ValidationRequest {
            vm: vm.into(),
            new_name: new_name.into(),
            dest_pool: dest_pool.into(),
            allow_shutdown: false,
            start: false,
            format: FormatChoice::Same,
            space_margin: DEFAULT_SPACE_MARGIN,
            vcpu_ratio: DEFAULT_VCPU_RATIO,
            tpm: TpmPolicy::Refuse,
        }
    }
}

pub use crate::model::names::{MAX_NAME_LEN, name_problem};

pub(super) fn check_name(req: &ValidationRequest) -> CheckItem {
    const TITLE: &str = "New name";
    match name_problem(&req.new_name) {
        None => CheckItem::pass(
            ids::NAME_VALID,
            TITLE,
            format!("{:?} is a valid name", req.new_name),
        ),
        Some(why) => CheckItem::fail(
            ids::NAME_VALID,
            TITLE,
            format!("the new name {:?} is refused: {why}", req.new_name),
            format!(
                "choose a name of 1 to {MAX_NAME_LEN} letters, digits, '.', '_' or '-', \
                 starting with a letter or digit, e.g. \"{}-clone\"",
                suggestion(&req.vm)
            ),
        ),
    }
}

/// The source name reduced to the allowed charset, for the hint.
fn suggestion(vm: &str) -> String {
    let s: String = vm
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
        .take(MAX_NAME_LEN - 6)
        .collect::<String>()
        .replace("..", ".");
    let s = s.trim_start_matches(|c: char| !c.is_ascii_alphanumeric());
    if s.is_empty() {
        "vm".into()
    } else {
        s.to_string()
    }
}

pub(super) fn check_options(req: &ValidationRequest) -> CheckItem {
    const TITLE: &str = "Options";
    let mut problems = Vec::new();
    if !(req.space_margin.is_finite() && req.space_margin >= 1.0) {
        problems.push(format!(
            "space margin {} must be a number ≥ 1.0 (1.1 keeps 10 % headroom)",
            req.space_margin
        ));
    }
    if !(req.vcpu_ratio.is_finite() && req.vcpu_ratio > 0.0) {
        problems.push(format!(
            "vCPU ratio {} must be a number > 0",
            req.vcpu_ratio
        ));
    }
    let pool_bad = req.dest_pool.is_empty()
        || req.dest_pool.contains('/')
        || req.dest_pool.chars().any(char::is_control);
    if pool_bad {
        problems.push(format!(
            "destination pool {:?} is not a pool name",
            req.dest_pool
        ));
    }
    if req.vm.is_empty() || req.vm.contains('\0') {
        problems.push(format!("source VM {:?} is not a VM name", req.vm));
    }
    if problems.is_empty() {
        CheckItem::pass(
            ids::OPTIONS_VALID,
            TITLE,
            format!(
                "pool {}, format {}, space margin {}, vCPU ratio {}",
                req.dest_pool, req.format, req.space_margin, req.vcpu_ratio
            ),
        )
    } else {
        CheckItem::fail(
            ids::OPTIONS_VALID,
            TITLE,
            problems.join("; "),
            "fix the profile or the command-line options",
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::checklist::CheckStatus;

    #[test]
    fn good_names() {
        for n in ["web01-clone", "a", "DB_2.old", "9lives", &"x".repeat(64)] {
            assert_eq!(name_problem(n), None, "{n}");
        }
    }

    #[test]
    fn bad_names_say_why() {
        let cases = [
            ("", "empty"),
            ("a/b", "path separator"),
            ("a\\b", "path separator"),
            ("..", "\"..\""),
            ("a..b", "\"..\""),
            ("tab\there", "control"),
            ("new\nline", "control"),
            ("sp ace", "' ' is not allowed"),
            ("ünï", "'ü' is not allowed"),
            ("semi;colon", "';' is not allowed"),
            ("-rf", "start with a letter"),
            (".hidden", "start with a letter"),
        ];
        for (name, why) in cases {
            let p = name_problem(name).unwrap_or_else(|| panic!("{name:?} accepted"));
            assert!(p.contains(why), "{name:?}: {p}");
        }
        let long = "x".repeat(65);
        assert!(name_problem(&long).unwrap().contains("65 characters"));
    }

    #[test]
    fn name_item_fails_with_a_hint() {
        let req = ValidationRequest::new("web01", "a/b", "default");
        let item = check_name(&req);
        assert_eq!(item.status, CheckStatus::Fail);
        assert!(item.message.contains("\"a/b\""), "{}", item.message);
        assert!(item.hint.unwrap().contains("web01-clone"));
        let ok = check_name(&ValidationRequest::new("web01", "web01-clone", "default"));
        assert_eq!(ok.status, CheckStatus::Pass);
    }

    #[test]
    fn suggestion_is_itself_valid() {
        for vm in ["web01", "..odd name..", "ünï", "-x", &"y".repeat(80)] {
            let s = format!("{}-clone", suggestion(vm));
            assert_eq!(name_problem(&s), None, "{vm} → {s}");
        }
    }

    #[test]
    fn options_are_checked() {
        let mut req = ValidationRequest::new("web01", "c", "default");
        assert_eq!(check_options(&req).status, CheckStatus::Pass);
        req.space_margin = 0.9;
        let item = check_options(&req);
        assert_eq!(item.status, CheckStatus::Fail);
        assert!(item.message.contains("space margin 0.9"));
        req.space_margin = f64::NAN;
        assert_eq!(check_options(&req).status, CheckStatus::Fail);
        req.space_margin = 1e6; // huge is allowed: it just cannot be met
        assert_eq!(check_options(&req).status, CheckStatus::Pass);
        req.vcpu_ratio = 0.0;
        assert!(check_options(&req).message.contains("vCPU ratio 0"));
        let mut req = ValidationRequest::new("web01", "c", "a/b");
        assert!(check_options(&req).message.contains("pool \"a/b\""));
        req.dest_pool = "default".into();
        req.vm = String::new();
        assert!(check_options(&req).message.contains("source VM"));
    }
}
