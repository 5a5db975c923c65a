//! The validation checklist: one item per check, pass / warn / fail, with a
//! message and a hint. Serialises to the stable JSON documented in
//! docs/validation.md.

use serde::ser::SerializeStruct;
use serde::{Deserialize, Serialize, Serializer};
use std::fmt::Write as _;

/// Stable check ids (the `id` field of the JSON). Never renamed: scripts match on them.
pub mod ids {
    pub const NAME_VALID: &str = "name_valid";
    pub const OPTIONS_VALID: &str = "options_valid";
    /// Export: the repository opens with the key given, is writable, and
    /// is encrypted when the profile asks for it.
    pub const REPOSITORY: &str = "repository";
    pub const SOURCE_VM_EXISTS: &str = "source_vm_exists";
    pub const SOURCE_STATE: &str = "source_state";
    pub const SOURCE_DISKS: &str = "source_disks";
    pub const DEST_NAME_FREE: &str = "dest_name_free";
    pub const DEST_POOL: &str = "dest_pool";
    pub const DEST_PATHS_FREE: &str = "dest_paths_free";
    pub const DEST_SPACE: &str = "dest_space";
    pub const DEST_MEMORY: &str = "dest_memory";
    pub const DEST_VCPUS: &str = "dest_vcpus";
    pub const NETWORKS: &str = "networks";
    pub const BRIDGES: &str = "bridges";
    pub const HYPERVISOR: &str = "hypervisor";
    pub const CPU: &str = "cpu";
    pub const FIRMWARE: &str = "firmware";
    pub const TPM: &str = "tpm";
    pub const SHARED_DISKS: &str = "shared_disks";

    /// Ids only an export's checklist has; they come after [`ALL`]'s.
    pub const EXPORT_ONLY: &[&str] = &[REPOSITORY];

    /// Every id of a clone's (and restore's) checklist, in the order items
    /// appear in a report.
    pub const ALL: &[&str] = &[
        NAME_VALID,
        OPTIONS_VALID,
        SOURCE_VM_EXISTS,
        SOURCE_STATE,
        SOURCE_DISKS,
        DEST_NAME_FREE,
        DEST_POOL,
        DEST_PATHS_FREE,
        DEST_SPACE,
        DEST_MEMORY,
        DEST_VCPUS,
        NETWORKS,
        BRIDGES,
        HYPERVISOR,
        CPU,
        FIRMWARE,
        TPM,
        SHARED_DISKS,
    ];
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CheckStatus {
    Pass,
    /// The clone may start; the operator should read why.
    Warn,
    /// The clone must not start.
    Fail,
}

impl CheckStatus {
    pub fn label(self) -> &'static str {
        match self {
            CheckStatus::Pass => "PASS",
            CheckStatus::Warn => "WARN",
            CheckStatus::Fail => "FAIL",
        }
    }
}

/// One line of the checklist.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CheckItem {
    /// Stable snake_case id, one of [`ids::ALL`].
    pub id: String,
    /// Short human title ("Destination pool").
    pub title: String,
    pub status: CheckStatus,
    /// What was found, where, and why it matters.
    pub message: String,
    /// What the operator can do about a warn or fail.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hint: Option<String>,
}

impl CheckItem {
    pub fn pass(id: &str, title: &str, message: impl Into<String>) -> Self {
        Self::new(id, title, CheckStatus::Pass, message.into(), None)
    }

    pub fn warn(
        id: &str,
        title: &str,
        message: impl Into<String>,
        hint: impl Into<String>,
    ) -> Self {
        Self::new(
            id,
            title,
            CheckStatus::Warn,
            message.into(),
            Some(hint.into()),
        )
    }

    pub fn fail(
        id: &str,
        title: &str,
        message: impl Into<String>,
        hint: impl Into<String>,
    ) -> Self {
        Self::new(
            id,
            title,
            CheckStatus::Fail,
            message.into(),
            Some(hint.into()),
        )
    }

    fn new(
        id: &str,
        title: &str,
        status: CheckStatus,
        message: String,
        hint: Option<String>,
    ) -> Self {
        CheckItem {
            id: id.to_string(),
            title: title.to_string(),
            status,
            message,
            hint,
        }
    }
}

/// The whole checklist. Items keep the order of [`ids::ALL`]; an id is
/// absent when its check could not be evaluated (see docs/validation.md).
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
pub struct ValidationReport {
    pub items: Vec<CheckItem>,
}

impl ValidationReport {
    /// True when no item failed: the clone may start.
    pub fn ok(&self) -> bool {
        self.count(CheckStatus::Fail) == 0
    }

    pub fn count(&self, status: CheckStatus) -> usize {
        self.items.iter().filter(|i| i.status == status).count()
    }

    /// The item with this id, if it was evaluated.
    pub fn item(&self, id: &str) -> Option<&CheckItem> {
        self.items.iter().find(|i| i.id == id)
    }

