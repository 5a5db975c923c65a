//! XChaCha20-Poly1305 (draft-irtf-cfrg-xchacha) with a detached tag, in place.

use chacha20poly1305::aead::{AeadInOut, KeyInit};
use chacha20poly1305::{Key, Tag, XChaCha20Poly1305, XNonce};

pub const KEY_LEN: usize = 32;
pub const NONCE_LEN: usize = 24;
pub const TAG_LEN: usize = 16;

/// Sealing refused (a message too long for the cipher) or opening failed
/// (wrong key, nonce, associated data, or altered bytes).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("XChaCha20-Poly1305 refused the message")]
pub struct AeadError;

/// One key; the library wipes its copy of the key when this is dropped.
pub struct XChaCha(XChaCha20Poly1305);

impl XChaCha {
    pub fn new(key: &[u8; KEY_LEN]) -> XChaCha {
        XChaCha(XChaCha20Poly1305::new(&Key::from(*key)))
    }

    /// Encrypts `buf` in place and returns its tag.
    pub fn seal_in_place(
        &self,
        nonce: &[u8; NONCE_LEN],
        aad: &[u8],
        buf: &mut [u8],
    ) -> Result<[u8; TAG_LEN], AeadError> {
        let tag = self
            .0
            .encrypt_inout_detached(&XNonce::from(*nonce), aad, buf.into())
            .map_err(|_| AeadError)?;
        Ok(tag.into())
    }

    /// Checks `tag` and decrypts `buf` in place. On failure `buf` is left
    /// as it was (the library checks the tag before decrypting).
    pub fn open_in_place(
        &self,
        nonce: &[u8; NONCE_LEN],
        aad: &[u8],
        buf: &mut [u8],
        tag: &[u8; TAG_LEN],
    ) -> Result<(), AeadError> {
        self.0
            .decrypt_inout_detached(&XNonce::from(*nonce), aad, buf.into(), &Tag::from(*tag))
            .map_err(|_| AeadError)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The test vector of draft-irtf-cfrg-xchacha-03, appendix A.3.1.
    #[test]
    fn draft_test_vector() {
        let hex = |s: &str| -> Vec<u8> {
            let s: String = s.split_whitespace().collect();
            (0..s.len())
                .step_by(2)
                .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
                .collect()
        };
        let plain = b"Ladies and Gentlemen of the class of '99: If I could offer you only one tip for the future, sunscreen would be it.";
        let aad = hex("50515253c0c1c2c3c4c5c6c7");
        let key: [u8; 32] = hex("808182838485868788898a8b8c8d8e8f909192939495969798999a9b9c9d9e9f")
            .try_into()
            .unwrap();
        let nonce: [u8; 24] = hex("404142434445464748494a4b4c4d4e4f5051525354555657")
            .try_into()
            .unwrap();
        let cipher = hex(
            "bd6d179d3e83d43b9576579493c0e939572a1700252bfaccbed2902c21396cbb
             731c7f1b0b4aa6440bf3a82f4eda7e39ae64c6708c54c216cb96b72e1213b452
             2f8c9ba40db5d945b11b69b982c1bb9e3f3fac2bc369488f76b2383565d3fff9
             21f9664c97637da9768812f615c68b13b52e",
        );
        let tag = hex("c0875924c1c7987947deafd8780acf49");

        let x = XChaCha::new(&key);
        let mut buf = plain.to_vec();
        let t = x.seal_in_place(&nonce, &aad, &mut buf).unwrap();
        assert_eq!(buf, cipher);
        assert_eq!(t.to_vec(), tag);
        x.open_in_place(&nonce, &aad, &mut buf, &t).unwrap();
        assert_eq!(buf, plain);

        let mut bad = t;
        bad[0] ^= 1;
        let mut buf = cipher.clone();
        assert_eq!(
            x.open_in_place(&nonce, &aad, &mut buf, &bad),
            Err(AeadError)
        );
        assert_eq!(buf, cipher, "left untouched on failure");
    }
}
