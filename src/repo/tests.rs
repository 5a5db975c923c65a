//! Repository tests over real files in temp dirs.

use super::manifest::tests::sample;
use super::prune::{PruneOptions, prune};
use super::retention::Policy;
use super::testutil::repo;
use super::verify::{Problem, verify};
use super::*;
use std::sync::Arc;

fn pass(s: &str) -> Unlock {
    Unlock::Passphrase(Zeroizing::new(s.into()))
}

fn data(seed: u8, len: usize) -> Vec<u8> {
    (0..len)
        .map(|i| (i as u8).wrapping_mul(31) ^ seed)
        .collect()
}

/// Stores chunks made from `seeds` and commits a snapshot naming them at
/// indexes 0, 1, ...
fn snapshot(repo: &Repo, vm: &str, time: i64, seeds: &[u8]) -> SnapshotId {
    let refs: Vec<(u64, ChunkId)> = seeds
        .iter()
        .enumerate()
        .map(|(i, &s)| (i as u64, repo.store_chunk(&data(s, 4096)).unwrap().id))
        .collect();
    repo.commit_snapshot(&sample(vm, time, &refs)).unwrap()
}

#[test]
fn init_then_open_with_the_passphrase() {
    let (dir, r) = repo();
    assert!(r.encrypted());
    assert_eq!(r.chunk_size(), MIN_CHUNK_SIZE);
    let path = dir.path().join("repo");
    for f in [CONFIG_FILE, KEYS_FILE, LOCK_FILE, CHUNKS_DIR, SNAPSHOTS_DIR] {
        assert!(path.join(f).exists(), "{f}");
    }
    let again = Repo::open(&path, &pass("pw")).unwrap();
    assert_eq!(again.id(), r.id());
    assert_eq!(again.chunk_id(b"x"), r.chunk_id(b"x"));
    assert!(matches!(
        Repo::open(&path, &pass("nope")),
        Err(RepoError::WrongPassphrase)
    ));
    assert!(matches!(
        Repo::open(&path, &Unlock::None),
        Err(RepoError::Locked { .. })
    ));
    assert!(matches!(
        Repo::open(dir.path(), &pass("pw")),
        Err(RepoError::NotARepo { .. })
    ));
}

#[test]
fn init_refuses_a_non_empty_dir_and_bad_chunk_sizes() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("x"), b"x").unwrap();
    assert!(matches!(
        Repo::init(dir.path(), &InitOptions::default()),
        Err(RepoError::AlreadyExists { .. })
    ));
    let empty = tempfile::tempdir().unwrap();
    for cs in [0, 1000, 32 << 10, 128 << 20] {
        let opts = InitOptions {
            chunk_size: cs,
            ..InitOptions::default()
        };
        assert!(matches!(
            Repo::init(empty.path(), &opts),
            Err(RepoError::BadOptions(_))
        ));
    }
    // An empty existing directory is fine.
    let r = Repo::init(empty.path(), &InitOptions::default()).unwrap();
    assert!(!r.encrypted());
}

#[test]
fn unencrypted_repo_opens_without_key_and_uses_plain_blake3() {
    let dir = tempfile::tempdir().unwrap();
    let r = Repo::init(dir.path(), &InitOptions::default()).unwrap();
    assert!(!dir.path().join(KEYS_FILE).exists());
    let again = Repo::open(dir.path(), &Unlock::None).unwrap();
    assert!(!again.encrypted());
    assert_eq!(r.chunk_id(b"abc").0, *blake3::hash(b"abc").as_bytes());
    let s = r.store_chunk(b"abc").unwrap();
    assert_eq!(again.read_chunk(&s.id).unwrap(), b"abc");
}

