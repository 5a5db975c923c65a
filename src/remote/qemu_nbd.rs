//! `qemu-nbd` on a host, serving one image on a unix socket in a
//! [`RunDir`]: read-only for a source disk of a shut-off VM, writable for a
//! destination image.
//!
//! Started with `--fork`, so the command returns once the socket listens;
//! `--persistent` keeps it serving across client disconnects (retries and
//! several connections), `--shared=N` allows N clients at once. The pid goes
//! to `<rundir>/<label>.pid`, stderr to `<rundir>/<label>.log`.

use super::error::RemoteError;
use super::path::{RemotePath, check_label};
use super::rundir::RunDir;
use super::shell::{self, STOP_PID_FN};
use super::socket::{self, SocketTransport};
use crate::nbd::{ConnectOptions, NbdClient};
use crate::transport::Session;
use crate::transport::quote::{Command, quote};
use std::sync::Arc;

pub use crate::model::ImageFormat;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// `--read-only`: a source disk. qemu's image locking then refuses an
    /// image a running VM has open for writing.
    ReadOnly,
    /// A destination image: `--discard=unmap --detect-zeroes=unmap`, so
    /// TRIM and WRITE_ZEROES (and written zero blocks) stay unallocated.
    Writable,
}

/// What to serve and how.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExportSpec {
    pub image: RemotePath,
    pub format: ImageFormat,
    pub access: Access,
    /// Names the socket (`<label>.sock`), pid and log files, and is the NBD
    /// export name. 1–32 of `[A-Za-z0-9_-]`, e.g. the disk target "vda".
    pub label: String,
    /// Clients allowed at once (`--shared`), at least 1.
    pub connections: u16,
    /// `--cache=none --aio=native`: bypass the host page cache. Off by
    /// default, since it needs O_DIRECT, which some file systems (tmpfs)
    /// lack; the clone job asks for it on its sinks and falls back when
    /// qemu-nbd refuses. With the default (writeback) cache, NBD FLUSH still
    /// reaches the disk (fdatasync).
    pub direct_io: bool,
}

impl ExportSpec {
    /// A read-only source, 4 connections.
    pub fn read_only(image: RemotePath, format: ImageFormat, label: &str) -> Self {
        ExportSpec {
            image,
            format,
            access: Access::ReadOnly,
            label: label.to_string(),
            connections: 4,
            direct_io: false,
        }
    }

    /// A writable sink, 4 connections.
    pub fn writable(image: RemotePath, format: ImageFormat, label: &str) -> Self {
        ExportSpec {
            access: Access::Writable,
            ..ExportSpec::read_only(image, format, label)
        }
    }

    /// The `qemu-nbd` command line (pure; the paths are validated already).
    pub fn command(&self, socket: &RemotePath, pid_file: &RemotePath) -> String {
        let mut c = Command::new("qemu-nbd")
            .arg(format!("--format={}", self.format))
            .arg(format!("--socket={socket}"))
            .arg(format!("--pid-file={pid_file}"))
            .arg(format!("--export-name={}", self.label))
            .arg(format!("--shared={}", self.connections.max(1)))
            .arg("--persistent")
            .arg("--fork");
        c = match self.access {
            Access::ReadOnly => c.arg("--read-only"),
            Access::Writable => c.arg("--discard=unmap").arg("--detect-zeroes=unmap"),
        };
        if self.direct_io {
            c = c.arg("--cache=none").arg("--aio=native");
        }
        c.arg(self.image.as_str()).build()
    }
}

/// A running qemu-nbd. Stop it with [`QemuNbd::stop`]; if dropped instead,
/// a best-effort stop is spawned on the current Tokio runtime, and
/// [`RunDir::remove`] (or [`super::rundir::cleanup`]) stops it in any case.
pub struct QemuNbd {
    session: Arc<Session>,
    spec: ExportSpec,
    socket: RemotePath,
    pid_file: RemotePath,
    log: RemotePath,
    pid: u32,
    stopped: bool,
}

impl std::fmt::Debug for QemuNbd {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("QemuNbd")
            .field("host", &self.session.target())
            .field("image", &self.spec.image)
            .field("socket", &self.socket)
            .field("pid", &self.pid)
            .finish()
    }
}

impl QemuNbd {
    /// Starts qemu-nbd for `spec` in `rundir` and returns once its socket
    /// listens. Fails if the label is in use in this run directory.
    pub async fn start(rundir: &RunDir, spec: ExportSpec) -> Result<QemuNbd, RemoteError> {
        check_label("export label", &spec.label)?;
        let session = rundir.session().clone();
        let socket = rundir.socket(&spec.label)?;
        let pid_file = rundir.file(&format!("{}.pid", spec.label))?;
        let log = rundir.file(&format!("{}.log", spec.label))?;
        let script = format!(
            r#"umask 077; sock={sock}; log={log}; pidf={pidf}
if [ -e "$sock" ] || [ -e "$pidf" ]; then echo "$sock is in use" >&2; exit 1; fi
{cmd} </dev/null >/dev/null 2>"$log" || {{ rc=$?; cat "$log" >&2; exit $rc; }}
i=0
while [ ! -S "$sock" ]; do
  i=$((i+1)); [ "$i" -gt 100 ] && {{ echo "socket did not appear" >&2; exit 1; }}
  sleep 0.1
done
cat -- "$pidf""#,
            sock = quote(socket.as_str()),
            log = quote(log.as_str()),
            pidf = quote(pid_file.as_str()),
            cmd = spec.command(&socket, &pid_file),
        );
        let host = session.target().to_string();
        let out = match shell::run(&session, &script).await {
            Ok(o) => o,
            Err(RemoteError::Ssh(crate::transport::SshError::Exec { stderr, .. })) => {
                return Err(RemoteError::QemuNbd {
                    host,
                    image: spec.image.to_string(),
                    detail: stderr,
                });
            }
            Err(e) => return Err(e),
        };
        let text = out.stdout_str();
        let pid: u32 = text
            .trim()
            .parse()
            .map_err(|_| RemoteError::UnexpectedOutput {
                host: host.clone(),
                what: "qemu-nbd pid file",
                detail: text.trim().escape_debug().to_string(),
            })?;
        tracing::debug!(%host, image = %spec.image, %socket, pid, "qemu-nbd started");
        Ok(QemuNbd {
            session,
            spec,
            socket,
            pid_file,
            log,
            pid,
            stopped: false,
        })
    }

