//! Commands the SSH side runs on the host to reach its libvirt daemon. The
//! SSH layer executes one of them on a channel and bridges that channel to a
//! [`super::Tunnel`] connection.

use super::LibvirtError;
use super::uri::{LibvirtUri, Scope};

/// `virt-ssh-helper 'qemu:///system'`: libvirt's own bridge (libvirt ≥ 6.8),
/// which finds the right socket (monolithic or modular daemons) by itself.
pub fn helper_command(libvirt_uri: &str) -> Result<String, LibvirtError> {
    let uri = LibvirtUri::parse(libvirt_uri)?;
    Ok(format!("virt-ssh-helper {}", quote(&uri.local())))
}

/// `nc -U <socket>`: the fallback for hosts without virt-ssh-helper. The
/// session socket lives under the remote user's `$XDG_RUNTIME_DIR`, so that
/// word is double-quoted for the remote shell to expand.
pub fn nc_command(libvirt_uri: &str) -> Result<String, LibvirtError> {
    let uri = LibvirtUri::parse(libvirt_uri)?;
    Ok(match uri.scope {
        Scope::System => format!("nc -U {}", quote("/var/run/libvirt/libvirt-sock")),
        Scope::Session => "nc -U \"$XDG_RUNTIME_DIR/libvirt/libvirt-sock\"".to_string(),
    })
}

/// POSIX single-quoting: the word comes out literally whatever it contains.
fn quote(word: &str) -> String {
    format!("'{}'", word.replace('\'', r"'\''"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn helper_gets_the_local_uri() {
        assert_eq!(
            helper_command("qemu:///system").unwrap(),
            "virt-ssh-helper 'qemu:///system'"
        );
        assert_eq!(
            helper_command("qemu+ssh://root@h/session").unwrap(),
            "virt-ssh-helper 'qemu:///session'"
        );
        assert!(helper_command("qemu:///system;reboot").is_err());
    }

    #[test]
    fn nc_picks_the_socket() {
        assert_eq!(
            nc_command("qemu:///system").unwrap(),
            "nc -U '/var/run/libvirt/libvirt-sock'"
        );
        assert_eq!(
            nc_command("qemu:///session").unwrap(),
            "nc -U \"$XDG_RUNTIME_DIR/libvirt/libvirt-sock\""
        );
    }

    #[test]
    fn quote_survives_single_quotes() {
        assert_eq!(quote("a'b"), r"'a'\''b'");
    }
}
