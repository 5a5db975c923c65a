//! The repository's data keys and how age wraps them: with a passphrase
//! (scrypt, run once per open) or for one or more X25519 recipients.
//!
//! The key file is an age file whose plaintext is `KEYS_LEN` bytes:
//! `KVCKEYS1` · the repository uuid (36 ASCII bytes) · the 32-byte AEAD
//! key · the 32-byte chunk-id key (docs/repository-format.md).

use super::error::RepoError;
use age::secrecy::SecretString;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::str::FromStr;
use zeroize::Zeroizing;

const MAGIC: &[u8; 8] = b"KVCKEYS1";
const UUID_LEN: usize = 36;
pub const KEYS_LEN: usize = MAGIC.len() + UUID_LEN + 32 + 32;

pub use crate::model::Unlock;

/// How `repo init` protects a new repository.
pub enum InitEncryption {
    None,
    Passphrase(Zeroizing<String>),
    /// `age1…` X25519 recipients; any one of their identities opens it.
    Recipients(Vec<String>),
}

impl std::fmt::Debug for InitEncryption {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            InitEncryption::None => f.write_str("InitEncryption::None"),
            InitEncryption::Passphrase(_) => f.write_str("InitEncryption::Passphrase(<hidden>)"),
            InitEncryption::Recipients(r) => f
                .debug_tuple("InitEncryption::Recipients")
                .field(r)
                .finish(),
        }
    }
}

/// The random keys of one repository.
pub struct Keys {
    pub aead: Zeroizing<[u8; 32]>,
    pub id: Zeroizing<[u8; 32]>,
}

impl Keys {
    /// Fresh keys straight from the operating system's CSPRNG.
    pub fn generate() -> Result<Keys, RepoError> {
        use rand::TryRngCore;
        let mut keys = Keys {
            aead: Zeroizing::new([0; 32]),
            id: Zeroizing::new([0; 32]),
        };
        for k in [&mut keys.aead, &mut keys.id] {
            rand::rngs::OsRng
                .try_fill_bytes(&mut k[..])
                .map_err(|e| RepoError::Random(e.to_string()))?;
        }
        Ok(keys)
    }

    fn encode(&self, repo_id: &str) -> Zeroizing<Vec<u8>> {
        let mut v = Zeroizing::new(Vec::with_capacity(KEYS_LEN));
        v.extend_from_slice(MAGIC);
        v.extend_from_slice(repo_id.as_bytes());
        v.extend_from_slice(&self.aead[..]);
        v.extend_from_slice(&self.id[..]);
        v
    }

    fn decode(plain: &[u8], repo_id: &str, path: &Path) -> Result<Keys, RepoError> {
        let damaged = |reason: &str| RepoError::KeysDamaged {
            path: path.to_path_buf(),
            reason: reason.to_string(),
        };
        if plain.len() != KEYS_LEN || &plain[..MAGIC.len()] != MAGIC {
            return Err(damaged("unexpected content"));
        }
        let (id, rest) = plain[MAGIC.len()..].split_at(UUID_LEN);
        if id != repo_id.as_bytes() {
            return Err(damaged("it belongs to another repository"));
        }
        let mut keys = Keys {
            aead: Zeroizing::new([0; 32]),
            id: Zeroizing::new([0; 32]),
        };
        keys.aead.copy_from_slice(&rest[..32]);
        keys.id.copy_from_slice(&rest[32..]);
        Ok(keys)
    }
}

/// scrypt cost of a new passphrase repository: N = 2^17 with age's r = 8,
/// that is 128 MiB of memory and about 0.2-0.4 s per try on a current
/// CPU. That is above what restic (N calibrated to at most 60 MiB) and
/// borg (argon2id, 64 MiB) ask of an attacker per guess, while every
/// command that opens the repository stays quick. age's own default
/// calibrates to about a second on the machine that creates the
/// repository (2^19 and 512 MiB here), which made key derivation most of an
/// incremental export's time and all of its peak memory.
/// `repo init --scrypt-log-n` chooses another.
pub const DEFAULT_SCRYPT_LOG_N: u8 = 17;
/// The highest accepted at init: 2^20 (1 GiB of memory per unlock).
pub const MAX_SCRYPT_LOG_N: u8 = 20;

/// Which kind of age stanza protects the key file (recorded in the config).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protection {
    Passphrase,
    Recipients,
}

