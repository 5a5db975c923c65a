//! Repositories for tests, made through the library in temp dirs: an
//! encrypted one with a fast scrypt, and snapshots of made-up disks.
#![allow(dead_code)]

use kvm_clone::repo::{
    ChunkRef, DiskIndex, InitEncryption, InitOptions, Manifest, Repo, SnapshotId, Totals,
};
use std::path::Path;
use zeroize::Zeroizing;

pub const PASS: &str = "a test passphrase";
pub const CHUNK: u32 = 64 << 10;

/// An encrypted repository at `path` (which must not exist or be empty).
pub fn encrypted_repo(path: &Path) -> Repo {
    Repo::init(
        path,
        &InitOptions {
            encryption: InitEncryption::Passphrase(Zeroizing::new(PASS.into())),
            chunk_size: CHUNK,
            scrypt_log_n: Some(8),
        },
    )
    .unwrap()
}

/// One chunk of made-up data, different for each seed.
pub fn block(seed: u8) -> Vec<u8> {
    (0..CHUNK as usize)
        .map(|i| (i as u8).wrapping_mul(17) ^ seed)
        .collect()
}

/// A snapshot of `vm` at `time` whose disk vda holds chunks made from `seeds`.
pub fn commit(repo: &Repo, vm: &str, time: i64, seeds: &[u8]) -> SnapshotId {
    let chunks = seeds
        .iter()
        .enumerate()
        .map(|(i, &s)| ChunkRef {
            index: i as u64,
            id: repo.store_chunk(&block(s)).unwrap().id,
        })
        .collect();
    let m = Manifest {
        format_version: Manifest::FORMAT_VERSION,
        vm: vm.into(),
        vm_uuid: "6b0f8f7e-1111-4222-8333-944455556666".into(),
        host: "alpha".into(),
        profile: "default".into(),
        time,
        parent: None,
        live: false,
        checkpoint: None,
        domain_xml: format!("<domain type='kvm'><name>{vm}</name></domain>"),
        nvram: None,
        disks: vec![DiskIndex {
            target: "vda".into(),
            virtual_size: 16 * u64::from(CHUNK),
            format: "raw".into(),
            source_path: format!("/var/lib/libvirt/images/{vm}.img"),
            chunk_size: CHUNK,
            chunks,
        }],
        totals: Totals {
            virtual_bytes: 16 * u64::from(CHUNK),
            data_bytes: seeds.len() as u64 * u64::from(CHUNK),
            ..Totals::default()
        },
    };
    repo.commit_snapshot(&m).unwrap()
}
