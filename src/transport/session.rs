//! One authenticated SSH connection to one host.

use super::auth::{self, AgentSource, AuthInput, KeyCache, KeyPassphrase};
use super::error::{SshError, UnreachableKind};
use super::known_hosts::{self, HostKeyStatus, KnownHostsError};
use super::stream::SshStream;
use super::tuning;
use russh::ChannelMsg;
use russh::client::{DisconnectReason, Handle, Handler};
use russh::keys::{PublicKey, PublicKeyOrCertificate};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::net::TcpStream;
use tokio::sync::watch;

/// Everything needed to reach and log in to one host.
#[derive(Debug, Clone)]
pub struct SessionConfig {
    /// IPv4 or IPv6 literal (brackets allowed) or a host name.
    pub address: String,
    pub port: u16,
    pub user: String,
    /// Tried in order after the agent.
    pub identity_files: Vec<PathBuf>,
    /// Checked in order; missing files count as empty.
    pub known_hosts: Vec<PathBuf>,
    pub agent: AgentSource,
    /// For the TCP connect and, separately, for the SSH handshake.
    pub connect_timeout: Duration,
    pub keepalive_interval: Duration,
    /// Unanswered keepalives before the connection counts as lost.
    pub keepalive_max: usize,
    /// Most stdout (and, separately, stderr) `exec` collects.
    pub exec_output_cap: usize,
    /// Keys unlocked with a passphrase earlier.
    pub key_cache: KeyCache,
}

impl SessionConfig {
    /// Defaults: agent from `SSH_AUTH_SOCK`, 10 s connect timeout, keepalive
    /// every 15 s with 3 misses allowed, 16 MiB exec output cap.
    pub fn new(address: impl Into<String>, port: u16, user: impl Into<String>) -> Self {
        SessionConfig {
            address: address.into(),
            port,
            user: user.into(),
            identity_files: Vec::new(),
            known_hosts: Vec::new(),
            agent: AgentSource::Env,
            connect_timeout: Duration::from_secs(10),
            keepalive_interval: Duration::from_secs(15),
            keepalive_max: 3,
            exec_output_cap: 16 * 1024 * 1024,
            key_cache: KeyCache::default(),
        }
    }

    /// The address without IPv6 brackets.
    fn bare_address(&self) -> &str {
        self.address.trim_start_matches('[').trim_end_matches(']')
    }

    /// `address:port` (`[v6]:port`) for messages.
    pub fn target(&self) -> String {
        let a = self.bare_address();
        if a.contains(':') {
            format!("[{a}]:{}", self.port)
        } else {
            format!("{a}:{}", self.port)
        }
    }
}

/// Output of a finished remote command.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ExecOutput {
    /// Exit code; None when the process died from a signal.
    pub status: Option<u32>,
    pub signal: Option<String>,
    pub stdout: Vec<u8>,
    pub stderr: Vec<u8>,
    /// Some output went past the cap and was dropped.
    pub truncated: bool,
}

impl ExecOutput {
    pub fn success(&self) -> bool {
        self.status == Some(0)
    }

    pub fn stdout_str(&self) -> String {
        String::from_utf8_lossy(&self.stdout).into_owned()
    }

    /// Turn a non-zero exit into [`SshError::Exec`] carrying stderr.
    pub fn check(self, command: &str) -> Result<ExecOutput, SshError> {
        if self.success() {
            return Ok(self);
        }
        let status = match (&self.status, &self.signal) {
            (Some(s), _) => format!("exit {s}"),
            (None, Some(sig)) => format!("signal {sig}"),
            (None, None) => "no exit status".into(),
        };
        Err(SshError::Exec {
            command: shorten(command, 200),
            status,
            stderr: shorten(String::from_utf8_lossy(&self.stderr).trim(), 2000),
        })
    }
}

fn shorten(s: &str, max: usize) -> String {
    if s.len() <= max {
        return s.to_string();
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &s[..end])
}

type Verdict = Arc<Mutex<Option<Result<(HostKeyStatus, PublicKey), KnownHostsError>>>>;

/// russh callbacks: host-key check and disconnect bookkeeping.
pub struct ClientHandler {
    host: String,
    port: u16,
    known_hosts: Vec<PathBuf>,
    verdict: Verdict,
    disconnect_reason: Arc<Mutex<Option<String>>>,
    /// Dropped with the handler when the connection task ends, which wakes
    /// every `Session::closed()` waiter.
    _alive: watch::Sender<()>,
}

impl Handler for ClientHandler {
    type Error = russh::Error;

