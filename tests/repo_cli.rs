//! `repo init`, `snapshots`, `verify` and `prune` through the binary, on
//! repositories in temp dirs (no lab host is involved).

use kvm_clone::repo::{
    ChunkRef, DiskIndex, InitEncryption, InitOptions, Manifest, Repo, SnapshotId, Totals, Unlock,
};
use serde_json::Value;
use std::path::PathBuf;
use std::process::{Command, Output};
use zeroize::Zeroizing;

const PASS: &str = "a test passphrase";
const CHUNK: u32 = 64 << 10;

/// A private HOME and data dir, and the repository path inside them.
struct Env {
    home: tempfile::TempDir,
}

impl Env {
    fn new() -> Env {
        Env {
            home: tempfile::tempdir().unwrap(),
        }
    }

    fn repo_path(&self) -> PathBuf {
        self.home.path().join("repo")
    }

    /// Runs the binary; `pass` goes in KVM_CLONE_PASSPHRASE when given.
    fn kvm_clone(&self, pass: Option<&str>, args: &[&str]) -> Output {
        let mut c = Command::new(env!("CARGO_BIN_EXE_kvm-clone"));
        c.args(args)
            .env("HOME", self.home.path())
            .env("KVM_CLONE_DATA_DIR", self.home.path().join("data"))
            .env("KVM_CLONE_CONFIG", self.home.path().join("none.toml"))
            .env_remove("KVM_CLONE_PASSPHRASE");
        if let Some(p) = pass {
            c.env("KVM_CLONE_PASSPHRASE", p);
        }
        c.output().unwrap()
    }

    /// An encrypted repository made through the library, with a fast scrypt.
    fn lib_repo(&self) -> Repo {
        Repo::init(
            &self.repo_path(),
            &InitOptions {
                encryption: InitEncryption::Passphrase(Zeroizing::new(PASS.into())),
                chunk_size: CHUNK,
                scrypt_log_n: Some(8),
            },
        )
        .unwrap()
    }
}