    pub fn failures(&self) -> impl Iterator<Item = &CheckItem> {
        self.items.iter().filter(|i| i.status == CheckStatus::Fail)
    }

    pub fn push(&mut self, item: CheckItem) {
        self.items.push(item);
    }

    /// Sorts items into [`ids::ALL`] order (stable for equal ids).
    pub fn order(&mut self) {
        let rank = |id: &str| {
            let mut all = ids::ALL.iter().chain(ids::EXPORT_ONLY);
            all.position(|k| *k == id).unwrap_or(usize::MAX)
        };
        self.items.sort_by_key(|i| rank(&i.id));
    }

    /// The checklist as plain text for headless use, one item a line, hints
    /// indented below, and a verdict line.
    pub fn render_text(&self) -> String {
        self.render_text_for("clone")
    }

    /// As [`ValidationReport::render_text`], the verdict naming the job
    /// kind ("the export can start").
    pub fn render_text_for(&self, job: &str) -> String {
        let mut out = String::new();
        for item in &self.items {
            let _ = writeln!(
                out,
                "[{}] {}: {}",
                item.status.label(),
                item.title,
                item.message
            );
            if let Some(hint) = &item.hint {
                let _ = writeln!(out, "       hint: {hint}");
            }
        }
        let (fails, warns) = (self.count(CheckStatus::Fail), self.count(CheckStatus::Warn));
        let verdict = if fails == 0 {
            format!("the {job} can start")
        } else {
            format!("the {job} is blocked")
        };
        let _ = writeln!(
            out,
            "{} checks: {} passed, {warns} {}, {fails} {}; {verdict}",
            self.items.len(),
            self.count(CheckStatus::Pass),
            plural(warns, "warning", "warnings"),
            plural(fails, "failure", "failures"),
        );
        out
    }
}

fn plural<'a>(n: usize, one: &'a str, many: &'a str) -> &'a str {
    if n == 1 { one } else { many }
}

/// `{"ok": bool, "items": [...]}`: `ok` is derived, so it is written but not read back.
impl Serialize for ValidationReport {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut st = s.serialize_struct("ValidationReport", 2)?;
        st.serialize_field("ok", &self.ok())?;
        st.serialize_field("items", &self.items)?;
        st.end()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> ValidationReport {
        let mut r = ValidationReport::default();
        r.push(CheckItem::warn(
            ids::DEST_SPACE,
            "Destination space",
            "low",
            "free some space",
        ));
        r.push(CheckItem::pass(
            ids::NAME_VALID,
            "New name",
            "web01-clone is valid",
        ));
        r.order();
        r
    }

    #[test]
    fn ok_only_without_failures() {
        let mut r = sample();
        assert!(r.ok());
        r.push(CheckItem::fail(ids::CPU, "CPU", "bad", "fix"));
        assert!(!r.ok());
        assert_eq!(r.failures().count(), 1);
        assert_eq!(r.count(CheckStatus::Warn), 1);
    }

    #[test]
    fn items_follow_the_id_order() {
        let r = sample();
        let got: Vec<&str> = r.items.iter().map(|i| i.id.as_str()).collect();
        assert_eq!(got, [ids::NAME_VALID, ids::DEST_SPACE]);
    }

    #[test]
    fn json_shape_is_stable() {
        let json = serde_json::to_value(sample()).unwrap();
        assert_eq!(
            json,
            serde_json::json!({
                "ok": true,
                "items": [
                    {"id": "name_valid", "title": "New name", "status": "pass",
                     "message": "web01-clone is valid"},
                    {"id": "dest_space", "title": "Destination space", "status": "warn",
                     "message": "low", "hint": "free some space"},
                ]
            })
        );
        let back: ValidationReport = serde_json::from_value(json).unwrap();
        assert_eq!(back, sample());
    }

    #[test]
    fn text_has_every_item_hint_and_verdict() {
        let mut r = sample();
        r.push(CheckItem::fail(
            ids::CPU,
            "CPU",
            "model X unknown",
            "pick another",
        ));
        let text = r.render_text();
        assert!(
            text.contains("[PASS] New name: web01-clone is valid"),
            "{text}"
        );
        assert!(text.contains("[WARN] Destination space: low\n       hint: free some space"));
        assert!(text.contains("[FAIL] CPU: model X unknown"));
        assert!(text.ends_with("3 checks: 1 passed, 1 warning, 1 failure; the clone is blocked\n"));
        assert!(sample().render_text().ends_with("the clone can start\n"));
    }

    #[test]
    fn ids_are_unique_snake_case() {
        let mut seen = std::collections::BTreeSet::new();
        for id in ids::ALL {
            assert!(seen.insert(*id), "duplicate {id}");
            assert!(
                id.bytes().all(|b| b.is_ascii_lowercase() || b == b'_'),
                "{id}"
            );
        }
    }
}
