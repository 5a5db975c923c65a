//! Push bytes through one exec channel into `cat > /dev/null` on lab host
//! alpha, once with our russh session and once with the OpenSSH client, and
//! print both rates. Informational only: nothing here passes or fails on time.
//!
//!   KVM_CLONE_LAB_DIR=/work/main/target/lab cargo bench --bench ssh_throughput
//!
//! KVM_CLONE_BENCH_BYTES sets the amount (default 1 GiB).

use kvm_clone::transport::{AgentSource, Session, SessionConfig, tuning};
use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};
use tokio::io::AsyncWriteExt;

const CHUNK: usize = 1024 * 1024;

fn lab_dir() -> PathBuf {
    std::env::var_os("KVM_CLONE_LAB_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/lab"))
}

fn total_bytes() -> u64 {
    std::env::var("KVM_CLONE_BENCH_BYTES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1 << 30)
}

/// Incompressible-looking data, so no layer can cheat.
fn chunk() -> Vec<u8> {
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    (0..CHUNK)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

async fn russh_run(total: u64, data: &[u8]) -> Duration {
    let lab = lab_dir();
    let mut cfg = SessionConfig::new("127.0.0.1", 2222, "root");
    cfg.identity_files = vec![lab.join("id_ed25519")];
    cfg.known_hosts = vec![lab.join("known_hosts")];
    cfg.agent = AgentSource::Disabled;
    // Both runs time connection setup too, as `ssh` cannot leave it out.
    let start = Instant::now();
    let session = match Session::connect(&cfg, None).await {
        Ok(s) => s,
        Err(e) => panic!("connect to alpha: {e}"),
    };
    let mut stream = match session.exec_stream("cat > /dev/null").await {
        Ok(s) => s,
        Err(e) => panic!("exec: {e}"),
    };
    let mut left = total;
    while left > 0 {
        let n = left.min(data.len() as u64) as usize;
        if let Err(e) = stream.write_all(&data[..n]).await {
            panic!("write: {e}");
        }
        left -= n as u64;
    }
    // The time counts until the remote cat has read everything and exited.
    match stream.finish().await {
        Ok(exit) if exit.success() => {}
        other => panic!("remote cat: {other:?}"),
    }
    start.elapsed()
}

/// `cipher`: None for OpenSSH's own choice (chacha20-poly1305 first).
fn openssh_run(total: u64, data: &[u8], cipher: Option<&str>) -> Duration {
    let config = lab_dir().join("ssh_config");
    let start = Instant::now();
    let mut cmd = Command::new("ssh");
    cmd.arg("-F").arg(&config);
    if let Some(c) = cipher {
        cmd.arg("-c").arg(c);
    }
    let mut child = match cmd
        .args(["alpha", "cat > /dev/null"])
        .stdin(Stdio::piped())
        .spawn()
    {
        Ok(c) => c,
        Err(e) => panic!("ssh: {e}"),
    };
    let Some(mut stdin) = child.stdin.take() else {
        panic!("no stdin");
    };
    let mut left = total;
    while left > 0 {
        let n = left.min(data.len() as u64) as usize;
        if let Err(e) = stdin.write_all(&data[..n]) {
            panic!("write to ssh: {e}");
        }
        left -= n as u64;
    }
    drop(stdin);
    match child.wait() {
        Ok(st) if st.success() => {}
        other => panic!("ssh: {other:?}"),
    }
    start.elapsed()
}

fn report(name: &str, total: u64, d: Duration) -> f64 {
    let mbs = total as f64 / 1e6 / d.as_secs_f64();
    println!("{name:<30} {:>8.2} s {:>9.1} MB/s", d.as_secs_f64(), mbs);
    mbs
}

fn main() {
    let total = total_bytes();
    let data = chunk();
    let rt = match tokio::runtime::Runtime::new() {
        Ok(r) => r,
        Err(e) => panic!("runtime: {e}"),
    };
    let cipher = if tuning::cpu_has_aes() {
        "aes128-gcm"
    } else {
        "chacha20-poly1305"
    };
    println!(
        "ssh_throughput: {} MiB into `cat > /dev/null` on alpha (russh prefers {cipher})",
        total >> 20
    );
    let russh = rt.block_on(russh_run(total, &data));
    let openssh = openssh_run(total, &data, None);
    let openssh_gcm = openssh_run(total, &data, Some("aes128-gcm@openssh.com"));
    let a = report("russh (kvm-clone session)", total, russh);
    let b = report("OpenSSH ssh (default cipher)", total, openssh);
    let c = report("OpenSSH ssh -c aes128-gcm", total, openssh_gcm);
    println!(
        "russh / OpenSSH throughput ratio: {:.2} (default cipher), {:.2} (aes128-gcm)",
        a / b,
        a / c
    );
}
