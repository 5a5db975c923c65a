//! Shared helpers of the NBD tests: a real qemu-nbd on a unix socket, and a
//! scripted fake server speaking the wire format through `nbd::proto`.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command as Process;

use kvm_clone::nbd::proto::transmission::{
    ChunkHeader, REQUEST_LEN, RequestHeader, encode_chunk_header, encode_simple_reply,
};
use kvm_clone::nbd::proto::{self, *};
use kvm_clone::nbd::{ConnectOptions, NbdClient, NbdError};
use tokio::io::{AsyncReadExt, AsyncWriteExt, DuplexStream};

// ---------------------------------------------------------------- qemu-nbd

/// Creates a qcow2 image of `size` bytes in `dir`.
pub fn qcow2(dir: &Path, name: &str, size: u64) -> PathBuf {
    let path = dir.join(name);
    let out = Process::new("qemu-img")
        .args(["create", "-q", "-f", "qcow2"])
        .arg(&path)
        .arg(size.to_string())
        .output()
        .unwrap();
    assert!(out.status.success(), "qemu-img create: {out:?}");
    path
}

/// Runs `qemu-io` commands (`-c`) against an image that is not served.
pub fn qemu_io(image: &Path, cmds: &[&str]) {
    let mut c = Process::new("qemu-io");
    c.args(["-f", "qcow2"]);
    for cmd in cmds {
        c.args(["-c", cmd]);
    }
    let out = c.arg(image).output().unwrap();
    assert!(out.status.success(), "qemu-io: {out:?}");
}

/// `virtual-size` from `qemu-img info` (with `-U`: the image may be served).
pub fn virtual_size(image: &Path) -> u64 {
    let out = Process::new("qemu-img")
        .args(["info", "-U", "--output=json"])
        .arg(image)
        .output()
        .unwrap();
    assert!(out.status.success(), "qemu-img info: {out:?}");
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    v["virtual-size"].as_u64().unwrap()
}

/// A qemu-nbd serving one image on a unix socket; killed on drop.
pub struct QemuNbd {
    pub socket: PathBuf,
    pid: i32,
}

impl QemuNbd {
    /// Starts `qemu-nbd --fork`, which returns once the socket listens.
    pub fn serve(dir: &Path, image: &Path, extra: &[&str]) -> Self {
        let socket = dir.join(format!(
            "{}.sock",
            image.file_name().unwrap().to_string_lossy()
        ));
        let pid_file = dir.join(format!(
            "{}.pid",
            image.file_name().unwrap().to_string_lossy()
        ));
        let out = Process::new("qemu-nbd")
            .arg(format!("--socket={}", socket.display()))
            .args(["--format=qcow2", "--persistent", "--shared=4", "--fork"])
            .arg(format!("--pid-file={}", pid_file.display()))
            .args(extra)
            .arg(image)
            .output()
            .unwrap();
        assert!(out.status.success(), "qemu-nbd: {out:?}");
        let pid = std::fs::read_to_string(&pid_file)
            .unwrap()
            .trim()
            .parse()
            .unwrap();
        Self { socket, pid }
    }

    pub fn signal(&self, sig: i32) {
        // SAFETY: plain kill(2) on the pid qemu-nbd wrote for us.
        unsafe {
            libc::kill(self.pid, sig);
        }
    }

    pub async fn connect(&self, opts: ConnectOptions) -> Result<NbdClient, NbdError> {
        let stream = tokio::net::UnixStream::connect(&self.socket).await?;
        NbdClient::connect(stream, opts).await
    }
}

impl Drop for QemuNbd {
    fn drop(&mut self) {
        self.signal(libc::SIGKILL);
    }
}

// ------------------------------------------------------------ fake server

/// What the scripted server offers during the handshake.
#[derive(Debug, Clone)]
pub struct FakeConfig {
    pub structured: bool,
    pub meta_context: bool,
    pub go: bool,
    pub no_zeroes: bool,
    pub size: u64,
    pub flags: u16,
    pub block_size: Option<(u32, u32, u32)>,
    pub context_id: u32,
}

impl Default for FakeConfig {
    fn default() -> Self {
        Self {
            structured: true,
            meta_context: true,
            go: true,
            no_zeroes: true,
            size: 1 << 20,
            flags: TFLAG_HAS_FLAGS
                | TFLAG_SEND_FLUSH
                | TFLAG_SEND_FUA
                | TFLAG_SEND_TRIM
                | TFLAG_SEND_WRITE_ZEROES
                | TFLAG_SEND_FAST_ZERO,
            block_size: Some((1, 4096, 1 << 20)),
            context_id: 7,
        }
    }
}

