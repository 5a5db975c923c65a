//! The framing shared by chunk and manifest files (docs/repository-format.md):
//! an 8-byte header, then either the body in the clear (unencrypted
//! repositories) or a random 24-byte nonce and the body sealed with
//! XChaCha20-Poly1305, its 16-byte tag last. The body is the plaintext, or
//! its lz4 block or zstd frame with the plaintext length in front when that
//! is smaller (`compression.rs`).
//! The associated data is the header followed by the object's name, so a
//! file cannot be moved to another name or have its flags changed.
//!
//! The cipher and the compressors are library calls in the
//! `kvm_clone_codec` crate, which debug builds compile optimised.

use super::compression::{self, Compression};
use kvm_clone_codec::aead::XChaCha;

pub const VERSION: u8 = 1;
pub const HEADER_LEN: usize = 8;
pub const NONCE_LEN: usize = kvm_clone_codec::aead::NONCE_LEN;
pub const TAG_LEN: usize = kvm_clone_codec::aead::TAG_LEN;
pub const FLAG_ENCRYPTED: u8 = 0b01;
pub const FLAG_LZ4: u8 = 0b10;
/// The body is a zstd frame (never with [`FLAG_LZ4`]).
pub const FLAG_ZSTD: u8 = 0b100;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Chunk,
    Manifest,
}

impl Kind {
    pub fn magic(self) -> &'static [u8; 4] {
        match self {
            Kind::Chunk => b"KVCK",
            Kind::Manifest => b"KVCM",
        }
    }
}

