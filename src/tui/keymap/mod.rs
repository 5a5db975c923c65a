//! Key bindings: every command has a name, default keys, and can be rebound
//! from the config file. [`context`] says what the keys do in each pane and
//! view; the help overlay is generated from it and the key map in use.

pub mod context;
mod spec;
mod tables;

pub use context::{Context, Key, Row};
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
    Schedules,
}

/// Name (as written in the config) and default keys. What each does, per
/// context, is in [`context`]: the help overlay is built from there.
const TABLE: &[(Command, &str, &[&str])] = &[
    (Command::Help, "help", &["?", "f1"]),
    (Command::Quit, "quit", &["q", "ctrl-c"]),
    (Command::NextPane, "next_pane", &["tab"]),
    (Command::PrevPane, "prev_pane", &["shift-tab"]),
    (Command::Up, "up", &["up", "k"]),
    (Command::Down, "down", &["down", "j"]),
    (Command::Left, "left", &["left", "h"]),
    (Command::Right, "right", &["right", "l"]),
    (Command::Top, "top", &["home", "g"]),
    (Command::Bottom, "bottom", &["end", "G"]),
    (Command::PageUp, "page_up", &["pageup"]),
    (Command::PageDown, "page_down", &["pagedown"]),
    (Command::Details, "details", &["enter"]),
    (Command::Filter, "filter", &["/"]),
    (Command::Refresh, "refresh", &["r"]),
    (Command::RefreshAll, "refresh_all", &["R"]),
    (Command::AddHost, "add_host", &["a"]),
    (Command::Clone, "clone", &["c"]),
    (Command::Cancel, "cancel", &["x"]),
    (Command::Retry, "retry", &["R"]),
    (Command::Profiles, "profiles", &["p"]),
    (Command::SaveProfile, "save_profile", &["ctrl-s"]),
    (Command::Export, "export", &["e"]),
    (Command::Repository, "repository", &["b"]),
    (Command::Schedules, "schedules", &["S"]),
];

impl Command {
    /// Every command, in help order.
    pub fn all() -> impl Iterator<Item = Command> {
        TABLE.iter().map(|(c, ..)| *c)
    }

    fn row(self) -> &'static (Command, &'static str, &'static [&'static str]) {
        // TABLE lists every variant; the test `every_command_is_in_the_table` keeps it so.
        TABLE.iter().find(|(c, ..)| *c == self).unwrap_or(&TABLE[0])
    }

    /// The name used in the config file's `[keys]` table.
    pub fn name(self) -> &'static str {
        self.row().1
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

/// A command and its keys, for the status line's hints.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HelpEntry {
    pub keys: String,
    pub name: &'static str,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyMap {
    bindings: BTreeMap<Command, Vec<KeySpec>>,
}

impl Default for KeyMap {
    fn default() -> Self {
        let bindings = TABLE
            .iter()
            .map(|(cmd, _, keys)| {
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

    /// Keys bound to a command; empty when unbound.
    pub fn specs(&self, cmd: Command) -> &[KeySpec] {
        self.bindings
            .get(&cmd)
            .map(Vec::as_slice)
            .unwrap_or_default()
    }

    /// Keys bound to a command, as text ("q, ctrl-c"); empty when unbound.
    pub fn keys_of(&self, cmd: Command) -> String {
        self.specs(cmd)
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// Every command with its keys, in table order.
    pub fn help(&self) -> Vec<HelpEntry> {
        Command::all()
            .map(|cmd| HelpEntry {
                keys: self.keys_of(cmd),
                name: cmd.name(),
            })
            .collect()
    }
}

#[cfg(test)]
mod tests;
