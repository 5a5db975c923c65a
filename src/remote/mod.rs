//! The host-side endpoints of the NBD data plane, all reached through the
//! host's SSH [`Session`](crate::transport::Session) (unix sockets over
//! streamlocal or `nc -U`; never a TCP port).
//!
//! - [`rundir`]: a private runtime directory on the host for one job.
//! - [`qemu_nbd`]: `qemu-nbd` serving one image (read-only source or
//!   writable sink) on a socket in that directory.
//! - [`image`]: destination images in a storage pool, never overwriting.
//! - [`backup`]: a libvirt pull-mode backup of a running VM.
//! - [`socket`]: opening a host's unix socket and an NBD client over it.
//! - [`path`]: validated host paths and names; [`error`]: typed errors.
//!
//! What runs on the hosts, where files go and the cleanup contract are in
//! docs/remote.md.

pub mod backup;
pub mod error;
pub mod image;
pub mod path;
pub mod qemu_nbd;
pub mod rundir;
mod shell;
pub mod socket;

pub use backup::{BackupDisk, PullBackup};
pub use error::RemoteError;
pub use image::Image;
pub use path::RemotePath;
pub use qemu_nbd::{Access, ExportSpec, ImageFormat, QemuNbd};
pub use rundir::RunDir;
pub use socket::SocketTransport;