/// Why a frame could not be opened. Each is damage (or the wrong key).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FrameError {
    #[error("file too short ({0} bytes)")]
    TooShort(usize),
    #[error("bad magic (not a kvm-clone {0} file)")]
    BadMagic(&'static str),
    #[error("frame version {0} is not supported")]
    Version(u8),
    #[error("unknown flags {0:#04x}")]
    Flags(u8),
    #[error("reserved header bytes are not zero")]
    Reserved,
    #[error("the file is {found} but the repository is {expected}")]
    EncryptionMismatch {
        found: &'static str,
        expected: &'static str,
    },
    #[error("authentication failed (the file was changed, or belongs elsewhere)")]
    Authentication,
    #[error("plaintext of {len} bytes is larger than the {max} allowed")]
    TooLarge { len: usize, max: usize },
    #[error("{0} data is corrupt: {1}")]
    Decompress(&'static str, String),
    #[error("{0} bytes are too many to seal in one file")]
    TooLong(usize),
}

/// The data key, ready to seal and open frames (wiped when dropped).
pub struct Sealer {
    cipher: XChaCha,
}

impl Sealer {
    pub fn new(key: &[u8; 32]) -> Sealer {
        Sealer {
            cipher: XChaCha::new(key),
        }
    }
}

fn header(kind: Kind, flags: u8) -> [u8; HEADER_LEN] {
    let m = kind.magic();
    [m[0], m[1], m[2], m[3], VERSION, flags, 0, 0]
}

fn aad(header: &[u8], name: &[u8]) -> Vec<u8> {
    let mut a = Vec::with_capacity(header.len() + name.len());
    a.extend_from_slice(header);
    a.extend_from_slice(name);
    a
}

/// Frames start at this alignment in memory, so a chunk file can be
/// written with `O_DIRECT` straight from the frame's buffer.
pub const FRAME_ALIGN: usize = super::fsutil::DIRECT_ALIGN;

/// A sealed frame in a buffer whose first byte sits at a [`FRAME_ALIGN`]
/// boundary.
pub struct Frame {
    buf: Vec<u8>,
    start: usize,
}

impl Frame {
    pub fn bytes(&self) -> &[u8] {
        &self.buf[self.start..]
    }

    pub fn len(&self) -> usize {
        self.buf.len() - self.start
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Builds the file bytes of `plain` stored under `name`, lz4-compressed
/// where that shrinks it.
pub fn seal(
    kind: Kind,
    sealer: Option<&Sealer>,
    name: &[u8],
    plain: &[u8],
) -> Result<Vec<u8>, FrameError> {
    seal_frame(kind, sealer, name, plain, Compression::Lz4).map(|f| f.bytes().to_vec())
}

/// As [`seal`] with `compression`, in one buffer sized up front: the
/// compressor writes straight into it and the cipher seals it in place, so
/// the plaintext is read twice (hash aside) and nothing is copied again.
pub fn seal_frame(
    kind: Kind,
    sealer: Option<&Sealer>,
    name: &[u8],
    plain: &[u8],
    compression: Compression,
) -> Result<Frame, FrameError> {
    // The length prefix is 32 bits; nothing near 4 GiB is ever sealed.
    let Ok(plain_len) = u32::try_from(plain.len()) else {
        return Err(FrameError::TooLong(plain.len()));
    };
    let body_max = compression::body_max(compression, plain.len());
    // Never reallocated below: the alignment found here holds to the end.
    let mut buf = Vec::with_capacity(FRAME_ALIGN + HEADER_LEN + NONCE_LEN + body_max + TAG_LEN);
    let start = (FRAME_ALIGN - buf.as_ptr() as usize % FRAME_ALIGN) % FRAME_ALIGN;
    buf.resize(start + HEADER_LEN, 0);
    // A fresh random nonce for every file: never reused under one key.
    let nonce = sealer.map(|_| rand::random::<[u8; NONCE_LEN]>());
    if let Some(n) = &nonce {
        buf.extend_from_slice(n);
    }
    let body_start = buf.len();
    let mut flags = compression::write_body(compression, plain, plain_len, &mut buf);
    if sealer.is_some() {
        flags |= FLAG_ENCRYPTED;
    }
    let head = header(kind, flags);
    buf[start..start + HEADER_LEN].copy_from_slice(&head);
    if let (Some(s), Some(n)) = (sealer, nonce) {
        let tag = s
            .cipher
            .seal_in_place(&n, &aad(&head, name), &mut buf[body_start..])
            .map_err(|_| FrameError::TooLong(plain.len()))?;
        buf.extend_from_slice(&tag);
    }
    Ok(Frame { buf, start })
}

/// Opens a frame built by [`seal`]: checks the header, authenticates and
/// decrypts, decompresses. `max_plain` bounds the plaintext length.
pub fn open(
    kind: Kind,
    sealer: Option<&Sealer>,
    name: &[u8],
    frame: &[u8],
    max_plain: usize,
) -> Result<Vec<u8>, FrameError> {
    if frame.len() < HEADER_LEN {
        return Err(FrameError::TooShort(frame.len()));
    }
    let (head, rest) = frame.split_at(HEADER_LEN);
    if &head[..4] != kind.magic() {
        return Err(FrameError::BadMagic(match kind {
            Kind::Chunk => "chunk",
            Kind::Manifest => "manifest",
        }));
    }
    if head[4] != VERSION {
        return Err(FrameError::Version(head[4]));
    }
    let flags = head[5];
    if flags & !(FLAG_ENCRYPTED | FLAG_LZ4 | FLAG_ZSTD) != 0
        || flags & (FLAG_LZ4 | FLAG_ZSTD) == FLAG_LZ4 | FLAG_ZSTD
    {
        return Err(FrameError::Flags(flags));
    }
    if head[6] != 0 || head[7] != 0 {
        return Err(FrameError::Reserved);
    }
    let encrypted = flags & FLAG_ENCRYPTED != 0;
    let label = |e: bool| if e { "encrypted" } else { "not encrypted" };
    if encrypted != sealer.is_some() {
        return Err(FrameError::EncryptionMismatch {
            found: label(encrypted),
            expected: label(sealer.is_some()),
        });
    }
    let body = match sealer {
        None => rest.to_vec(),
        Some(s) => {
            let Some((nonce, (sealed, tag))) = rest
                .split_first_chunk::<NONCE_LEN>()
                .and_then(|(n, r)| Some((n, r.split_last_chunk::<TAG_LEN>()?)))
            else {
                return Err(FrameError::TooShort(frame.len()));
            };
            let mut buf = sealed.to_vec();
            s.cipher
                .open_in_place(nonce, &aad(head, name), &mut buf, tag)
                .map_err(|_| FrameError::Authentication)?;
            buf
        }
    };
    compression::read_body(flags, body, max_plain)
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;
    use proptest::prelude::*;

    fn sealer() -> Sealer {
        Sealer::new(&[7; 32])
    }

    pub(in crate::repo) fn text(n: usize) -> Vec<u8> {
        b"the quick brown fox jumps over the lazy dog. "
            .iter()
            .cycle()
            .take(n)
            .copied()
            .collect()
    }

    pub(in crate::repo) fn noise(n: usize) -> Vec<u8> {
        (0..n).map(|_| rand::random::<u8>()).collect()
    }

    #[test]
    fn frames_start_page_aligned_and_open_like_any_other() {
        let s = sealer();
        for plain in [text(4 << 20), noise(1 << 20), noise(5000), Vec::new()] {
            for key in [Some(&s), None] {
                let f = seal_frame(Kind::Chunk, key, b"n", &plain, Compression::Lz4).unwrap();
                assert_eq!(f.bytes().as_ptr() as usize % FRAME_ALIGN, 0);
                assert_eq!(f.len(), f.bytes().len());
                let compressed = f.bytes()[5] & FLAG_LZ4 != 0;
                assert_eq!(compressed, plain.len() > 5000 && plain.len() == 4 << 20);
                assert_eq!(
                    open(Kind::Chunk, key, b"n", f.bytes(), 8 << 20).unwrap(),
                    plain
                );
            }
        }
    }

    #[test]
    fn round_trips_compressible_and_incompressible() {
        let s = sealer();
        for plain in [text(100_000), noise(100_000), Vec::new(), vec![1]] {
            for key in [Some(&s), None] {
                let f = seal(Kind::Chunk, key, b"name", &plain).unwrap();
                assert_eq!(open(Kind::Chunk, key, b"name", &f, 1 << 20).unwrap(), plain);
            }
        }
    }

    #[test]
    fn compresses_only_when_it_shrinks() {
        let t = seal(Kind::Chunk, None, b"n", &text(100_000)).unwrap();
        assert_eq!(t[5] & FLAG_LZ4, FLAG_LZ4);
        assert!(t.len() < 10_000, "{}", t.len());
        let r = seal(Kind::Chunk, None, b"n", &noise(100_000)).unwrap();
        assert_eq!(r[5] & FLAG_LZ4, 0);
        assert_eq!(r.len(), HEADER_LEN + 100_000);
        let e = seal(Kind::Chunk, Some(&sealer()), b"n", &noise(1000)).unwrap();
        assert_eq!(e.len(), HEADER_LEN + NONCE_LEN + 1000 + TAG_LEN);
        assert_eq!(e[5], FLAG_ENCRYPTED);
    }

    /// The frame layout: RustCrypto's XChaCha20Poly1305, given the nonce
    /// after the header and the header + name as associated data, opens the
    /// rest (tag last) and seals it back to the same bytes.
    #[test]
    fn matches_rustcrypto_xchacha20poly1305() {
        use chacha20poly1305::aead::{Aead, KeyInit, Payload};
        use chacha20poly1305::{XChaCha20Poly1305, XNonce};
        for (len, key_byte) in [
            (0usize, 1u8),
            (1, 2),
            (63, 3),
            (64, 4),
            (1000, 5),
            (70_000, 6),
        ] {
            let key = [key_byte; 32];
            let s = Sealer::new(&key);
            let plain = noise(len);
            let frame = seal(Kind::Chunk, Some(&s), b"the name", &plain).unwrap();
            let (head, rest) = frame.split_at(HEADER_LEN);
            let (nonce, sealed) = rest.split_at(NONCE_LEN);
            let reference = XChaCha20Poly1305::new(&chacha20poly1305::Key::from(key));
            let mut ad = head.to_vec();
            ad.extend_from_slice(b"the name");
            let mut n = [0u8; NONCE_LEN];
            n.copy_from_slice(nonce);
            let body = reference
                .decrypt(
                    &XNonce::from(n),
                    Payload {
                        msg: sealed,
                        aad: &ad,
                    },
                )
                .expect("RustCrypto opens our frame");
            let again = reference
                .encrypt(
                    &XNonce::from(n),
                    Payload {
                        msg: &body,
                        aad: &ad,
                    },
                )
                .unwrap();
            assert_eq!(again, sealed, "length {len}");
        }
    }

    #[test]
    fn nonces_are_fresh_each_time() {
        let s = sealer();
        let a = seal(Kind::Chunk, Some(&s), b"n", b"same").unwrap();
        let b = seal(Kind::Chunk, Some(&s), b"n", b"same").unwrap();
        assert_ne!(
            a[HEADER_LEN..HEADER_LEN + NONCE_LEN],
            b[HEADER_LEN..HEADER_LEN + NONCE_LEN]
        );
    }

    #[test]
    fn every_flipped_byte_is_detected_when_encrypted() {
        let s = sealer();
        let f = seal(Kind::Manifest, Some(&s), b"0123456789abcdef", &text(300)).unwrap();
        for i in 0..f.len() {
            let mut bad = f.clone();
            bad[i] ^= 0x01;
            assert!(
                open(Kind::Manifest, Some(&s), b"0123456789abcdef", &bad, 1 << 20).is_err(),
                "flip at {i} went unnoticed"
            );
        }
    }

    #[test]
    fn wrong_key_name_kind_or_mode_is_refused() {
        let s = sealer();
        let f = seal(Kind::Chunk, Some(&s), b"name", b"secret data").unwrap();
        let other = Sealer::new(&[8; 32]);
        assert_eq!(
            open(Kind::Chunk, Some(&other), b"name", &f, 100),
            Err(FrameError::Authentication)
        );
        assert_eq!(
            open(Kind::Chunk, Some(&s), b"other", &f, 100),
            Err(FrameError::Authentication)
        );
        assert!(matches!(
            open(Kind::Manifest, Some(&s), b"name", &f, 100),
            Err(FrameError::BadMagic(_))
        ));
        assert!(matches!(
            open(Kind::Chunk, None, b"name", &f, 100),
            Err(FrameError::EncryptionMismatch { .. })
        ));
        // An unencrypted frame planted in an encrypted repository.
        let plain = seal(Kind::Chunk, None, b"name", b"forged").unwrap();
        assert!(matches!(
            open(Kind::Chunk, Some(&s), b"name", &plain, 100),
            Err(FrameError::EncryptionMismatch { .. })
        ));
    }

    #[test]
    fn size_limit_is_enforced_before_allocating() {
        let f = seal(Kind::Chunk, None, b"n", &text(10_000)).unwrap();
        assert!(matches!(
            open(Kind::Chunk, None, b"n", &f, 9_999),
            Err(FrameError::TooLarge { .. })
        ));
        // A tiny lz4 body that claims 1 GiB.
        let mut lie = header(Kind::Chunk, FLAG_LZ4).to_vec();
        lie.extend_from_slice(&(1u32 << 30).to_le_bytes());
        lie.extend_from_slice(&[0x10, 0]);
        assert!(matches!(
            open(Kind::Chunk, None, b"n", &lie, usize::MAX),
            Err(FrameError::Decompress("lz4", _))
        ));
    }

    fn valid_frames() -> impl Strategy<Value = (bool, Vec<u8>)> {
        (
            any::<bool>(),
            prop_oneof![
                proptest::collection::vec(any::<u8>(), 0..600),
                (0usize..3000).prop_map(text)
            ],
        )
            .prop_map(|(enc, plain)| {
                let s = sealer();
                (
                    enc,
                    seal(Kind::Chunk, enc.then_some(&s), b"id", &plain).unwrap(),
                )
            })
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 3000, ..ProptestConfig::default() })]

        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..400), enc: bool) {
            let s = sealer();
            let _ = open(Kind::Chunk, enc.then_some(&s), b"id", &bytes, 1 << 16);
            // With a valid header the decoder goes deeper.
            let mut framed = header(Kind::Chunk, bytes.first().copied().unwrap_or(0) & 7).to_vec();
            framed.extend_from_slice(&bytes);
            let _ = open(Kind::Chunk, enc.then_some(&s), b"id", &framed, 1 << 16);
        }

        #[test]
        fn mutated_frames_fail_cleanly(
            (enc, frame) in valid_frames(),
            edits in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..6),
            cut in any::<prop::sample::Index>(),
            truncate: bool,
        ) {
            let s = sealer();
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
        }
    }
}
