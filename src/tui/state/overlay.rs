//! Overlays: modal views drawn over the panes, and the add-host form's
//! validation.

use super::CloneDialog;
use crate::backend::messages::Secret;
use crate::config::{HostConfig, default_libvirt_uri, default_pool};
use std::path::PathBuf;

#[derive(Debug)]
pub enum Overlay {
    /// Help, over the pane or the view it was opened from.
    Help(super::HelpView),
    /// Looked up by name at draw time, so a refresh shows up while it is open.
    VmDetail {
        host: String,
        vm: String,
        scroll: u16,
    },
    /// A history row in full; its log comes from the backend after opening.
    HistoryDetail {
        id: u64,
        scroll: u16,
    },
    ConfirmQuit,
    HostKey {
        host: String,
        fingerprint: String,
    },
    Passphrase(PassphrasePrompt),
    AddHost(AddHostForm),
    Clone(CloneDialog),
    /// `p`: pick a profile for the selected action.
    Profiles(super::ProfileMenu),
    /// Asks before cancelling a running job; the words are kept so the
    /// question stays readable if the job changes meanwhile.
    ConfirmCancel {
        id: u64,
        kind: crate::model::JobKind,
        vm: String,
        to: String,
    },
    /// The job detail view; the job is looked up by id at draw time.
    JobDetail {
        id: u64,
        scroll: u16,
    },
    /// `b`: a repository's snapshots, restore, verify and prune.
    Repository(super::RepoBrowser),
    /// `S`: the daemon's schedules.
    Schedules(super::ScheduleList),
    /// `e`: export the selected VM to a repository.
    Export(super::ExportDialog),
}

/// What the operator has typed for an encrypted key; only ever in a `Secret`.
#[derive(Debug)]
pub struct PassphrasePrompt {
    pub host: String,
    pub key_path: String,
    pub input: Secret,
}

impl PassphrasePrompt {
    pub fn new(host: String, key_path: String) -> Self {
        PassphrasePrompt {
            host,
            key_path,
            input: Secret::new(String::new()),
        }
    }

    pub fn push(&mut self, c: char) {
        let mut s = self.input.expose().to_owned();
        s.push(c);
        self.input = Secret::new(s);
    }

    pub fn pop(&mut self) {
        let mut s = self.input.expose().to_owned();
        s.pop();
        self.input = Secret::new(s);
    }

    pub fn clear(&mut self) {
        self.input = Secret::new(String::new());
    }

