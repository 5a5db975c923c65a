//! zstd frames, as `zstd::bulk` (libzstd, built from the crate's bundled
//! source: no system library or pkg-config).

use std::cell::RefCell;

/// Levels an export profile may ask for (zstd's own range, less the
/// negative "fast" levels, which lz4 already covers).
pub const LEVELS: std::ops::RangeInclusive<i32> = 1..=22;
/// zstd's own default.
pub const DEFAULT_LEVEL: i32 = 3;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ZstdError {
    #[error("the frame declares {declared:?} bytes of plaintext, not the {len} announced")]
    Declared { declared: Option<usize>, len: usize },
    #[error("{0}")]
    Corrupt(String),
    #[error("{found} bytes instead of the {len} announced")]
    Length { found: usize, len: usize },
}

thread_local! {
    /// One compression context per thread: making one allocates the tables
    /// of its level (megabytes at high levels), too much to do per chunk.
    static COMPRESSOR: RefCell<Option<(i32, zstd::bulk::Compressor<'static>)>> =
        const { RefCell::new(None) };
}

/// Writes one zstd frame of `plain` at `level` at the start of `out` and
/// returns its length; None when it does not fit in `out` (so callers size
/// `out` to the most they would keep), or zstd fails.
pub fn compress_into(plain: &[u8], level: i32, out: &mut [u8]) -> Option<usize> {
    COMPRESSOR.with_borrow_mut(|slot| {
        let ctx = match slot {
            Some((l, c)) if *l == level => c,
            Some((l, c)) => {
                c.set_compression_level(level).ok()?;
                *l = level;
                c
            }
            None => {
                &mut slot
                    .insert((level, zstd::bulk::Compressor::new(level).ok()?))
                    .1
            }
        };
        // Single-shot compression records the plaintext size in the frame
        // header, which `decompress` insists on.
        ctx.compress_to_buffer(plain, out).ok()
    })
}

/// Decompresses `frame`, which must hold exactly `len` bytes of plaintext.
/// The caller bounds `len`; the frame headers must declare exactly `len`,
/// which is checked before anything is allocated, and zstd writes into a
/// buffer of `len` bytes, so nothing decompresses beyond it.
pub fn decompress(frame: &[u8], len: usize) -> Result<Vec<u8>, ZstdError> {
    // zstd counts no frames as no bytes; `compress_into` never writes that.
    if frame.is_empty() {
        return Err(ZstdError::Corrupt("no frame".into()));
    }
    let declared = zstd::bulk::Decompressor::upper_bound(frame);
    if declared != Some(len) {
        return Err(ZstdError::Declared { declared, len });
    }
    let mut plain = vec![0u8; len];
    let found = zstd::bulk::decompress_to_buffer(frame, &mut plain[..])
        .map_err(|e| ZstdError::Corrupt(e.to_string()))?;
    if found != len {
        return Err(ZstdError::Length { found, len });
    }
    Ok(plain)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(n: usize) -> Vec<u8> {
        (0..n as u32).map(|i| (i % 7) as u8 + b'a').collect()
    }

    #[test]
    fn round_trip_at_each_level_and_a_level_change() {
        let plain = text(200_000);
        let mut out = vec![0u8; plain.len()];
        let mut sizes = Vec::new();
        for level in [1, 3, 19, 3, 22] {
            let n = compress_into(&plain, level, &mut out).unwrap();
            assert!(n < plain.len() / 100, "level {level}: {n}");
            assert_eq!(decompress(&out[..n], plain.len()).unwrap(), plain);
            sizes.push(n);
        }
        // The context was re-levelled, not kept at its first level.
        assert_eq!(sizes[1], sizes[3]);
        assert!(decompress(&out[..0], 0).is_err());
    }

    #[test]
    fn too_small_an_output_is_none() {
        let mut x = 0x9E37_79B9_7F4A_7C15u64;
        let noise: Vec<u8> = (0..10_000)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                x as u8
            })
            .collect();
        let mut out = vec![0u8; noise.len() - 5];
        assert_eq!(compress_into(&noise, 3, &mut out), None);
    }

    #[test]
    fn wrong_lengths_are_refused_before_decoding() {
        let plain = text(50_000);
        let mut out = vec![0u8; plain.len()];
        let n = compress_into(&plain, 3, &mut out).unwrap();
        let frame = &out[..n];
        for len in [plain.len() - 1, plain.len() + 1, 1 << 30] {
            assert_eq!(
                decompress(frame, len),
                Err(ZstdError::Declared {
                    declared: Some(plain.len()),
                    len
                })
            );
        }
        // Two frames whose sizes add up to the announced length decode.
        let mut two = frame.to_vec();
        two.extend_from_slice(frame);
        let back = decompress(&two, 2 * plain.len()).unwrap();
        assert_eq!(&back[..plain.len()], &plain[..]);
        // A damaged frame is an error or the announced length of wrong
        // bytes (frames carry no checksum: the AEAD tag or the chunk id
        // catches that), never a panic or more.
        for at in 0..frame.len() {
            let mut bad = frame.to_vec();
            bad[at] ^= 0xff;
            if let Ok(v) = decompress(&bad, plain.len()) {
                assert_eq!(v.len(), plain.len());
            }
        }
        assert!(decompress(b"not zstd at all", 10).is_err());
    }
}