    async fn check_server_key(
        &mut self,
        server_key: &PublicKeyOrCertificate,
    ) -> Result<bool, Self::Error> {
        // Certificates are refused: we only trust plain known_hosts keys.
        let PublicKeyOrCertificate::PublicKey { key, .. } = server_key else {
            return Ok(false);
        };
        let status = known_hosts::check(&self.known_hosts, &self.host, self.port, key);
        let ok = matches!(status, Ok(HostKeyStatus::Match));
        if let Ok(mut v) = self.verdict.lock() {
            *v = Some(status.map(|s| (s, key.clone())));
        }
        Ok(ok)
    }

    async fn disconnected(
        &mut self,
        reason: DisconnectReason<Self::Error>,
    ) -> Result<(), Self::Error> {
        let text = match &reason {
            DisconnectReason::ReceivedDisconnect(info) => {
                format!("server disconnected: {}", info.message)
            }
            DisconnectReason::Error(e) => e.to_string(),
        };
        if let Ok(mut r) = self.disconnect_reason.lock() {
            *r = Some(text);
        }
        match reason {
            DisconnectReason::ReceivedDisconnect(_) => Ok(()),
            DisconnectReason::Error(e) => Err(e),
        }
    }
}

/// An authenticated connection. Cheap to share behind an `Arc`; every
/// method takes `&self` and opens its own channel.
pub struct Session {
    handle: Handle<ClientHandler>,
    target: String,
    closed: watch::Receiver<()>,
    disconnect_reason: Arc<Mutex<Option<String>>>,
    exec_output_cap: usize,
}

impl Session {
    /// Connect, verify the host key, authenticate.
    pub async fn connect(
        cfg: &SessionConfig,
        passphrase: Option<&KeyPassphrase>,
    ) -> Result<Session, SshError> {
        let target = cfg.target();
        let tcp = tcp_connect(cfg).await?;
        let known = known_hosts::known_algorithms(&cfg.known_hosts, cfg.bare_address(), cfg.port);
        let config = Arc::new(tuning::client_config(
            cfg.keepalive_interval,
            cfg.keepalive_max,
            &known,
        ));
        let verdict: Verdict = Arc::default();
        let disconnect_reason = Arc::new(Mutex::new(None));
        let (alive, closed) = watch::channel(());
        let handler = ClientHandler {
            host: cfg.bare_address().to_string(),
            port: cfg.port,
            known_hosts: cfg.known_hosts.clone(),
            verdict: verdict.clone(),
            disconnect_reason: disconnect_reason.clone(),
            _alive: alive,
        };
        let handshake = russh::client::connect_stream(config, tcp, handler);
        let result = tokio::time::timeout(cfg.connect_timeout, handshake).await;
        let mut handle = match result {
            Err(_) => {
                return Err(SshError::Unreachable {
                    target,
                    kind: UnreachableKind::TimedOut,
                    detail: "no SSH handshake".into(),
                });
            }
            Ok(Ok(h)) => h,
            Ok(Err(e)) => {
                let taken = verdict.lock().ok().and_then(|mut v| v.take());
                return Err(match taken {
                    Some(v) => host_key_error(cfg, v),
                    None => handshake_error(&target, e),
                });
            }
        };
        let auth = auth::authenticate(
            &mut handle,
            AuthInput {
                user: &cfg.user,
                target: &target,
                agent: &cfg.agent,
                identity_files: &cfg.identity_files,
                passphrase,
                cache: &cfg.key_cache,
            },
        );
        // A server that stalls during auth is as good as unreachable.
        match tokio::time::timeout(cfg.connect_timeout * 3, auth).await {
            Ok(r) => r?,
            Err(_) => {
                return Err(SshError::Unreachable {
                    target,
                    kind: UnreachableKind::TimedOut,
                    detail: "authentication did not finish".into(),
                });
            }
        }
        tracing::debug!(%target, "ssh session up");
        Ok(Session {
            handle,
            target,
            closed,
            disconnect_reason,
            exec_output_cap: cfg.exec_output_cap,
        })
    }

    /// `address:port`.
    pub fn target(&self) -> &str {
        &self.target
    }

    pub fn is_closed(&self) -> bool {
        self.handle.is_closed() || self.closed.has_changed().is_err()
    }

    /// Resolves once the connection has ended, for whatever reason.
    pub async fn closed(&self) {
        let mut rx = self.closed.clone();
        while rx.changed().await.is_ok() {}
    }

    /// Why the connection ended, once it has.
    pub fn disconnect_reason(&self) -> Option<String> {
        self.disconnect_reason.lock().ok().and_then(|r| r.clone())
    }

    /// Say goodbye to the server; the connection then ends.
    pub async fn disconnect(&self) {
        let _ = self
            .handle
            .disconnect(russh::Disconnect::ByApplication, "", "en")
            .await;
    }

    fn lost(&self, what: &str, e: impl std::fmt::Display) -> SshError {
        if self.is_closed() {
            SshError::Disconnected {
                target: self.target.clone(),
                reason: self
                    .disconnect_reason()
                    .unwrap_or_else(|| "connection closed".into()),
            }
        } else {
            SshError::Channel(format!("{what}: {e}"))
        }
    }