#[test]
fn store_dedups_and_reads_back() {
    let (_d, r) = repo();
    let plain = data(1, 65536);
    let a = r.store_chunk(&plain).unwrap();
    assert!(a.new && a.stored_bytes > 0);
    assert_eq!(a.id, r.chunk_id(&plain));
    assert_ne!(a.id.0, *blake3::hash(&plain).as_bytes(), "ids are keyed");
    let b = r.store_chunk(&plain).unwrap();
    assert_eq!((b.id, b.new, b.stored_bytes), (a.id, false, 0));
    assert!(r.has_chunk(&a.id).unwrap());
    assert_eq!(r.read_chunk(&a.id).unwrap(), plain);
    let file = std::fs::read(r.chunk_path(&a.id)).unwrap();
    assert!(
        !file.windows(16).any(|w| w == &plain[100..116]),
        "plaintext visible in the chunk file"
    );
    let absent = r.chunk_id(b"never stored");
    assert!(!r.has_chunk(&absent).unwrap());
    assert!(matches!(
        r.read_chunk(&absent),
        Err(RepoError::ChunkMissing { .. })
    ));
}

#[test]
fn a_flipped_byte_or_a_swapped_file_is_damage() {
    let (_d, r) = repo();
    let a = r.store_chunk(&data(1, 5000)).unwrap().id;
    let b = r.store_chunk(&data(2, 5000)).unwrap().id;
    let path = r.chunk_path(&a);
    let mut bytes = std::fs::read(&path).unwrap();
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0x40;
    std::fs::write(&path, &bytes).unwrap();
    assert!(matches!(
        r.read_chunk(&a),
        Err(RepoError::ChunkDamaged { id, .. }) if id == a
    ));
    // A valid chunk file under another chunk's name.
    std::fs::copy(r.chunk_path(&b), &path).unwrap();
    assert!(matches!(
        r.read_chunk(&a),
        Err(RepoError::ChunkDamaged { .. })
    ));
}

#[test]
fn concurrent_writers_of_one_chunk_leave_one_good_file() {
    let (_d, r) = repo();
    let r = Arc::new(r);
    let plain = Arc::new(data(9, 200_000));
    let handles: Vec<_> = (0..8)
        .map(|_| {
            let (r, plain) = (r.clone(), plain.clone());
            std::thread::spawn(move || r.store_chunk(&plain).unwrap())
        })
        .collect();
    let results: Vec<StoredChunk> = handles.into_iter().map(|h| h.join().unwrap()).collect();
    let id = results[0].id;
    assert!(results.iter().all(|s| s.id == id));
    assert!(results.iter().any(|s| s.new));
    assert_eq!(r.read_chunk(&id).unwrap(), *plain);
    let dir = r.chunk_path(&id).parent().unwrap().to_path_buf();
    let names: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(names.len(), 1, "temp files left: {names:?}");
}

#[test]
fn commit_then_list_load_and_latest() {
    let (_d, r) = repo();
    let old = snapshot(&r, "web01", 1000, &[1, 2]);
    let new = snapshot(&r, "web01", 2000, &[1, 3]);
    let other = snapshot(&r, "db01", 3000, &[4]);
    let list = r.snapshots().unwrap();
    let ids: Vec<_> = list.iter().map(|s| s.id.clone()).collect();
    assert_eq!(ids, vec![other.clone(), new.clone(), old.clone()]);
    assert_eq!(list[1].manifest.disks[0].chunks.len(), 2);
    let reopened = Repo::open(r.path(), &pass("pw")).unwrap();
    let got = reopened.load_snapshot(&new.as_str()[..6]).unwrap();
    assert_eq!(got.id, new);
    assert_eq!(got.manifest, list[1].manifest);
    assert!(matches!(
        r.load_snapshot(&new.as_str()[..3]),
        Err(RepoError::SnapshotNotFound { .. })
    ));
    assert!(matches!(
        r.load_snapshot("ffffffffffffffff"),
        Err(RepoError::SnapshotNotFound { .. })
    ));
    let latest = r.latest_snapshot("web01", "alpha").unwrap().unwrap();
    assert_eq!(latest.id, new);
    assert!(r.latest_snapshot("web01", "beta").unwrap().is_none());
}

