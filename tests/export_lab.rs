//! `kvm-clone export` against the lab: offline and running VMs into an
//! encrypted repository in a temp dir; incremental exports, resume after a
//! kill, a missing checkpoint, a wrong passphrase. Running VMs are the
//! test's own (web01's definition with a fresh image), never the lab's.
//!
//! Run with KVM_CLONE_LAB_DIR=/work/main/target/lab
//! KVM_CLONE_LAB_SCRIPT=/work/main/tests/lab/lab from a worktree.

mod clone_util;
mod export_util;

use clone_util::{Env, lab, serial, wait_exit};
use export_util::{LiveVm, MIB, PASS, assert_clean, export, ok, open, repo, total};
use kvm_clone::repo::Repo;
use serde_json::Value;
use std::collections::BTreeMap;
use std::process::Stdio;
use std::time::{Duration, Instant};

/// The chunk index of a snapshot's disk: index → chunk id.
fn index(repo: &Repo, snapshot: &str, disk: &str) -> BTreeMap<u64, String> {
    let s = repo.load_snapshot(snapshot).expect("snapshot");
    let d = s
        .manifest
        .disks
        .iter()
        .find(|d| d.target == disk)
        .expect("disk");
    d.chunks
        .iter()
        .map(|c| (c.index, c.id.to_string()))
        .collect()
}

fn checkpoints(vm: &str) -> Vec<String> {
    lab()
        .virsh("alpha", &["checkpoint-list", "--name", vm])
        .lines()
        .map(|l| l.trim().to_string())
        .filter(|l| !l.is_empty())
        .collect()
}

#[test]
fn offline_export_and_unchanged_second_export() {
    let _serial = serial();
    let env = Env::new();
    let dir = tempfile::tempdir().unwrap();
    let path = repo(dir.path());
    let first = ok(export(&env, "archive01", &path, PASS));
    assert_eq!(first["live"], false);
    let data = total(&first, "data_bytes");
    assert!(data >= 60 * MIB, "archive01 holds ~64 MiB: {first}");
    assert!(total(&first, "read_bytes") >= data);
    assert!(
        total(&first, "read_bytes") < 1024 * MIB,
        "holes are not read: {first}"
    );
    assert!(total(&first, "new_bytes") > 0);

    let second = ok(export(&env, "archive01", &path, PASS));
    assert_eq!(second["parent"], first["snapshot"]);
    assert_eq!(total(&second, "data_bytes"), data);
    assert!(
        total(&second, "new_bytes") * 100 < data,
        "an unchanged VM stores < 1% new: {second}"
    );
    let r = open(&path);
    let a = first["snapshot"].as_str().unwrap();
    let b = second["snapshot"].as_str().unwrap();
    assert_eq!(index(&r, a, "vda"), index(&r, b, "vda"));
    assert_clean("archive01");
}

#[test]
fn wrong_passphrase_fails_cleanly() {
    let _serial = serial();
    let env = Env::new();
    let dir = tempfile::tempdir().unwrap();
    let path = repo(dir.path());
    let start = Instant::now();
    let (code, doc, stderr) = export(&env, "archive01", &path, "not the passphrase");
    assert_ne!(code, 0);
    let err = doc["error"].as_str().unwrap_or_default().to_lowercase();
    assert!(err.contains("passphrase"), "{doc} {stderr}");
    assert!(start.elapsed() < Duration::from_secs(60));
    assert!(open(&path).snapshots().unwrap().is_empty());
    assert_clean("archive01");
}

