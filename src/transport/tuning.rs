//! russh client settings for bulk transfer.
//!
//! russh's defaults (2 MiB window, 32 KiB packets, Nagle on, ChaCha20 first)
//! leave most of a LAN link idle; OpenSSH moves data about 2.5× faster with
//! AES-GCM on CPUs with AES instructions.

use russh::keys::Algorithm;
use russh::{Preferred, cipher};
use std::borrow::Cow;
use std::time::Duration;

/// Receive window per channel.
pub const WINDOW_SIZE: u32 = 16 * 1024 * 1024;
/// Largest packet russh accepts without complaint (it warns above 65535).
pub const MAX_PACKET_SIZE: u32 = 65535;
/// Queued messages per channel before backpressure reaches the socket.
pub const CHANNEL_BUFFER: usize = 256;

/// Whether this CPU has AES instructions (so AES-GCM beats ChaCha20).
pub fn cpu_has_aes() -> bool {
    #[cfg(any(target_arch = "x86", target_arch = "x86_64"))]
    {
        std::arch::is_x86_feature_detected!("aes")
            && std::arch::is_x86_feature_detected!("pclmulqdq")
    }
    #[cfg(target_arch = "aarch64")]
    {
        std::arch::is_aarch64_feature_detected!("aes")
    }
    #[cfg(not(any(target_arch = "x86", target_arch = "x86_64", target_arch = "aarch64")))]
    {
        false
    }
}

/// Cipher preference: AES-GCM first with AES instructions, else ChaCha20.
pub fn ciphers(aes: bool) -> Vec<cipher::Name> {
    if aes {
        vec![
            cipher::AES_128_GCM,
            cipher::AES_256_GCM,
            cipher::CHACHA20_POLY1305,
            cipher::AES_128_CTR,
            cipher::AES_256_CTR,
        ]
    } else {
        vec![
            cipher::CHACHA20_POLY1305,
            cipher::AES_128_GCM,
            cipher::AES_256_GCM,
            cipher::AES_128_CTR,
            cipher::AES_256_CTR,
        ]
    }
}

/// Host key algorithms with those already known for the host first, so the
/// server presents a key we can verify rather than an unknown one.
pub fn host_key_algorithms(known: &[Algorithm]) -> Vec<Algorithm> {
    let defaults = &Preferred::DEFAULT.key;
    let mut out: Vec<Algorithm> = Vec::new();
    let mut add = |a: &Algorithm| {
        if !out.contains(a) {
            out.push(a.clone());
        }
    };
    for k in known {
        if matches!(k, Algorithm::Rsa { .. }) {
            // known_hosts says "ssh-rsa"; ask for the SHA-2 signatures.
            defaults
                .iter()
                .filter(|d| matches!(d, Algorithm::Rsa { .. }))
                .for_each(&mut add);
        } else if defaults.contains(k) {
            add(k);
        }
    }
    defaults.iter().for_each(&mut add);
    out
}

/// The client config used for every host.
pub fn client_config(
    keepalive_interval: Duration,
    keepalive_max: usize,
    known_algorithms: &[Algorithm],
) -> russh::client::Config {
    russh::client::Config {
        window_size: WINDOW_SIZE,
        maximum_packet_size: MAX_PACKET_SIZE,
        channel_buffer_size: CHANNEL_BUFFER,
        nodelay: true,
        keepalive_interval: Some(keepalive_interval),
        keepalive_max,
        inactivity_timeout: None,
        preferred: Preferred {
            cipher: Cow::Owned(ciphers(cpu_has_aes())),
            key: Cow::Owned(host_key_algorithms(known_algorithms)),
            ..Preferred::DEFAULT
        },
        ..Default::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aes_order_depends_on_cpu_flag() {
        assert_eq!(ciphers(true)[0], cipher::AES_128_GCM);
        assert_eq!(ciphers(false)[0], cipher::CHACHA20_POLY1305);
    }

    #[test]
    fn known_algorithms_come_first_without_duplicates() {
        let algs = host_key_algorithms(&[Algorithm::Rsa { hash: None }]);
        assert!(matches!(algs[0], Algorithm::Rsa { .. }));
        assert!(algs.contains(&Algorithm::Ed25519));
        for (i, a) in algs.iter().enumerate() {
            assert!(!algs[i + 1..].contains(a), "{a:?} listed twice");
        }
        assert_eq!(algs.len(), Preferred::DEFAULT.key.len());
        assert_eq!(host_key_algorithms(&[]), Preferred::DEFAULT.key.to_vec());
    }

    #[test]
    fn config_is_tuned() {
        let c = client_config(Duration::from_secs(15), 3, &[]);
        assert!(c.window_size >= 16 * 1024 * 1024);
        assert_eq!(c.maximum_packet_size, 65535);
        assert!(c.nodelay);
        assert_eq!(c.keepalive_interval, Some(Duration::from_secs(15)));
    }
}
