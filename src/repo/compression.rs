//! A frame's body codec (docs/repository-format.md): the plaintext as it
//! is, or its lz4 block or zstd frame after its length as 4 bytes
//! little-endian, flagged in the header. Compressed only when that is
//! smaller, so the stored form never outgrows the plaintext by more than
//! the prefix. Each chunk says how it was made: a repository may mix them.

use super::seal::{FLAG_LZ4, FLAG_ZSTD, FrameError};
use kvm_clone_codec::{lz4, zstd};

pub use crate::model::profile::Compression;

/// Compressor output buffers up to this size are kept per thread.
const OUT_KEPT: usize = 8 << 20;

thread_local! {
    /// The compressor's output buffer, zeroed once per thread instead of
    /// once per chunk.
    static OUT: std::cell::RefCell<Vec<u8>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// Calls `f` with a zero-initialised buffer of `len` bytes.
fn with_out<T>(len: usize, f: impl FnOnce(&mut [u8]) -> T) -> T {
    if len > OUT_KEPT {
        return f(&mut vec![0u8; len]);
    }
    OUT.with_borrow_mut(|out| {
        if out.len() < len {
            out.resize(len, 0);
        }
        f(&mut out[..len])
    })
}

/// The most bytes [`write_body`] appends for `len` bytes of plaintext.
pub(super) fn body_max(c: Compression, len: usize) -> usize {
    match c {
        Compression::Lz4 => (4 + lz4::max_compressed_len(len)).max(len),
        Compression::None | Compression::Zstd(_) => len,
    }
}

/// Appends the body of `plain` to `buf` and returns its header flag.
pub(super) fn write_body(c: Compression, plain: &[u8], plain_len: u32, buf: &mut Vec<u8>) -> u8 {
    // Kept only when the prefix and the compressed form are smaller.
    let worth = |n: usize| n + 4 < plain.len();
    let (flag, out_len) = match c {
        Compression::None => (0, 0),
        Compression::Lz4 => (FLAG_LZ4, lz4::max_compressed_len(plain.len())),
        // zstd stops with an error when the output does not fit: sizing it
        // to what is worth keeping spares the rest of the work.
        Compression::Zstd(_) => (FLAG_ZSTD, plain.len().saturating_sub(5)),
    };
    let kept = flag != 0
        && with_out(out_len, |out| {
            let n = match c {
                Compression::Zstd(level) => zstd::compress_into(plain, level, out),
                _ => lz4::compress_into(plain, out),
            };
            match n {
                Some(n) if worth(n) => {
                    buf.extend_from_slice(&plain_len.to_le_bytes());
                    buf.extend_from_slice(&out[..n]);
                    true
                }
                _ => false,
            }
        });
    if kept {
        flag
    } else {
        buf.extend_from_slice(plain);
        0
    }
}

/// The plaintext of an opened body whose header has `flags`, at most
/// `max_plain` bytes: the announced length is checked before anything is
/// allocated, and the decoder writes into a buffer of that length only.
pub(super) fn read_body(flags: u8, body: Vec<u8>, max_plain: usize) -> Result<Vec<u8>, FrameError> {
    let codec = match (flags & FLAG_LZ4 != 0, flags & FLAG_ZSTD != 0) {
        (false, false) => {
            if body.len() > max_plain {
                return Err(FrameError::TooLarge {
                    len: body.len(),
                    max: max_plain,
                });
            }
            return Ok(body);
        }
        (true, false) => "lz4",
        // Both flags are refused with the header.
        (_, true) => "zstd",
    };
    let Some((prefix, data)) = body.split_first_chunk::<4>() else {
        return Err(FrameError::Decompress(codec, "no length prefix".into()));
    };
    let len = u32::from_le_bytes(*prefix) as usize;
    if len > max_plain {
        return Err(FrameError::TooLarge {
            len,
            max: max_plain,
        });
    }
    let corrupt = |e: String| FrameError::Decompress(codec, e);
    if codec == "lz4" {
        lz4::decompress(data, len).map_err(|e| corrupt(e.to_string()))
    } else {
        zstd::decompress(data, len).map_err(|e| corrupt(e.to_string()))
    }
}

#[cfg(test)]
#[path = "compression_tests.rs"]
mod tests;
