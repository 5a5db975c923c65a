//! A `qemu-nbd` of this machine serving one new image on a unix socket in a
//! private directory (mode 0700), so extract writes qcow2 through the same
//! NBD sink as a restore. The server is a child process: stopped with
//! SIGTERM (it flushes and exits), killed if dropped.

use super::ExtractError;
use crate::nbd::ConnectOptions;
use crate::pipeline::{BlockError, NbdPool};
use std::path::{Path, PathBuf};
use std::time::Duration;
use tokio::process::{Child, Command};

/// How long qemu-nbd may take to listen.
const START_WAIT: Duration = Duration::from_secs(20);
const EXPORT: &str = "disk";

pub struct LocalNbd {
    child: Option<Child>,
    dir: PathBuf,
    socket: PathBuf,
}

fn tool(what: &'static str) -> impl FnOnce(std::io::Error) -> ExtractError {
    move |e| ExtractError::Tool {
        what,
        message: e.to_string(),
    }
}

/// A fresh directory only this user can enter, for the socket.
fn private_dir() -> Result<PathBuf, ExtractError> {
    use std::os::unix::fs::DirBuilderExt;
    let base = std::env::var_os("XDG_RUNTIME_DIR")
        .map(PathBuf::from)
        .filter(|p| p.is_dir())
        .unwrap_or_else(std::env::temp_dir);
    let dir = base.join(format!("kvm-clone-nbd-{:016x}", rand::random::<u64>()));
    std::fs::DirBuilder::new()
        .mode(0o700)
        .create(&dir)
        .map_err(ExtractError::io(&dir))?;
    Ok(dir)
}

impl LocalNbd {
    /// Creates a qcow2 image of `size` bytes at `path` (which must not
    /// exist) and serves it writable.
    pub async fn create_qcow2(path: &Path, size: u64) -> Result<LocalNbd, ExtractError> {
        if tokio::fs::symlink_metadata(path).await.is_ok() {
            return Err(ExtractError::Exists(path.to_path_buf()));
        }
        let out = Command::new("qemu-img")
            .args(["create", "-q", "-f", "qcow2"])
            .arg(path)
            .arg(size.to_string())
            .kill_on_drop(true)
            .output()
            .await
            .map_err(tool("running qemu-img"))?;
        if !out.status.success() {
            return Err(ExtractError::Tool {
                what: "qemu-img create",
                message: String::from_utf8_lossy(&out.stderr).trim().to_string(),
            });
        }
        Self::serve(path, "qcow2").await
    }

    /// Serves an existing image writable, with zeros kept unallocated.
    pub async fn serve(path: &Path, format: &str) -> Result<LocalNbd, ExtractError> {
        let dir = private_dir()?;
        let socket = dir.join("nbd.sock");
        let mut nbd = LocalNbd {
            child: None,
            dir,
            socket,
        };
        let child = Command::new("qemu-nbd")
            .arg(format!("--format={format}"))
            .arg("--socket")
            .arg(&nbd.socket)
            .arg(format!("--export-name={EXPORT}"))
            .arg(format!("--shared={}", crate::pipeline::DEFAULT_CONNECTIONS))
            .args(["--persistent", "--discard=unmap", "--detect-zeroes=unmap"])
            .arg(path)
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .map_err(tool("starting qemu-nbd"))?;
        let child = nbd.child.insert(child);
        let start = std::time::Instant::now();
        while !nbd.socket.exists() {
            if let Some(status) = child.try_wait().map_err(tool("starting qemu-nbd"))? {
                let mut err = String::new();
                if let Some(mut e) = child.stderr.take() {
                    use tokio::io::AsyncReadExt;
                    let _ = e.read_to_string(&mut err).await;
                }
                return Err(ExtractError::Tool {
                    what: "qemu-nbd",
                    message: format!("exited ({status}): {}", err.trim()),
                });
            }
            if start.elapsed() > START_WAIT {
                return Err(ExtractError::Tool {
                    what: "qemu-nbd",
                    message: format!("not listening after {START_WAIT:?}"),
                });
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        Ok(nbd)
    }

    /// `count` connections to the export.
    pub async fn pool(&self, count: usize) -> Result<NbdPool, BlockError> {
        let socket = self.socket.clone();
        NbdPool::connect(count, &ConnectOptions::new(EXPORT.to_string()), || {
            tokio::net::UnixStream::connect(socket.clone())
        })
        .await
    }

    /// Stops the server (SIGTERM: it flushes the image and exits) and
    /// removes the socket directory.
    pub async fn stop(&mut self) -> Result<(), ExtractError> {
        if let Some(mut child) = self.child.take() {
            if let Some(pid) = child.id().and_then(|p| i32::try_from(p).ok()) {
                // SAFETY: a signal to our own child process; no memory involved.
                unsafe { libc::kill(pid, libc::SIGTERM) };
            }
            let status = tokio::time::timeout(Duration::from_secs(30), child.wait())
                .await
                .map_err(|_| ExtractError::Tool {
                    what: "qemu-nbd",
                    message: "did not exit within 30 s of SIGTERM".into(),
                })?
                .map_err(tool("stopping qemu-nbd"))?;
            // SIGTERM is how it is told to stop; anything else is a failure.
            let by_term = {
                use std::os::unix::process::ExitStatusExt;
                status.signal() == Some(libc::SIGTERM)
            };
            if !status.success() && !by_term {
                return Err(ExtractError::Tool {
                    what: "qemu-nbd",
                    message: format!("exited with {status}"),
                });
            }
        }
        let _ = std::fs::remove_dir_all(&self.dir);
        Ok(())
    }
}

impl Drop for LocalNbd {
    fn drop(&mut self) {
        if let Some(child) = self.child.as_mut() {
            let _ = child.start_kill();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