    /// Characters typed, for the `*` mask.
    pub fn typed(&self) -> usize {
        self.input.expose().chars().count()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AddHostField {
    Name,
    Address,
    Port,
    User,
    Identity,
    /// A `Host` block of `~/.ssh/config`: its HostName, Port, User and
    /// IdentityFile fill in what the form leaves out.
    SshAlias,
}

impl AddHostField {
    pub const ALL: [AddHostField; 6] = [
        AddHostField::Name,
        AddHostField::Address,
        AddHostField::Port,
        AddHostField::User,
        AddHostField::Identity,
        AddHostField::SshAlias,
    ];

    pub fn label(self) -> &'static str {
        match self {
            AddHostField::Name => "Name",
            AddHostField::Address => "Address",
            AddHostField::Port => "Port",
            AddHostField::User => "User",
            AddHostField::Identity => "Identity file",
            AddHostField::SshAlias => "SSH alias",
        }
    }

    fn index(self) -> usize {
        AddHostField::ALL
            .iter()
            .position(|f| *f == self)
            .unwrap_or(0)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AddHostForm {
    pub name: String,
    pub address: String,
    pub port: String,
    pub user: String,
    pub identity: String,
    pub ssh_alias: String,
    pub field: AddHostField,
    /// Why Enter was refused, shown in the form.
    pub error: Option<String>,
}

impl Default for AddHostForm {
    fn default() -> Self {
        AddHostForm {
            name: String::new(),
            address: String::new(),
            port: "22".into(),
            user: "root".into(),
            identity: String::new(),
            ssh_alias: String::new(),
            field: AddHostField::Name,
            error: None,
        }
    }
}

impl AddHostForm {
    pub fn value(&self, field: AddHostField) -> &str {
        match field {
            AddHostField::Name => &self.name,
            AddHostField::Address => &self.address,
            AddHostField::Port => &self.port,
            AddHostField::User => &self.user,
            AddHostField::Identity => &self.identity,
            AddHostField::SshAlias => &self.ssh_alias,
        }
    }

    fn value_mut(&mut self) -> &mut String {
        match self.field {
            AddHostField::Name => &mut self.name,
            AddHostField::Address => &mut self.address,
            AddHostField::Port => &mut self.port,
            AddHostField::User => &mut self.user,
            AddHostField::Identity => &mut self.identity,
            AddHostField::SshAlias => &mut self.ssh_alias,
        }
    }

    pub fn push(&mut self, c: char) {
        self.value_mut().push(c);
    }

    pub fn pop(&mut self) {
        self.value_mut().pop();
    }

    pub fn next_field(&mut self) {
        let i = (self.field.index() + 1) % AddHostField::ALL.len();
        self.field = AddHostField::ALL[i];
    }

    pub fn prev_field(&mut self) {
        let n = AddHostField::ALL.len();
        self.field = AddHostField::ALL[(self.field.index() + n - 1) % n];
    }

    /// The host entry, or which field is wrong and why. `taken` are the names
    /// already configured.
    pub fn validate(&self, taken: &[&str]) -> Result<HostConfig, String> {
        let name = self.name.trim();
        if name.is_empty() {
            return Err("Name: required".into());
        }
        if !name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        {
            return Err("Name: use letters, digits, '-', '_' or '.'".into());
        }
        if taken.contains(&name) {
            return Err(format!("Name: a host named {name} already exists"));
        }
        let alias = self.ssh_alias.trim();
        if !alias.is_empty()
            && (alias.starts_with('-')
                || !alias
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_')))
        {
            return Err(format!("SSH alias: {alias:?} is not a Host name"));
        }
        let address = self.address.trim();
        if address.is_empty() && alias.is_empty() {
            return Err("Address: required (host name or IP), or give an SSH alias".into());
        }
        // Reaches ssh and remote shells later; refuse option-like and odd values early.
        if address.starts_with('-')
            || !address.chars().all(|c| {
                c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | ':' | '_' | '%' | '[' | ']')
            })
        {
            return Err(format!(
                "Address: {address:?} is not a host name or IP address"
            ));
        }
        let address = address.trim_start_matches('[').trim_end_matches(']');
        let port: u16 = match self.port.trim().parse() {
            Ok(p) if p > 0 => p,
            _ => {
                return Err(format!(
                    "Port: {:?} is not a port (1-65535)",
                    self.port.trim()
                ));
            }
        };
        let user = self.user.trim();
        if user.is_empty()
            || user.starts_with('-')
            || !user
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_'))
        {
            return Err(format!("User: {user:?} is not a user name"));
        }
        let identity = self.identity.trim();
        let identity_files = if identity.is_empty() {
            Vec::new()
        } else {
            vec![expand_home(identity)]
        };
        // With an alias, ~/.ssh/config fills in what is left empty or at
        // the form's defaults.
        let with_alias = !alias.is_empty();
        let defaults = AddHostForm::default();
        Ok(HostConfig {
            name: name.to_string(),
            ssh_alias: with_alias.then(|| alias.to_string()),
            address: (!address.is_empty()).then(|| address.to_string()),
            port: (!with_alias || self.port.trim() != defaults.port).then_some(port),
            user: (!with_alias || user != defaults.user).then(|| user.to_string()),
            identity_files,
            libvirt_uri: default_libvirt_uri(),
            pool: default_pool(),
        })
    }
}

/// `~/x` as the operator means it; other paths as typed.
fn expand_home(path: &str) -> PathBuf {
    if let Some(rest) = path.strip_prefix("~/")
        && let Some(home) = std::env::var_os("HOME")
    {
        return PathBuf::from(home).join(rest);
    }
    PathBuf::from(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn form(name: &str, address: &str, port: &str, user: &str) -> AddHostForm {
        AddHostForm {
            name: name.into(),
            address: address.into(),
            port: port.into(),
            user: user.into(),
            ..AddHostForm::default()
        }
    }

    #[test]
    fn defaults_are_port_22_and_root() {
        let cfg = form("gamma", "10.0.0.3", "22", "root")
            .validate(&[])
            .unwrap();
        assert_eq!(cfg.port, Some(22));
        assert_eq!(cfg.user.as_deref(), Some("root"));
        assert_eq!(cfg.address.as_deref(), Some("10.0.0.3"));
        assert!(cfg.identity_files.is_empty());
        assert_eq!(cfg.pool, "default");
    }

    #[test]
    fn ipv6_in_brackets_is_stored_bare() {
        let cfg = form("v6", "[fd00::1]", "2222", "admin")
            .validate(&[])
            .unwrap();
        assert_eq!(cfg.address.as_deref(), Some("fd00::1"));
    }

    #[test]
    fn each_bad_field_is_named() {
        let cases = [
            (form("", "h", "22", "root"), "Name: required"),
            (form("a b", "h", "22", "root"), "Name: use"),
            (form("alpha", "h", "22", "root"), "already exists"),
            (form("g", "", "22", "root"), "Address: required"),
            (form("g", "-oProxyCommand=x", "22", "root"), "Address:"),
            (form("g", "h;rm", "22", "root"), "Address:"),
            (form("g", "h", "0", "root"), "Port:"),
            (form("g", "h", "70000", "root"), "Port:"),
            (form("g", "h", "22", "-x"), "User:"),
            (form("g", "h", "22", ""), "User:"),
        ];
        for (f, want) in cases {
            let err = f.validate(&["alpha"]).unwrap_err();
            assert!(err.contains(want), "{f:?}: {err}");
        }
    }

    #[test]
    fn passphrase_is_kept_only_in_the_secret() {
        let mut p = PassphrasePrompt::new("alpha".into(), "/k".into());
        for c in "hunter2".chars() {
            p.push(c);
        }
        p.pop();
        assert_eq!(p.input.expose(), "hunter");
        assert_eq!(p.typed(), 6);
        assert!(!format!("{p:?}").contains("hunter"));
    }
}