#[test]
fn running_vm_incremental_exports() {
    let _serial = serial();
    let env = Env::new();
    let dir = tempfile::tempdir().unwrap();
    let path = repo(dir.path());
    let vm = LiveVm::start("inc", 256 * MIB, 64 * MIB);

    let first = ok(export(&env, &vm.name, &path, PASS));
    assert_eq!(first["live"], true);
    assert!(total(&first, "data_bytes") >= 64 * MIB);
    let cp1 = first["checkpoint"]
        .as_str()
        .expect("a checkpoint")
        .to_string();
    assert_eq!(checkpoints(&vm.name), vec![cp1.clone()]);

    // Unchanged: read < 1% of the disk, store < 1% new.
    let second = ok(export(&env, &vm.name, &path, PASS));
    assert_eq!(second["incremental_from"].as_str(), Some(cp1.as_str()));
    assert!(total(&second, "read_bytes") * 100 < 256 * MIB, "{second}");
    assert!(total(&second, "new_bytes") * 100 < total(&first, "data_bytes"));
    let cp2 = second["checkpoint"].as_str().unwrap().to_string();
    assert_eq!(
        checkpoints(&vm.name),
        vec![cp2.clone()],
        "only the newest is kept"
    );

    // 10 MiB written at 100 MiB: chunks 25, 26 and 27 change, no others.
    vm.write(0x5a, 100, 10);
    let third = ok(export(&env, &vm.name, &path, PASS));
    assert_eq!(third["incremental_from"].as_str(), Some(cp2.as_str()));
    assert_eq!(total(&third, "read_bytes"), 12 * MIB, "{third}");
    let r = open(&path);
    let before = index(&r, second["snapshot"].as_str().unwrap(), "vda");
    let after = index(&r, third["snapshot"].as_str().unwrap(), "vda");
    let changed: Vec<u64> = after
        .iter()
        .filter(|(i, id)| before.get(i) != Some(id))
        .map(|(i, _)| *i)
        .collect();
    assert_eq!(changed, vec![25, 26, 27]);
    assert!(before.keys().all(|i| after.contains_key(i)));
    assert_eq!(checkpoints(&vm.name).len(), 1);

    // A missing checkpoint: a full read, and the report says why.
    let cp3 = third["checkpoint"].as_str().unwrap().to_string();
    lab().virsh("alpha", &["checkpoint-delete", &vm.name, &cp3]);
    let fourth = ok(export(&env, &vm.name, &path, PASS));
    let why = fourth["full_read_reason"].as_str().unwrap_or_default();
    assert!(why.contains(&cp3) && why.contains("missing"), "{fourth}");
    assert!(fourth["incremental_from"].is_null());
    assert!(total(&fourth, "read_bytes") >= 64 * MIB);
    assert!(total(&fourth, "new_bytes") * 100 < total(&fourth, "data_bytes"));
    assert_clean(&vm.name);
}

#[test]
fn killed_export_resumes_without_rereading() {
    let _serial = serial();
    let env = Env::new();
    // Slow enough to be killed halfway.
    env.profile(
        "slow-backup",
        "kind = \"export\"\nincremental = true\nbandwidth_limit = \"40MiB/s\"\n",
    );
    let dir = tempfile::tempdir().unwrap();
    let path = repo(dir.path());
    let vm = LiveVm::start("kill", 512 * MIB, 400 * MIB);
    let args = [
        "export",
        "--from",
        "alpha",
        "--vm",
        &vm.name,
        "--repo",
        path.to_str().unwrap(),
        "--profile",
        "slow-backup",
    ];
    let mut child = env
        .command(&args)
        .env("KVM_CLONE_PASSPHRASE", PASS)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // Wait until about a third is stored, by the resume state's lines.
    let state_dir = env.data.path().join("export-resume");
    let start = Instant::now();
    loop {
        let lines = std::fs::read_dir(&state_dir)
            .ok()
            .and_then(|mut rd| rd.next())
            .and_then(|e| e.ok())
            .and_then(|e| std::fs::read_to_string(e.path()).ok())
            // Stored chunks only: zero chunks are settled at once.
            .map_or(0, |s| s.lines().filter(|l| l.contains("\"c\":\"")).count());
        if lines > 30 {
            break;
        }
        assert!(start.elapsed() < Duration::from_secs(120), "no progress");
        assert!(child.try_wait().unwrap().is_none(), "export ended early");
        std::thread::sleep(Duration::from_millis(100));
    }
    child.kill().unwrap();
    wait_exit(&mut child, Duration::from_secs(10));

    let mut args = args.to_vec();
    args.push("--json");
    let out = env
        .command(&args)
        .env("KVM_CLONE_PASSPHRASE", PASS)
        .output()
        .unwrap();
    let doc: Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stderr)));
    assert_eq!(out.status.code(), Some(0), "{doc}");
    let r = &doc["result"];
    let resumed = r["resumed_chunks"].as_u64().unwrap();
    assert!(resumed >= 25, "{r}");
    let data = total(r, "data_bytes");
    assert!(data >= 400 * MIB);
    assert!(
        total(r, "read_bytes") <= data - resumed * 4 * MIB,
        "stored chunks were read again: {r}"
    );
    let repo = open(&path);
    let report = kvm_clone::repo::verify::verify(&repo, None, true).unwrap();
    assert!(report.is_ok(), "{report:?}");
    assert_eq!(
        checkpoints(&vm.name).len(),
        1,
        "the killed run's checkpoint is gone"
    );
    assert!(!state_dir.exists() || std::fs::read_dir(&state_dir).unwrap().next().is_none());
    assert_clean(&vm.name);
}

