//! Body codecs through whole frames and a repository: zstd beside lz4,
//! old lz4 frames, mixed repositories, bounded and fuzzed decoding.

use super::super::seal::tests::{noise, text};
use super::super::seal::{
    FLAG_ENCRYPTED, FLAG_LZ4, FLAG_ZSTD, FrameError, HEADER_LEN, Kind, Sealer, VERSION, open,
    seal_frame,
};
use super::Compression;
use proptest::prelude::*;

fn frame(key: Option<&Sealer>, plain: &[u8], c: Compression) -> Vec<u8> {
    seal_frame(Kind::Chunk, key, b"id", plain, c)
        .unwrap()
        .bytes()
        .to_vec()
}

/// An unencrypted chunk frame with `flags` around `body`, as any writer
/// of the documented format would make it.
fn handmade(flags: u8, body: &[u8]) -> Vec<u8> {
    let mut f = b"KVCK".to_vec();
    f.extend_from_slice(&[VERSION, flags, 0, 0]);
    f.extend_from_slice(body);
    f
}

#[test]
fn each_codec_round_trips_and_flags_what_it_did() {
    let s = Sealer::new(&[3; 32]);
    let cases = [
        (Compression::Lz4, FLAG_LZ4),
        (Compression::Zstd(3), FLAG_ZSTD),
        (Compression::Zstd(19), FLAG_ZSTD),
        (Compression::None, 0),
    ];
    for (c, flag) in cases {
        for key in [Some(&s), None] {
            let enc = if key.is_some() { FLAG_ENCRYPTED } else { 0 };
            for (plain, shrinks) in [(text(100_000), true), (noise(50_000), false)] {
                let f = frame(key, &plain, c);
                let want = if shrinks { flag } else { 0 };
                assert_eq!(f[5], want | enc, "{c:?} {shrinks}");
                assert_eq!(open(Kind::Chunk, key, b"id", &f, 1 << 20).unwrap(), plain);
            }
            assert_eq!(
                open(Kind::Chunk, key, b"id", &frame(key, b"", c), 9).unwrap(),
                b""
            );
        }
    }
    let lz4 = frame(None, &text(1 << 20), Compression::Lz4).len();
    let zstd = frame(None, &text(1 << 20), Compression::Zstd(19)).len();
    assert!(zstd < lz4, "zstd 19 {zstd} vs lz4 {lz4}");
}

/// A frame as the versions before zstd wrote it, built by hand around an
/// lz4 block: still opens.
#[test]
fn an_old_lz4_frame_still_opens() {
    let plain = text(70_000);
    let mut body = (plain.len() as u32).to_le_bytes().to_vec();
    body.extend_from_slice(&kvm_clone_codec::lz4::compress(&plain));
    let old = handmade(FLAG_LZ4, &body);
    assert_eq!(
        open(Kind::Chunk, None, b"id", &old, 1 << 20).unwrap(),
        plain
    );
    let raw = handmade(0, b"stored as is");
    assert_eq!(
        open(Kind::Chunk, None, b"id", &raw, 100).unwrap(),
        b"stored as is"
    );
}

#[test]
fn zstd_bodies_are_bounded() {
    let plain = text(10_000);
    let f = frame(None, &plain, Compression::Zstd(3));
    assert!(matches!(
        open(Kind::Chunk, None, b"id", &f, 9_999),
        Err(FrameError::TooLarge { .. })
    ));
    // A prefix that disagrees with the frame's own size, either way.
    for lie in [plain.len() as u32 - 1, plain.len() as u32 + 1, 1 << 30] {
        let mut bad = f.clone();
        bad[HEADER_LEN..HEADER_LEN + 4].copy_from_slice(&lie.to_le_bytes());
        assert!(
            matches!(
                open(Kind::Chunk, None, b"id", &bad, usize::MAX),
                Err(FrameError::Decompress("zstd", _))
            ),
            "{lie}"
        );
    }
    // Both codec flags at once, and no prefix at all.
    let mut both = f.clone();
    both[5] = FLAG_LZ4 | FLAG_ZSTD;
    assert_eq!(
        open(Kind::Chunk, None, b"id", &both, usize::MAX),
        Err(FrameError::Flags(FLAG_LZ4 | FLAG_ZSTD))
    );
    assert!(matches!(
        open(Kind::Chunk, None, b"id", &handmade(FLAG_ZSTD, b"ab"), 100),
        Err(FrameError::Decompress("zstd", _))
    ));
}