/// Exports made within one second share a time: the one made from the
/// other (its parent) is the latest, whatever the random ids say.
#[test]
fn within_one_second_a_child_is_newer_than_its_parent() {
    let (_d, r) = repo();
    let mut ids: Vec<SnapshotId> = Vec::new();
    for n in 0..6u8 {
        let refs = vec![(0, r.store_chunk(&data(n, 4096)).unwrap().id)];
        let mut m = sample("web01", 5000, &refs);
        m.parent = ids.last().cloned();
        ids.push(r.commit_snapshot(&m).unwrap());
    }
    let latest = r.latest_snapshot("web01", "alpha").unwrap().unwrap();
    assert_eq!(latest.id, ids[5]);
    let listed: Vec<SnapshotId> = r.snapshots().unwrap().into_iter().map(|s| s.id).collect();
    let newest_first: Vec<SnapshotId> = ids.iter().rev().cloned().collect();
    assert_eq!(listed, newest_first);
}

#[test]
fn ambiguous_prefix_is_refused() {
    let (_d, r) = repo();
    let m = sample("vm", 1, &[]);
    // Ids are random: copy a manifest under two chosen names sharing a prefix.
    let frame = std::fs::read(r.manifest_path(&r.commit_snapshot(&m).unwrap())).unwrap();
    for name in ["abcd000000000001", "abcd000000000002"] {
        std::fs::write(r.path().join(SNAPSHOTS_DIR).join(name), &frame).unwrap();
    }
    assert!(matches!(
        r.load_snapshot("abcd"),
        Err(RepoError::AmbiguousSnapshot { .. })
    ));
    // The frame is bound to its own id: under another name it is damaged.
    assert!(matches!(
        r.load_snapshot("abcd000000000001"),
        Err(RepoError::ManifestDamaged { .. })
    ));
}

#[test]
fn commit_refuses_missing_chunks_and_invalid_manifests() {
    let (_d, r) = repo();
    let ghost = r.chunk_id(b"ghost");
    assert!(matches!(
        r.commit_snapshot(&sample("vm", 1, &[(0, ghost)])),
        Err(RepoError::ChunkMissing { id }) if id == ghost
    ));
    assert!(matches!(
        r.commit_snapshot(&sample("", 1, &[])),
        Err(RepoError::InvalidManifest(_))
    ));
    assert!(r.snapshot_ids().unwrap().is_empty());
}

#[test]
fn temp_files_and_damaged_manifests() {
    let (_d, r) = repo();
    let good = snapshot(&r, "vm", 1, &[1]);
    let snaps = r.path().join(SNAPSHOTS_DIR);
    std::fs::write(snaps.join(".tmp-0123456789abcdef"), b"half a manifest").unwrap();
    assert_eq!(
        r.snapshots().unwrap().len(),
        1,
        "temp files are not snapshots"
    );
    let bad = snapshot(&r, "vm", 2, &[2]);
    let p = r.manifest_path(&bad);
    let mut bytes = std::fs::read(&p).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 1;
    std::fs::write(&p, bytes).unwrap();
    let scan = r.scan_snapshots().unwrap();
    assert_eq!(scan.snapshots.len(), 1);
    assert_eq!(scan.damaged[0].id, bad);
    assert!(matches!(r.snapshots(), Err(RepoError::ManifestDamaged { id, .. }) if id == bad));
    // The parent lookup goes on without it.
    assert_eq!(r.latest_snapshot("vm", "alpha").unwrap().unwrap().id, good);
}

#[test]
fn exclusive_lock_is_busy_while_shared_is_held() {
    let (_d, r) = repo();
    let shared = r.lock_shared().unwrap();
    let shared2 = r.try_lock_shared().unwrap();
    assert!(matches!(r.try_lock_exclusive(), Err(RepoError::Busy { path }) if path == r.path()));
    drop(shared);
    assert!(matches!(
        r.try_lock_exclusive(),
        Err(RepoError::Busy { .. })
    ));
    drop(shared2);
    let ex = r.try_lock_exclusive().unwrap();
    assert!(ex.is_exclusive());
    assert!(matches!(r.try_lock_shared(), Err(RepoError::Busy { .. })));
    // A prune cannot start while an export holds the lock.
    let _export = {
        drop(ex);
        r.lock_shared().unwrap()
    };
    let opts = PruneOptions {
        policy: Policy {
            last: 1,
            ..Policy::default()
        },
        ..PruneOptions::default()
    };
    assert!(matches!(prune(&r, &opts), Err(RepoError::Busy { .. })));
}