/// The profile's retention runs after a successful export: with
/// `keep_last = 1` (the operator's own quick-backup), the second export of
/// archive01 removes the first snapshot and reports it.
#[test]
fn profile_retention_prunes_after_the_export() {
    let _serial = serial();
    let env = Env::new();
    let profiles = env.home.path().join("kvm-clone/profiles");
    std::fs::create_dir_all(&profiles).unwrap();
    std::fs::write(
        profiles.join("quick-backup.toml"),
        "name = \"quick-backup\"\nkind = \"export\"\n[retention]\nkeep_last = 1\n",
    )
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = repo(dir.path());
    let first = ok(export(&env, "archive01", &path, PASS));
    assert_eq!(first["pruned"], serde_json::json!([]), "{first}");
    let second = ok(export(&env, "archive01", &path, PASS));
    assert_eq!(
        second["pruned"],
        serde_json::json!([first["snapshot"]]),
        "{second}"
    );
    let left: Vec<String> = open(&path)
        .snapshots()
        .unwrap()
        .into_iter()
        .map(|s| s.id.to_string())
        .collect();
    assert_eq!(left, [second["snapshot"].as_str().unwrap().to_string()]);
    assert_clean("archive01");
}

/// `verify --read-data --repair` removes a damaged chunk file; the next
/// (incremental) export reads that unchanged chunk again instead of
/// referencing the missing file, which makes the older snapshot whole too.
#[test]
fn a_repaired_chunk_is_read_again_and_heals_the_older_snapshot() {
    let _serial = serial();
    let env = Env::new();
    let dir = tempfile::tempdir().unwrap();
    let path = repo(dir.path());
    let vm = LiveVm::start("heal", 256 * MIB, 64 * MIB);
    let first = ok(export(&env, &vm.name, &path, PASS));
    let snap = first["snapshot"].as_str().unwrap().to_string();
    let r = open(&path);
    let chunk = r.load_snapshot(&snap).unwrap().manifest.disks[0].chunks[0].id;
    let file = r.chunk_path(&chunk);
    let mut bytes = std::fs::read(&file).unwrap();
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0x40;
    std::fs::write(&file, bytes).unwrap();

    let verify = |extra: &[&str]| {
        let mut args = vec!["verify", "--repo", path.to_str().unwrap(), "--read-data"];
        args.extend_from_slice(extra);
        env.json_with(&args, &[("KVM_CLONE_PASSPHRASE", PASS)])
    };
    let (code, found) = verify(&[]);
    assert_eq!(code, 5, "{found:#}");
    assert_eq!(found["damage"][0]["snapshot"].as_str(), Some(snap.as_str()));
    assert!(file.exists(), "verify alone removes nothing");

    let (code, repaired) = verify(&["--repair"]);
    assert_eq!(code, 5, "the snapshot is still incomplete: {repaired:#}");
    assert_eq!(
        repaired["repaired"][0].as_str(),
        Some(chunk.to_string().as_str())
    );
    assert!(!file.exists());

    // Unchanged VM: an incremental that reads only the missing chunk.
    let second = ok(export(&env, &vm.name, &path, PASS));
    assert!(second["incremental_from"].is_string(), "{second}");
    assert_eq!(total(&second, "read_bytes"), 4 * MIB, "{second}");
    let warned = second["warnings"].as_array().unwrap();
    assert!(
        warned
            .iter()
            .any(|w| w.as_str().unwrap_or_default().contains("read again")),
        "{second}"
    );
    assert!(file.exists(), "stored again under the same id");
    let (code, clean) = verify(&[]);
    assert_eq!(code, 0, "both snapshots are whole: {clean:#}");
    assert_eq!(clean["snapshots"], 2);
    assert_clean(&vm.name);
}
