//! Where the daemon's socket lives and who may use it.
//!
//! Default: `$XDG_RUNTIME_DIR/kvm-clone/daemon.sock`, or
//! `/run/kvm-clone/daemon.sock` for root. The directory is made 0700; an
//! existing one must belong to the daemon's user (or root) and be writable
//! by nobody else, since whoever can write there could put another socket
//! in its place. The socket is 0600, and every connection's peer is
//! checked: the daemon's own user, or root.

use std::os::unix::fs::{DirBuilderExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use super::DaemonError;

pub const SOCKET_NAME: &str = "daemon.sock";

/// The effective uid of this process.
pub fn own_uid() -> u32 {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() }
}

/// Whether a peer with `uid` may use a daemon running as `own`.
pub fn peer_allowed(uid: u32, own: u32) -> bool {
    uid == own || uid == 0
}

/// The socket path: `explicit` when given, else the default.
pub fn resolve(explicit: Option<&Path>) -> Result<PathBuf, DaemonError> {
    if let Some(p) = explicit {
        return Ok(p.to_path_buf());
    }
    let runtime = std::env::var_os("XDG_RUNTIME_DIR").filter(|v| !v.is_empty());
    match runtime {
        Some(dir) => Ok(PathBuf::from(dir).join("kvm-clone").join(SOCKET_NAME)),
        None if own_uid() == 0 => Ok(PathBuf::from("/run/kvm-clone").join(SOCKET_NAME)),
        None => Err(DaemonError::NoRuntimeDir),
    }
}

/// Makes the socket's directory (0700) if it is missing, and checks that
/// nobody else can write to it.
pub fn prepare_dir(socket: &Path) -> Result<(), DaemonError> {
    let dir = socket
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    if !dir.exists() {
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
            .map_err(|e| unsafe_path(dir, format!("cannot create the directory: {e}")))?;
    }
    let meta = std::fs::metadata(dir)
        .map_err(|e| unsafe_path(dir, format!("cannot read the directory: {e}")))?;
    dir_problem(
        meta.is_dir(),
        meta.uid(),
        meta.permissions().mode(),
        own_uid(),
    )
    .map_or(Ok(()), |why| Err(unsafe_path(dir, why)))
}

/// Why a directory with these facts must not hold the socket, if it must not.
pub fn dir_problem(is_dir: bool, owner: u32, mode: u32, own: u32) -> Option<String> {
    if !is_dir {
        return Some("not a directory".into());
    }
    if owner != own && owner != 0 {
        return Some(format!(
            "the socket's directory belongs to uid {owner}, not to this user ({own}) or root"
        ));
    }
    if mode & 0o022 != 0 {
        return Some(format!(
            "the socket's directory is writable by others (mode {:o}); use a directory only its owner can write (chmod go-w)",
            mode & 0o7777
        ));
    }
    None
}

fn unsafe_path(path: &Path, why: String) -> DaemonError {
    DaemonError::UnsafePath {
        path: path.to_path_buf(),
        why,
    }
}

/// Binds the socket (0600). A socket file nobody answers on is a dead
/// daemon's and is replaced; one that answers is refused.
pub async fn bind(socket: &Path) -> Result<tokio::net::UnixListener, DaemonError> {
    prepare_dir(socket)?;
    if socket.exists() {
        if tokio::net::UnixStream::connect(socket).await.is_ok() {
            return Err(DaemonError::AlreadyRunning(socket.to_path_buf()));
        }
        std::fs::remove_file(socket).map_err(DaemonError::Io)?;
    }
    // Made with no permissions for others from the start, then 0600.
    // SAFETY: umask only swaps the process's file mode mask.
    let old = unsafe { libc::umask(0o177) };
    let bound = tokio::net::UnixListener::bind(socket);
    // SAFETY: as above, restoring the previous mask.
    unsafe { libc::umask(old) };
    let listener = bound.map_err(DaemonError::Io)?;
    std::fs::set_permissions(socket, std::fs::Permissions::from_mode(0o600))
        .map_err(DaemonError::Io)?;
    Ok(listener)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_owner_and_root_may_connect() {
        assert!(peer_allowed(1000, 1000));
        assert!(peer_allowed(0, 1000));
        assert!(!peer_allowed(1001, 1000));
        assert!(!peer_allowed(1000, 0), "root's daemon serves only root");
    }

    #[test]
    fn the_directory_must_be_the_users_and_closed_to_writers() {
        assert_eq!(dir_problem(true, 1000, 0o40700, 1000), None);
        assert_eq!(dir_problem(true, 0, 0o40755, 1000), None);
        assert!(dir_problem(true, 1001, 0o40700, 1000).is_some());
        let open = dir_problem(true, 1000, 0o41777, 1000).unwrap_or_default();
        assert!(open.contains("writable by others"), "{open}");
        assert!(dir_problem(false, 1000, 0o600, 1000).is_some());
    }

    #[test]
    fn an_explicit_path_wins() {
        let p = resolve(Some(Path::new("/x/y.sock"))).unwrap();
        assert_eq!(p, Path::new("/x/y.sock"));
    }
}