#[test]
fn prune_removes_snapshots_then_unreferenced_chunks() {
    let (_d, r) = repo();
    let s1 = snapshot(&r, "vm", 100, &[1, 2]);
    let s2 = snapshot(&r, "vm", 200, &[2, 3]);
    let s3 = snapshot(&r, "vm", 300, &[3, 4]);
    let other = snapshot(&r, "db", 50, &[1]);
    let orphan = r.store_chunk(&data(99, 4096)).unwrap();
    let chunk1 = r.chunk_id(&data(1, 4096));
    let chunk2 = r.chunk_id(&data(2, 4096));
    let size = |id: &ChunkId| std::fs::metadata(r.chunk_path(id)).unwrap().len();
    let freed = size(&chunk2) + orphan.stored_bytes;
    let opts = PruneOptions {
        policy: Policy {
            last: 1,
            ..Policy::default()
        },
        vm: Some("vm".into()),
        dry_run: true,
        confirmed: None,
    };
    let plan = prune(&r, &opts).unwrap();
    assert_eq!((plan.kept, plan.removed), (1, 2));
    assert_eq!(plan.snapshots[0].id, s3);
    assert!(plan.snapshots[0].keep);
    // Chunk 2 and the orphan go; chunk 1 stays for the other VM.
    assert_eq!((plan.chunks_removed, plan.bytes_freed), (2, freed));
    assert_eq!(
        r.snapshot_ids().unwrap().len(),
        4,
        "a dry run deletes nothing"
    );
    assert!(r.has_chunk(&orphan.id).unwrap());

    let done = prune(
        &r,
        &PruneOptions {
            dry_run: false,
            ..opts
        },
    )
    .unwrap();
    assert_eq!((done.chunks_removed, done.bytes_freed), (2, freed));
    let mut left = r.snapshot_ids().unwrap();
    left.sort();
    let mut want = vec![s3, other];
    want.sort();
    assert_eq!(left, want);
    assert!(!r.has_chunk(&chunk2).unwrap() && !r.has_chunk(&orphan.id).unwrap());
    assert!(r.has_chunk(&chunk1).unwrap());
    let _ = (s1, s2);
    assert!(verify(&r, None, true).unwrap().is_ok());
}

#[test]
fn prune_removes_only_stale_temp_files() {
    let (_d, r) = repo();
    snapshot(&r, "vm", 1, &[1]);
    let dir = r.path().join(CHUNKS_DIR).join("ab");
    std::fs::create_dir_all(&dir).unwrap();
    let old = dir.join(".tmp-00000000000000aa");
    let fresh = dir.join(".tmp-00000000000000bb");
    std::fs::write(&old, b"x").unwrap();
    std::fs::write(&fresh, b"y").unwrap();
    let two_hours_ago = std::time::SystemTime::now() - std::time::Duration::from_secs(7200);
    std::fs::File::options()
        .write(true)
        .open(&old)
        .unwrap()
        .set_modified(two_hours_ago)
        .unwrap();
    let opts = PruneOptions {
        policy: Policy {
            last: 5,
            ..Policy::default()
        },
        ..PruneOptions::default()
    };
    let rep = prune(&r, &opts).unwrap();
    assert_eq!(rep.temp_files_removed, 1);
    assert!(!old.exists() && fresh.exists());
}

/// Flips a byte in the chunk made from seed 2 and deletes the one made from
/// seed 3 (as stored by [`snapshot`]); returns their ids.
fn damage_two_and_three(r: &Repo) -> (ChunkId, ChunkId) {
    let two = r.chunk_id(&data(2, 4096));
    let three = r.chunk_id(&data(3, 4096));
    let p = r.chunk_path(&two);
    let mut bytes = std::fs::read(&p).unwrap();
    bytes[40] ^= 1;
    std::fs::write(&p, bytes).unwrap();
    std::fs::remove_file(r.chunk_path(&three)).unwrap();
    (two, three)
}

