//! kvm-clone: clone, export, back up and restore KVM virtual machines between
//! libvirt hosts over SSH.
//!
//! Layout, from the outside in:
//! - [`tui`]: the ratatui front end; one pure draw function per pane.
//! - [`headless`]: the script-facing commands (`hosts`, `vms`, …).
//! - [`daemon`]: the backend in its own process, behind a unix socket.
//! - [`api`]: the daemon's REST API and Prometheus metrics.
//! - [`backend`]: the one async task that owns connections and jobs; front
//!   ends talk to it only through [`backend::messages`].
//! - [`transport`]: the SSH connection to each host (russh), host keys, auth.
//! - [`libvirt`]: libvirt reached through that SSH connection, one thread per host.
//! - [`nbd`]: the NBD client of the block data plane.
//! - [`remote`]: the host-side NBD endpoints (qemu-nbd, pull backups, images).
//! - [`repo`]: the export repository: encrypted, deduplicated chunks and
//!   snapshot manifests.
//! - [`pipeline`]: block copy from a source to a sink (throttle, hash,
//!   progress, retry and resume), over NBD.
//! - [`config`]: the config file, `~/.ssh/config` aliases, key bindings.
//! - [`model`]: plain view data shared by backend and front ends.

pub mod alloc_tuning;
pub mod api;
pub mod backend;
pub mod config;
pub mod daemon;
pub mod headless;
pub mod jobs;
pub mod libvirt;
pub mod model;
pub mod nbd;
pub mod notify;
pub mod paths;
pub mod pipeline;
pub mod remote;
pub mod repo;
pub mod transport;
pub mod tui;
pub mod xml;