/// One repository, chunks in every codec: each reads back, and a chunk
/// stored with one codec is not stored again with another (same id).
#[test]
fn a_repository_mixes_codecs_and_dedups_across_them() {
    let (_dir, repo) = super::super::testutil::repo();
    let a = text(3000);
    let first = repo.store_chunk_with(&a, Compression::Zstd(19)).unwrap();
    assert!(first.new);
    for c in [Compression::Lz4, Compression::None, Compression::Zstd(1)] {
        let again = repo.store_chunk_with(&a, c).unwrap();
        assert_eq!((again.id, again.new), (first.id, false), "{c:?}");
    }
    let mut ids = vec![first.id];
    for (i, c) in [Compression::Lz4, Compression::None, Compression::Zstd(3)]
        .into_iter()
        .enumerate()
    {
        let plain = text(3001 + i);
        let stored = repo.store_chunk_with(&plain, c).unwrap();
        assert!(stored.new);
        ids.push(stored.id);
    }
    for (id, len) in ids.iter().zip([3000, 3001, 3002, 3003]) {
        assert_eq!(repo.read_chunk(id).unwrap(), text(len));
    }
}

fn zstd_frames() -> impl Strategy<Value = (bool, Vec<u8>)> {
    (
        any::<bool>(),
        prop_oneof![
            proptest::collection::vec(any::<u8>(), 0..600),
            (0usize..3000).prop_map(text)
        ],
        1i32..=9,
    )
        .prop_map(|(enc, plain, level)| {
            let s = Sealer::new(&[3; 32]);
            let c = Compression::Zstd(level);
            (enc, frame(enc.then_some(&s), &plain, c))
        })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

    /// Any bytes under the zstd flag: an error or at most `max` bytes,
    /// never a panic.
    #[test]
    fn arbitrary_zstd_bodies_never_panic_or_overflow(
        body in proptest::collection::vec(any::<u8>(), 0..400),
        len in 0u32..100_000,
        magic: bool,
    ) {
        let mut b = len.to_le_bytes().to_vec();
        if magic {
            // A zstd magic number, so the decoder goes deeper.
            b.extend_from_slice(&[0x28, 0xb5, 0x2f, 0xfd]);
        }
        b.extend_from_slice(&body);
        let max = 1 << 16;
        if let Ok(plain) = open(Kind::Chunk, None, b"id", &handmade(FLAG_ZSTD, &b), max) {
            prop_assert!(plain.len() <= max);
            prop_assert_eq!(plain.len(), len as usize);
        }
    }

    #[test]
    fn mutated_zstd_frames_fail_cleanly(
        (enc, frame) in zstd_frames(),
        edits in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..6),
        cut in any::<prop::sample::Index>(),
        truncate: bool,
    ) {
        let s = Sealer::new(&[3; 32]);
        let mut bad = frame.clone();
        for (at, byte) in &edits {
            let i = at.index(bad.len());
            bad[i] = *byte;
        }
        if truncate {
            bad.truncate(cut.index(bad.len() + 1));
        }
        let r = open(Kind::Chunk, enc.then_some(&s), b"id", &bad, 1 << 16);
        if enc && bad != frame {
            prop_assert!(r.is_err());
        }
        if let Ok(plain) = r {
            prop_assert!(plain.len() <= 1 << 16);
        }
    }
}
