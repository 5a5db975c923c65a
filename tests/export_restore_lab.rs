//! Export then restore end to end through the real binary: an offline VM
//! (archive01) and a running VM of the test's own go into an encrypted
//! repository in a temp dir and come back on beta equal to the source and
//! thin; prune with a retention policy keeps exactly the newest snapshots,
//! which still verify and extract equal to the source.
//!
//! Run with KVM_CLONE_LAB_DIR=/work/main/target/lab
//! KVM_CLONE_LAB_SCRIPT=/work/main/tests/lab/lab from a worktree.

mod clone_util;
mod export_util;

use clone_util::{Cleanup, Env, allocated, disks, identical, lab, local, serial, snapshot};
use export_util::{LiveVm, MIB, PASS, assert_clean, export, ok, open, repo, total};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// `kvm-clone <args> --json` with the repository's passphrase.
fn run(env: &Env, args: &[&str]) -> (i32, Value) {
    env.json_with(args, &[("KVM_CLONE_PASSPHRASE", PASS)])
}

/// Restores `snapshot` (of a one-disk VM) to beta as `name`; returns the
/// restored image (seen from here).
fn restore_to_beta(env: &Env, repo: &Path, snapshot: &str, name: &str) -> PathBuf {
    let mut disks = restore_all_to_beta(env, repo, snapshot, name);
    assert_eq!(disks.len(), 1, "{disks:?}");
    disks.remove(0)
}

/// Restores `snapshot` to beta as `name` and checks the domain exists;
/// returns the restored images of every disk, in the snapshot's disk order.
fn restore_all_to_beta(env: &Env, repo: &Path, snapshot: &str, name: &str) -> Vec<PathBuf> {
    let (code, doc) = run(
        env,
        &[
            "restore",
            "--repo",
            repo.to_str().unwrap(),
            "--snapshot",
            snapshot,
            "--to",
            "beta",
            "--name",
            name,
        ],
    );
    assert_eq!(code, 0, "{doc:#}");
    assert_eq!(doc["result"]["name"], name);
    assert!(lab().domains("beta").contains(&name.to_string()));
    disks(&doc).iter().map(|d| local("beta", d)).collect()
}

/// The restored image allocates about the data, not the virtual size.
fn assert_thin(image: &Path, data: u64, virtual_size: u64) {
    let alloc = allocated(image);
    assert!(
        alloc <= data + 8 * MIB && alloc < virtual_size / 2,
        "{} allocates {alloc} bytes for {data} bytes of data",
        image.display()
    );
}

/// The source image of a snapshot's only disk, on alpha, seen from here.
fn source_image(repo: &Path, snapshot: &str) -> PathBuf {
    let s = open(repo).load_snapshot(snapshot).expect("snapshot");
    assert_eq!(s.manifest.disks.len(), 1);
    local("alpha", &s.manifest.disks[0].source_path)
}

#[test]
fn offline_vm_exports_and_restores_equal_and_thin() {
    let _serial = serial();
    let env = Env::new();
    let dir = tempfile::tempdir().unwrap();
    let path = repo(dir.path());
    let before = snapshot("beta");
    let exported = ok(export(&env, "archive01", &path, PASS));
    assert_eq!(exported["live"], false);
    let id = exported["snapshot"].as_str().expect("snapshot id");
    let source = source_image(&path, id);
    let name = format!("rs-e2e-off-{}", std::process::id());
    let (guard, restored) = restore_equals(&env, &path, &exported, name, &source);
    assert_thin(
        &restored,
        total(&exported, "data_bytes"),
        total(&exported, "virtual_bytes"),
    );
    drop(guard);
    assert_eq!(snapshot("beta"), before, "beta is left as it was");
    assert_clean("archive01");
}

/// Restores `exported`'s snapshot to beta as `name` and checks it equals
/// `image`; the guard removes it again. Returns the restored image too.
fn restore_equals(
    env: &Env,
    repo: &Path,
    exported: &Value,
    name: String,
    image: &Path,
) -> (Cleanup, PathBuf) {
    let id = exported["snapshot"].as_str().expect("snapshot id");
    let guard = Cleanup {
        host: "beta",
        name: name.clone(),
    };
    let restored = restore_to_beta(env, repo, id, &name);
    assert!(
        identical(image, &restored),
        "the restore {} of {id} differs from {}",
        restored.display(),
        image.display()
    );
    (guard, restored)
}

