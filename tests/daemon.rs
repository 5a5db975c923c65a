//! The daemon's socket with the real binary and no hosts: its modes, the
//! handshake, a snapshot on attach, the peer check (a client of another
//! uid, through a socket opened up on purpose), a second daemon refused,
//! and SIGTERM removing the socket.

use kvm_clone::backend::messages::Event;
use kvm_clone::daemon::DaemonError;
use kvm_clone::daemon::client;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

mod daemon_util;
mod tmux_util;

use daemon_util::Daemon;

/// A daemon with an empty config, its socket in `dir` (made by it).
fn start(dir: &Path, home: &Path) -> Daemon {
    let config = home.join("config.toml");
    std::fs::write(&config, "").unwrap();
    let socket = dir.join("run/daemon.sock");
    let mut c = Command::new(env!("CARGO_BIN_EXE_kvm-clone"));
    c.args(["daemon", "--socket"])
        .arg(&socket)
        .env("KVM_CLONE_CONFIG", &config)
        .env("KVM_CLONE_DATA_DIR", home.join("data"))
        .env("XDG_CONFIG_HOME", home);
    Daemon::start(c, socket)
}

fn mode(p: &Path) -> u32 {
    std::fs::metadata(p).unwrap().permissions().mode() & 0o777
}

/// The first frame a raw client gets, as `uid` (and the same gid): a
/// client in Perl (perl-base is in every Debian) that sends `hello` as
/// one frame, unless empty, and prints the answer.
fn first_frame_as(uid: u32, socket: &Path, hello: &str) -> String {
    let script = r#"
use IO::Socket::UNIX;
my $s = IO::Socket::UNIX->new(Peer => $ARGV[0]) or die "connect: $!";
my $b = $ARGV[1];
print $s pack('N', length $b) . $b if length $b;
read($s, my $h, 4) == 4 or die "no answer";
read($s, my $body, unpack('N', $h));
print "$body\n";
"#;
    let out = Command::new("setpriv")
        .args([
            &format!("--reuid={uid}"),
            &format!("--regid={uid}"),
            "--clear-groups",
            "perl",
            "-e",
            script,
        ])
        .arg(socket)
        .arg(hello)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[tokio::test(flavor = "multi_thread")]
async fn the_socket_serves_its_user_and_refuses_everyone_else() {
    let (dir, home) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let mut daemon = start(dir.path(), home.path());
    assert_eq!(mode(&daemon.socket), 0o600);
    assert_eq!(mode(daemon.socket.parent().unwrap()), 0o700);

    // Its own user: welcomed, then the state as it is.
    let mut link = client::connect(&daemon.socket, "test").await.unwrap();
    assert!(link.server.starts_with("kvm-clone "), "{}", link.server);
    let first = tokio::time::timeout(Duration::from_secs(10), link.events.recv())
        .await
        .unwrap();
    assert!(matches!(first, Some(Event::Snapshot(_))), "{first:?}");

    // Another protocol is refused by name.
    let other = first_frame_as(
        0,
        &daemon.socket,
        r#"{"hello":{"protocol":99,"client":"x"}}"#,
    );
    assert!(
        other.contains("refused") && other.contains("protocol 99"),
        "{other}"
    );

    // Another user, through a socket opened up by mistake: refused by the
    // peer check, before it says anything.
    std::fs::set_permissions(
        daemon.socket.parent().unwrap(),
        PermissionsExt::from_mode(0o711),
    )
    .unwrap();
    std::fs::set_permissions(&daemon.socket, PermissionsExt::from_mode(0o666)).unwrap();
    let nobody = first_frame_as(65534, &daemon.socket, "");
    assert!(
        nobody.contains("refused") && nobody.contains("uid 65534"),
        "{nobody}"
    );

    // A second daemon on the same socket is refused; the first goes on.
    std::fs::write(dir.path().join("none.toml"), "").unwrap();
    let second = Command::new(env!("CARGO_BIN_EXE_kvm-clone"))
        .args(["daemon", "--socket"])
        .arg(&daemon.socket)
        .env("KVM_CLONE_CONFIG", dir.path().join("none.toml"))
        .env("KVM_CLONE_DATA_DIR", dir.path().join("data2"))
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&second.stderr);
    assert!(!second.status.success());
    assert!(err.contains("already listens"), "{err}");
    assert!(client::connect(&daemon.socket, "again").await.is_ok());

    // SIGTERM: a clean stop, the socket gone.
    let st = daemon.stop(Duration::from_secs(60));
    assert!(st.success(), "{st:?}");
    assert!(!daemon.socket.exists());
    assert!(matches!(
        client::connect(&daemon.socket, "late").await,
        Err(DaemonError::NoDaemon { .. })
    ));
}

/// A directory others can write to would let them put a socket of their
/// own in the daemon's place: refused with what to do.
#[test]
fn a_socket_directory_others_can_write_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let open = dir.path().join("open");
    std::fs::create_dir(&open).unwrap();
    std::fs::set_permissions(&open, PermissionsExt::from_mode(0o777)).unwrap();
    std::fs::write(dir.path().join("c.toml"), "").unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_kvm-clone"))
        .args(["daemon", "--socket"])
        .arg(open.join("d.sock"))
        .env("KVM_CLONE_CONFIG", dir.path().join("c.toml"))
        .env("KVM_CLONE_DATA_DIR", dir.path().join("data"))
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains("writable by others") && err.contains("chmod go-w"),
        "{err}"
    );
    assert_eq!(err.trim().lines().count(), 1, "one line: {err}");
}