pub fn greeting(flags: u16) -> Vec<u8> {
    let mut g = NBD_MAGIC.to_be_bytes().to_vec();
    g.extend_from_slice(&IHAVEOPT.to_be_bytes());
    g.extend_from_slice(&flags.to_be_bytes());
    g
}

pub fn opt_reply(option: u32, reply: u32, data: &[u8]) -> Vec<u8> {
    let mut r = OPTION_REPLY_MAGIC.to_be_bytes().to_vec();
    r.extend_from_slice(&option.to_be_bytes());
    r.extend_from_slice(&reply.to_be_bytes());
    r.extend_from_slice(&(data.len() as u32).to_be_bytes());
    r.extend_from_slice(data);
    r
}

pub fn info_export(size: u64, flags: u16) -> Vec<u8> {
    let mut p = INFO_EXPORT.to_be_bytes().to_vec();
    p.extend_from_slice(&size.to_be_bytes());
    p.extend_from_slice(&flags.to_be_bytes());
    p
}

/// The full server side of a successful handshake for `cfg`, as bytes the
/// server can send up front (the client reads them in order).
pub fn handshake_script(cfg: &FakeConfig) -> Vec<u8> {
    let mut out = greeting(FLAG_FIXED_NEWSTYLE | if cfg.no_zeroes { FLAG_NO_ZEROES } else { 0 });
    out.extend(if cfg.structured {
        opt_reply(OPT_STRUCTURED_REPLY, REP_ACK, &[])
    } else {
        opt_reply(OPT_STRUCTURED_REPLY, REP_ERR_BIT | 1, b"no")
    });
    if cfg.structured {
        // The client asks for base:allocation only with structured replies.
        if cfg.meta_context {
            let mut p = cfg.context_id.to_be_bytes().to_vec();
            p.extend_from_slice(BASE_ALLOCATION.as_bytes());
            out.extend(opt_reply(OPT_SET_META_CONTEXT, REP_META_CONTEXT, &p));
            out.extend(opt_reply(OPT_SET_META_CONTEXT, REP_ACK, &[]));
        } else {
            out.extend(opt_reply(OPT_SET_META_CONTEXT, REP_ACK, &[]));
        }
    }
    if cfg.go {
        out.extend(opt_reply(
            OPT_GO,
            REP_INFO,
            &info_export(cfg.size, cfg.flags),
        ));
        if let Some((min, pref, max)) = cfg.block_size {
            let mut p = INFO_BLOCK_SIZE.to_be_bytes().to_vec();
            for v in [min, pref, max] {
                p.extend_from_slice(&v.to_be_bytes());
            }
            out.extend(opt_reply(OPT_GO, REP_INFO, &p));
        }
        out.extend(opt_reply(OPT_GO, REP_ACK, &[]));
    } else {
        out.extend(opt_reply(OPT_GO, REP_ERR_BIT | 1, &[]));
        out.extend_from_slice(&cfg.size.to_be_bytes());
        out.extend_from_slice(&cfg.flags.to_be_bytes());
        if !cfg.no_zeroes {
            out.extend_from_slice(&[0u8; 124]);
        }
    }
    out
}

/// Reads and checks the client's side of the handshake: client flags and
/// options up to `NBD_OPT_GO` or `NBD_OPT_EXPORT_NAME`. Returns the options.
pub async fn read_client_handshake(s: &mut DuplexStream) -> std::io::Result<Vec<u32>> {
    let mut flags = [0u8; 4];
    s.read_exact(&mut flags).await?;
    let mut opts = Vec::new();
    loop {
        let mut h = [0u8; 16];
        s.read_exact(&mut h).await?;
        assert_eq!(&h[0..8], &IHAVEOPT.to_be_bytes());
        let opt = u32::from_be_bytes(h[8..12].try_into().unwrap());
        let len = u32::from_be_bytes(h[12..16].try_into().unwrap());
        let mut data = vec![0u8; len as usize];
        s.read_exact(&mut data).await?;
        opts.push(opt);
        // GO ends negotiation, or is refused and EXPORT_NAME follows,
        // which the caller knows and drains.
        if opt == OPT_EXPORT_NAME || opt == OPT_GO {
            return Ok(opts);
        }
    }
}

/// Connects a client to a scripted server over an in-memory pipe.
pub async fn fake_pair(cfg: &FakeConfig, opts: ConnectOptions) -> (NbdClient, DuplexStream) {
    let (c, mut s) = tokio::io::duplex(4 << 20);
    let script = handshake_script(cfg);
    let server = async {
        s.write_all(&script).await.unwrap();
        read_client_handshake(&mut s).await.unwrap();
        if !cfg.go {
            // Drain the EXPORT_NAME that follows the refused GO.
            let mut h = [0u8; 16];
            s.read_exact(&mut h).await.unwrap();
            let len = u32::from_be_bytes(h[12..16].try_into().unwrap());
            let mut data = vec![0u8; len as usize];
            s.read_exact(&mut data).await.unwrap();
        }
    };
    let (client, ()) = tokio::join!(NbdClient::connect(c, opts), server);
    (client.unwrap(), s)
}