    pub fn socket(&self) -> &RemotePath {
        &self.socket
    }

    pub fn pid(&self) -> u32 {
        self.pid
    }

    pub fn pid_file(&self) -> &RemotePath {
        &self.pid_file
    }

    pub fn spec(&self) -> &ExportSpec {
        &self.spec
    }

    /// The NBD export name (the label).
    pub fn export_name(&self) -> &str {
        &self.spec.label
    }

    /// A new NBD connection to the export (default options: base:allocation,
    /// 16 requests in flight). Up to `spec.connections` may be open at once.
    pub async fn connect(&self, transport: SocketTransport) -> Result<NbdClient, RemoteError> {
        self.connect_with(transport, ConnectOptions::default())
            .await
    }

    /// As [`QemuNbd::connect`] with explicit options; the export name in
    /// `opts` is replaced by this export's.
    pub async fn connect_with(
        &self,
        transport: SocketTransport,
        mut opts: ConnectOptions,
    ) -> Result<NbdClient, RemoteError> {
        opts.export_name = self.spec.label.clone();
        socket::connect_nbd(&self.session, &self.socket, transport, opts).await
    }

    /// Stops qemu-nbd (SIGTERM, then SIGKILL after 10 s) and removes its
    /// socket, pid file and log. Close or drop NBD clients first: qemu-nbd
    /// finishes pending requests, then exits.
    pub async fn stop(mut self) -> Result<(), RemoteError> {
        self.stopped = true;
        stop(&self.session, &self.socket, &self.pid_file, &self.log).await
    }
}

impl Drop for QemuNbd {
    fn drop(&mut self) {
        if self.stopped {
            return;
        }
        let session = self.session.clone();
        let (socket, pid_file, log) =
            (self.socket.clone(), self.pid_file.clone(), self.log.clone());
        if let Ok(rt) = tokio::runtime::Handle::try_current() {
            rt.spawn(async move {
                if let Err(e) = stop(&session, &socket, &pid_file, &log).await {
                    tracing::warn!(%socket, error = %e, "qemu-nbd not stopped");
                }
            });
        }
    }
}

async fn stop(
    session: &Session,
    socket: &RemotePath,
    pid_file: &RemotePath,
    log: &RemotePath,
) -> Result<(), RemoteError> {
    // The marker is the --socket argument, unique to this instance.
    let script = format!(
        r#"{STOP_PID_FN}stop_pid {pidf} {marker} || exit 1
rm -f -- {sock} {pidf} {log}"#,
        pidf = quote(pid_file.as_str()),
        marker = quote(&format!("--socket={socket}")),
        sock = quote(socket.as_str()),
        log = quote(log.as_str()),
    );
    shell::run(session, &script).await?;
    tracing::debug!(host = session.target(), %socket, "qemu-nbd stopped");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> RemotePath {
        RemotePath::new(s).unwrap()
    }

    #[test]
    fn read_only_command() {
        let spec = ExportSpec::read_only(p("/img/a b.raw"), ImageFormat::Raw, "vda");
        let cmd = spec.command(&p("/run/k/vda.sock"), &p("/run/k/vda.pid"));
        assert_eq!(
            cmd,
            "qemu-nbd '--format=raw' '--socket=/run/k/vda.sock' '--pid-file=/run/k/vda.pid' \
             '--export-name=vda' '--shared=4' --persistent --fork --read-only '/img/a b.raw'"
        );
    }

    #[test]
    fn writable_direct_command() {
        let mut spec = ExportSpec::writable(p("/img/x.qcow2"), ImageFormat::Qcow2, "vdb");
        spec.connections = 0;
        spec.direct_io = true;
        let cmd = spec.command(&p("/r/vdb.sock"), &p("/r/vdb.pid"));
        assert!(cmd.contains("'--format=qcow2'"), "{cmd}");
        assert!(cmd.contains("'--shared=1'"), "{cmd}");
        assert!(
            cmd.contains("'--discard=unmap' '--detect-zeroes=unmap'"),
            "{cmd}"
        );
        assert!(cmd.contains("'--cache=none' '--aio=native'"), "{cmd}");
        assert!(!cmd.contains("--read-only"), "{cmd}");
        assert!(cmd.ends_with(" /img/x.qcow2"), "{cmd}");
    }

    #[test]
    fn formats_parse() {
        assert_eq!("raw".parse::<ImageFormat>().unwrap(), ImageFormat::Raw);
        assert_eq!("qcow2".parse::<ImageFormat>().unwrap(), ImageFormat::Qcow2);
        assert!("vmdk".parse::<ImageFormat>().is_err());
    }
}
