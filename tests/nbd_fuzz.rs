//! Fuzzing without nightly: proptest over the pure decoders with arbitrary
//! bytes, and seeded mutational loops over valid server traffic driven
//! through the real client. A counting allocator checks that no input
//! makes the client allocate more than a request's own bound.

mod nbd_util;

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};

use kvm_clone::nbd::proto::option::*;
use kvm_clone::nbd::proto::transmission::*;
use kvm_clone::nbd::proto::*;
use nbd_util::mutate::{handshake_iteration, handshake_with, transmission_iteration};
use proptest::prelude::*;

/// Largest single allocation seen. The biggest legitimate ones are the
/// 4 MiB test pipes and 64 KiB read buffers; a decoder trusting a length
/// field would ask for up to 4 GiB.
static LARGEST: AtomicUsize = AtomicUsize::new(0);
const ALLOC_LIMIT: usize = 8 << 20;

struct Counting;

// SAFETY: forwards to the system allocator, only recording sizes.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        LARGEST.fetch_max(layout.size(), Ordering::Relaxed);
        unsafe { System.alloc(layout) }
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        LARGEST.fetch_max(layout.size(), Ordering::Relaxed);
        unsafe { System.alloc_zeroed(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        LARGEST.fetch_max(new_size, Ordering::Relaxed);
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

fn assert_allocation_bounded() {
    let largest = LARGEST.load(Ordering::Relaxed);
    assert!(
        largest <= ALLOC_LIMIT,
        "an allocation of {largest} bytes happened"
    );
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(20_000))]

    #[test]
    fn decoders_never_panic(
        bytes in proptest::collection::vec(any::<u8>(), 0..600),
        requested in any::<u64>(),
        chunk_type in any::<u16>(),
        max_data in any::<u32>(),
        sent in 0u32..12,
    ) {
        let _ = decode_greeting(&bytes);
        if let Ok(h) = decode_option_reply_header(&bytes, sent, 65536) {
            prop_assert!(h.length <= 65536);
        }
        let _ = decode_info(&bytes);
        let _ = decode_meta_context(&bytes);
        let _ = decode_export_name_reply(&bytes);
        let _ = RequestHeader::decode(&bytes);
        let _ = decode_simple_rest(&bytes);
        if let Ok(h) = decode_chunk_rest(&bytes)
            && check_chunk_length(&h, max_data).is_ok()
        {
            prop_assert!(h.length <= max_data.saturating_add(8).max(MAX_BLOCK_STATUS_PAYLOAD));
        }
        if bytes.len() >= 4 {
            let _ = decode_reply_magic([bytes[0], bytes[1], bytes[2], bytes[3]]);
        }
        let _ = decode_hole(&bytes);
        let _ = decode_error_chunk(chunk_type, &bytes);
        if let Ok((_, descs)) = decode_block_status(&bytes, requested) {
            let sum: u64 = descs.iter().map(|d| u64::from(d.length)).sum();
            prop_assert!(sum > 0 && sum <= requested);
        }
    }

    #[test]
    fn chunk_length_checks_hold_for_any_header(
        flags in any::<u16>(),
        chunk_type in prop_oneof![0u16..8, 0x8000u16..0x8008, any::<u16>()],
        length in any::<u32>(),
        max_data in 1u32..(64 << 20),
    ) {
        let h = ChunkHeader { flags, chunk_type, cookie: 1, length };
        if check_chunk_length(&h, max_data).is_ok() {
            match chunk_type {
                REPLY_TYPE_NONE => prop_assert_eq!(length, 0),
                REPLY_TYPE_OFFSET_HOLE => prop_assert_eq!(length, 12),
                REPLY_TYPE_OFFSET_DATA => prop_assert!((9..=max_data as u64 + 8).contains(&(length as u64))),
                REPLY_TYPE_BLOCK_STATUS => prop_assert!(length >= 12 && (length - 4) % 8 == 0),
                t => {
                    prop_assert!(t & REPLY_TYPE_ERROR_BIT != 0);
                    prop_assert!(length <= MAX_ERROR_PAYLOAD);
                }
            }
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(3_000))]

    #[test]
    fn handshake_survives_arbitrary_server_bytes(
        prefix in prop_oneof![Just(true), Just(false)],
        bytes in proptest::collection::vec(any::<u8>(), 0..400),
    ) {
        // Half the cases start with a valid greeting to get past the magic.
        let mut script = if prefix { nbd_util::greeting(FLAG_FIXED_NEWSTYLE) } else { Vec::new() };
        script.extend(bytes);
        runtime().block_on(handshake_with(script));
    }
}

#[test]
fn handshake_mutational_loop() {
    let rt = runtime();
    let mut connected = 0;
    for seed in 0..4_000u64 {
        let mutations = (seed % 4) as usize;
        let ok = rt.block_on(handshake_iteration(seed, mutations));
        if mutations == 0 {
            assert!(ok, "seed {seed}: valid handshake refused");
        }
        connected += usize::from(ok);
    }
    // Mutations also produce handshakes the client accepts.
    assert!(connected > 1_000);
    assert_allocation_bounded();
}

#[test]
fn transmission_mutational_loop() {
    let rt = runtime();
    let (mut ok, mut failed) = (0, 0);
    for seed in 0..3_000u64 {
        // Every fifth iteration is unmutated: a correctness oracle.
        let mutations = if seed % 5 == 0 {
            0
        } else {
            1 + (seed % 7) as usize
        };
        let out = rt.block_on(transmission_iteration(seed, mutations));
        ok += out.ok;
        failed += out.failed;
    }
    // Both paths are exercised.
    assert!(ok > 1_000 && failed > 1_000, "ok {ok} failed {failed}");
    assert_allocation_bounded();
}

#[test]
fn hostile_lengths_allocate_nothing_big() {
    // A read reply whose chunk claims ~4 GiB, a block status chunk with an
    // absurd length, an oversized option reply: none may allocate.
    let rt = runtime();
    let mut script = nbd_util::greeting(FLAG_FIXED_NEWSTYLE);
    let mut hdr = nbd_util::opt_reply(OPT_STRUCTURED_REPLY, REP_ACK, &[]);
    hdr[16..20].copy_from_slice(&0xffff_fff0u32.to_be_bytes());
    script.extend(hdr);
    assert!(!rt.block_on(handshake_with(script)));
    assert_allocation_bounded();
}