/// Reads one request (and a write's payload) from the client.
pub async fn read_request(s: &mut DuplexStream) -> std::io::Result<(RequestHeader, Vec<u8>)> {
    let mut h = [0u8; REQUEST_LEN];
    s.read_exact(&mut h).await?;
    let req = RequestHeader::decode(&h).unwrap();
    let mut payload = Vec::new();
    if req.command == Command::Write.code() {
        payload = vec![0u8; req.length as usize];
        s.read_exact(&mut payload).await?;
    }
    Ok((req, payload))
}

pub fn simple(error: u32, cookie: u64) -> Vec<u8> {
    encode_simple_reply(error, cookie).to_vec()
}

pub fn chunk(flags: u16, chunk_type: u16, cookie: u64, payload: &[u8]) -> Vec<u8> {
    let mut out = encode_chunk_header(&ChunkHeader {
        flags,
        chunk_type,
        cookie,
        length: payload.len() as u32,
    })
    .to_vec();
    out.extend_from_slice(payload);
    out
}

pub fn data_chunk(flags: u16, cookie: u64, offset: u64, data: &[u8]) -> Vec<u8> {
    let mut p = offset.to_be_bytes().to_vec();
    p.extend_from_slice(data);
    chunk(flags, REPLY_TYPE_OFFSET_DATA, cookie, &p)
}

pub fn hole_chunk(flags: u16, cookie: u64, offset: u64, len: u32) -> Vec<u8> {
    let mut p = offset.to_be_bytes().to_vec();
    p.extend_from_slice(&len.to_be_bytes());
    chunk(flags, REPLY_TYPE_OFFSET_HOLE, cookie, &p)
}

pub fn error_chunk(flags: u16, cookie: u64, errno: u32, msg: &str) -> Vec<u8> {
    let mut p = errno.to_be_bytes().to_vec();
    p.extend_from_slice(&(msg.len() as u16).to_be_bytes());
    p.extend_from_slice(msg.as_bytes());
    chunk(flags, REPLY_TYPE_ERROR, cookie, &p)
}

pub fn block_status_chunk(flags: u16, cookie: u64, ctx: u32, extents: &[(u32, u32)]) -> Vec<u8> {
    let mut p = ctx.to_be_bytes().to_vec();
    for (len, st) in extents {
        p.extend_from_slice(&len.to_be_bytes());
        p.extend_from_slice(&st.to_be_bytes());
    }
    chunk(flags, REPLY_TYPE_BLOCK_STATUS, cookie, &p)
}

pub fn none_done(cookie: u64) -> Vec<u8> {
    chunk(REPLY_FLAG_DONE, REPLY_TYPE_NONE, cookie, &[])
}

pub const DONE: u16 = proto::REPLY_FLAG_DONE;

/// Builds a valid reply for `req`, with deterministic content derived from
/// the offset: reads get a hole then data, block status two extents.
pub fn valid_reply(req: &RequestHeader, structured: bool, ctx: u32) -> Vec<u8> {
    let cookie = req.cookie;
    if !structured {
        let mut out = simple(0, cookie);
        if req.command == Command::Read.code() {
            out.extend(pattern(req.offset, req.length as usize));
        }
        return out;
    }
    match Command::from_code(req.command) {
        Some(Command::Read) => {
            let half = req.length / 2;
            let mut out = Vec::new();
            if half > 0 {
                out.extend(hole_chunk(0, cookie, req.offset, half));
            }
            let rest_off = req.offset + u64::from(half);
            out.extend(data_chunk(
                0,
                cookie,
                rest_off,
                &pattern(rest_off, (req.length - half) as usize),
            ));
            out.extend(none_done(cookie));
            out
        }
        Some(Command::BlockStatus) => {
            let first = (req.length / 2).max(1);
            let mut ext = vec![(first, STATE_HOLE | STATE_ZERO)];
            if req.length > first {
                ext.push((req.length - first, 0));
            }
            block_status_chunk(DONE, cookie, ctx, &ext)
        }
        _ => simple(0, cookie),
    }
}

/// Deterministic bytes for offset `off` onwards.
pub fn pattern(off: u64, len: usize) -> Vec<u8> {
    (0..len as u64)
        .map(|i| ((off + i).wrapping_mul(31) >> 3) as u8)
        .collect()
}

pub mod mutate;
