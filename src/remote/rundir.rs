//! A private runtime directory on a host for one job: it holds the unix
//! sockets of qemu-nbd and of libvirt's backup NBD server, qemu-nbd pid files
//! and logs. Created with `mktemp -d` (mode 0700) as
//! `/run/kvm-clone.<tag>.XXXXXX` (else under `$XDG_RUNTIME_DIR` or `/tmp`),
//! so a host reboot clears it. [`RunDir::path`] is what a job journal
//! records; [`cleanup`] is what a restarted app runs on it.

use super::error::RemoteError;
use super::path::{RemotePath, check_label};
use super::shell::{self, STOP_PID_FN};
use crate::transport::Session;
use crate::transport::quote::quote;
use std::sync::Arc;

/// Every run directory's file name starts with this.
pub const PREFIX: &str = "kvm-clone.";

/// Parent directories tried in order; the first writable one wins.
/// `$XDG_RUNTIME_DIR` is tried between them when set.
pub const BASES: [&str; 2] = ["/run", "/tmp"];

/// A run directory on one host. Remove it with [`RunDir::remove`]; if it is
/// dropped instead, a best-effort removal is spawned on the current Tokio
/// runtime (nothing happens without one: the journal then has the path).
pub struct RunDir {
    session: Arc<Session>,
    path: RemotePath,
    removed: bool,
}

impl std::fmt::Debug for RunDir {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RunDir")
            .field("host", &self.session.target())
            .field("path", &self.path)
            .finish()
    }
}

impl RunDir {
    /// Creates `<base>/kvm-clone.<tag>.XXXXXX`. `tag` (1–32 of
    /// `[A-Za-z0-9_-]`, e.g. a job id) makes the directory recognisable.
    pub async fn create(session: Arc<Session>, tag: &str) -> Result<RunDir, RemoteError> {
        check_label("job tag", tag)?;
        let template = quote(&format!("{PREFIX}{tag}.XXXXXX"));
        let script = format!(
            r#"umask 077
for b in {run} "${{XDG_RUNTIME_DIR:-}}" {tmp}; do
  [ -n "$b" ] && [ -d "$b" ] && [ -w "$b" ] || continue
  d=$(mktemp -d "$b"/{template}) && {{ printf '%s\n' "$d"; exit 0; }}
done
echo "no writable directory for runtime files (tried /run, \$XDG_RUNTIME_DIR, /tmp)" >&2
exit 1"#,
            run = BASES[0],
            tmp = BASES[1],
        );
        let out = shell::run(&session, &script).await?;
        let text = out.stdout_str();
        let line = text.trim_end_matches('\n');
        let path = RemotePath::new(line).map_err(|_| RemoteError::UnexpectedOutput {
            host: session.target().to_string(),
            what: "mktemp",
            detail: line.escape_debug().to_string(),
        })?;
        if !is_run_dir(&path) {
            return Err(RemoteError::UnexpectedOutput {
                host: session.target().to_string(),
                what: "mktemp",
                detail: format!("{path} is not a kvm-clone run directory"),
            });
        }
        tracing::debug!(host = session.target(), %path, "run directory created");
        Ok(RunDir {
            session,
            path,
            removed: false,
        })
    }

    pub fn path(&self) -> &RemotePath {
        &self.path
    }

    pub fn session(&self) -> &Arc<Session> {
        &self.session
    }

    /// `<dir>/<name>`; `name` must be one path component.
    pub fn file(&self, name: &str) -> Result<RemotePath, RemoteError> {
        self.path.join(name)
    }

    /// `<dir>/<label>.sock`, checked against the unix socket length limit.
    pub fn socket(&self, label: &str) -> Result<RemotePath, RemoteError> {
        check_label("socket label", label)?;
        let p = self.path.join(&format!("{label}.sock"))?;
        p.check_socket_len()?;
        Ok(p)
    }

    /// Stops every process whose pid file is in the directory, then removes
    /// the directory and all in it.
    pub async fn remove(mut self) -> Result<(), RemoteError> {
        self.removed = true;
        cleanup(&self.session, &self.path).await
    }
}

impl Drop for RunDir {
    fn drop(&mut self) {
        if self.removed {
            return;
        }
        let (session, path) = (self.session.clone(), self.path.clone());
        if let Ok(rt) = tokio::runtime::Handle::try_current() {
            rt.spawn(async move {
                if let Err(e) = cleanup(&session, &path).await {
                    tracing::warn!(%path, error = %e, "run directory not removed");
                }
            });
        }
    }
}

/// Whether `path` looks like a directory [`RunDir::create`] makes.
pub fn is_run_dir(path: &RemotePath) -> bool {
    path.file_name().starts_with(PREFIX) && path.parent().is_some()
}

/// Cleans up a run directory by path, e.g. one found in a job journal after
/// a crash: every `*.pid` file's process is stopped (only if its command line
/// names this directory), then the directory is removed. Refuses paths that
/// are not kvm-clone run directories. A directory already gone is fine.
pub async fn cleanup(session: &Session, path: &RemotePath) -> Result<(), RemoteError> {
    if !is_run_dir(path) {
        return Err(RemoteError::InvalidPath {
            path: path.to_string(),
            reason: "not a kvm-clone run directory",
        });
    }
    let script = format!(
        r#"{STOP_PID_FN}d={d}
[ -d "$d" ] || exit 0
rc=0
for p in "$d"/*.pid; do
  [ -f "$p" ] || continue
  stop_pid "$p" "$d/" || rc=1
done
rm -rf -- "$d" || rc=1
exit $rc"#,
        d = quote(path.as_str())
    );
    shell::run(session, &script).await?;
    tracing::debug!(host = session.target(), %path, "run directory removed");
    Ok(())
}

/// Run directories present on the host (any job, any age), for a restarted
/// app to match against its journal.
pub async fn list(session: &Session) -> Result<Vec<RemotePath>, RemoteError> {
    let script = format!(
        r#"for b in {run} "${{XDG_RUNTIME_DIR:-}}" {tmp}; do
  [ -n "$b" ] || continue
  for d in "$b"/{prefix}*; do [ -d "$d" ] && printf '%s\n' "$d"; done
done
exit 0"#,
        run = BASES[0],
        tmp = BASES[1],
        prefix = quote(PREFIX),
    );
    let out = shell::run(session, &script).await?;
    let mut v: Vec<RemotePath> = out
        .stdout_str()
        .lines()
        .filter_map(|l| RemotePath::new(l).ok())
        .filter(is_run_dir)
        .collect();
    v.sort();
    v.dedup();
    Ok(v)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recognises_run_dirs() {
        let ok = RemotePath::new("/run/kvm-clone.job1.AbC123").unwrap();
        assert!(is_run_dir(&ok));
        for bad in ["/run", "/", "/var/lib/libvirt/images", "/run/kvm-clon.x"] {
            assert!(!is_run_dir(&RemotePath::new(bad).unwrap()), "{bad}");
        }
    }
}
