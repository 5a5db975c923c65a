//! Checks of one host entry, shared by `parse` and `append_host`. Values end
//! up in SSH connections and remote commands, so anything that could read as
//! an option (a leading '-') or break `user@host` is refused here.

use super::{ConfigError, HostConfig};
use std::net::IpAddr;

/// Longest host name accepted.
pub const MAX_HOST_NAME_LEN: usize = 64;

/// The libvirt URIs a host may name; libvirt is reached through kvm-clone's
/// own SSH connection, so remote URIs (`qemu+ssh://…`) make no sense here.
pub(crate) const LIBVIRT_URIS: [&str; 2] = ["qemu:///system", "qemu:///session"];

/// What is wrong with a host entry, and which field (None: the entry as a whole).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Problem {
    pub field: Option<&'static str>,
    pub reason: String,
}

impl Problem {
    fn at(field: &'static str, reason: String) -> Self {
        Problem {
            field: Some(field),
            reason,
        }
    }
}

/// Checks one host entry as `parse` does (duplicates aside).
pub fn validate_host(host: &HostConfig) -> Result<(), ConfigError> {
    check_host(host).map_err(|p| ConfigError::InvalidHost {
        name: host.name.clone(),
        reason: match p.field {
            Some(f) => format!("{f}: {}", p.reason),
            None => p.reason,
        },
    })
}

pub(crate) fn check_host(h: &HostConfig) -> Result<(), Problem> {
    check_name(&h.name).map_err(|r| Problem::at("name", r))?;
    if let Some(a) = &h.ssh_alias {
        check_alias(a).map_err(|r| Problem::at("ssh_alias", r))?;
    }
    if let Some(a) = &h.address {
        check_address(a).map_err(|r| Problem::at("address", r))?;
    }
    if h.port == Some(0) {
        return Err(Problem::at(
            "port",
            "0 is not a valid port (1-65535)".into(),
        ));
    }
    if let Some(u) = &h.user {
        check_user(u).map_err(|r| Problem::at("user", r))?;
    }
    if h.identity_files.iter().any(|p| p.as_os_str().is_empty()) {
        return Err(Problem::at("identity_files", "empty path".into()));
    }
    if !LIBVIRT_URIS.contains(&h.libvirt_uri.as_str()) {
        return Err(Problem::at(
            "libvirt_uri",
            format!(
                "{:?} is not supported; use \"qemu:///system\" or \"qemu:///session\" \
                 (kvm-clone reaches libvirt through its own SSH connection)",
                h.libvirt_uri
            ),
        ));
    }
    if h.pool.trim().is_empty() {
        return Err(Problem::at("pool", "empty pool name".into()));
    }
    if h.address.is_none() && h.ssh_alias.is_none() {
        return Err(Problem {
            field: None,
            reason: "has neither address nor ssh_alias; set one of them".into(),
        });
    }
    Ok(())
}

pub(crate) fn check_name(name: &str) -> Result<(), String> {
    if name.is_empty() {
        return Err("empty host name".into());
    }
    if name.chars().count() > MAX_HOST_NAME_LEN {
        return Err(format!(
            "host name {name:?} is longer than {MAX_HOST_NAME_LEN} characters"
        ));
    }
    if let Some(c) = name.chars().find(|c| !is_name_char(*c)) {
        return Err(format!(
            "host name {name:?} contains {c:?}; use only letters, digits, '.', '_' and '-'"
        ));
    }
    Ok(())
}

fn is_name_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-')
}

fn check_alias(alias: &str) -> Result<(), String> {
    if alias.is_empty() {
        return Err("empty ssh_alias".into());
    }
    if alias.starts_with('-') || alias.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(format!("{alias:?} is not a usable ssh alias"));
    }
    Ok(())
}

/// A DNS name, an IPv4 address or a bare IPv6 address (optionally with a
/// `%zone`). Brackets are refused so that one spelling is stored.
pub(crate) fn check_address(addr: &str) -> Result<(), String> {
    if addr.is_empty() {
        return Err("empty address".into());
    }
    if addr.starts_with('[') {
        return Err(format!(
            "{addr:?}: write IPv6 addresses without brackets, e.g. \"::1\""
        ));
    }
    if addr.parse::<IpAddr>().is_ok() {
        return Ok(());
    }
    if let Some((ip, zone)) = addr.split_once('%') {
        let zone_ok = !zone.is_empty()
            && zone
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'));
        if zone_ok && ip.parse::<std::net::Ipv6Addr>().is_ok() {
            return Ok(());
        }
    }
    if addr.contains(':') {
        return Err(format!("{addr:?} is not a valid IPv6 address"));
    }
    let dns_ok = addr.len() <= 253
        && !addr.starts_with(['-', '.'])
        && addr.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && label
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_'))
        });
    if dns_ok {
        Ok(())
    } else {
        Err(format!("{addr:?} is not a host name or IP address"))
    }
}

/// A login name that is safe in `user@host` and on a command line.
pub(crate) fn check_user(user: &str) -> Result<(), String> {
    if user.is_empty() {
        return Err("empty user name".into());
    }
    let ok = !user.starts_with('-')
        && user
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | '$'));
    if ok {
        Ok(())
    } else {
        Err(format!(
            "{user:?} is not a usable user name (letters, digits, '.', '_', '-', '$'; not starting with '-')"
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        assert!(check_name("web-01.lab_A").is_ok());
        assert!(check_name("").is_err());
        assert!(check_name("a b").unwrap_err().contains("' '"));
        assert!(check_name(&"x".repeat(64)).is_ok());
        assert!(check_name(&"x".repeat(65)).unwrap_err().contains("64"));
        assert!(check_name("héllo").is_err());
    }

    #[test]
    fn addresses() {
        for good in [
            "::1",
            "fe80::1%eth0",
            "127.0.0.1",
            "kvm1.example.org",
            "host_1",
            "2001:db8::2",
        ] {
            assert!(check_address(good).is_ok(), "{good}");
        }
        for bad in [
            "",
            "[::1]",
            "-oProxyCommand=x",
            "a..b",
            "a b",
            "::g",
            "host:22",
            ".x",
            "1.2.3.4.5:",
        ] {
            assert!(check_address(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn users() {
        assert!(check_user("root").is_ok());
        assert!(check_user("svc-backup$").is_ok());
        assert!(check_user("-x").is_err());
        assert!(check_user("a@b").is_err());
        assert!(check_user("").is_err());
    }

    #[test]
    fn host_needs_address_or_alias() {
        let mut h = HostConfig::new("a", "10.0.0.1");
        assert!(check_host(&h).is_ok());
        h.address = None;
        let p = check_host(&h).unwrap_err();
        assert_eq!(p.field, None);
        assert!(p.reason.contains("neither address nor ssh_alias"));
        h.ssh_alias = Some("kvm1".into());
        assert!(check_host(&h).is_ok());
    }

    #[test]
    fn validate_host_names_the_field() {
        let mut h = HostConfig::new("a", "10.0.0.1");
        h.libvirt_uri = "qemu+ssh://root@x/system".into();
        let e = validate_host(&h).unwrap_err().to_string();
        assert!(
            e.starts_with("invalid host entry \"a\": libvirt_uri: "),
            "{e}"
        );
        h.libvirt_uri = "qemu:///session".into();
        h.pool = " ".into();
        assert!(
            validate_host(&h)
                .unwrap_err()
                .to_string()
                .contains("pool: empty pool name")
        );
    }
}
