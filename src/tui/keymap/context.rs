//! What the keys do where: one table per context (the pane in focus, or the
//! view or dialog on top). The help overlay is built from these tables, and
//! a test drives the key handling with every key they list, and with every
//! key they do not, so the tables cannot drift from what the keys do.

use super::{Command, KeyMap, KeySpec, tables};

/// Where key presses go.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Context {
    Hosts,
    Vms,
    Jobs,
    History,
    /// Keys that work the same in all four panes.
    AllPanes,
    /// Typing the VM name filter.
    VmFilter,
    /// Typing the history filter.
    HistoryFilter,
    RepoList,
    /// `S`: the daemon's schedules.
    Schedules,
    /// Typing the repository's path or passphrase.
    RepoOpen,
    RepoVerified,
    RepoRepair,
    RepoPruneForm,
    RepoPrunePlan,
    RepoRestore,
    /// The path holds no repository: creating one (export dialog or view).
    RepoCreate,
    AddHost,
    Clone,
    SaveProfile,
    Profiles,
    /// `e` in the profile menu: editing a profile's settings.
    ProfileEdit,
    Export,
    HostKey,
    Passphrase,
    ConfirmQuit,
    ConfirmCancel,
    VmDetail,
    JobDetail,
    HistoryDetail,
    Help,
}

/// A key a row names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Key {
    /// Whatever the key map binds to the command (rebindable).
    Cmd(Command),
    /// A fixed key, as written in the config ("esc", "ctrl-u", "R").
    Fixed(&'static str),
    /// Printable characters go into the text field.
    Text,
    /// The digits 0-9.
    Digits,
    /// Any key the other rows do not name.
    Other,
}

/// One line of help: keys and what they do here.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Row {
    pub keys: &'static [Key],
    pub does: &'static str,
}

impl Context {
    /// Every context, in the order help lists them after the one in focus.
    pub const ALL: [Context; 30] = [
        Context::AllPanes,
        Context::Hosts,
        Context::Vms,
        Context::Jobs,
        Context::History,
        Context::VmFilter,
        Context::HistoryFilter,
        Context::RepoList,
        Context::RepoOpen,
        Context::RepoVerified,
        Context::RepoRepair,
        Context::RepoPruneForm,
        Context::RepoPrunePlan,
        Context::RepoRestore,
        Context::RepoCreate,
        Context::Schedules,
        Context::Clone,
        Context::SaveProfile,
        Context::Profiles,
        Context::ProfileEdit,
        Context::Export,
        Context::AddHost,
        Context::HostKey,
        Context::Passphrase,
        Context::ConfirmQuit,
        Context::ConfirmCancel,
        Context::VmDetail,
        Context::JobDetail,
        Context::HistoryDetail,
        Context::Help,
    ];

    pub fn title(self) -> &'static str {
        tables::of(self).0
    }

    pub fn rows(self) -> &'static [Row] {
        tables::of(self).1
    }

    /// One of the four panes: the [`Context::AllPanes`] keys work there too.
    pub fn is_pane(self) -> bool {
        matches!(
            self,
            Context::Hosts | Context::Vms | Context::Jobs | Context::History
        )
    }

    /// Whether the help key opens help here: panes and views where it is
    /// not text being typed nor an answer to a question.
    pub fn takes_help(self) -> bool {
        self.is_pane()
            || matches!(
                self,
                Context::RepoList
                    | Context::RepoVerified
                    | Context::Profiles
                    | Context::Schedules
                    | Context::VmDetail
                    | Context::JobDetail
                    | Context::HistoryDetail
            )
    }

    /// The [`Context::AllPanes`] rows that apply in this pane: those
    /// whose keys the pane does not take over (`R` is retry in Jobs).
    /// None outside the panes.
    pub fn shared_rows(self, keys: &KeyMap) -> Vec<Row> {
        if !self.is_pane() {
            return Vec::new();
        }
        let taken: Vec<KeySpec> = self.rows().iter().flat_map(|r| r.specs(keys)).collect();
        Context::AllPanes
            .rows()
            .iter()
            .filter(|r| {
                let specs = r.specs(keys);
                specs.is_empty() || !specs.iter().all(|k| taken.contains(k))
            })
            .copied()
            .collect()
    }
}

impl Row {
    /// The keys of the row that are single keys (bound or fixed).
    pub fn specs(&self, keys: &KeyMap) -> Vec<KeySpec> {
        self.keys
            .iter()
            .flat_map(|k| match k {
                Key::Cmd(c) => keys.specs(*c).to_vec(),
                Key::Fixed(s) => KeySpec::parse(s).into_iter().collect(),
                Key::Text | Key::Digits | Key::Other => Vec::new(),
            })
            .collect()
    }

    /// The keys as help shows them: "up, k, down, j"; "(unbound)" when the
    /// key map binds none of them.
    pub fn label(&self, keys: &KeyMap) -> String {
        let parts: Vec<String> = self
            .keys
            .iter()
            .map(|k| match k {
                Key::Cmd(c) => keys.keys_of(*c),
                Key::Fixed(s) => s.to_string(),
                Key::Text => "text".into(),
                Key::Digits => "0-9".into(),
                Key::Other => "other keys".into(),
            })
            .filter(|s| !s.is_empty())
            .collect();
        if parts.is_empty() {
            "(unbound)".into()
        } else {
            parts.join(", ")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    #[test]
    fn every_context_is_listed_once_with_a_title_and_rows() {
        for c in Context::ALL {
            assert_eq!(Context::ALL.iter().filter(|x| **x == c).count(), 1);
            assert!(!c.title().is_empty() && !c.rows().is_empty(), "{c:?}");
        }
    }

    #[test]
    fn fixed_keys_parse() {
        for c in Context::ALL {
            for r in c.rows() {
                for k in r.keys {
                    if let Key::Fixed(s) = k {
                        KeySpec::parse(s).unwrap_or_else(|e| panic!("{c:?} {s}: {e}"));
                    }
                }
            }
        }
    }

    #[test]
    fn a_pane_hides_the_shared_keys_it_takes_over() {
        let keys = KeyMap::default();
        let shared = |c: Context, keys: &KeyMap| -> Vec<String> {
            c.shared_rows(keys).iter().map(|r| r.label(keys)).collect()
        };
        // R is retry in the jobs pane, refresh all elsewhere; / and r are
        // the history pane's own.
        assert!(!shared(Context::Jobs, &keys).contains(&"R".into()));
        assert!(shared(Context::Hosts, &keys).contains(&"R".into()));
        let history = shared(Context::History, &keys);
        assert!(!history.contains(&"/".into()) && !history.contains(&"r".into()));
        assert!(history.contains(&"R".into()));
        assert!(shared(Context::RepoList, &keys).is_empty());
        // With retry moved away, R refreshes all hosts in the jobs pane too.
        let over = BTreeMap::from([("retry".to_string(), vec!["ctrl-r".to_string()])]);
        let moved = KeyMap::from_config(&over).unwrap();
        assert!(shared(Context::Jobs, &moved).contains(&"R".into()));
    }

    #[test]
    fn labels_follow_the_key_map() {
        let over = BTreeMap::from([("up".to_string(), vec![]), ("down".to_string(), vec![])]);
        let keys = KeyMap::from_config(&over).unwrap();
        let row = Row {
            keys: &[Key::Cmd(Command::Up), Key::Cmd(Command::Down)],
            does: "",
        };
        assert_eq!(row.label(&keys), "(unbound)");
        assert_eq!(row.label(&KeyMap::default()), "up, k, down, j");
    }
}
