//! lz4 block format (no frame header), as `lz4_flex::block`.

/// lz4 cannot expand a block more than ~255:1, so a longer announced length
/// is refused before anything is allocated.
const MAX_RATIO: usize = 255;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Lz4Error {
    #[error("{block} bytes cannot expand to {len}")]
    Impossible { block: usize, len: usize },
    #[error("{0}")]
    Corrupt(String),
    #[error("{found} bytes instead of the {len} announced")]
    Length { found: usize, len: usize },
}

/// One lz4 block of `plain`.
pub fn compress(plain: &[u8]) -> Vec<u8> {
    lz4_flex::block::compress(plain)
}

/// The most bytes an lz4 block of `len` bytes of plaintext can take.
pub fn max_compressed_len(len: usize) -> usize {
    lz4_flex::block::get_maximum_output_size(len)
}

/// Writes one lz4 block of `plain` at the start of `out` and returns its
/// length; None when `out` is shorter than [`max_compressed_len`] needs.
pub fn compress_into(plain: &[u8], out: &mut [u8]) -> Option<usize> {
    lz4_flex::block::compress_into(plain, out).ok()
}

/// Decompresses `block`, which must hold exactly `len` bytes of plaintext.
/// The caller bounds `len`; this refuses lengths lz4 cannot reach.
pub fn decompress(block: &[u8], len: usize) -> Result<Vec<u8>, Lz4Error> {
    if len > block.len().saturating_mul(MAX_RATIO) + 16 {
        return Err(Lz4Error::Impossible {
            block: block.len(),
            len,
        });
    }
    let mut plain = vec![0u8; len];
    let found = lz4_flex::block::decompress_into(block, &mut plain)
        .map_err(|e| Lz4Error::Corrupt(e.to_string()))?;
    if found != len {
        return Err(Lz4Error::Length { found, len });
    }
    Ok(plain)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_wrong_lengths() {
        let plain: Vec<u8> = (0..50_000u32).map(|i| (i % 7) as u8).collect();
        let block = compress(&plain);
        assert!(block.len() < plain.len() / 10, "{}", block.len());
        assert_eq!(decompress(&block, plain.len()).unwrap(), plain);
        assert!(matches!(
            decompress(&block, plain.len() - 1),
            Err(Lz4Error::Corrupt(_))
        ));
        assert_eq!(
            decompress(&block, plain.len() + 1),
            Err(Lz4Error::Length {
                found: plain.len(),
                len: plain.len() + 1
            })
        );
        assert!(matches!(
            decompress(&[0x10, 0], 1 << 30),
            Err(Lz4Error::Impossible { .. })
        ));
        assert_eq!(decompress(&compress(b""), 0).unwrap(), b"");

        let mut out = vec![0u8; max_compressed_len(plain.len())];
        let n = compress_into(&plain, &mut out).unwrap();
        assert_eq!(decompress(&out[..n], plain.len()).unwrap(), plain);
        assert_eq!(compress_into(&plain, &mut out[..10]), None);
    }
}