/// A client that stops reading holds nothing up and misses nothing for
/// good: its queue is dropped past the backlog and it gets a fresh
/// snapshot instead, while another client is served as usual.
#[tokio::test(flavor = "multi_thread")]
async fn a_client_that_falls_behind_gets_a_fresh_snapshot() {
    use kvm_clone::backend::messages::Action;
    use kvm_clone::daemon::frame;
    use kvm_clone::daemon::protocol::{ClientFrame, PROTOCOL, ServerFrame};
    let (dir, home) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let daemon = start(dir.path(), home.path());
    let stream = tokio::net::UnixStream::connect(&daemon.socket)
        .await
        .unwrap();
    let (mut rd, mut wr) = stream.into_split();
    let hello = ClientFrame::Hello {
        protocol: PROTOCOL,
        client: "slow".into(),
    };
    frame::write(&mut wr, &hello).await.unwrap();
    let welcome: Option<ServerFrame> = frame::read(&mut rd).await.unwrap();
    assert!(matches!(welcome, Some(ServerFrame::Welcome { .. })));
    let first: Option<ServerFrame> = frame::read(&mut rd).await.unwrap();
    assert!(matches!(
        first,
        Some(ServerFrame::Event(Event::Snapshot(_)))
    ));

    // Each asks for a history row that is not there: one error event
    // each, to every client. This one reads none of them for a while.
    const ASKED: usize = 20_000;
    for _ in 0..ASKED {
        let ask = ClientFrame::Action(Action::HistoryDetail(u64::MAX));
        frame::write(&mut wr, &ask).await.unwrap();
    }
    // Meanwhile another client is attached and answered at once.
    let mut other = client::connect(&daemon.socket, "other").await.unwrap();
    let snap = tokio::time::timeout(Duration::from_secs(10), other.events.recv()).await;
    assert!(matches!(snap, Ok(Some(Event::Snapshot(_)))), "{snap:?}");
    tokio::time::sleep(Duration::from_secs(3)).await;

    let (mut errors, mut snapshots) = (0usize, 0usize);
    loop {
        let next = tokio::time::timeout(Duration::from_secs(3), frame::read(&mut rd)).await;
        match next {
            Ok(Ok(Some(ServerFrame::Event(Event::Error { .. })))) => errors += 1,
            Ok(Ok(Some(ServerFrame::Event(Event::Snapshot(_))))) => snapshots += 1,
            Ok(Ok(Some(_))) => {}
            // Quiet for 3 s: everything there was has come.
            Err(_) | Ok(Ok(None)) | Ok(Err(_)) => break,
        }
    }
    assert!(snapshots >= 1, "no fresh snapshot ({errors} errors read)");
    assert!(errors < ASKED, "every event was queued: {errors}");
}

/// Under systemd (`Type=notify`, assets/kvm-clone.service): READY=1 once
/// clients can connect, STOPPING=1 on SIGTERM, on the socket NOTIFY_SOCKET
/// names, as systemd reads it.
#[test]
fn the_daemon_tells_systemd_when_it_is_ready_and_when_it_stops() {
    let (dir, home) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let notify = dir.path().join("notify");
    let listener = std::os::unix::net::UnixDatagram::bind(&notify).unwrap();
    listener
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    std::fs::write(home.path().join("config.toml"), "").unwrap();
    let socket = dir.path().join("run/daemon.sock");
    let mut c = Command::new(env!("CARGO_BIN_EXE_kvm-clone"));
    c.args(["daemon", "--socket"])
        .arg(&socket)
        .env("KVM_CLONE_CONFIG", home.path().join("config.toml"))
        .env("KVM_CLONE_DATA_DIR", home.path().join("data"))
        .env("NOTIFY_SOCKET", &notify);
    let mut daemon = Daemon::start(c, socket.clone());
    let mut buf = [0u8; 4096];
    let n = listener.recv(&mut buf).expect("a READY message");
    let ready = String::from_utf8_lossy(&buf[..n]).into_owned();
    assert!(ready.lines().any(|l| l == "READY=1"), "{ready}");
    assert!(
        ready.contains(&format!("STATUS=listening on {}", socket.display())),
        "{ready}"
    );
    // Ready means ready: a client is served now.
    let rt = tokio::runtime::Runtime::new().unwrap();
    assert!(rt.block_on(client::connect(&socket, "test")).is_ok());
    assert!(daemon.stop(Duration::from_secs(60)).success());
    let n = listener.recv(&mut buf).expect("a STOPPING message");
    assert_eq!(String::from_utf8_lossy(&buf[..n]).trim(), "STOPPING=1");
}

