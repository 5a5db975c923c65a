//! Key bindings: every command has a name, default keys, and can be rebound
//! from the config file. The help overlay is generated from this table.

mod spec;

pub use spec::KeySpec;

use crossterm::event::KeyEvent;
use std::collections::BTreeMap;

/// A command the operator can bind a key to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Command {
    Quit,
    Help,
    Filter,
    Refresh,
    RefreshAll,
    NextPane,
    PrevPane,
    Up,
    Down,
    Left,
    Right,
    Top,
    Bottom,
    PageUp,
    PageDown,
    Details,
    AddHost,
    Clone,
    Cancel,
    Retry,
    Profiles,
    SaveProfile,
    Export,
    Repository,
}

/// Name (as written in the config), default keys, help text; in help order.
const TABLE: &[(Command, &str, &[&str], &str)] = &[
    (Command::Help, "help", &["?", "f1"], "show this help"),
    (
        Command::Quit,
        "quit",
        &["q", "ctrl-c"],
        "quit (asks while a job runs)",
    ),
    (
        Command::NextPane,
        "next_pane",
        &["tab"],
        "focus the next pane",
    ),
    (
        Command::PrevPane,
        "prev_pane",
        &["shift-tab"],
        "focus the previous pane",
    ),
    (Command::Up, "up", &["up", "k"], "move up"),
    (Command::Down, "down", &["down", "j"], "move down"),
    (
        Command::Left,
        "left",
        &["left", "h"],
        "focus the previous pane",
    ),
    (
        Command::Right,
        "right",
        &["right", "l"],
        "focus the next pane",
    ),
    (Command::Top, "top", &["home", "g"], "first row"),
    (Command::Bottom, "bottom", &["end", "G"], "last row"),
    (Command::PageUp, "page_up", &["pageup"], "one page up"),
    (
        Command::PageDown,
        "page_down",
        &["pagedown"],
        "one page down",
    ),
    (
        Command::Details,
        "details",
        &["enter"],
        "VM or history row details; host: answer prompt or connect",
    ),
    (
        Command::Filter,
        "filter",
        &["/"],
        "filter VMs, or history in its pane (Esc clears)",
    ),
    (
        Command::Refresh,
        "refresh",
        &["r"],
        "refresh the selected host",
    ),
    (
        Command::RefreshAll,
        "refresh_all",
        &["R"],
        "refresh all hosts",
    ),
    (Command::AddHost, "add_host", &["a"], "add a host"),
    (
        Command::Clone,
        "clone",
        &["c"],
        "clone the selected VM: pick where, check, start",
    ),
    (
        Command::Cancel,
        "cancel",
        &["x"],
        "cancel the selected job (asks first)",
    ),
    (
        Command::Retry,
        "retry",
        &["R"],
        "jobs pane: rerun a failed or cancelled job",
    ),
    (
        Command::Profiles,
        "profiles",
        &["p"],
        "pick a profile for the selected action (clone) and see its settings",
    ),
    (
        Command::SaveProfile,
        "save_profile",
        &["ctrl-s"],
        "in a job dialog: save its settings as a user profile",
    ),
    (
        Command::Export,
        "export",
        &["e"],
        "export the selected VM to a repository (encrypted, deduplicated)",
    ),
    (
        Command::Repository,
        "repository",
        &["b"],
        "repository view: snapshots per VM; restore, verify, prune",
    ),
];

impl Command {
    /// Every command, in help order.
    pub fn all() -> impl Iterator<Item = Command> {
        TABLE.iter().map(|(c, ..)| *c)
    }

    fn row(self) -> &'static (Command, &'static str, &'static [&'static str], &'static str) {
        // TABLE lists every variant; the test `every_command_is_in_the_table` keeps it so.
        TABLE.iter().find(|(c, ..)| *c == self).unwrap_or(&TABLE[0])
    }

    /// The name used in the config file's `[keys]` table.
    pub fn name(self) -> &'static str {
        self.row().1
    }

    pub fn description(self) -> &'static str {
        self.row().3
    }

    /// Commands bound only while the jobs pane has focus; there they win
    /// over a global command on the same key (`R`: retry, not refresh all).
    pub fn jobs_pane_only(self) -> bool {
        matches!(self, Command::Retry)
    }

    pub fn from_name(name: &str) -> Option<Command> {
        TABLE.iter().find(|(_, n, ..)| *n == name).map(|(c, ..)| *c)
    }
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum KeyMapError {
    #[error("keys.{action}: no such action (known actions: {known})")]
    UnknownAction { action: String, known: String },
    #[error("keys.{action}: cannot read key {spec:?}: {reason}")]
    BadKey {
        action: String,
        spec: String,
        reason: String,
    },
    #[error("key {key} is bound to both {first} and {second}; rebind one of them")]
    Conflict {
        key: String,
        first: &'static str,
        second: &'static str,
    },
}