#[test]
fn running_vm_exports_and_restores_equal_and_thin() {
    let _serial = serial();
    let env = Env::new();
    let dir = tempfile::tempdir().unwrap();
    let path = repo(dir.path());
    let before = snapshot("beta");
    // The VM boots nothing, so its disk does not change after the export
    // and its image (read with -U) is the content at export time.
    let vm = LiveVm::start("e2e", 256 * MIB, 48 * MIB);
    let exported = ok(export(&env, &vm.name, &path, PASS));
    assert_eq!(exported["live"], true, "{exported}");
    let pid = std::process::id();
    let (guard, restored) = restore_equals(
        &env,
        &path,
        &exported,
        format!("rs-e2e-live-{pid}"),
        &vm.image,
    );
    let data = total(&exported, "data_bytes");
    assert!(data >= 48 * MIB, "{exported}");
    assert_thin(&restored, data, 256 * MIB);
    drop(guard);

    // 10 MiB written into the running disk: the incremental export reads
    // little more than that, and its restore matches the changed disk.
    vm.write(0x5a, 100, 10);
    let incremental = ok(export(&env, &vm.name, &path, PASS));
    assert_eq!(incremental["parent"], exported["snapshot"], "{incremental}");
    assert!(
        incremental["incremental_from"].is_string(),
        "an incremental backup: {incremental}"
    );
    let read = total(&incremental, "read_bytes");
    assert!(
        (10 * MIB..=20 * MIB).contains(&read),
        "reads the 10 MiB change (in whole chunks), not the disk: {incremental}"
    );
    let (guard, _) = restore_equals(
        &env,
        &path,
        &incremental,
        format!("rs-e2e-inc-{pid}"),
        &vm.image,
    );
    drop(guard);
    assert_eq!(snapshot("beta"), before, "beta is left as it was");
    assert_clean(&vm.name);
}

/// Snapshot ids `kvm-clone snapshots --vm VM` lists, newest first.
fn listed(env: &Env, repo: &Path, vm: &str) -> Vec<String> {
    let (code, doc) = run(
        env,
        &["snapshots", "--repo", repo.to_str().unwrap(), "--vm", vm],
    );
    assert_eq!(code, 0, "{doc:#}");
    doc["snapshots"]
        .as_array()
        .expect("snapshots")
        .iter()
        .map(|s| s["id"].as_str().expect("id").to_string())
        .collect()
}

#[test]
fn prune_keeps_the_newest_and_they_still_verify_and_extract() {
    let _serial = serial();
    let env = Env::new();
    let dir = tempfile::tempdir().unwrap();
    let path = repo(dir.path());
    let repo_arg = path.to_str().unwrap();
    let mut ids = Vec::new();
    for n in 0..3 {
        if n > 0 {
            // Distinct export times, so "newest" is the order of the runs.
            std::thread::sleep(Duration::from_millis(1100));
        }
        let r = ok(export(&env, "archive01", &path, PASS));
        ids.push(r["snapshot"].as_str().expect("snapshot id").to_string());
    }
    let newest_first: Vec<String> = ids.iter().rev().cloned().collect();
    assert_eq!(listed(&env, &path, "archive01"), newest_first);

    // A dry run says what a real run removes and changes nothing.
    let chunks = |p: &Path| walkdir_count(&p.join("chunks"));
    let chunks_before = chunks(&path);
    let prune = ["prune", "--repo", repo_arg, "--keep-last", "2"];
    let mut dry = prune.to_vec();
    dry.push("--dry-run");
    let (code, doc) = run(&env, &dry);
    assert_eq!(code, 0, "{doc:#}");
    assert_eq!(doc["dry_run"], true);
    assert_eq!(doc["kept"], 2, "{doc:#}");
    assert_eq!(doc["removed"], 1, "{doc:#}");
    let removed: Vec<&str> = doc["snapshots"]
        .as_array()
        .expect("snapshots")
        .iter()
        .filter(|s| s["keep"] == false)
        .filter_map(|s| s["id"].as_str())
        .collect();
    assert_eq!(removed, vec![ids[0].as_str()], "{doc:#}");
    assert_eq!(listed(&env, &path, "archive01"), newest_first);
    assert_eq!(chunks(&path), chunks_before);

    let (code, doc) = run(&env, &prune);
    assert_eq!(code, 0, "{doc:#}");
    assert_eq!(doc["dry_run"], false);
    assert_eq!(doc["removed"], 1, "{doc:#}");
    assert_eq!(listed(&env, &path, "archive01"), newest_first[..2].to_vec());

    let (code, doc) = run(&env, &["verify", "--repo", repo_arg, "--read-data"]);
    assert_eq!(code, 0, "{doc:#}");
    assert_eq!(doc["ok"], true, "{doc:#}");
    assert_eq!(doc["snapshots"], 2, "{doc:#}");

    // The older kept one, whose parent is gone, still extracts equal.
    let out = tempfile::tempdir().unwrap();
    let file = out.path().join("vda.raw");
    let (code, doc) = run(
        &env,
        &[
            "extract",
            "--repo",
            repo_arg,
            "--snapshot",
            &ids[1],
            "--disk",
            "vda",
            "--out",
            file.to_str().unwrap(),
        ],
    );
    assert_eq!(code, 0, "{doc:#}");
    assert!(identical(&source_image(&path, &ids[1]), &file));
    assert_clean("archive01");
}

