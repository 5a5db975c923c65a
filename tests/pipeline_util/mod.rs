//! Helpers of the pipeline tests: images, a restartable qemu-nbd on a
//! unix socket (a child process, so it can be killed and reaped), pools.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use kvm_clone::nbd::ConnectOptions;
use kvm_clone::pipeline::{BlockError, NbdPool, NbdSink, NbdSource};

pub const MIB: u64 = 1024 * 1024;

pub fn create(dir: &Path, name: &str, format: &str, size: u64) -> PathBuf {
    let path = dir.join(name);
    let out = Command::new("qemu-img")
        .args(["create", "-q", "-f", format])
        .arg(&path)
        .arg(size.to_string())
        .output()
        .unwrap();
    assert!(out.status.success(), "qemu-img create: {out:?}");
    path
}

/// `qemu-img compare` (contents; allocation may differ): true when identical.
pub fn identical(a: &Path, fa: &str, b: &Path, fb: &str) -> bool {
    let out = Command::new("qemu-img")
        .args(["compare", "-U", "-f", fa, "-F", fb])
        .arg(a)
        .arg(b)
        .output()
        .unwrap();
    match out.status.code() {
        Some(0) => true,
        Some(1) => false,
        _ => panic!("qemu-img compare: {out:?}"),
    }
}

/// `qemu-img map --output=json` as (offset, length, data, zero).
pub fn map(image: &Path, format: &str) -> Vec<(u64, u64, bool, bool)> {
    let out = Command::new("qemu-img")
        .args(["map", "-U", "--output=json", "-f", format])
        .arg(image)
        .output()
        .unwrap();
    assert!(out.status.success(), "qemu-img map: {out:?}");
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    v.as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["start"].as_u64().unwrap(),
                e["length"].as_u64().unwrap(),
                e["data"].as_bool().unwrap(),
                e["zero"].as_bool().unwrap(),
            )
        })
        .collect()
}

/// Bytes a copier must move: extents that do not read as zeros.
pub fn data_bytes(image: &Path, format: &str) -> u64 {
    map(image, format)
        .iter()
        .filter(|e| !e.3)
        .map(|e| e.1)
        .sum()
}

/// Bytes allocated with data (qemu's view).
pub fn allocated_data(image: &Path, format: &str) -> u64 {
    map(image, format).iter().filter(|e| e.2).map(|e| e.1).sum()
}

/// Blocks the file occupies on the host filesystem.
pub fn du(path: &Path) -> u64 {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata(path).unwrap().blocks() * 512
}

/// A qemu-nbd serving one image; killed and reaped on drop.
pub struct Server {
    pub socket: PathBuf,
    args: Vec<String>,
    child: Option<Child>,
}

impl Server {
    pub fn start(dir: &Path, image: &Path, format: &str, extra: &[&str]) -> Self {
        let name = image.file_name().unwrap().to_string_lossy().to_string();
        let mut args = vec![format!("--format={format}")];
        args.extend(extra.iter().map(|s| s.to_string()));
        args.push(image.display().to_string());
        Self::with_args(dir, &name, args)
    }

    /// Serves `--image-opts` (e.g. a blkdebug stack).
    pub fn start_opts(dir: &Path, name: &str, opts: &str) -> Self {
        Self::with_args(dir, name, vec!["--image-opts".into(), opts.into()])
    }

    fn with_args(dir: &Path, name: &str, tail: Vec<String>) -> Self {
        let socket = dir.join(format!("{name}.sock"));
        let mut args = vec![
            format!("--socket={}", socket.display()),
            "--persistent".into(),
            "--shared=8".into(),
            "--cache=writeback".into(),
        ];
        args.extend(tail);
        let mut s = Self {
            socket,
            args,
            child: None,
        };
        s.restart();
        s
    }

    /// Starts (again) and waits until the socket accepts.
    pub fn restart(&mut self) {
        let child = Command::new("qemu-nbd")
            .args(&self.args)
            .stdin(Stdio::null())
            .spawn()
            .unwrap();
        self.child = Some(child);
        for _ in 0..500 {
            if std::os::unix::net::UnixStream::connect(&self.socket).is_ok() {
                return;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        panic!(
            "qemu-nbd did not start listening on {}",
            self.socket.display()
        );
    }

    /// SIGKILL, as a crash would.
    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// SIGTERM and wait (qemu-nbd flushes and exits cleanly).
    pub fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            // SAFETY: kill(2) on our own child's pid.
            unsafe {
                libc::kill(c.id() as i32, libc::SIGTERM);
            }
            let _ = c.wait();
        }
    }

    pub async fn pool(&self, n: usize) -> Result<NbdPool, BlockError> {
        let socket = self.socket.clone();
        NbdPool::connect(n, &ConnectOptions::default(), move || {
            tokio::net::UnixStream::connect(socket.clone())
        })
        .await
    }

    pub async fn source(&self, n: usize) -> NbdSource {
        NbdSource::new(self.pool(n).await.unwrap())
    }

    pub async fn sink(&self, n: usize, zeroed: bool) -> NbdSink {
        NbdSink::new(self.pool(n).await.unwrap(), zeroed)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Pool helper for reconnect closures (socket path owned).
pub async fn pool_at(socket: PathBuf, n: usize) -> Result<NbdPool, BlockError> {
    NbdPool::connect(n, &ConnectOptions::default(), move || {
        tokio::net::UnixStream::connect(socket.clone())
    })
    .await
}