/// One line of the help overlay.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HelpEntry {
    pub keys: String,
    pub name: &'static str,
    pub description: &'static str,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyMap {
    bindings: BTreeMap<Command, Vec<KeySpec>>,
}

impl Default for KeyMap {
    fn default() -> Self {
        let bindings = TABLE
            .iter()
            .map(|(cmd, _, keys, _)| {
                let specs = keys.iter().filter_map(|k| KeySpec::parse(k).ok()).collect();
                (*cmd, specs)
            })
            .collect();
        KeyMap { bindings }
    }
}

impl KeyMap {
    /// Defaults with the config file's `[keys]` entries applied. Each entry
    /// replaces all keys of its action; an empty list unbinds it.
    pub fn from_config(overrides: &BTreeMap<String, Vec<String>>) -> Result<KeyMap, KeyMapError> {
        let mut map = KeyMap::default();
        for (action, specs) in overrides {
            let cmd = Command::from_name(action).ok_or_else(|| KeyMapError::UnknownAction {
                action: action.clone(),
                known: TABLE.iter().map(|r| r.1).collect::<Vec<_>>().join(", "),
            })?;
            let keys = specs
                .iter()
                .map(|s| {
                    KeySpec::parse(s).map_err(|reason| KeyMapError::BadKey {
                        action: action.clone(),
                        spec: s.clone(),
                        reason,
                    })
                })
                .collect::<Result<Vec<_>, _>>()?;
            map.bindings.insert(cmd, keys);
        }
        map.check_conflicts()?;
        Ok(map)
    }

    /// Two commands of the same scope (global, or jobs pane only) on one key
    /// conflict; a jobs-pane command may share a key with a global one.
    fn check_conflicts(&self) -> Result<(), KeyMapError> {
        let mut seen: BTreeMap<(KeySpec, bool), Command> = BTreeMap::new();
        for (cmd, keys) in &self.bindings {
            for key in keys {
                if let Some(other) = seen.insert((*key, cmd.jobs_pane_only()), *cmd)
                    && other != *cmd
                {
                    return Err(KeyMapError::Conflict {
                        key: key.to_string(),
                        first: other.name(),
                        second: cmd.name(),
                    });
                }
            }
        }
        Ok(())
    }

    /// The global command a key press is bound to.
    pub fn command(&self, ev: &KeyEvent) -> Option<Command> {
        self.find(ev, false)
    }

    /// The command a key press is bound to, with the jobs pane's own
    /// commands first while it has focus.
    pub fn command_in(&self, ev: &KeyEvent, jobs_pane: bool) -> Option<Command> {
        jobs_pane
            .then(|| self.find(ev, true))
            .flatten()
            .or_else(|| self.find(ev, false))
    }

    fn find(&self, ev: &KeyEvent, jobs_only: bool) -> Option<Command> {
        let spec = KeySpec::from_event(ev)?;
        self.bindings
            .iter()
            .find(|(cmd, keys)| cmd.jobs_pane_only() == jobs_only && keys.contains(&spec))
            .map(|(cmd, _)| *cmd)
    }

    /// Keys bound to a command, as text ("q, ctrl-c"); empty when unbound.
    pub fn keys_of(&self, cmd: Command) -> String {
        self.bindings
            .get(&cmd)
            .map(|ks| {
                ks.iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join(", ")
            })
            .unwrap_or_default()
    }

    /// The help overlay's lines, in help order.
    pub fn help(&self) -> Vec<HelpEntry> {
        Command::all()
            .map(|cmd| HelpEntry {
                keys: self.keys_of(cmd),
                name: cmd.name(),
                description: cmd.description(),
            })
            .collect()
    }
}

#[cfg(test)]
mod tests;
