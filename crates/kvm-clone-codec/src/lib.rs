//! The repository's hot codecs, as thin calls into well-kept libraries:
//! XChaCha20-Poly1305 (RustCrypto `chacha20poly1305`) and the lz4 block
//! format (`lz4_flex`). No cryptography or compression of our own lives here.
//!
//! Why a crate of its own: both libraries are generic or `#[inline]`, so their
//! code is compiled in the crate that calls them. The workspace's root
//! Cargo.toml gives this crate `opt-level = 3` in the dev profile, so debug
//! builds and tests seal and compress at release speed while the main crate
//! stays quick to build.

pub mod aead;
pub mod lz4;
