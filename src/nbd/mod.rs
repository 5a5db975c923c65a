//! Async NBD client for the block data plane.
//!
//! Speaks fixed-newstyle NBD over any tokio byte stream (a unix socket in
//! tests, an SSH channel in production). See `docs/nbd.md` for the
//! protocol subset, limits and error behaviour.
//!
//! - [`proto`]: constants and pure encode/decode of the wire format.
//! - [`handshake`]: option negotiation up to the transmission phase.
//! - [`client`]: [`NbdClient`], many requests in flight on one connection;
//!   its reader/writer tasks and pending-request table live in `conn`, and
//!   per-request reply assembly in `reply`.
//! - [`extents`]: the allocation map built from `NBD_CMD_BLOCK_STATUS`.
//! - [`error`]: typed errors.

pub mod client;
mod conn;
pub mod error;
pub mod extents;
pub mod handshake;
pub mod proto;
mod reply;

pub use client::{ConnectOptions, NbdClient, ZeroFlags};
pub use error::{NbdError, OptionRefused, ProtocolError, ServerError};
pub use extents::{Extent, ExtentKind, ExtentWalker, StatusExtent, extents, status_map};
pub use handshake::ExportInfo;
pub use proto::option::{BlockSize, TransmissionFlags};
pub use proto::transmission::BlockStatusDescriptor;
pub use proto::{Command, Errno, OptionErrorCode};
