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
pub(crate) const STOP_PID_FN: &str = r#"stop_pid() {
  pid=$(cat -- "$1" 2>/dev/null) || return 0
  case $pid in ''|*[!0-9]*) return 0 ;; esac
  grep -qaF -- "$2" "/proc/$pid/cmdline" 2>/dev/null || return 0
  kill "$pid" 2>/dev/null
  i=0
  while kill -0 "$pid" 2>/dev/null; do
    i=$((i+1))
    [ "$i" -eq 100 ] && kill -9 "$pid" 2>/dev/null
    [ "$i" -ge 150 ] && { echo "process $pid did not exit" >&2; return 1; }
    sleep 0.1
  done
  return 0
}
"#;