fn text(o: &Output) -> (String, String) {
    (
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

fn block(seed: u8) -> Vec<u8> {
    (0..CHUNK as usize)
        .map(|i| (i as u8).wrapping_mul(17) ^ seed)
        .collect()
}

/// A snapshot of `vm` at `time` whose disk holds chunks made from `seeds`.
fn commit(repo: &Repo, vm: &str, time: i64, seeds: &[u8]) -> SnapshotId {
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

fn json(o: &Output) -> Value {
    serde_json::from_slice(&o.stdout).unwrap_or_else(|e| panic!("{e}: {:?}", text(o)))
}

#[test]
fn init_with_env_passphrase_then_wrong_and_missing_passphrase() {
    let env = Env::new();
    let path = env.repo_path();
    let p = path.to_str().unwrap();
    let o = env.kvm_clone(Some(PASS), &["repo", "init", p, "--chunk-size", "1M"]);
    let (out, err) = text(&o);
    assert!(o.status.success(), "{out}{err}");
    assert!(out.contains("encrypted with a passphrase"), "{out}");
    let cfg: Value = serde_json::from_slice(&std::fs::read(path.join("config")).unwrap()).unwrap();
    assert_eq!(cfg["encryption"], "passphrase");
    assert_eq!(cfg["chunk_size"], 1 << 20);
    assert!(path.join("keys").exists());

    let o = env.kvm_clone(Some(PASS), &["snapshots", "--repo", p]);
    assert!(o.status.success(), "{:?}", text(&o));
    assert!(text(&o).0.starts_with("ID "), "{:?}", text(&o));

    let o = env.kvm_clone(Some("not it"), &["snapshots", "--repo", p]);
    let (out, err) = text(&o);
    assert_eq!(o.status.code(), Some(1), "{out}{err}");
    assert!(err.contains("wrong passphrase"), "{err}");
    assert!(!err.contains("not it") && !out.contains("not it"));

    // No passphrase and no terminal: says how to give one.
    let o = env.kvm_clone(None, &["verify", "--repo", p]);
    let (_, err) = text(&o);
    assert_eq!(o.status.code(), Some(1));
    assert!(err.contains("KVM_CLONE_PASSPHRASE"), "{err}");

    // A second init on the same directory is refused.
    let o = env.kvm_clone(Some(PASS), &["repo", "init", p]);
    assert_eq!(o.status.code(), Some(1));
    assert!(text(&o).1.contains("already exists"), "{:?}", text(&o));
}

#[test]
fn init_needs_a_key_or_an_explicit_no_encryption() {
    let env = Env::new();
    let p = env.repo_path();
    let o = env.kvm_clone(None, &["repo", "init", p.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1));
    assert!(text(&o).1.contains("--no-encryption"), "{:?}", text(&o));
    assert!(!p.join("config").exists());

    let o = env.kvm_clone(
        None,
        &["repo", "init", p.to_str().unwrap(), "--no-encryption"],
    );
    assert!(o.status.success(), "{:?}", text(&o));
    assert!(text(&o).0.contains("NOT encrypted"));
    let repo = Repo::open(&p, &Unlock::None).unwrap();
    assert!(!repo.encrypted());
}

#[test]
fn passphrase_file_unlocks() {
    let env = Env::new();
    let repo = env.lib_repo();
    commit(&repo, "web01", 1_750_000_000, &[1]);
    let file = env.home.path().join("pass.txt");
    std::fs::write(&file, format!("{PASS}\n")).unwrap();
    let o = env.kvm_clone(
        None,
        &[
            "snapshots",
            "--repo",
            env.repo_path().to_str().unwrap(),
            "--passphrase-file",
            file.to_str().unwrap(),
            "--json",
        ],
    );
    assert!(o.status.success(), "{:?}", text(&o));
    assert_eq!(json(&o)["snapshots"][0]["vm"], "web01");
}

#[test]
fn snapshots_verify_and_prune_on_a_repository() {
    let env = Env::new();
    let repo = env.lib_repo();
    let day = 86400;
    let t0 = 1_750_000_000;
    let s1 = commit(&repo, "web01", t0, &[1, 2]);
    let s2 = commit(&repo, "web01", t0 + day, &[1, 3]);
    let s3 = commit(&repo, "web01", t0 + 2 * day, &[1, 4]);
    let db = commit(&repo, "db01", t0, &[9]);
    let p = env.repo_path();
    let p = p.to_str().unwrap();

    let o = env.kvm_clone(
        Some(PASS),
        &["snapshots", "--repo", p, "--vm", "web01", "--json"],
    );
    assert!(o.status.success(), "{:?}", text(&o));
    let ids: Vec<String> = json(&o)["snapshots"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["id"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(ids, [&s3, &s2, &s1].map(|s| s.to_string()));

    let o = env.kvm_clone(Some(PASS), &["verify", "--repo", p, "--read-data"]);
    let (out, err) = text(&o);
    assert!(o.status.success(), "{out}{err}");
    assert!(out.starts_with("ok: 4 snapshots, 5 chunks read"), "{out}");

    // Damage chunk 3 (index 1 of s2): only s2 is named, at offset 64 KiB.
    let three = repo.chunk_id(&block(3));
    let file = repo.chunk_path(&three);
    let mut bytes = std::fs::read(&file).unwrap();
    bytes[100] ^= 0xff;
    std::fs::write(&file, &bytes).unwrap();
    let o = env.kvm_clone(Some(PASS), &["verify", "--repo", p]);
    assert!(
        o.status.success(),
        "without --read-data the file is only present"
    );
    let o = env.kvm_clone(Some(PASS), &["verify", "--repo", p, "--read-data"]);
    let (out, _) = text(&o);
    assert_eq!(o.status.code(), Some(5), "{out}");
    let line =
        format!("DAMAGED snapshot {s2} vm web01 disk vda offset {CHUNK}: chunk {three} damaged");
    assert!(out.contains(&line), "{out}");
    assert_eq!(out.matches("DAMAGED").count(), 1, "{out}");
    let o = env.kvm_clone(
        Some(PASS),
        &[
            "verify",
            "--repo",
            p,
            "--read-data",
            "--snapshot",
            &s2.as_str()[..8],
            "--json",
        ],
    );
    assert_eq!(o.status.code(), Some(5));
    let v = json(&o);
    assert_eq!(v["ok"], false);
    assert_eq!(v["damage"][0]["snapshot"], s2.as_str());
    assert_eq!(v["damage"][0]["offset"], CHUNK);
    std::fs::remove_file(&file).unwrap();

    // Keep the newest web01 snapshot; db01 is not selected and stays.
    let prune = ["prune", "--repo", p, "--keep-last", "1", "--vm", "web01"];
    let o = env.kvm_clone(Some(PASS), &[&prune[..], &["--dry-run", "--json"]].concat());
    assert!(o.status.success(), "{:?}", text(&o));
    let plan = json(&o);
    assert_eq!(plan["dry_run"], true);
    assert_eq!(
        (plan["kept"].as_u64(), plan["removed"].as_u64()),
        (Some(1), Some(2))
    );
    // Chunk 2 goes; chunk 3 is already gone; 1 and 4 stay referenced.
    assert_eq!(plan["chunks_removed"], 1);
    assert_eq!(repo.snapshot_ids().unwrap().len(), 4);

    // Not while an export holds the shared lock.
    let held = repo.lock_shared().unwrap();
    let o = env.kvm_clone(Some(PASS), &prune);
    assert_eq!(o.status.code(), Some(75), "{:?}", text(&o));
    assert!(text(&o).1.contains("busy"), "{:?}", text(&o));
    drop(held);

    let o = env.kvm_clone(Some(PASS), &prune);
    let (out, err) = text(&o);
    assert!(o.status.success(), "{out}{err}");
    assert!(
        out.contains("removed 2 snapshots (keeping 1), 1 chunk"),
        "{out}"
    );
    let mut left = repo.snapshot_ids().unwrap();
    left.sort();
    let mut want = vec![s3, db];
    want.sort();
    assert_eq!(left, want);
    let o = env.kvm_clone(Some(PASS), &["verify", "--repo", p, "--read-data"]);
    assert!(o.status.success(), "{:?}", text(&o));

    let o = env.kvm_clone(Some(PASS), &["prune", "--repo", p]);
    assert_eq!(o.status.code(), Some(1));
    assert!(text(&o).1.contains("--keep-"), "{:?}", text(&o));
}

#[test]
fn commands_on_a_directory_that_is_no_repository() {
    let env = Env::new();
    let o = env.kvm_clone(
        Some(PASS),
        &["snapshots", "--repo", env.home.path().to_str().unwrap()],
    );
    assert_eq!(o.status.code(), Some(1));
    assert!(
        text(&o).1.contains("not a kvm-clone repository"),
        "{:?}",
        text(&o)
    );
}
