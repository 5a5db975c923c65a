//! The repository's hot codecs, as thin calls into well-kept libraries:
//! XChaCha20-Poly1305 (RustCrypto `chacha20poly1305`), the lz4 block
//! format (`lz4_flex`) and zstd frames (`zstd`, libzstd). No cryptography or
//! compression of our own lives here.
//!
//! Why a crate of its own: both libraries are generic or `#[inline]`, so their
//! code is compiled in the crate that calls them. The workspace's root
//! Cargo.toml gives this crate `opt-level = 3` in the dev profile, so debug
//! builds and tests seal and compress at release speed while the main crate
//! stays quick to build.

pub mod aead;
pub mod lz4;
pub mod zstd;

/// Whether `buf` is all zero bytes: the check every data path runs on what
/// it read, so zeros are never sent or stored. Here, so that debug builds
/// run it optimised too.
pub fn is_zero(buf: &[u8]) -> bool {
    // 16 bytes at a time: several times faster than byte by byte.
    let mut words = buf.chunks_exact(16);
    let body = words
        .by_ref()
        .all(|c| <[u8; 16]>::try_from(c).is_ok_and(|w| u128::from_ne_bytes(w) == 0));
    body && words.remainder().iter().all(|&b| b == 0)
}

#[cfg(test)]
mod tests {
    #[test]
    fn zero_buffers_of_any_length_and_one_set_byte_anywhere() {
        for len in [0usize, 1, 15, 16, 17, 4096, 4099] {
            let mut buf = vec![0u8; len];
            assert!(super::is_zero(&buf), "{len}");
            for at in [0, len / 2, len.saturating_sub(1)] {
                if len > 0 {
                    buf[at] = 1;
                    assert!(!super::is_zero(&buf), "{len} {at}");
                    buf[at] = 0;
                }
            }
        }
    }
}
