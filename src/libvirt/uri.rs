//! The libvirt URI from the config, reduced to what the tunnel needs: the
//! driver (`qemu`) and whether it is the system or the session daemon.

use super::LibvirtError;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

/// Which daemon instance of a driver.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    System,
    Session,
}

/// A validated libvirt URI such as `qemu:///system` or `qemu+ssh://h/session`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LibvirtUri {
    /// Lowercase ASCII letters and digits only, so it is safe in a shell word.
    pub driver: String,
    pub scope: Scope,
}

impl LibvirtUri {
    /// Accepts `driver[+transport]://[authority]/system|session[?query]`.
    /// The transport, authority and query are dropped: on the host side the
    /// daemon is always reached locally.
    pub fn parse(uri: &str) -> Result<Self, LibvirtError> {
        let bad = |reason: &str| LibvirtError::BadUri {
            uri: uri.to_string(),
            reason: reason.to_string(),
        };
        let (scheme, rest) = uri
            .split_once("://")
            .ok_or_else(|| bad("expected driver:///system or driver:///session"))?;
        let driver = scheme.split('+').next().unwrap_or_default();
        let valid_driver = driver
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_lowercase())
            && driver
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit());
        if !valid_driver {
            return Err(bad("the driver name must be lowercase letters and digits"));
        }
        let path_start = rest
            .find('/')
            .ok_or_else(|| bad("missing /system or /session"))?;
        let path = rest[path_start..]
            .split(['?', '#'])
            .next()
            .unwrap_or_default();
        let scope = match path {
            "/system" => Scope::System,
            "/session" => Scope::Session,
            _ => return Err(bad("the path must be /system or /session")),
        };
        Ok(LibvirtUri {
            driver: driver.to_string(),
            scope,
        })
    }

    fn path(&self) -> &'static str {
        match self.scope {
            Scope::System => "system",
            Scope::Session => "session",
        }
    }

    /// The URI as the host itself would open it, e.g. `qemu:///system`.
    pub fn local(&self) -> String {
        format!("{}:///{}", self.driver, self.path())
    }

    /// The URI that reaches this daemon through a local unix socket.
    pub fn via_socket(&self, socket: &Path) -> String {
        format!(
            "{}+unix:///{}?socket={}",
            self.driver,
            self.path(),
            percent_encode(socket.as_os_str().as_bytes())
        )
    }
}

/// Escapes everything but unreserved characters and `/`, since libvirt
/// unescapes query values.
fn percent_encode(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len());
    for &b in bytes {
        if b.is_ascii_alphanumeric() || b"-._~/".contains(&b) {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_local_and_remote_forms() {
        let u = LibvirtUri::parse("qemu:///system").unwrap();
        assert_eq!(u.driver, "qemu");
        assert_eq!(u.scope, Scope::System);
        let u = LibvirtUri::parse("qemu+ssh://root@host:22/session?keyfile=/k").unwrap();
        assert_eq!(u.scope, Scope::Session);
        assert_eq!(u.local(), "qemu:///session");
    }

    #[test]
    fn rejects_what_cannot_be_tunnelled() {
        for bad in [
            "",
            "qemu",
            "qemu:///",
            "qemu:///embed?root=/x",
            "test:///default",
            "QEMU:///system",
            "qe'mu:///system",
            "+ssh:///system",
        ] {
            assert!(LibvirtUri::parse(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn socket_uri_escapes_odd_characters() {
        let u = LibvirtUri::parse("qemu:///system").unwrap();
        assert_eq!(
            u.via_socket(Path::new("/run/user/0/kvm clone&x/s.sock")),
            "qemu+unix:///system?socket=/run/user/0/kvm%20clone%26x/s.sock"
        );
    }
}
