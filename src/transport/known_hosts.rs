//! Host-key verification against OpenSSH known_hosts files.
//!
//! Supports what operators' files contain: plain and hashed (`|1|salt|hmac`)
//! host fields, comma-separated and negated (`!pat`) patterns with `*` and `?`
//! wildcards, `[host]:port` for ports other than 22, and the `@revoked`
//! marker. `@cert-authority` lines are skipped: kvm-clone trusts plain keys
//! only. Lines that do not parse are skipped, as OpenSSH does.

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use russh::keys::{HashAlg, PublicKey};
use std::fs::{self, OpenOptions};
use std::io::{self, Read, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

/// What the known_hosts files say about a server key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HostKeyStatus {
    /// A line for this host holds exactly this key.
    Match,
    /// No line for this host holds a key of this type.
    Unknown {
        /// `SHA256:…`, as `ssh-keygen -l` prints it.
        fingerprint: String,
    },
    /// A line for this host holds a different key of the same type.
    Changed {
        file: PathBuf,
        /// 1-based line number of the offending entry.
        line: usize,
        fingerprint: String,
        /// The OpenSSH-style multi-line warning, ready to show.
        warning: String,
    },
    /// The key is marked `@revoked`.
    Revoked {
        file: PathBuf,
        line: usize,
        fingerprint: String,
    },
}

#[derive(Debug, thiserror::Error)]
pub enum KnownHostsError {
    #[error("cannot read known_hosts file {path}: {source}")]
    Read { path: PathBuf, source: io::Error },
    #[error("cannot write known_hosts file {path}: {source}")]
    Write { path: PathBuf, source: io::Error },
    #[error("cannot encode host key: {0}")]
    Encode(String),
}

/// The host field OpenSSH uses for a host and port: `host` on port 22,
/// `[host]:port` otherwise. Host names are compared in lower case.
pub fn host_field(host: &str, port: u16) -> String {
    let host = host.trim_start_matches('[').trim_end_matches(']');
    let host = host.to_ascii_lowercase();
    if port == 22 {
        host
    } else {
        format!("[{host}]:{port}")
    }
}

/// `SHA256:…` fingerprint of a key, base64 without padding.
pub fn fingerprint(key: &PublicKey) -> String {
    key.fingerprint(HashAlg::Sha256).to_string()
}

/// Check `key` for `host`:`port` against `files`, in order. Missing files
/// count as empty; unreadable ones are an error, since a skipped file might
/// hold a revocation.
pub fn check(
    files: &[PathBuf],
    host: &str,
    port: u16,
    key: &PublicKey,
) -> Result<HostKeyStatus, KnownHostsError> {
    let name = host_field(host, port);
    let mut matched = false;
    let mut changed: Option<(PathBuf, usize)> = None;
    for file in files {
        let Some(text) = read_optional(file)? else {
            continue;
        };
        for (idx, line) in text.lines().enumerate() {
            let Some(entry) = Entry::parse(line) else {
                continue;
            };
            if !entry.matches_host(&name) {
                continue;
            }
            let same_key = entry.key.key_data() == key.key_data();
            match entry.marker {
                Marker::CertAuthority => {}
                Marker::Revoked if same_key => {
                    return Ok(HostKeyStatus::Revoked {
                        file: file.clone(),
                        line: idx + 1,
                        fingerprint: fingerprint(key),
                    });
                }
                Marker::Revoked => {}
                Marker::None if same_key => matched = true,
                Marker::None => {
                    if entry.key.algorithm() == key.algorithm() && changed.is_none() {
                        changed = Some((file.clone(), idx + 1));
                    }
                }
            }
        }
    }
    // A revocation anywhere wins (checked above); then any exact match; a
    // differing key of the same type only counts when nothing matched.
    if matched {
        return Ok(HostKeyStatus::Match);
    }
    let fp = fingerprint(key);
    Ok(match changed {
        Some((file, line)) => HostKeyStatus::Changed {
            warning: changed_warning(&name, key, &fp, &file, line),
            file,
            line,
            fingerprint: fp,
        },
        None => HostKeyStatus::Unknown { fingerprint: fp },
    })
}

/// Key algorithms known for this host, in file order, so the client can ask
/// the server for a key it can verify (OpenSSH orders HostKeyAlgorithms the
/// same way).
pub fn known_algorithms(files: &[PathBuf], host: &str, port: u16) -> Vec<russh::keys::Algorithm> {
    let name = host_field(host, port);
    let mut out = Vec::new();
    for file in files {
        let Ok(Some(text)) = read_optional(file) else {
            continue;
        };
        for line in text.lines() {
            if let Some(e) = Entry::parse(line)
                && e.marker == Marker::None
                && e.matches_host(&name)
            {
                let alg = e.key.algorithm();
                if !out.contains(&alg) {
                    out.push(alg);
                }
            }
        }
    }
    out
}

