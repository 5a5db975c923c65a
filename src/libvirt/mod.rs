//! libvirt reached through the host's SSH connection, one OS thread per host.
//!
//! - [`tunnel`]: a private local unix socket whose connections are bridged to
//!   the host (through SSH, by a connector the caller supplies).
//! - [`remote`]: the commands the SSH side runs to reach the host's libvirtd.
//! - [`uri`]: parsing and validating the configured libvirt URI.
//! - [`worker`]: [`HostWorker`], the thread that owns a `virt::connect::Connect`.
//! - [`events`]: libvirt's event loop thread and the lifecycle/close callbacks.
//! - `ffi`: the only unsafe code: libvirt calls `virt` lacks or gets wrong.
//! - [`inventory`]: host and VM facts read from a connection.
//! - [`domain`]: the typed model of a domain's XML, one parse for every reader.
//! - [`live_clone`]: the pure rule deciding whether a VM can be cloned live.
//! - [`pool_xml`]: a storage pool's type and volume directory.
//!
//! Design notes are in docs/libvirt.md.

pub mod domain;
pub mod error;
pub mod events;
mod ffi;
pub mod inventory;
pub mod live_clone;
pub mod pool_xml;
pub mod remote;
pub mod tunnel;
pub mod uri;
pub mod vm_cache;
pub mod worker;

pub use error::LibvirtError;
pub use events::{CloseReason, HostEvent, HostEventKind, LifecycleKind, init};
pub use tunnel::Tunnel;
pub use worker::HostWorker;