/// Encrypts the keys for `repo_id` as the key file's bytes.
pub fn wrap(
    keys: &Keys,
    repo_id: &str,
    how: &InitEncryption,
    scrypt_log_n: Option<u8>,
) -> Result<(Vec<u8>, Protection), RepoError> {
    let plain = keys.encode(repo_id);
    let failed = |e: &dyn std::fmt::Display| RepoError::BadOptions(format!("age: {e}"));
    match how {
        InitEncryption::None => Err(RepoError::BadOptions(
            "an unencrypted repository has no key file".into(),
        )),
        InitEncryption::Passphrase(p) => {
            if p.is_empty() {
                return Err(RepoError::BadOptions("the passphrase is empty".into()));
            }
            let mut r = age::scrypt::Recipient::new(SecretString::from(p.as_str().to_owned()));
            let n = scrypt_log_n.unwrap_or(DEFAULT_SCRYPT_LOG_N);
            if !(1..=MAX_SCRYPT_LOG_N).contains(&n) {
                return Err(RepoError::BadOptions(format!(
                    "scrypt work factor 2^{n} is out of range (at most 2^{MAX_SCRYPT_LOG_N})"
                )));
            }
            r.set_work_factor(n);
            let out = age::encrypt(&r, &plain).map_err(|e| failed(&e))?;
            Ok((out, Protection::Passphrase))
        }
        InitEncryption::Recipients(list) => {
            if list.is_empty() {
                return Err(RepoError::BadOptions("no recipient given".into()));
            }
            let parsed = list
                .iter()
                .map(|s| {
                    age::x25519::Recipient::from_str(s.trim()).map_err(|e| {
                        RepoError::BadRecipient {
                            recipient: s.clone(),
                            reason: e.to_string(),
                        }
                    })
                })
                .collect::<Result<Vec<_>, _>>()?;
            let enc =
                age::Encryptor::with_recipients(parsed.iter().map(|r| r as &dyn age::Recipient))
                    .map_err(|e| failed(&e))?;
            let mut out = Vec::new();
            let mut w = enc.wrap_output(&mut out).map_err(|e| failed(&e))?;
            w.write_all(&plain).map_err(|e| failed(&e))?;
            w.finish().map_err(|e| failed(&e))?;
            Ok((out, Protection::Recipients))
        }
    }
}

/// Decrypts the key file at `path` (its bytes in `file`).
pub fn unwrap(
    file: &[u8],
    path: &Path,
    repo_id: &str,
    protection: Protection,
    unlock: &Unlock,
) -> Result<Keys, RepoError> {
    let damaged = |reason: String| RepoError::KeysDamaged {
        path: path.to_path_buf(),
        reason,
    };
    let needs = match protection {
        Protection::Passphrase => "a passphrase",
        Protection::Recipients => "an age identity",
    };
    let identities: Vec<Box<dyn age::Identity>> = match (unlock, protection) {
        (Unlock::None, _) => {
            return Err(RepoError::Locked {
                path: path.parent().unwrap_or(path).to_path_buf(),
            });
        }
        (Unlock::Passphrase(p), Protection::Passphrase) => vec![Box::new(
            age::scrypt::Identity::new(SecretString::from(p.as_str().to_owned())),
        )],
        (Unlock::Identities(files), Protection::Recipients) => load_identities(files)?,
        (given, _) => {
            return Err(RepoError::WrongUnlock {
                path: path.parent().unwrap_or(path).to_path_buf(),
                needs,
                given: given.label(),
            });
        }
    };
    let decryptor = age::Decryptor::new_buffered(file).map_err(|e| damaged(e.to_string()))?;
    let reader = decryptor.decrypt(identities.iter().map(|i| i.as_ref() as &dyn age::Identity));
    let mut reader = match reader {
        Ok(r) => r,
        Err(age::DecryptError::DecryptionFailed) if protection == Protection::Passphrase => {
            return Err(RepoError::WrongPassphrase);
        }
        Err(age::DecryptError::NoMatchingKeys) => {
            return Err(match protection {
                Protection::Passphrase => RepoError::WrongPassphrase,
                Protection::Recipients => RepoError::NoMatchingIdentity,
            });
        }
        Err(e) => return Err(damaged(e.to_string())),
    };
    let mut plain = Zeroizing::new(Vec::with_capacity(KEYS_LEN));
    reader
        .read_to_end(&mut plain)
        .map_err(|e| damaged(e.to_string()))?;
    Keys::decode(&plain, repo_id, path)
}

