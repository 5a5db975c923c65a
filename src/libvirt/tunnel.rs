//! A private local unix socket for the virt crate to connect to. Each
//! accepted connection is bridged to the host by a caller-supplied connector
//! (in the app: an SSH channel running [`super::remote::helper_command`]).

use super::LibvirtError;
use super::uri::LibvirtUri;
use futures::future::BoxFuture;
use std::io;
use std::os::unix::fs::{DirBuilderExt, MetadataExt};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{UnixListener, UnixStream};
use tokio::task::{JoinHandle, JoinSet};

/// Any byte stream to the host: an SSH channel stream, a `UnixStream`, …
pub trait TunnelIo: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> TunnelIo for T {}

/// The host side of one bridged connection.
pub type TunnelStream = Box<dyn TunnelIo>;

/// Opens one new stream to the host's libvirt daemon; called once per
/// connection libvirt makes to the local socket.
pub type Connector = Box<dyn Fn() -> BoxFuture<'static, io::Result<TunnelStream>> + Send + Sync>;

const SOCKET_NAME: &str = "libvirt.sock";

/// A running tunnel. Dropping it stops accepting, aborts every bridged
/// connection and removes the socket and its directory.
pub struct Tunnel {
    dir: PathBuf,
    socket: PathBuf,
    task: JoinHandle<()>,
    last_error: Arc<Mutex<Option<String>>>,
}

impl Tunnel {
    /// Creates the private directory and socket and starts accepting. Must be
    /// called from within a Tokio runtime (an error otherwise).
    pub fn start(connector: Connector) -> Result<Tunnel, LibvirtError> {
        let runtime = tokio::runtime::Handle::try_current().map_err(|e| LibvirtError::Io {
            context: "libvirt tunnel needs a Tokio runtime".to_string(),
            source: io::Error::other(e),
        })?;
        let dir = create_private_dir().map_err(|source| LibvirtError::Io {
            context: "cannot create the libvirt tunnel directory".to_string(),
            source,
        })?;
        let socket = dir.join(SOCKET_NAME);
        let listener = {
            let _guard = runtime.enter();
            UnixListener::bind(&socket)
        };
        let listener = match listener {
            Ok(l) => l,
            Err(source) => {
                let _ = std::fs::remove_dir(&dir);
                return Err(LibvirtError::Io {
                    context: format!("cannot listen on {}", socket.display()),
                    source,
                });
            }
        };
        let last_error = Arc::new(Mutex::new(None));
        let task = runtime.spawn(accept_loop(
            listener,
            Arc::new(connector),
            last_error.clone(),
        ));
        Ok(Tunnel {
            dir,
            socket,
            task,
            last_error,
        })
    }

    /// Path of the local socket.
    pub fn socket_path(&self) -> &Path {
        &self.socket
    }

    /// The URI the virt crate opens to reach `libvirt_uri`'s daemon through
    /// this tunnel, e.g. `qemu+unix:///system?socket=/run/user/0/…/libvirt.sock`.
    pub fn uri(&self, libvirt_uri: &str) -> Result<String, LibvirtError> {
        Ok(LibvirtUri::parse(libvirt_uri)?.via_socket(&self.socket))
    }

    /// Why the connector last failed, if it did: libvirt itself only sees an
    /// EOF, so this is the message worth showing the operator.
    pub fn last_connect_error(&self) -> Option<String> {
        lock(&self.last_error).clone()
    }
}