    async fn exec_channel(
        &self,
        command: &str,
    ) -> Result<russh::Channel<russh::client::Msg>, SshError> {
        let mut ch = self
            .handle
            .channel_open_session()
            .await
            .map_err(|e| self.lost("cannot open session channel", e))?;
        ch.exec(true, command)
            .await
            .map_err(|e| self.lost("cannot send exec request", e))?;
        // With want_reply the server answers before any output.
        loop {
            match ch.wait().await {
                Some(ChannelMsg::Success) => return Ok(ch),
                Some(ChannelMsg::Failure) => {
                    return Err(SshError::Channel(format!(
                        "server refused to run `{}`",
                        shorten(command, 200)
                    )));
                }
                Some(ChannelMsg::WindowAdjusted { .. }) => continue,
                Some(other) => {
                    return Err(SshError::Channel(format!(
                        "unexpected {other:?} before exec reply"
                    )));
                }
                None => return Err(self.lost("exec", "channel closed before reply")),
            }
        }
    }

    /// Run a command to completion, with no stdin, collecting stdout and
    /// stderr up to the configured cap. A non-zero exit is not an error
    /// here; see [`ExecOutput::check`].
    pub async fn exec(&self, command: &str) -> Result<ExecOutput, SshError> {
        let mut ch = self.exec_channel(command).await?;
        ch.eof().await.map_err(|e| self.lost("eof", e))?;
        let cap = self.exec_output_cap;
        let mut out = ExecOutput::default();
        let mut closed_cleanly = false;
        while let Some(msg) = ch.wait().await {
            match msg {
                ChannelMsg::Data { data } => {
                    out.truncated |= append_capped(&mut out.stdout, &data, cap);
                }
                ChannelMsg::ExtendedData { data, ext: 1 } => {
                    out.truncated |= append_capped(&mut out.stderr, &data, cap);
                }
                ChannelMsg::ExitStatus { exit_status } => out.status = Some(exit_status),
                ChannelMsg::ExitSignal { signal_name, .. } => {
                    out.signal = Some(format!("{signal_name:?}"));
                }
                ChannelMsg::Close => {
                    closed_cleanly = true;
                    break;
                }
                _ => {}
            }
        }
        if !closed_cleanly && out.status.is_none() && out.signal.is_none() {
            return Err(self.lost("exec", "channel ended without exit status"));
        }
        Ok(out)
    }

    /// Start a command and return its stdin/stdout as a stream (stderr and
    /// the exit status are kept on the stream; see [`SshStream::finish`]).
    pub async fn exec_stream(&self, command: &str) -> Result<SshStream, SshError> {
        let ch = self.exec_channel(command).await?;
        let (read, write) = ch.split();
        Ok(SshStream::new(read, write))
    }

    /// Connect to a Unix socket on the host (direct-streamlocal@openssh.com,
    /// what `ssh -L local:/remote.sock` uses).
    pub async fn open_streamlocal(&self, socket_path: &str) -> Result<SshStream, SshError> {
        let ch = self
            .handle
            .channel_open_direct_streamlocal(socket_path)
            .await
            .map_err(|e| self.lost(&format!("cannot open {socket_path} on the host"), e))?;
        let (read, write) = ch.split();
        Ok(SshStream::new(read, write))
    }
}

/// Append up to the cap; true when something was dropped.
fn append_capped(buf: &mut Vec<u8>, data: &[u8], cap: usize) -> bool {
    let room = cap.saturating_sub(buf.len());
    let n = room.min(data.len());
    buf.extend_from_slice(&data[..n]);
    n < data.len()
}

fn host_key_error(
    cfg: &SessionConfig,
    verdict: Result<(HostKeyStatus, PublicKey), KnownHostsError>,
) -> SshError {
    let host = known_hosts::host_field(cfg.bare_address(), cfg.port);
    match verdict {
        Err(e) => SshError::KnownHosts(e),
        Ok((HostKeyStatus::Unknown { fingerprint }, key)) => SshError::HostKeyUnknown {
            host,
            fingerprint,
            key: Box::new(key),
        },
        Ok((
            HostKeyStatus::Changed {
                file,
                line,
                fingerprint,
                warning,
            },
            _,
        )) => SshError::HostKeyChanged {
            host,
            fingerprint,
            file,
            line,
            warning,
        },
        Ok((
            HostKeyStatus::Revoked {
                file,
                line,
                fingerprint,
            },
            _,
        )) => SshError::HostKeyRevoked {
            host,
            fingerprint,
            file,
            line,
        },
        // Match means the handshake failed for another reason after the check.
        Ok((HostKeyStatus::Match, _)) => SshError::Protocol {
            target: cfg.target(),
            detail: "handshake failed after host key check".into(),
        },
    }
}