#[test]
fn verify_names_snapshot_disk_and_offset() {
    let (_d, r) = repo();
    let (s1, s2) = (
        snapshot(&r, "vm", 100, &[1, 2, 3]),
        snapshot(&r, "vm", 200, &[5, 2]),
    );
    assert!(verify(&r, None, false).unwrap().is_ok());
    let clean = verify(&r, None, true).unwrap();
    assert!(clean.is_ok());
    assert_eq!((clean.snapshots, clean.chunks), (2, 4));
    assert_eq!(clean.bytes_read, 4 * 4096);
    let (two, three) = damage_two_and_three(&r);

    let quick = verify(&r, None, false).unwrap();
    assert_eq!(
        quick.damage.len(),
        1,
        "without read-data only the missing one"
    );
    assert_eq!(quick.damage[0].problem, Problem::Missing);

    let full = verify(&r, None, true).unwrap();
    assert!(!full.is_ok());
    let cs = u64::from(MIN_CHUNK_SIZE);
    let mut found: Vec<_> = full
        .damage
        .iter()
        .map(|d| {
            (
                d.snapshot.clone(),
                d.disk.clone(),
                d.offset,
                d.chunk,
                matches!(d.problem, Problem::Missing),
            )
        })
        .collect();
    found.sort();
    let mut want = vec![
        (s1.clone(), "vda".to_string(), cs, two, false),
        (s1.clone(), "vda".to_string(), 2 * cs, three, true),
        (s2.clone(), "vda".to_string(), cs, two, false),
    ];
    want.sort();
    assert_eq!(found, want);

    let only = verify(&r, Some(s2.as_str()), true).unwrap();
    assert_eq!(only.snapshots, 1);
    assert_eq!(only.damage.len(), 1);
    assert_eq!(only.damage[0].snapshot, s2);
}

#[test]
fn repair_removes_only_damaged_chunks_and_storing_the_data_again_heals() {
    let (_d, r) = repo();
    let s1 = snapshot(&r, "vm", 100, &[1, 2, 3]);
    let s2 = snapshot(&r, "vm", 200, &[5, 2]);
    let (two, three) = damage_two_and_three(&r);
    let p = r.chunk_path(&two);

    let mut report = verify(&r, None, true).unwrap();
    // An export holding the repository: nothing is removed.
    let held = r.lock_shared().unwrap();
    assert!(matches!(
        verify::remove_damaged(&r, &mut report),
        Err(RepoError::Busy { .. })
    ));
    assert!(p.exists() && report.repaired.is_empty());
    drop(held);

    // Only the damaged one goes; the missing one stays missing.
    assert_eq!(verify::remove_damaged(&r, &mut report).unwrap(), vec![two]);
    assert_eq!(report.repaired, vec![two]);
    assert!(!p.exists());
    let after = verify(&r, None, true).unwrap();
    let mut problems: Vec<_> = after
        .damage
        .iter()
        .map(|d| (d.snapshot.clone(), d.chunk, d.problem.clone()))
        .collect();
    problems.sort_by(|a, b| (&a.0, a.1).cmp(&(&b.0, b.1)));
    let mut want = vec![
        (s1.clone(), two, Problem::Missing),
        (s1.clone(), three, Problem::Missing),
        (s2.clone(), two, Problem::Missing),
    ];
    want.sort_by(|a, b| (&a.0, a.1).cmp(&(&b.0, b.1)));
    assert_eq!(problems, want);
    // Nothing damaged is left to remove.
    let mut again = after.clone();
    assert!(verify::remove_damaged(&r, &mut again).unwrap().is_empty());

    // The same data stored again (as the next export does): both snapshots
    // that shared the chunk are whole again; s1 still lacks chunk 3.
    assert!(r.store_chunk(&data(2, 4096)).unwrap().new);
    assert!(verify(&r, Some(s2.as_str()), true).unwrap().is_ok());
    let s1_left = verify(&r, Some(s1.as_str()), true).unwrap();
    assert_eq!(s1_left.damage.len(), 1);
    assert_eq!(s1_left.damage[0].chunk, three);
}