impl Drop for Tunnel {
    fn drop(&mut self) {
        self.task.abort();
        let _ = std::fs::remove_file(&self.socket);
        if let Err(e) = std::fs::remove_dir(&self.dir) {
            tracing::debug!(dir = %self.dir.display(), error = %e, "libvirt tunnel dir not removed");
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Where tunnel directories go: `$XDG_RUNTIME_DIR`, else the temp dir.
fn runtime_base() -> PathBuf {
    std::env::var_os("XDG_RUNTIME_DIR")
        .map(PathBuf::from)
        .filter(|p| p.is_absolute() && p.is_dir())
        .unwrap_or_else(std::env::temp_dir)
}

/// Removes the tunnel directories (and their sockets) of kvm-clone
/// processes that are gone: a killed front end cannot remove its own. Only
/// `kvm-clone-<pid>-<16 hex>` directories of this user whose pid is not
/// running are touched; once per process.
fn sweep_dead_dirs(base: &Path) {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let Ok(entries) = std::fs::read_dir(base) else {
            return;
        };
        for e in entries.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            let Some(pid) = dead_owner(&name) else {
                continue;
            };
            let dir = e.path();
            let mine = std::fs::symlink_metadata(&dir)
                .is_ok_and(|m| m.is_dir() && m.uid() == current_uid());
            if !mine {
                continue;
            }
            let _ = std::fs::remove_file(dir.join("libvirt.sock"));
            match std::fs::remove_dir(&dir) {
                Ok(()) => tracing::info!(dir = %dir.display(), pid, "removed a dead run's tunnel directory"),
                Err(e) => tracing::debug!(dir = %dir.display(), error = %e, "tunnel directory left"),
            }
        }
    });
}

/// The pid in a tunnel directory's name when that process is not running.
fn dead_owner(name: &str) -> Option<u32> {
    let rest = name.strip_prefix("kvm-clone-")?;
    let (pid, tag) = rest.split_once('-')?;
    let pid: u32 = pid.parse().ok()?;
    if tag.len() != 16 || !tag.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    let alive = Path::new("/proc").join(pid.to_string()).exists();
    (!alive && pid != std::process::id()).then_some(pid)
}

fn current_uid() -> u32 {
    // SAFETY: getuid has no preconditions and cannot fail.
    unsafe { libc::getuid() }
}

/// `$XDG_RUNTIME_DIR/kvm-clone-<pid>-<random>` (or under the temp dir),
/// mode 0700 so no other user can reach the socket.
fn create_private_dir() -> io::Result<PathBuf> {
    let base = runtime_base();
    sweep_dead_dirs(&base);
    let mut last = None;
    for _ in 0..8 {
        let name = format!(
            "kvm-clone-{}-{:016x}",
            std::process::id(),
            rand::random::<u64>()
        );
        let dir = base.join(name);
        match std::fs::DirBuilder::new().mode(0o700).create(&dir) {
            Ok(()) => return Ok(dir),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => last = Some(e),
            Err(e) => return Err(e),
        }
    }
    Err(last.unwrap_or_else(|| io::Error::other("no free directory name")))
}

async fn accept_loop(
    listener: UnixListener,
    connector: Arc<Connector>,
    last_error: Arc<Mutex<Option<String>>>,
) {
    // Owned here so that aborting this task aborts every bridge too.
    let mut bridges = JoinSet::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((local, _)) => {
                    bridges.spawn(bridge(local, connector.clone(), last_error.clone()));
                }
                Err(e) => {
                    // EMFILE and friends: back off instead of spinning.
                    tracing::warn!(error = %e, "libvirt tunnel accept failed");
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
            },
            Some(_) = bridges.join_next(), if !bridges.is_empty() => {}
        }
    }
}

async fn bridge(
    mut local: UnixStream,
    connector: Arc<Connector>,
    last_error: Arc<Mutex<Option<String>>>,
) {
    let mut remote = match connector().await {
        Ok(s) => s,
        Err(e) => {
            tracing::warn!(error = %e, "libvirt tunnel cannot reach the host");
            *lock(&last_error) = Some(e.to_string());
            return; // dropping `local` gives libvirt an EOF
        }
    };
    // copy_bidirectional forwards each EOF as a write shutdown of the other
    // side and returns once both directions are done.
    match tokio::io::copy_bidirectional(&mut local, &mut remote).await {
        Ok((up, down)) => tracing::debug!(up, down, "libvirt tunnel connection closed"),
        Err(e) => tracing::debug!(error = %e, "libvirt tunnel connection ended"),
    }
}

#[cfg(test)]
mod tests {