/// Append `key` for `host`:`port` to `path`, creating the file (mode 0600)
/// and its directory (0700) when missing.
pub fn append(path: &Path, host: &str, port: u16, key: &PublicKey) -> Result<(), KnownHostsError> {
    let werr = |source| KnownHostsError::Write {
        path: path.to_path_buf(),
        source,
    };
    if let Some(dir) = path.parent()
        && !dir.as_os_str().is_empty()
        && !dir.exists()
    {
        fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
            .map_err(werr)?;
    }
    let openssh = key
        .to_openssh()
        .map_err(|e| KnownHostsError::Encode(e.to_string()))?;
    // Drop the comment: known_hosts lines carry host, type and key only.
    let mut parts = openssh.split_whitespace();
    let (Some(kind), Some(blob)) = (parts.next(), parts.next()) else {
        return Err(KnownHostsError::Encode("empty key encoding".into()));
    };
    let mut file = OpenOptions::new()
        .create(true)
        .read(true)
        .append(true)
        .mode(0o600)
        .open(path)
        .map_err(werr)?;
    let mut existing = Vec::new();
    file.read_to_end(&mut existing).map_err(werr)?;
    let mut line = String::new();
    if existing.last().is_some_and(|b| *b != b'\n') {
        line.push('\n');
    }
    line.push_str(&format!("{} {kind} {blob}\n", host_field(host, port)));
    file.write_all(line.as_bytes()).map_err(werr)?;
    file.sync_all().map_err(werr)
}

/// The warning OpenSSH prints for a changed host key, with our file and line.
fn changed_warning(name: &str, key: &PublicKey, fp: &str, file: &Path, line: usize) -> String {
    let kind = key_type_label(key);
    let file = file.display();
    format!(
        "@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@\n\
         @    WARNING: REMOTE HOST IDENTIFICATION HAS CHANGED!     @\n\
         @@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@\n\
         IT IS POSSIBLE THAT SOMEONE IS DOING SOMETHING NASTY!\n\
         Someone could be eavesdropping on you right now (man-in-the-middle attack)!\n\
         It is also possible that a host key has just been changed.\n\
         The fingerprint for the {kind} key sent by the remote host is\n\
         {fp}.\n\
         Please contact your system administrator.\n\
         Offending {kind} key in {file}:{line}\n\
         If the change is expected, remove the old entry with:\n  \
         ssh-keygen -R '{name}' -f '{file}'\n\
         Host key for {name} has changed; kvm-clone will not connect.\n\
         Host key verification failed."
    )
}

/// "ED25519", "RSA", "ECDSA", as OpenSSH names key types in messages.
fn key_type_label(key: &PublicKey) -> String {
    use russh::keys::Algorithm;
    match key.algorithm() {
        Algorithm::Ed25519 => "ED25519".into(),
        Algorithm::Rsa { .. } => "RSA".into(),
        Algorithm::Ecdsa { .. } => "ECDSA".into(),
        Algorithm::Dsa => "DSA".into(),
        other => other.as_str().to_ascii_uppercase(),
    }
}

fn read_optional(path: &Path) -> Result<Option<String>, KnownHostsError> {
    match fs::read(path) {
        Ok(bytes) => Ok(Some(String::from_utf8_lossy(&bytes).into_owned())),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(source) => Err(KnownHostsError::Read {
            path: path.to_path_buf(),
            source,
        }),
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Marker {
    None,
    Revoked,
    CertAuthority,
}

struct Entry<'a> {
    marker: Marker,
    hosts: &'a str,
    key: PublicKey,
}

impl<'a> Entry<'a> {
    fn parse(line: &'a str) -> Option<Entry<'a>> {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            return None;
        }
        let mut fields = line.split_whitespace();
        let mut first = fields.next()?;
        let marker = match first {
            "@revoked" => Marker::Revoked,
            "@cert-authority" => Marker::CertAuthority,
            m if m.starts_with('@') => return None,
            _ => Marker::None,
        };
        if marker != Marker::None {
            first = fields.next()?;
        }
        let kind = fields.next()?;
        let blob = fields.next()?;
        let key = PublicKey::from_openssh(&format!("{kind} {blob}")).ok()?;
        Some(Entry {
            marker,
            hosts: first,
            key,
        })
    }

    fn matches_host(&self, name: &str) -> bool {
        if let Some(hashed) = self.hosts.strip_prefix("|1|") {
            return hashed_matches(hashed, name);
        }
        let mut positive = false;
        for pat in self.hosts.split(',') {
            let (negated, pat) = match pat.strip_prefix('!') {
                Some(p) => (true, p),
                None => (false, pat),
            };
            if glob(pat.to_ascii_lowercase().as_bytes(), name.as_bytes()) {
                if negated {
                    return false;
                }
                positive = true;
            }
        }
        positive
    }
}

/// `salt|hash`, both base64: HMAC-SHA1 of the host field keyed by the salt.
fn hashed_matches(field: &str, name: &str) -> bool {
    let Some((salt, hash)) = field.split_once('|') else {
        return false;
    };
    let (Ok(salt), Ok(hash)) = (B64.decode(salt), B64.decode(hash)) else {
        return false;
    };
    let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA1_FOR_LEGACY_USE_ONLY, &salt);
    ring::hmac::verify(&key, name.as_bytes(), &hash).is_ok()
}