#[test]
fn verify_reports_nvram_and_undecryptable_manifests() {
    let (_d, r) = repo();
    let nv = r.store_chunk(&data(7, 131072)).unwrap().id;
    let mut m = sample("uefi", 10, &[]);
    m.nvram = Some(NvramCopy {
        path: "/var/lib/libvirt/qemu/nvram/uefi_VARS.fd".into(),
        size: 131072,
        chunk: Some(nv),
    });
    let id = r.commit_snapshot(&m).unwrap();
    std::fs::remove_file(r.chunk_path(&nv)).unwrap();
    let broken = snapshot(&r, "vm", 20, &[1]);
    std::fs::write(r.manifest_path(&broken), b"KVCM garbage").unwrap();
    let rep = verify(&r, None, false).unwrap();
    assert_eq!(rep.damage.len(), 1);
    assert_eq!(
        (rep.damage[0].snapshot.clone(), rep.damage[0].disk.as_str()),
        (id, "nvram")
    );
    assert_eq!(rep.damaged_manifests.len(), 1);
    assert_eq!(rep.damaged_manifests[0].id, broken);
    let one = verify(&r, Some(broken.as_str()), false).unwrap();
    assert_eq!(one.damaged_manifests.len(), 1);
}

mod fuzz {
    use super::super::snapshots::decode_manifest;
    use super::*;
    use proptest::prelude::*;

    fn valid_json() -> Vec<u8> {
        let mut m = sample(
            "vm",
            1_750_000_000,
            &[(0, ChunkId([3; 32])), (5, ChunkId([4; 32]))],
        );
        m.nvram = Some(NvramCopy {
            path: "/nv".into(),
            size: 10,
            chunk: None,
        });
        serde_json::to_vec(&m).unwrap()
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

        #[test]
        fn manifest_decoder_never_panics_on_arbitrary_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
            let _ = decode_manifest(&bytes);
        }

        #[test]
        fn manifest_decoder_never_panics_on_mutated_json(
            edits in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..8),
            cut in any::<prop::sample::Index>(),
        ) {
            let mut json = valid_json();
            for (at, b) in &edits {
                let i = at.index(json.len());
                json[i] = *b;
            }
            json.truncate(cut.index(json.len() + 1).max(json.len() / 2));
            if let Ok(m) = decode_manifest(&json) {
                // Whatever decodes is consistent.
                prop_assert!(m.validate().is_ok());
            }
        }

        #[test]
        fn manifest_decoder_checks_structure(index in 0u64..20, size in 0u64..2_000_000, cs_log in 10u32..30) {
            let mut m = sample("vm", 1, &[(index, ChunkId([1; 32]))]);
            m.disks[0].virtual_size = size;
            m.disks[0].chunk_size = 1 << cs_log;
            let json = serde_json::to_vec(&m).unwrap();
            if let Ok(got) = decode_manifest(&json) {
                let d = &got.disks[0];
                prop_assert!(d.chunks[0].index < d.chunk_count());
                let (off, len) = d.chunk_range(d.chunks[0].index);
                prop_assert!(len > 0 && off + len <= d.virtual_size);
            }
        }
    }

    #[test]
    fn manifest_files_fail_cleanly_when_mutated() {
        let (_d, r) = repo();
        let id = snapshot(&r, "vm", 1, &[1, 2]);
        let path = r.manifest_path(&id);
        let good = std::fs::read(&path).unwrap();
        let mut rng = rand::rng();
        for _ in 0..300 {
            let mut bad = good.clone();
            let i = rand::Rng::random_range(&mut rng, 0..bad.len());
            bad[i] = bad[i].wrapping_add(rand::Rng::random_range(&mut rng, 1..=255));
            std::fs::write(&path, &bad).unwrap();
            assert!(matches!(
                r.read_manifest(&id),
                Err(RepoError::ManifestDamaged { .. })
            ));
        }
    }
}

#[test]
fn repo_is_send_and_sync() {
    fn shareable<T: Send + Sync>() {}
    shareable::<Repo>();
    shareable::<RepoLock>();
}

