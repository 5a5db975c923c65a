//! Long-running fuzz driver for the NBD client (stable toolchain, no
//! libFuzzer): the same seeded mutational loops as `tests/nbd_fuzz.rs`,
//! for as many iterations as asked.
//!
//! `cargo run --release --example nbd_fuzz -- [first_seed] [iterations]`
//! A panic names the seed; rerun with it as `first_seed` and 1 iteration.

#[path = "../tests/nbd_util/mod.rs"]
mod nbd_util;

use nbd_util::mutate::{handshake_iteration, transmission_iteration};

fn main() {
    let mut args = std::env::args().skip(1);
    let first: u64 = args.next().and_then(|a| a.parse().ok()).unwrap_or(0);
    let count: u64 = args
        .next()
        .and_then(|a| a.parse().ok())
        .unwrap_or(1_000_000);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    let (mut ok, mut failed, mut connected) = (0usize, 0usize, 0usize);
    for seed in first..first.saturating_add(count) {
        let mutations = (seed % 9) as usize;
        if seed % 10_000 == 0 {
            eprintln!("seed {seed}");
        }
        connected += usize::from(rt.block_on(handshake_iteration(seed, mutations % 4)));
        let out = rt.block_on(transmission_iteration(seed, mutations));
        ok += out.ok;
        failed += out.failed;
    }
    eprintln!("\ndone: handshakes accepted {connected}, requests ok {ok}, failed {failed}");
}