    #[test]
    fn only_well_formed_names_of_dead_pids_are_swept() {
        let mut child = std::process::Command::new("true").spawn().unwrap();
        let dead = child.id();
        child.wait().unwrap();
        assert_eq!(
            dead_owner(&format!("kvm-clone-{dead}-0123456789abcdef")),
            Some(dead)
        );
        let me = std::process::id();
        assert_eq!(
            dead_owner(&format!("kvm-clone-{me}-0123456789abcdef")),
            None
        );
        assert_eq!(dead_owner(&format!("kvm-clone-{dead}-0123")), None);
        assert_eq!(
            dead_owner(&format!("kvm-clone-{dead}-0123456789abcdeg")),
            None
        );
        assert_eq!(dead_owner("kvm-clone-nbd-0123456789abcdef"), None);
        assert_eq!(dead_owner("something-else"), None);
    }
    use super::*;
    use std::os::unix::fs::PermissionsExt;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    /// A connector to a local echo server stands in for SSH.
    fn echo_server(dir: &Path) -> (PathBuf, JoinHandle<()>) {
        let path = dir.join("echo.sock");
        let listener = UnixListener::bind(&path).unwrap();
        let task = tokio::spawn(async move {
            loop {
                let (mut s, _) = listener.accept().await.unwrap();
                tokio::spawn(async move {
                    let (mut r, mut w) = s.split();
                    let _ = tokio::io::copy(&mut r, &mut w).await;
                });
            }
        });
        (path, task)
    }

    fn connector_to(path: PathBuf) -> Connector {
        Box::new(move || {
            let path = path.clone();
            Box::pin(async move {
                let s = UnixStream::connect(path).await?;
                Ok(Box::new(s) as TunnelStream)
            })
        })
    }

    #[tokio::test]
    async fn bridges_both_ways_and_forwards_eof() {
        let tmp = tempfile::tempdir().unwrap();
        let (echo, _server) = echo_server(tmp.path());
        let tunnel = Tunnel::start(connector_to(echo)).unwrap();
        for _ in 0..2 {
            let mut c = UnixStream::connect(tunnel.socket_path()).await.unwrap();
            c.write_all(b"hello libvirt").await.unwrap();
            c.shutdown().await.unwrap();
            let mut back = Vec::new();
            c.read_to_end(&mut back).await.unwrap();
            assert_eq!(back, b"hello libvirt");
        }
        assert!(tunnel.last_connect_error().is_none());
    }

    #[tokio::test]
    async fn private_dir_and_cleanup_on_drop() {
        let tmp = tempfile::tempdir().unwrap();
        let (echo, _server) = echo_server(tmp.path());
        let tunnel = Tunnel::start(connector_to(echo)).unwrap();
        let socket = tunnel.socket_path().to_path_buf();
        let dir = socket.parent().unwrap().to_path_buf();
        let mode = std::fs::metadata(&dir).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o700);
        assert_eq!(
            tunnel.uri("qemu:///session").unwrap(),
            format!("qemu+unix:///session?socket={}", socket.display())
        );
        // A live bridged connection must not keep the tunnel alive.
        let mut c = UnixStream::connect(&socket).await.unwrap();
        c.write_all(b"x").await.unwrap();
        let mut one = [0u8; 1];
        c.read_exact(&mut one).await.unwrap();
        drop(tunnel);
        assert!(!socket.exists());
        assert!(!dir.exists());
        let mut rest = Vec::new();
        let n = c.read_to_end(&mut rest).await.unwrap_or(0);
        assert_eq!(n, 0, "bridge still forwarding after drop");
    }

    #[tokio::test]
    async fn connector_failure_is_reported_and_closes_the_client() {
        let tmp = tempfile::tempdir().unwrap();
        let tunnel = Tunnel::start(connector_to(tmp.path().join("nobody-listens"))).unwrap();
        let mut c = UnixStream::connect(tunnel.socket_path()).await.unwrap();
        let mut buf = Vec::new();
        let n = c.read_to_end(&mut buf).await.unwrap_or(0);
        assert_eq!(n, 0);
        let err = tunnel.last_connect_error().unwrap();
        assert!(err.contains("No such file"), "{err}");
    }
}
