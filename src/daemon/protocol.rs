//! What crosses the daemon's socket (docs/daemon.md): a handshake, then
//! the backend's own [`Action`]s one way and [`Event`]s the other, as they
//! are in-process.

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
    },
    /// The connection is refused (a peer that is not allowed, another
    /// protocol, a bad first frame); the daemon closes it.
    Refused {
        reason: String,
    },
    Event(Event),
}