/// OpenSSH pattern match: `*` any run, `?` any one character.
fn glob(pat: &[u8], s: &[u8]) -> bool {
    match pat.split_first() {
        None => s.is_empty(),
        Some((b'*', rest)) => (0..=s.len()).any(|i| glob(rest, &s[i..])),
        Some((b'?', rest)) => s.split_first().is_some_and(|(_, tail)| glob(rest, tail)),
        Some((c, rest)) => s
            .split_first()
            .is_some_and(|(h, tail)| h == c && glob(rest, tail)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ED_A: &str =
        "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOutjnG8B2JpsxZBfdfcfdxY4c6TSWkATkyTbBEywyFh";
    const ED_B: &str =
        "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIK2DCtAGFWFcVgBJ6XWgizo/Y+Eyl+2o0RD5crouuYT7";

    fn key(s: &str) -> PublicKey {
        PublicKey::from_openssh(s).unwrap()
    }

    fn file_with(text: &str) -> (tempfile::TempDir, PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("known_hosts");
        fs::write(&p, text).unwrap();
        (dir, p)
    }

    /// A hashed host field as `ssh-keygen -H` writes it.
    fn hashed(name: &str, salt: &[u8]) -> String {
        let k = ring::hmac::Key::new(ring::hmac::HMAC_SHA1_FOR_LEGACY_USE_ONLY, salt);
        let tag = ring::hmac::sign(&k, name.as_bytes());
        format!("|1|{}|{}", B64.encode(salt), B64.encode(tag.as_ref()))
    }

    #[test]
    fn host_field_forms() {
        assert_eq!(host_field("Example.COM", 22), "example.com");
        assert_eq!(host_field("127.0.0.1", 2222), "[127.0.0.1]:2222");
        assert_eq!(host_field("::1", 2222), "[::1]:2222");
        assert_eq!(host_field("[::1]", 22), "::1");
    }

    #[test]
    fn plain_match_unknown_and_changed() {
        let (_d, p) = file_with(&format!("# comment\n\n[127.0.0.1]:2222 {ED_A}\n"));
        let files = [p.clone()];
        assert_eq!(
            check(&files, "127.0.0.1", 2222, &key(ED_A)).unwrap(),
            HostKeyStatus::Match
        );
        // Port 22 is a different host field.
        assert!(matches!(
            check(&files, "127.0.0.1", 22, &key(ED_A)).unwrap(),
            HostKeyStatus::Unknown { .. }
        ));
        match check(&files, "127.0.0.1", 2222, &key(ED_B)).unwrap() {
            HostKeyStatus::Changed {
                file,
                line,
                fingerprint,
                warning,
            } => {
                assert_eq!(file, p);
                assert_eq!(line, 3);
                assert_eq!(fingerprint, super::fingerprint(&key(ED_B)));
                assert!(warning.contains("WARNING: REMOTE HOST IDENTIFICATION HAS CHANGED!"));
                assert!(warning.contains(&format!("{}:3", p.display())));
                assert!(warning.contains(&fingerprint));
            }
            other => panic!("expected Changed, got {other:?}"),
        }
    }

    #[test]
    fn unknown_fingerprint_is_openssh_format() {
        let fp = fingerprint(&key(ED_A));
        assert!(fp.starts_with("SHA256:"));
        assert!(!fp.ends_with('='));
        assert_eq!(fp.len(), "SHA256:".len() + 43);
    }

    #[test]
    fn missing_file_is_empty() {
        let files = [PathBuf::from("/nonexistent/kvm-clone/known_hosts")];
        assert!(matches!(
            check(&files, "a", 22, &key(ED_A)).unwrap(),
            HostKeyStatus::Unknown { .. }
        ));
    }

    #[test]
    fn patterns_wildcards_and_negation() {
        let (_d, p) = file_with(&format!(
            "web*.example.com,!web9.example.com,db?.lan {ED_A}\n"
        ));
        let f = [p];
        let k = key(ED_A);
        assert_eq!(
            check(&f, "web1.example.com", 22, &k).unwrap(),
            HostKeyStatus::Match
        );
        assert_eq!(
            check(&f, "WEB22.Example.com", 22, &k).unwrap(),
            HostKeyStatus::Match
        );
        assert_eq!(check(&f, "db1.lan", 22, &k).unwrap(), HostKeyStatus::Match);
        assert!(matches!(
            check(&f, "db12.lan", 22, &k).unwrap(),
            HostKeyStatus::Unknown { .. }
        ));
        assert!(matches!(
            check(&f, "web9.example.com", 22, &k).unwrap(),
            HostKeyStatus::Unknown { .. }
        ));
    }

    #[test]
    fn hashed_entries() {
        let (_d, p) = file_with(&format!(
            "{} {ED_A}\n{} {ED_B}\n",
            hashed("[127.0.0.1]:2222", b"0123456789abcdefghij"),
            hashed("beta.lan", b"salt-two-salt-two-xx")
        ));
        let f = [p];
        assert_eq!(
            check(&f, "127.0.0.1", 2222, &key(ED_A)).unwrap(),
            HostKeyStatus::Match
        );
        assert_eq!(
            check(&f, "beta.lan", 22, &key(ED_B)).unwrap(),
            HostKeyStatus::Match
        );
        assert!(matches!(
            check(&f, "127.0.0.1", 2222, &key(ED_B)).unwrap(),
            HostKeyStatus::Changed { line: 1, .. }
        ));
        assert!(matches!(
            check(&f, "127.0.0.2", 2222, &key(ED_A)).unwrap(),
            HostKeyStatus::Unknown { .. }
        ));
    }

    #[test]
    fn markers() {
        let (_d, p) = file_with(&format!(
            "@cert-authority *.lan {ED_B}\n@revoked * {ED_A}\nhost {ED_A}\n"
        ));
        let f = [p.clone()];
        assert_eq!(
            check(&f, "host", 22, &key(ED_A)).unwrap(),
            HostKeyStatus::Revoked {
                file: p,
                line: 2,
                fingerprint: fingerprint(&key(ED_A))
            }
        );
        // A CA line is not a host key: b.lan stays unknown.
        assert!(matches!(
            check(&f, "b.lan", 22, &key(ED_B)).unwrap(),
            HostKeyStatus::Unknown { .. }
        ));
    }

    #[test]
    fn match_in_a_later_file_beats_a_differing_line() {
        let (_d1, p1) = file_with(&format!("h {ED_B}\n"));
        let (_d2, p2) = file_with(&format!("h {ED_A}\n"));
        assert_eq!(
            check(&[p1, p2], "h", 22, &key(ED_A)).unwrap(),
            HostKeyStatus::Match
        );
    }

    #[test]
    fn garbage_lines_are_skipped() {
        let (_d, p) = file_with(&format!("h ssh-ed25519 !!!notbase64\n@weird h {ED_A}\nh\n"));
        assert!(matches!(
            check(&[p], "h", 22, &key(ED_A)).unwrap(),
            HostKeyStatus::Unknown { .. }
        ));
    }

    #[test]
    fn append_creates_0600_and_matches_afterwards() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("sub/known_hosts");
        append(&p, "127.0.0.2", 2222, &key(ED_B)).unwrap();
        append(&p, "beta.lan", 22, &key(ED_B)).unwrap();
        let text = fs::read_to_string(&p).unwrap();
        assert_eq!(text, format!("[127.0.0.2]:2222 {ED_B}\nbeta.lan {ED_B}\n"));
        assert_eq!(
            fs::metadata(&p).unwrap().permissions().mode() & 0o777,
            0o600
        );
        assert_eq!(
            check(&[p], "127.0.0.2", 2222, &key(ED_B)).unwrap(),
            HostKeyStatus::Match
        );
    }

    #[test]
    fn append_adds_missing_newline() {
        let (_d, p) = file_with(&format!("h {ED_A}"));
        append(&p, "g", 22, &key(ED_B)).unwrap();
        assert_eq!(
            fs::read_to_string(&p).unwrap(),
            format!("h {ED_A}\ng {ED_B}\n")
        );
    }

    #[test]
    fn known_algorithms_lists_types_for_host() {
        let (_d, p) = file_with(&format!("h {ED_A}\nother {ED_B}\n"));
        assert_eq!(
            known_algorithms(std::slice::from_ref(&p), "h", 22),
            vec![russh::keys::Algorithm::Ed25519]
        );
        assert!(known_algorithms(&[p], "nope", 22).is_empty());
    }
}
