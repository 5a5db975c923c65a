//! Chunk and snapshot ids, and their text forms (file names, JSON).

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;
use std::str::FromStr;

/// The id of a stored chunk: BLAKE3 of its plaintext, keyed with the
/// repository's id key when the repository is encrypted.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ChunkId(pub [u8; 32]);

impl ChunkId {
    /// Plain BLAKE3 when `key` is None (unencrypted repositories).
    pub fn compute(key: Option<&[u8; 32]>, plain: &[u8]) -> ChunkId {
        let hash = match key {
            Some(k) => blake3::keyed_hash(k, plain),
            None => blake3::hash(plain),
        };
        ChunkId(*hash.as_bytes())
    }

    pub fn to_hex(&self) -> String {
        hex(&self.0)
    }
}

impl fmt::Display for ChunkId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

impl fmt::Debug for ChunkId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ChunkId({})", self.to_hex())
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0:?} is not an id: expected {1} lowercase hex characters")]
pub struct ParseIdError(String, usize);

impl FromStr for ChunkId {
    type Err = ParseIdError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || ParseIdError(s.chars().take(80).collect(), 64);
        if s.len() != 64 || !is_lower_hex(s) {
            return Err(bad());
        }
        let mut out = [0u8; 32];
        for (i, byte) in out.iter_mut().enumerate() {
            *byte = u8::from_str_radix(&s[2 * i..2 * i + 2], 16).map_err(|_| bad())?;
        }
        Ok(ChunkId(out))
    }
}

impl Serialize for ChunkId {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_hex())
    }
}

impl<'de> Deserialize<'de> for ChunkId {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// A snapshot's id: 16 random lowercase hex characters, also the name of
/// its manifest file.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SnapshotId(String);

impl SnapshotId {
    pub const LEN: usize = 16;

    pub fn random() -> SnapshotId {
        SnapshotId(hex(&rand::random::<[u8; 8]>()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for SnapshotId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for SnapshotId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SnapshotId({})", self.0)
    }
}

impl FromStr for SnapshotId {
    type Err = ParseIdError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if s.len() == Self::LEN && is_lower_hex(s) {
            Ok(SnapshotId(s.to_string()))
        } else {
            Err(ParseIdError(s.chars().take(80).collect(), Self::LEN))
        }
    }
}

impl Serialize for SnapshotId {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for SnapshotId {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

pub(crate) fn is_lower_hex(s: &str) -> bool {
    s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

pub(crate) fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write;
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        let _ = write!(s, "{b:02x}");
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunk_id_text_round_trip() {
        let id = ChunkId::compute(None, b"hello");
        assert_eq!(id.to_hex(), blake3::hash(b"hello").to_hex().as_str());
        assert_eq!(id.to_string().parse::<ChunkId>().unwrap(), id);
        let json = serde_json::to_string(&id).unwrap();
        assert_eq!(json, format!("\"{}\"", id.to_hex()));
        assert_eq!(serde_json::from_str::<ChunkId>(&json).unwrap(), id);
    }

    #[test]
    fn chunk_id_rejects_bad_text() {
        let good = ChunkId::compute(None, b"x").to_hex();
        assert!(good.to_uppercase().parse::<ChunkId>().is_err());
        assert!(good[..63].parse::<ChunkId>().is_err());
        assert!(format!("{good}0").parse::<ChunkId>().is_err());
        assert!(format!("{}g", &good[..63]).parse::<ChunkId>().is_err());
        // Multi-byte characters must not panic the slicing.
        assert!("é".repeat(32).parse::<ChunkId>().is_err());
    }

    #[test]
    fn keyed_ids_differ_from_plain_and_by_key() {
        let plain = ChunkId::compute(None, b"data");
        let k1 = ChunkId::compute(Some(&[1; 32]), b"data");
        let k2 = ChunkId::compute(Some(&[2; 32]), b"data");
        assert_ne!(plain, k1);
        assert_ne!(k1, k2);
        assert_eq!(k1, ChunkId::compute(Some(&[1; 32]), b"data"));
    }

    #[test]
    fn snapshot_ids_are_16_lower_hex_and_random() {
        let a = SnapshotId::random();
        let b = SnapshotId::random();
        assert_eq!(a.as_str().len(), 16);
        assert!(is_lower_hex(a.as_str()));
        assert_ne!(a, b);
        assert_eq!(a.as_str().parse::<SnapshotId>().unwrap(), a);
        assert!("0123456789ABCDEF".parse::<SnapshotId>().is_err());
        assert!("0123".parse::<SnapshotId>().is_err());
        assert!(".tmp-0123456789a".parse::<SnapshotId>().is_err());
    }
}
