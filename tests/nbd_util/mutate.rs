//! Seeded mutational fuzzing of the client: a scripted server answers real
//! requests with valid replies, then mutates the byte stream.

use kvm_clone::nbd::proto::transmission::RequestHeader;
use kvm_clone::nbd::{ConnectOptions, NbdClient, NbdError, ZeroFlags};
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::{FakeConfig, fake_pair, handshake_script, pattern, read_request, valid_reply};

const INTERESTING_U32: [u32; 9] = [
    0,
    1,
    8,
    9,
    12,
    0x7fff_ffff,
    0x8000_0000,
    0xffff_fff8,
    0xffff_ffff,
];

/// Applies `n` random mutations to `buf`.
pub fn mutate(rng: &mut StdRng, buf: &mut Vec<u8>, n: usize) {
    for _ in 0..n {
        if buf.is_empty() {
            buf.push(rng.random());
            continue;
        }
        let at = rng.random_range(0..buf.len());
        match rng.random_range(0..8) {
            0 => buf[at] ^= 1 << rng.random_range(0..8),
            1 => buf[at] = [0, 1, 0x7f, 0x80, 0xff][rng.random_range(0..5)],
            2 => {
                let v = INTERESTING_U32[rng.random_range(0..INTERESTING_U32.len())];
                let end = (at + 4).min(buf.len());
                let bytes = v.to_be_bytes();
                buf[at..end].copy_from_slice(&bytes[..end - at]);
            }
            3 => buf.truncate(at),
            4 => {
                let len = rng.random_range(1..=64).min(buf.len() - at);
                let slice = buf[at..at + len].to_vec();
                let to = rng.random_range(0..=buf.len());
                buf.splice(to..to, slice);
            }
            5 => {
                let len = rng.random_range(1..=64).min(buf.len() - at);
                buf.drain(at..at + len);
            }
            6 => {
                let extra: Vec<u8> = (0..rng.random_range(1..32)).map(|_| rng.random()).collect();
                buf.splice(at..at, extra);
            }
            _ => buf[at] = rng.random(),
        }
    }
}

#[derive(Debug, Clone, Copy)]
enum Op {
    Read(u64, u32),
    Write(u64, u32),
    Zero(u64, u32),
    Flush,
    Status(u64, u32),
}

/// What one iteration observed.
#[derive(Debug, Default)]
pub struct Outcome {
    pub ok: usize,
    pub failed: usize,
}

/// Handshake with a random configuration, then `1..=6` random requests
/// answered by valid replies mutated `mutations` times. With 0 mutations
/// every request must succeed with the right data.
pub async fn transmission_iteration(seed: u64, mutations: usize) -> Outcome {
    let mut rng = StdRng::seed_from_u64(seed);
    let cfg = FakeConfig {
        structured: rng.random_bool(0.8),
        meta_context: rng.random_bool(0.8),
        size: 1 << 20,
        ..FakeConfig::default()
    };
    let (client, mut s) = fake_pair(&cfg, ConnectOptions::default()).await;
    let has_alloc = client.info().has_allocation();
    let n = rng.random_range(1..=6);
    let ops: Vec<Op> = (0..n)
        .map(|_| {
            let off = rng.random_range(0..cfg.size - 65536);
            let len = rng.random_range(1..=65536u32);
            match rng.random_range(0..5) {
                0 => Op::Write(off, len.min(4096)),
                1 => Op::Zero(off, len),
                2 => Op::Flush,
                3 if has_alloc => Op::Status(off, len),
                _ => Op::Read(off, len),
            }
        })
        .collect();
    let tasks: Vec<_> = ops
        .iter()
        .map(|&op| {
            let c = client.clone();
            tokio::spawn(async move { run_op(&c, op).await })
        })
        .collect();
    let mut reqs: Vec<RequestHeader> = Vec::new();
    for _ in 0..n {
        match read_request(&mut s).await {
            Ok((req, _)) => reqs.push(req),
            Err(_) => break,
        }
    }
    reqs.shuffle(&mut rng);
    let mut script = Vec::new();
    for req in &reqs {
        script.extend(valid_reply(req, cfg.structured, cfg.context_id));
    }
    mutate(&mut rng, &mut script, mutations);
    let _ = s.write_all(&script).await;
    drop(s);

    let mut out = Outcome::default();
    for (task, op) in tasks.into_iter().zip(ops) {
        match task.await.expect("request task panicked") {
            Ok(correct) => {
                assert!(correct || mutations > 0, "{op:?} returned wrong data");
                out.ok += 1;
            }
            Err(e) => {
                assert!(mutations > 0, "{op:?} failed without mutation: {e}");
                out.failed += 1;
            }
        }
    }
    out
}

/// Runs `op`; `Ok(false)` when a read returned other data than the
/// unmutated script carries.
async fn run_op(c: &NbdClient, op: Op) -> Result<bool, NbdError> {
    match op {
        Op::Read(off, len) => {
            let data = c.read(off, len).await?;
            // Only checked by the caller when nothing was mutated; a
            // mutated stream may legitimately carry other bytes.
            let half = len / 2;
            let structured = c.info().structured_replies;
            let mut want = if structured {
                vec![0u8; half as usize]
            } else {
                Vec::new()
            };
            let from = if structured {
                off + u64::from(half)
            } else {
                off
            };
            want.extend(pattern(from, (len as usize) - want.len()));
            Ok(data == want)
        }
        Op::Write(off, len) => c
            .write(off, vec![0xa5; len as usize], false)
            .await
            .map(|()| true),
        Op::Zero(off, len) => c
            .write_zeroes(off, len, ZeroFlags::default())
            .await
            .map(|()| true),
        Op::Flush => c.flush().await.map(|()| true),
        Op::Status(off, len) => {
            let d = c.block_status(off, len).await?;
            let sum: u64 = d.iter().map(|x| u64::from(x.length)).sum();
            assert!(sum > 0 && sum <= u64::from(len), "extents {d:?} for {len}");
            Ok(true)
        }
    }
}

/// A valid handshake script for a random configuration, mutated; the
/// client must finish connecting one way or the other.
pub async fn handshake_iteration(seed: u64, mutations: usize) -> bool {
    let mut rng = StdRng::seed_from_u64(seed);
    let cfg = FakeConfig {
        structured: rng.random_bool(0.7),
        meta_context: rng.random_bool(0.7),
        go: rng.random_bool(0.8),
        no_zeroes: rng.random_bool(0.5),
        ..FakeConfig::default()
    };
    let mut script = handshake_script(&cfg);
    mutate(&mut rng, &mut script, mutations);
    handshake_with(script).await
}

/// Runs a handshake against a server that sends `script` and then hangs
/// up once the client is done. Returns whether the client connected.
pub async fn handshake_with(script: Vec<u8>) -> bool {
    let (c, mut s) = tokio::io::duplex(1 << 16);
    let server = async move {
        let _ = s.write_all(&script).await;
        // Half-close so a client waiting for more bytes sees EOF, while
        // still draining what it writes.
        let _ = s.shutdown().await;
        let mut sink = Vec::new();
        let _ = s.read_to_end(&mut sink).await;
    };
    let client = async move {
        // Dropping the client here closes its end, ending the drain.
        NbdClient::connect(c, ConnectOptions::new("disk"))
            .await
            .is_ok()
    };
    let (ok, ()) = tokio::join!(client, server);
    ok
}
