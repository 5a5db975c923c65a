//! Validated paths and names on a host. Everything that ends up on a remote
//! command line passes through here first, then through
//! [`crate::transport::quote`].

use super::error::RemoteError;
use std::fmt;

/// Longest path we accept (Linux `PATH_MAX` is 4096 including the NUL).
const MAX_PATH: usize = 4095;
/// `sun_path` holds 108 bytes including the terminating NUL.
pub const MAX_SOCKET_PATH: usize = 107;
/// Longest single name (file name component, disk label, job tag).
const MAX_NAME: usize = 255;

/// An absolute POSIX path on a host: no NUL, no newline, no `.` or `..`
/// components, no empty components (`//`), no trailing slash.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RemotePath(String);

impl RemotePath {
    pub fn new(path: impl Into<String>) -> Result<RemotePath, RemoteError> {
        let path = path.into();
        let bad = |reason| {
            Err(RemoteError::InvalidPath {
                path: path.escape_debug().to_string(),
                reason,
            })
        };
        if !path.starts_with('/') {
            return bad("not absolute");
        }
        if path.len() > MAX_PATH {
            return bad("too long");
        }
        if path.contains('\0') {
            return bad("contains a NUL byte");
        }
        if path.contains('\n') || path.contains('\r') {
            return bad("contains a line break");
        }
        if path != "/" {
            for comp in path[1..].split('/') {
                match comp {
                    "" => return bad("has an empty component or a trailing slash"),
                    "." | ".." => return bad("has a . or .. component"),
                    _ => {}
                }
            }
        }
        Ok(RemotePath(path))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// `self/name`, where `name` must be a single valid component.
    pub fn join(&self, name: &str) -> Result<RemotePath, RemoteError> {
        check_name("file name", name)?;
        if self.0 == "/" {
            RemotePath::new(format!("/{name}"))
        } else {
            RemotePath::new(format!("{}/{name}", self.0))
        }
    }

    /// The last component; empty for `/`.
    pub fn file_name(&self) -> &str {
        self.0.rsplit('/').next().unwrap_or("")
    }

    /// The directory holding this path (`/` for `/x`, `None` for `/`).
    pub fn parent(&self) -> Option<RemotePath> {
        if self.0 == "/" {
            return None;
        }
        let idx = self.0.rfind('/')?;
        Some(RemotePath(if idx == 0 {
            "/".to_string()
        } else {
            self.0[..idx].to_string()
        }))
    }

    /// Whether this path may be used as a unix socket address.
    pub fn check_socket_len(&self) -> Result<(), RemoteError> {
        if self.0.len() > MAX_SOCKET_PATH {
            return Err(RemoteError::InvalidPath {
                path: self.0.clone(),
                reason: "too long for a unix socket (107 bytes at most)",
            });
        }
        Ok(())
    }
}

impl fmt::Display for RemotePath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl AsRef<str> for RemotePath {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

/// A single path component: non-empty, not `.`/`..`, no `/`, NUL or line
/// break, at most 255 bytes.
pub fn check_name(what: &'static str, value: &str) -> Result<(), RemoteError> {
    let bad = |reason| {
        Err(RemoteError::InvalidName {
            what,
            value: value.escape_debug().to_string(),
            reason,
        })
    };
    if value.is_empty() {
        return bad("is empty");
    }
    if value == "." || value == ".." {
        return bad("is . or ..");
    }
    if value.len() > MAX_NAME {
        return bad("is longer than 255 bytes");
    }
    if value.contains('/') {
        return bad("contains a slash");
    }
    if value.contains(['\0', '\n', '\r']) {
        return bad("contains a NUL byte or a line break");
    }
    Ok(())
}

/// A short label used inside generated names (job tag, disk label):
/// 1–32 of `[A-Za-z0-9_-]`, so generated paths stay readable and short.
pub fn check_label(what: &'static str, value: &str) -> Result<(), RemoteError> {
    let ok = !value.is_empty()
        && value.len() <= 32
        && value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
    if ok {
        Ok(())
    } else {
        Err(RemoteError::InvalidName {
            what,
            value: value.escape_debug().to_string(),
            reason: "must be 1-32 characters of A-Z a-z 0-9 _ -",
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_plain_absolute_paths() {
        for p in [
            "/",
            "/a",
            "/var/lib/libvirt/images/x y.qcow2",
            "/run/kvm-clone.ab12",
        ] {
            assert_eq!(RemotePath::new(p).unwrap().as_str(), p);
        }
    }

    #[test]
    fn refuses_bad_paths() {
        for p in [
            "", "relative", "/a/../b", "/a/./b", "/a//b", "/a/", "/a\nb", "/a\rb", "/a\0b",
        ] {
            assert!(
                matches!(RemotePath::new(p), Err(RemoteError::InvalidPath { .. })),
                "{p:?} accepted"
            );
        }
        assert!(RemotePath::new(format!("/{}", "a".repeat(5000))).is_err());
    }

    #[test]
    fn join_parent_and_file_name() {
        let d = RemotePath::new("/run/x").unwrap();
        let f = d.join("vda.sock").unwrap();
        assert_eq!(f.as_str(), "/run/x/vda.sock");
        assert_eq!(f.file_name(), "vda.sock");
        assert_eq!(f.parent().unwrap(), d);
        assert_eq!(
            RemotePath::new("/x").unwrap().parent().unwrap().as_str(),
            "/"
        );
        assert_eq!(RemotePath::new("/").unwrap().parent(), None);
        assert_eq!(
            RemotePath::new("/").unwrap().join("a").unwrap().as_str(),
            "/a"
        );
        for bad in ["", ".", "..", "a/b", "a\nb", "a\0b"] {
            assert!(d.join(bad).is_err(), "{bad:?} joined");
        }
    }

    #[test]
    fn socket_length_limit() {
        let ok = RemotePath::new(format!("/{}", "s".repeat(106))).unwrap();
        assert!(ok.check_socket_len().is_ok());
        let long = RemotePath::new(format!("/{}", "s".repeat(107))).unwrap();
        assert!(long.check_socket_len().is_err());
    }

    #[test]
    fn labels() {
        assert!(check_label("tag", "job-1_A").is_ok());
        for bad in ["", "a b", "a/b", "ä", "a.b", &"x".repeat(33)] {
            assert!(check_label("tag", bad).is_err(), "{bad:?}");
        }
    }
}