fn load_identities(files: &[PathBuf]) -> Result<Vec<Box<dyn age::Identity>>, RepoError> {
    if files.is_empty() {
        return Err(RepoError::NoMatchingIdentity);
    }
    let mut all = Vec::new();
    for path in files {
        let bad = |reason: String| RepoError::BadIdentity {
            path: path.clone(),
            reason,
        };
        let file = std::fs::File::open(path)
            .map(std::io::BufReader::new)
            .and_then(age::IdentityFile::from_buffer)
            .map_err(|e| bad(e.to_string()))?;
        let ids = file.into_identities().map_err(|e| bad(e.to_string()))?;
        if ids.is_empty() {
            return Err(bad("holds no identity".into()));
        }
        all.extend(ids);
    }
    Ok(all)
}

#[cfg(test)]
mod tests {
    use super::*;

    const REPO: &str = "0f5c1a2b-3c4d-4e5f-8a9b-0c1d2e3f4a5b";

    fn pass(s: &str) -> Zeroizing<String> {
        Zeroizing::new(s.to_string())
    }

    #[test]
    fn passphrase_round_trip_and_wrong_passphrase() {
        let keys = Keys::generate().unwrap();
        let (file, how) = wrap(
            &keys,
            REPO,
            &InitEncryption::Passphrase(pass("correct horse")),
            Some(4),
        )
        .unwrap();
        assert_eq!(how, Protection::Passphrase);
        let p = Path::new("/r/keys");
        let back = unwrap(
            &file,
            p,
            REPO,
            how,
            &Unlock::Passphrase(pass("correct horse")),
        )
        .unwrap();
        assert_eq!(*back.aead, *keys.aead);
        assert_eq!(*back.id, *keys.id);
        assert!(matches!(
            unwrap(&file, p, REPO, how, &Unlock::Passphrase(pass("wrong"))),
            Err(RepoError::WrongPassphrase)
        ));
        assert!(matches!(
            unwrap(&file, p, REPO, how, &Unlock::None),
            Err(RepoError::Locked { .. })
        ));
        assert!(matches!(
            unwrap(
                &file,
                p,
                "another-repo-id-0000000000000000000",
                how,
                &Unlock::Passphrase(pass("correct horse"))
            ),
            Err(RepoError::KeysDamaged { .. })
        ));
    }

    #[test]
    fn recipients_round_trip() {
        let dir = tempfile::tempdir().unwrap();
        let a = age::x25519::Identity::generate();
        let b = age::x25519::Identity::generate();
        let stranger = age::x25519::Identity::generate();
        let write = |name: &str, id: &age::x25519::Identity| {
            use age::secrecy::ExposeSecret;
            let p = dir.path().join(name);
            std::fs::write(&p, format!("{}\n", id.to_string().expose_secret())).unwrap();
            p
        };
        let (pa, pb, ps) = (write("a", &a), write("b", &b), write("s", &stranger));
        let keys = Keys::generate().unwrap();
        let recipients = vec![a.to_public().to_string(), b.to_public().to_string()];
        let (file, how) = wrap(&keys, REPO, &InitEncryption::Recipients(recipients), None).unwrap();
        assert_eq!(how, Protection::Recipients);
        let p = Path::new("/r/keys");
        for id in [&pa, &pb] {
            let back = unwrap(&file, p, REPO, how, &Unlock::Identities(vec![id.clone()])).unwrap();
            assert_eq!(*back.aead, *keys.aead);
        }
        assert!(matches!(
            unwrap(&file, p, REPO, how, &Unlock::Identities(vec![ps])),
            Err(RepoError::NoMatchingIdentity)
        ));
        assert!(matches!(
            unwrap(&file, p, REPO, how, &Unlock::Passphrase(pass("x"))),
            Err(RepoError::WrongUnlock { .. })
        ));
        assert!(matches!(
            unwrap(
                &file,
                p,
                REPO,
                how,
                &Unlock::Identities(vec![dir.path().join("absent")])
            ),
            Err(RepoError::BadIdentity { .. })
        ));
    }

    #[test]
    fn bad_recipient_and_empty_passphrase_are_refused() {
        let keys = Keys::generate().unwrap();
        assert!(matches!(
            wrap(
                &keys,
                REPO,
                &InitEncryption::Recipients(vec!["age1nope".into()]),
                None
            ),
            Err(RepoError::BadRecipient { .. })
        ));
        assert!(matches!(
            wrap(&keys, REPO, &InitEncryption::Passphrase(pass("")), None),
            Err(RepoError::BadOptions(_))
        ));
    }

    #[test]
    fn debug_hides_secrets() {
        let u = Unlock::Passphrase(pass("hunter2"));
        assert!(!format!("{u:?}").contains("hunter2"));
        let i = InitEncryption::Passphrase(pass("hunter2"));
        assert!(!format!("{i:?}").contains("hunter2"));
    }
}
