//! What crosses the daemon's socket (docs/daemon.md): a handshake, then
//! the backend's own [`Action`]s one way and [`Event`]s the other, as they
//! are in-process.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::backend::messages::{Action, Event};

/// The protocol's version; the handshake refuses any other.
pub const PROTOCOL: u32 = 1;

/// What a client sends.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ClientFrame {
    /// The first frame: the protocol spoken, and who is asking (for logs).
    Hello {
        protocol: u32,
        client: String,
    },
    Action(Action),
}

/// What the daemon sends.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ServerFrame {
    /// The answer to a good hello; a [`Event::Snapshot`] follows.
    Welcome {
        protocol: u32,
        server: String,
        pid: u32,
        /// The config file the daemon serves (canonical when it could be
        /// resolved); None from a daemon that predates it. Clients attach
        /// on their own only to a daemon of their own config.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        config: Option<PathBuf>,
    },
    /// The connection is refused (a peer that is not allowed, another
    /// protocol, a bad first frame); the daemon closes it.
    Refused {
        reason: String,
    },
    Event(Event),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_welcome_without_a_config_still_reads() {
        let old = r#"{"welcome":{"protocol":1,"server":"kvm-clone 0.1.0","pid":7}}"#;
        let read: ServerFrame = serde_json::from_str(old).unwrap();
        assert!(matches!(read, ServerFrame::Welcome { config: None, .. }));
        let new = ServerFrame::Welcome {
            protocol: PROTOCOL,
            server: "s".into(),
            pid: 1,
            config: Some("/etc/kvm-clone.toml".into()),
        };
        let text = serde_json::to_string(&new).unwrap();
        assert!(text.contains(r#""config":"/etc/kvm-clone.toml""#), "{text}");
        assert_eq!(serde_json::from_str::<ServerFrame>(&text).unwrap(), new);
    }
}