fn handshake_error(target: &str, e: russh::Error) -> SshError {
    match e {
        russh::Error::IO(io) => SshError::Disconnected {
            target: target.to_string(),
            reason: io.to_string(),
        },
        russh::Error::Disconnect | russh::Error::HUP => SshError::Disconnected {
            target: target.to_string(),
            reason: "server closed the connection during the handshake".into(),
        },
        other => SshError::Protocol {
            target: target.to_string(),
            detail: other.to_string(),
        },
    }
}

/// Resolve and connect, trying each address; the error names the cause.
async fn tcp_connect(cfg: &SessionConfig) -> Result<TcpStream, SshError> {
    let target = cfg.target();
    let host = cfg.bare_address();
    let addrs: Vec<SocketAddr> = match tokio::net::lookup_host((host, cfg.port)).await {
        Ok(a) => a.collect(),
        Err(e) => {
            return Err(SshError::Unreachable {
                target,
                kind: UnreachableKind::Dns,
                detail: e.to_string(),
            });
        }
    };
    if addrs.is_empty() {
        return Err(SshError::Unreachable {
            target,
            kind: UnreachableKind::Dns,
            detail: format!("{host} has no address"),
        });
    }
    let mut last = None;
    for addr in addrs {
        match tokio::time::timeout(cfg.connect_timeout, TcpStream::connect(addr)).await {
            Ok(Ok(s)) => {
                if let Err(e) = s.set_nodelay(true) {
                    tracing::warn!(%addr, "set_nodelay failed: {e}");
                }
                return Ok(s);
            }
            Ok(Err(e)) => {
                last = Some((UnreachableKind::from_io(&e), format!("{addr}: {e}")));
            }
            Err(_) => {
                last = Some((
                    UnreachableKind::TimedOut,
                    format!("{addr}: no answer in {:?}", cfg.connect_timeout),
                ));
            }
        }
    }
    let (kind, detail) = last.unwrap_or((UnreachableKind::Other, "no address tried".into()));
    Err(SshError::Unreachable {
        target,
        kind,
        detail,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_bracket_ipv6() {
        assert_eq!(SessionConfig::new("::1", 22, "root").target(), "[::1]:22");
        assert_eq!(
            SessionConfig::new("[fe80::1]", 2222, "r").target(),
            "[fe80::1]:2222"
        );
        assert_eq!(
            SessionConfig::new("alpha", 2222, "r").target(),
            "alpha:2222"
        );
    }

    #[test]
    fn exec_check_reports_status_and_stderr() {
        let ok = ExecOutput {
            status: Some(0),
            ..Default::default()
        };
        assert!(ok.check("true").is_ok());
        let bad = ExecOutput {
            status: Some(2),
            stderr: b"  no such domain\n".to_vec(),
            ..Default::default()
        };
        match bad.check("virsh dominfo x") {
            Err(SshError::Exec {
                command,
                status,
                stderr,
            }) => {
                assert_eq!(command, "virsh dominfo x");
                assert_eq!(status, "exit 2");
                assert_eq!(stderr, "no such domain");
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn capped_append() {
        let mut b = Vec::new();
        assert!(!append_capped(&mut b, b"abc", 4));
        assert!(append_capped(&mut b, b"def", 4));
        assert_eq!(b, b"abcd");
    }

    #[tokio::test]
    async fn refused_port_is_unreachable_refused() {
        // Bind then drop, so the port is very likely closed. Another test
        // of this run may take it in between (seen in the full suite): a
        // port that answered is tried again with a fresh one.
        for _ in 0..5 {
            let port = std::net::TcpListener::bind("127.0.0.1:0")
                .unwrap()
                .local_addr()
                .unwrap()
                .port();
            let cfg = SessionConfig::new("127.0.0.1", port, "root");
            match Session::connect(&cfg, None).await {
                Err(SshError::Unreachable { kind, .. }) => {
                    assert_eq!(kind, UnreachableKind::Refused);
                    return;
                }
                Err(e) => eprintln!("port {port} was taken meanwhile ({e}); another"),
                Ok(_) => eprintln!("port {port} was taken meanwhile; another"),
            }
        }
        panic!("no closed port was refused in 5 tries");
    }

    #[tokio::test]
    async fn bad_name_is_dns() {
        let cfg = SessionConfig::new("no-such-host.invalid", 22, "root");
        match Session::connect(&cfg, None).await {
            Err(SshError::Unreachable { kind, .. }) => assert_eq!(kind, UnreachableKind::Dns),
            Err(e) => panic!("unexpected error {e}"),
            Ok(_) => panic!("connected to .invalid"),
        }
    }
}
