//! The one job kind enum: what the jobs pane, history, JSON, journal and
//! queue call a job. Adding a kind adds a variant here.

use std::fmt;

#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum JobKind {
    Clone,
    Export,
    Restore,
    /// A snapshot disk written to a local file (`kvm-clone extract`).
    Extract,
}

impl JobKind {
    pub const ALL: [JobKind; 4] = [
        JobKind::Clone,
        JobKind::Export,
        JobKind::Restore,
        JobKind::Extract,
    ];

    /// The word used in the history database, JSON, tables and filters.
    pub fn label(self) -> &'static str {
        match self {
            JobKind::Clone => "clone",
            JobKind::Export => "export",
            JobKind::Restore => "restore",
            JobKind::Extract => "extract",
        }
    }

    pub fn parse(s: &str) -> Option<JobKind> {
        JobKind::ALL.into_iter().find(|k| k.label() == s)
    }
}

impl fmt::Display for JobKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.label())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_are_the_serde_names_and_parse_back() {
        for k in JobKind::ALL {
            assert_eq!(JobKind::parse(k.label()), Some(k));
            assert_eq!(serde_json::to_string(&k).unwrap(), format!("\"{k}\""));
        }
        assert_eq!(JobKind::parse("sync"), None);
    }
}