/// The unit file is one systemd accepts, and runs the daemon the way this
/// test does (`Type=notify`, `kvm-clone daemon`).
#[test]
fn the_systemd_unit_is_valid() {
    let unit = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/assets/kvm-clone.service"
    ))
    .unwrap();
    assert!(unit.lines().any(|l| l == "Type=notify"), "{unit}");
    assert!(
        unit.lines()
            .any(|l| l.starts_with("ExecStart=") && l.ends_with("/kvm-clone daemon")),
        "{unit}"
    );
    // systemd's own check, with ExecStart pointing at this build.
    let dir = tempfile::tempdir().unwrap();
    let local = dir.path().join("kvm-clone.service");
    let exec = format!("ExecStart={} daemon", env!("CARGO_BIN_EXE_kvm-clone"));
    let text: Vec<String> = unit
        .lines()
        .map(|l| {
            if l.starts_with("ExecStart=") {
                exec.clone()
            } else {
                l.to_string()
            }
        })
        .collect();
    std::fs::write(&local, text.join("\n")).unwrap();
    match Command::new("systemd-analyze")
        .arg("verify")
        .arg(&local)
        .output()
    {
        Ok(out) => assert!(
            out.status.success() && out.stderr.is_empty(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        ),
        // No systemd on this machine: the lines above are the check.
        Err(e) => eprintln!("systemd-analyze not run: {e}"),
    }
}

/// `--idle-exit`: the daemon stays while a client is attached, then exits
/// on its own (cleanly, socket gone) once nobody has been attached and no
/// job has run for that long.
#[test]
fn an_idle_daemon_exits_on_its_own() {
    let (dir, home) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    std::fs::write(home.path().join("config.toml"), "").unwrap();
    let socket = dir.path().join("run/daemon.sock");
    let mut c = Command::new(env!("CARGO_BIN_EXE_kvm-clone"));
    c.args(["daemon", "--idle-exit", "2s", "--socket"])
        .arg(&socket)
        .env("KVM_CLONE_CONFIG", home.path().join("config.toml"))
        .env("KVM_CLONE_DATA_DIR", home.path().join("data"));
    let mut daemon = Daemon::start(c, socket.clone());
    let rt = tokio::runtime::Runtime::new().unwrap();
    let link = rt.block_on(client::connect(&socket, "test")).unwrap();
    std::thread::sleep(Duration::from_secs(5));
    assert!(
        daemon.child.try_wait().unwrap().is_none(),
        "it left while a client was attached"
    );
    drop(link);
    let start = std::time::Instant::now();
    let st = loop {
        if let Some(st) = daemon.child.try_wait().unwrap() {
            break st;
        }
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "still running 20 s after the last client left"
        );
        std::thread::sleep(Duration::from_millis(100));
    };
    assert!(st.success(), "{st:?}");
    assert!(!socket.exists());
}

/// The TUI with no flags and no daemon running starts one in the
/// background: the TUI attaches to it, the daemon outlives the TUI, and it
/// exits on its own once idle (KVM_CLONE_IDLE_EXIT, here 3 s), leaving no
/// socket. With `--no-daemon` it starts none.
#[test]
fn the_tui_starts_a_daemon_that_outlives_it_and_then_idles_out() {
    let (dir, home) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let config = home.path().join("config.toml");
    std::fs::write(&config, "").unwrap();
    let socket = dir.path().join("run/daemon.sock");
    let tui = |flags: &str| {
        format!(
            "env -u KVM_CLONE_NO_DAEMON NO_COLOR=1 KVM_CLONE_CONFIG={} KVM_CLONE_DATA_DIR={} \
             XDG_CONFIG_HOME={} KVM_CLONE_IDLE_EXIT=3s {} {flags} --socket {}",
            config.display(),
            home.path().join("data").display(),
            home.path().display(),
            env!("CARGO_BIN_EXE_kvm-clone"),
            socket.display()
        )
    };
    let tmux = tmux_util::Tmux::start(100, 30, &tui("--no-daemon"));
    tmux.wait_for("the TUI", |s| s.contains("Hosts"));
    assert!(!socket.exists(), "--no-daemon started a daemon");
    tmux.keys(&["q"]);
    daemon_util::wait_until("the TUI quits", Duration::from_secs(20), || !tmux.alive());

    let tmux = tmux_util::Tmux::start(100, 30, &tui(""));
    tmux.wait_for("the TUI", |s| s.contains("Hosts"));
    assert!(socket.exists(), "no daemon was started");
    tmux.keys(&["q"]);
    daemon_util::wait_until("the TUI quits", Duration::from_secs(20), || !tmux.alive());
    // The daemon outlived the TUI; attached, it stays.
    let rt = tokio::runtime::Runtime::new().unwrap();
    let link = rt.block_on(client::connect(&socket, "test"));
    let Ok(link) = link else {
        panic!("the daemon went with the TUI");
    };
    // It serves the TUI's config.
    assert_eq!(link.config, Some(std::fs::canonicalize(&config).unwrap()));
    std::thread::sleep(Duration::from_secs(4));
    assert!(socket.exists(), "it left while a client was attached");
    drop(link);
    daemon_util::wait_until(
        "the started daemon idles out",
        Duration::from_secs(20),
        || !socket.exists(),
    );
}