/// Files under a directory, recursively.
fn walkdir_count(dir: &Path) -> usize {
    std::fs::read_dir(dir)
        .expect("read dir")
        .flatten()
        .map(|e| {
            if e.file_type().expect("file type").is_dir() {
                walkdir_count(&e.path())
            } else {
                1
            }
        })
        .sum()
}

/// The lab's own VMs through export and restore: web01 (running, read
/// through a pull backup; it boots nothing, so its disk does not change),
/// multi01 (shut off, two disks) and shared01 (shut off; a VM of that name
/// also exists on beta, so the restore must take a new name there).
/// archive01 has its own test below. Every restored disk equals its source.
#[test]
fn lab_vms_export_and_restore_equal() {
    let _serial = serial();
    let env = Env::new();
    let dir = tempfile::tempdir().unwrap();
    let path = repo(dir.path());
    let before = snapshot("beta");
    // The export leaves its checkpoint on web01 for the next incremental;
    // the lab's own VM gets none left behind.
    struct DropCheckpoints(&'static str);
    impl Drop for DropCheckpoints {
        fn drop(&mut self) {
            let list = lab().virsh("alpha", &["checkpoint-list", "--name", self.0]);
            for cp in list
                .lines()
                .map(str::trim)
                .filter(|l| l.starts_with("kvm-clone-"))
            {
                lab().virsh("alpha", &["checkpoint-delete", self.0, cp]);
            }
        }
    }
    let _checkpoints = DropCheckpoints("web01");
    for (vm, live) in [("web01", true), ("multi01", false), ("shared01", false)] {
        let exported = ok(export(&env, vm, &path, PASS));
        assert_eq!(exported["live"], live, "{exported}");
        let id = exported["snapshot"].as_str().expect("snapshot id");
        if vm == "shared01" {
            // beta has its own shared01 (another UUID): restoring this one
            // under its own identity is refused for the name alone.
            let (code, doc) = run(
                &env,
                &[
                    "restore",
                    "--repo",
                    path.to_str().unwrap(),
                    "--snapshot",
                    id,
                    "--to",
                    "beta",
                    "--keep-identity",
                ],
            );
            assert_eq!(code, 3, "{doc:#}");
            let failed: Vec<&str> = doc["validation"]["items"]
                .as_array()
                .expect("validation items")
                .iter()
                .filter(|i| i["status"] == "fail")
                .filter_map(|i| i["id"].as_str())
                .collect();
            assert_eq!(failed, ["dest_name_free"], "{doc:#}");
            assert_eq!(
                snapshot("beta"),
                before,
                "a refused restore changes nothing"
            );
        }
        let sources: Vec<PathBuf> = open(&path)
            .load_snapshot(id)
            .expect("snapshot")
            .manifest
            .disks
            .iter()
            .map(|d| local("alpha", &d.source_path))
            .collect();
        let name = format!("rs-e2e-{vm}-{}", std::process::id());
        let guard = Cleanup {
            host: "beta",
            name: name.clone(),
        };
        let restored = restore_all_to_beta(&env, &path, id, &name);
        assert_eq!(restored.len(), sources.len(), "{vm}: {restored:?}");
        for (src, dst) in sources.iter().zip(&restored) {
            assert!(
                identical(src, dst),
                "{vm}: {} differs from {}",
                dst.display(),
                src.display()
            );
        }
        drop(guard);
        assert_clean(vm);
    }
    assert_eq!(snapshot("beta"), before, "beta is left as it was");
}