#[test]
fn newer_versions_and_foreign_key_files_are_refused() {
    let (dir, r) = repo();
    let path = dir.path().join("repo");
    let cfg_path = path.join(CONFIG_FILE);
    let original = std::fs::read(&cfg_path).unwrap();
    let mut cfg: serde_json::Value = serde_json::from_slice(&original).unwrap();
    cfg["version"] = 2.into();
    std::fs::write(&cfg_path, cfg.to_string()).unwrap();
    assert!(matches!(
        Repo::open(&path, &pass("pw")),
        Err(RepoError::UnsupportedVersion { found: 2, .. })
    ));
    std::fs::write(&cfg_path, &original).unwrap();

    // Another repository's key file, same passphrase: refused as foreign.
    let (other_dir, _) = repo();
    std::fs::copy(
        other_dir.path().join("repo").join(KEYS_FILE),
        path.join(KEYS_FILE),
    )
    .unwrap();
    assert!(matches!(
        Repo::open(&path, &pass("pw")),
        Err(RepoError::KeysDamaged { .. })
    ));
    drop(r);
}

#[test]
fn a_confirmed_plan_bounds_what_the_real_run_removes() {
    let (_d, r) = repo();
    let a = snapshot(&r, "vm", 100, &[1]);
    let b = snapshot(&r, "vm", 200, &[2]);
    let policy = Policy {
        last: 1,
        ..Policy::default()
    };
    let dry = PruneOptions {
        policy,
        dry_run: true,
        ..PruneOptions::default()
    };
    let plan = prune(&r, &dry).unwrap();
    let confirmed: std::collections::HashSet<_> = plan
        .snapshots
        .iter()
        .filter(|d| !d.keep)
        .map(|d| d.id.clone())
        .collect();
    assert_eq!(confirmed, [a.clone()].into());
    // An export commits a newer snapshot before the operator confirms: the
    // policy alone would now remove b too.
    let c = snapshot(&r, "vm", 300, &[3]);
    let real = PruneOptions {
        policy,
        confirmed: Some(confirmed),
        ..PruneOptions::default()
    };
    let done = prune(&r, &real).unwrap();
    assert_eq!(done.removed, 1);
    let kept_b = done.snapshots.iter().find(|d| d.id == b).unwrap();
    assert!(kept_b.keep);
    assert_eq!(kept_b.reasons, vec!["not in the confirmed plan"]);
    let mut left = r.snapshot_ids().unwrap();
    left.sort();
    let mut want = vec![b, c];
    want.sort();
    assert_eq!(left, want);
}

/// Debug-build throughput of store_chunk and read_chunk (encrypted; random
/// and compressible chunks). Prints only; run by hand:
/// `cargo test --lib repo::tests::store_chunk_throughput -- --ignored --nocapture`
#[test]
#[ignore = "a measurement, not a check"]
fn store_chunk_throughput() {
    let (_dir, r) = repo();
    let size = 4 << 20;
    let chunks = 16;
    let random: Vec<Vec<u8>> = (0..chunks)
        .map(|_| (0..size).map(|_| rand::random::<u8>()).collect())
        .collect();
    let text: Vec<Vec<u8>> = (0..chunks)
        .map(|i| data(i as u8, size).into_iter().map(|b| b & 0x0f).collect())
        .collect();
    let mib = (size * chunks) as f64 / (1 << 20) as f64;
    let t = std::time::Instant::now();
    for c in &random {
        std::hint::black_box(r.chunk_id(c));
    }
    println!("chunk_id {:.1} MiB/s", mib / t.elapsed().as_secs_f64());
    for (what, set) in [("random", &random), ("compressible", &text)] {
        let t = std::time::Instant::now();
        let ids: Vec<ChunkId> = set.iter().map(|c| r.store_chunk(c).unwrap().id).collect();
        let store = t.elapsed().as_secs_f64();
        let t = std::time::Instant::now();
        for id in &ids {
            r.read_chunk(id).unwrap();
        }
        let read = t.elapsed().as_secs_f64();
        println!(
            "{what}: store_chunk {:.1} MiB/s, read_chunk {:.1} MiB/s",
            mib / store,
            mib / read
        );
    }
}
