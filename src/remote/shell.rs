//! Running generated shell scripts on a host, and the script fragments
//! shared by the endpoints. Every value interpolated into a script is a
//! validated [`RemotePath`](super::path::RemotePath) or label, quoted with
//! [`quote`](crate::transport::quote::quote).

use super::error::RemoteError;
use crate::transport::{ExecOutput, Session};

/// Runs `script` and fails on a non-zero exit, carrying stderr.
pub(crate) async fn run(session: &Session, script: &str) -> Result<ExecOutput, RemoteError> {
    let out = session.exec(script).await?;
    Ok(out.check(script)?)
}

/// Shell function `stop_pid PIDFILE MARKER`: if PIDFILE holds the pid of a
/// live process whose command line contains MARKER (so a recycled pid is
/// never killed), send SIGTERM, wait up to 10 s, then SIGKILL and wait up to
/// 5 s more. Exit status 1 only if the process outlived all that.
///
/// A daemon (qemu-nbd --fork) is not our child: once it exits it stays a
/// zombie until init reaps it, which some inits do only every second or
/// two. A zombie holds no files or locks, so it counts as gone; `kill -0`
/// alone would wait for the reaper. Polls every 20 ms.
pub(crate) const STOP_PID_FN: &str = r#"running_pid() {
  [ -e "/proc/$1" ] && ! grep -q '^State:[[:space:]]*Z' "/proc/$1/status" 2>/dev/null
}
stop_pid() {
  pid=$(cat -- "$1" 2>/dev/null) || return 0
  case $pid in ''|*[!0-9]*) return 0 ;; esac
  grep -qaF -- "$2" "/proc/$pid/cmdline" 2>/dev/null || return 0
  kill "$pid" 2>/dev/null
  i=0
  while running_pid "$pid"; do
    i=$((i+1))
    [ "$i" -eq 500 ] && kill -9 "$pid" 2>/dev/null
    [ "$i" -ge 750 ] && { echo "process $pid did not exit" >&2; return 1; }
    sleep 0.02
  done
  return 0
}
"#;
