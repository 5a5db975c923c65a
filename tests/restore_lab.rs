//! Restore and extract through the real binary, from repositories built in
//! the test with the library (from the lab's image files, read locally):
//! restores to beta that are equal to the source and thin, the same
//! machine with --keep-identity, a damaged chunk that fails the restore and
//! leaves beta as it was, and extracts to raw and qcow2 files.

mod clone_util;

use clone_util::{
    Cleanup, Env, allocated, disks, identical, lab, local, macs, run_dirs, snapshot, wait_exit,
};
use kvm_clone::repo::{
    ChunkRef, DiskIndex, InitEncryption, InitOptions, Manifest, Repo, SnapshotId, Totals,
};
use serde_json::Value;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::Command;

const CHUNK: u32 = 1 << 20;

/// A repository in a temp dir holding one snapshot.
struct Snap {
    dir: tempfile::TempDir,
    id: SnapshotId,
    /// Each disk's guest-visible content as a raw file, for comparisons.
    raws: Vec<PathBuf>,
    manifest: Manifest,
}

impl Snap {
    fn repo(&self) -> PathBuf {
        self.dir.path().join("repo")
    }
    fn id(&self) -> String {
        self.id.to_string()
    }
}

/// The guest-visible content of an image as a sparse raw file in `dir`.
fn as_raw(dir: &Path, image: &Path, format: &str) -> PathBuf {
    let out = dir.join(format!(
        "{}.raw",
        image.file_name().unwrap().to_string_lossy()
    ));
    let st = Command::new("qemu-img")
        .args(["convert", "-U", "-f", format, "-O", "raw"])
        .arg(image)
        .arg(&out)
        .status()
        .expect("qemu-img convert");
    assert!(st.success());
    out
}

/// Cuts a raw file into chunks the way an export does: all-zero chunks
/// are not stored.
fn store_disk(repo: &Repo, target: &str, raw: &Path, format: &str, source: &str) -> DiskIndex {
    use std::io::Read;
    let size = std::fs::metadata(raw).unwrap().len();
    let mut f = std::fs::File::open(raw).unwrap();
    let mut chunks = Vec::new();
    let mut buf = vec![0u8; CHUNK as usize];
    let mut index = 0u64;
    let mut pos = 0u64;
    while pos < size {
        let n = (size - pos).min(u64::from(CHUNK)) as usize;
        f.read_exact(&mut buf[..n]).unwrap();
        if buf[..n].iter().any(|&b| b != 0) {
            let stored = repo.store_chunk(&buf[..n]).unwrap();
            chunks.push(ChunkRef {
                index,
                id: stored.id,
            });
        }
        pos += n as u64;
        index += 1;
    }
    DiskIndex {
        target: target.into(),
        virtual_size: size,
        format: format.into(),
        source_path: source.into(),
        chunk_size: CHUNK,
        chunks,
    }
}

/// A snapshot of `vm` on alpha, its XML changed by `xml` (e.g. a rename).
fn snapshot_of(vm: &str, enc: InitEncryption, xml: impl Fn(String) -> String) -> Snap {
    let dir = tempfile::tempdir().unwrap();
    let opts = InitOptions {
        encryption: enc,
        chunk_size: CHUNK,
        scrypt_log_n: Some(10),
    };
    let repo = Repo::init(&dir.path().join("repo"), &opts).unwrap();
    let domain_xml = xml(lab().virsh("alpha", &["dumpxml", "--inactive", "--security-info", vm]));
    let parsed = kvm_clone::libvirt::domain::parse_domain(&domain_xml).unwrap();
    let mut disks = Vec::new();
    let mut raws = Vec::new();
    for d in parsed.disks.iter().filter(|d| d.device == "disk") {
        let path = d.source.path().unwrap().to_string();
        let format = d.format.clone().unwrap_or_else(|| "raw".into());
        let raw = as_raw(dir.path(), &local("alpha", &path), &format);
        disks.push(store_disk(&repo, &d.target, &raw, &format, &path));
        raws.push(raw);
    }
    let uuid = domain_xml
        .split("<uuid>")
        .nth(1)
        .and_then(|s| s.split("</uuid>").next())
        .unwrap()
        .to_string();
    let manifest = Manifest {
        format_version: 1,
        vm: parsed_name(&domain_xml),
        vm_uuid: uuid,
        host: "alpha".into(),
        profile: "default".into(),
        time: 1_700_000_000,
        parent: None,
        live: false,
        checkpoint: None,
        domain_xml,
        nvram: None,
        disks,
        totals: Totals::default(),
    };
    let id = repo.commit_snapshot(&manifest).unwrap();
    Snap {
        dir,
        id,
        raws,
        manifest,
    }
}

fn parsed_name(xml: &str) -> String {
    xml.split("<name>")
        .nth(1)
        .and_then(|s| s.split("</name>").next())
        .unwrap()
        .to_string()
}

fn restore(env: &Env, snap: &Snap, extra: &[&str]) -> (i32, Value) {
    let repo = snap.repo();
    let id = snap.id();
    let mut args = vec![
        "restore",
        "--repo",
        repo.to_str().unwrap(),
        "--snapshot",
        &id,
        "--to",
        "beta",
    ];
    args.extend_from_slice(extra);
    env.json(&args)
}

fn data_bytes(snap: &Snap) -> u64 {
    snap.manifest
        .disks
        .iter()
        .map(|d| d.chunks.len() as u64 * u64::from(CHUNK))
        .sum()
}

#[test]
fn restore_under_a_new_name_equals_the_source_and_stays_thin() {
    let _serial = clone_util::serial();
    let snap = snapshot_of("archive01", InitEncryption::None, |x| x);
    let env = Env::new();
    let name = format!("rs-new-{}", std::process::id());
    let _guard = Cleanup {
        host: "beta",
        name: name.clone(),
    };
    let (code, doc) = restore(&env, &snap, &["--name", &name]);
    assert_eq!(code, 0, "{doc:#}");
    assert_eq!(doc["ok"], true);
    assert_eq!(
        doc["result"]["verified"], true,
        "the default profile verifies"
    );
    assert_eq!(doc["result"]["name"], name.as_str());
    assert!(lab().domains("beta").contains(&name));
    let uuid = lab().virsh("beta", &["domuuid", &name]).trim().to_string();
    assert_eq!(doc["result"]["uuid"].as_str(), Some(uuid.as_str()));
    assert_ne!(uuid, snap.manifest.vm_uuid);
    let (old, new) = (macs("alpha", "archive01"), macs("beta", &name));
    assert_eq!(old.len(), new.len());
    assert!(new.iter().all(|m| !old.contains(m)), "{old:?} {new:?}");
    let disks = disks(&doc);
    assert_eq!(disks.len(), 1);
    let restored = local("beta", &disks[0]);
    assert!(identical(&snap.raws[0], &restored));
    // Thin: about the data the snapshot holds, not the 1 GiB virtual size.
    let data = data_bytes(&snap);
    let alloc = allocated(&restored);
    assert!(
        alloc <= data + (8 << 20),
        "restored image allocates {alloc} bytes for {data} bytes of data"
    );
    // The history has the job as a restore of archive01.
    let (code, hist) = env.json(&["history", "--kind", "restore"]);
    assert_eq!(code, 0);
    let jobs = hist["jobs"].as_array().expect("jobs");
    assert_eq!(jobs.len(), 1, "{hist:#}");
    assert_eq!(jobs[0]["vm"], "archive01");
    assert_eq!(jobs[0]["to"], "beta");
    assert_eq!(jobs[0]["result"], "done");
    assert_eq!(jobs[0]["job"], doc["job_id"]);
}

#[test]
fn a_two_disk_vm_restores_with_the_default_name_and_mixed_formats() {
    let _serial = clone_util::serial();
    // multi01 under a temp name, so the default name is unique too.
    let vm = format!("rs-m-{}", std::process::id());
    let snap = snapshot_of("multi01", InitEncryption::None, |x| {
        x.replace("<name>multi01</name>", &format!("<name>{vm}</name>"))
    });
    let env = Env::new();
    // No --name: <vm>-restored.
    let name = format!("{vm}-restored");
    let _guard = Cleanup {
        host: "beta",
        name: name.clone(),
    };
    let (code, doc) = restore(&env, &snap, &[]);
    assert_eq!(code, 0, "{doc:#}");
    assert_eq!(doc["result"]["name"], name.as_str());
    let disks = disks(&doc);
    assert_eq!(disks.len(), 2);
    for (raw, d) in snap.raws.iter().zip(&disks) {
        assert!(identical(raw, &local("beta", d)), "{d}");
        // The disks had different formats: the profile's (qcow2) for both.
        assert!(d.ends_with(".qcow2"), "{d}");
    }
}

#[test]
fn keep_identity_restores_the_same_machine_once() {
    let _serial = clone_util::serial();
    // A VM no lab host has: archive01's XML under a temp name and UUID.
    let name = format!("rs-ki-{}", std::process::id());
    let new_uuid = uuid::Uuid::new_v4().to_string();
    let snap = snapshot_of("archive01", InitEncryption::None, |x| {
        x.replace("<name>archive01</name>", &format!("<name>{name}</name>"))
            .replace(
                &format!("<uuid>{}</uuid>", uuid_of(&x)),
                &format!("<uuid>{new_uuid}</uuid>"),
            )
    });
    let env = Env::new();
    let _guard = Cleanup {
        host: "beta",
        name: name.clone(),
    };
    let before = snapshot("beta");
    let (code, doc) = restore(&env, &snap, &["--keep-identity"]);
    assert_eq!(code, 0, "{doc:#}");
    assert_eq!(doc["result"]["name"], name.as_str());
    assert_eq!(doc["result"]["keep_identity"], true);
    assert_eq!(
        lab().virsh("beta", &["domuuid", &name]).trim(),
        new_uuid.as_str()
    );
    assert_eq!(macs("beta", &name), macs("alpha", "archive01"));
    let disks = disks(&doc);
    assert!(identical(&snap.raws[0], &local("beta", &disks[0])));

    // Again: the name and the UUID are taken now; refused, nothing changes.
    let during = snapshot("beta");
    let (code, doc) = restore(&env, &snap, &["--keep-identity"]);
    assert_eq!(code, 3, "{doc:#}");
    let failed: Vec<&str> = doc["validation"]["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|i| i["status"] == "fail")
        .filter_map(|i| i["id"].as_str())
        .collect();
    assert!(failed.contains(&"dest_name_free"), "{failed:?}");
    assert!(failed.contains(&"dest_uuid_free"), "{failed:?}");
    assert_eq!(snapshot("beta"), during);
    assert_ne!(before, during);
}

fn uuid_of(xml: &str) -> String {
    xml.split("<uuid>")
        .nth(1)
        .and_then(|s| s.split("</uuid>").next())
        .unwrap()
        .to_string()
}

/// The file of one stored chunk.
fn chunk_file(snap: &Snap, disk: usize, nth: usize) -> PathBuf {
    let hex = snap.manifest.disks[disk].chunks[nth].id.to_string();
    snap.repo().join("chunks").join(&hex[..2]).join(&hex)
}

#[test]
fn a_damaged_chunk_fails_the_restore_and_leaves_beta_as_it_was() {
    let _serial = clone_util::serial();
    let snap = snapshot_of("archive01", InitEncryption::None, |x| x);
    let file = chunk_file(&snap, 0, snap.manifest.disks[0].chunks.len() / 2);
    let mut bytes = std::fs::read(&file).unwrap();
    let at = bytes.len() / 2;
    bytes[at] ^= 0x40;
    std::fs::write(&file, bytes).unwrap();
    let env = Env::new();
    let name = format!("rs-dmg-{}", std::process::id());
    let _guard = Cleanup {
        host: "beta",
        name: name.clone(),
    };
    let before = snapshot("beta");
    let (code, doc) = restore(&env, &snap, &["--name", &name]);
    assert_eq!(code, 1, "{doc:#}");
    let error = doc["error"].as_str().unwrap_or_default();
    assert!(error.contains("disk vda"), "{error}");
    assert!(!lab().domains("beta").contains(&name));
    assert_eq!(snapshot("beta"), before, "nothing is left on beta");
    // Extract fails the same way, and leaves no file, partial or temp.
    let out = tempfile::tempdir().unwrap();
    for file in ["vda.raw", "vda.qcow2"] {
        let (code, doc) = extract(&env, &snap, &out.path().join(file), &[]);
        assert_eq!(code, 1, "{doc:#}");
        assert!(
            doc["error"].as_str().unwrap().contains("disk vda"),
            "{doc:#}"
        );
        assert_eq!(std::fs::read_dir(out.path()).unwrap().count(), 0, "{file}");
    }
}

fn extract(env: &Env, snap: &Snap, out: &Path, extra: &[&str]) -> (i32, Value) {
    let repo = snap.repo();
    let id = snap.id();
    let mut args = vec![
        "extract",
        "--repo",
        repo.to_str().unwrap(),
        "--snapshot",
        &id,
        "--disk",
        "vda",
        "--out",
        out.to_str().unwrap(),
    ];
    args.extend_from_slice(extra);
    env.json(&args)
}

#[test]
fn extract_writes_sparse_raw_and_qcow2_files_and_never_overwrites() {
    let snap = snapshot_of("archive01", InitEncryption::None, |x| x);
    let env = Env::new();
    let out = tempfile::tempdir().unwrap();
    let data = data_bytes(&snap);
    for file in ["vda.raw", "vda.qcow2"] {
        let path = out.path().join(file);
        let (code, doc) = extract(&env, &snap, &path, &[]);
        assert_eq!(code, 0, "{doc:#}");
        assert!(identical(&snap.raws[0], &path), "{file}");
        let alloc = allocated(&path);
        assert!(
            alloc <= data + (8 << 20),
            "{file}: {alloc} bytes for {data}"
        );
        // A second run refuses and leaves the file alone.
        let before = std::fs::metadata(&path).unwrap().mtime_nsec();
        let (code, doc) = extract(&env, &snap, &path, &[]);
        assert_eq!(code, 1, "{doc:#}");
        assert!(doc["error"].as_str().unwrap().contains("exists"), "{doc:#}");
        assert_eq!(std::fs::metadata(&path).unwrap().mtime_nsec(), before);
    }
    // Nothing but the two outputs: no temp files left behind.
    assert_eq!(std::fs::read_dir(out.path()).unwrap().count(), 2);
    // An extension that names no format is refused before anything is written.
    let out2 = env.run(&[
        "extract",
        "--repo",
        snap.repo().to_str().unwrap(),
        "--snapshot",
        &snap.id(),
        "--disk",
        "vda",
        "--out",
        out.path().join("x.vmdk").to_str().unwrap(),
    ]);
    assert!(!out2.status.success());
    assert_eq!(std::fs::read_dir(out.path()).unwrap().count(), 2);
}

#[test]
fn extract_from_an_encrypted_repository_needs_the_passphrase() {
    let pass = "rs-correct horse battery";
    let snap = snapshot_of(
        "archive01",
        InitEncryption::Passphrase(zeroize::Zeroizing::new(pass.to_string())),
        |x| x,
    );
    let env = Env::new();
    let out = tempfile::tempdir().unwrap();
    let path = out.path().join("vda.raw");
    let repo = snap.repo();
    let id = snap.id();
    let args = [
        "extract",
        "--repo",
        repo.to_str().unwrap(),
        "--snapshot",
        &id,
        "--disk",
        "vda",
        "--out",
        path.to_str().unwrap(),
    ];
    let wrong = env
        .command(&args)
        .env("KVM_CLONE_PASSPHRASE", "not it")
        .output()
        .unwrap();
    assert!(!wrong.status.success());
    assert!(!path.exists());
    let right = env
        .command(&args)
        .env("KVM_CLONE_PASSPHRASE", pass)
        .output()
        .unwrap();
    assert!(
        right.status.success(),
        "{}",
        String::from_utf8_lossy(&right.stderr)
    );
    assert!(identical(&snap.raws[0], &path));
}

#[test]
fn ctrl_c_cancels_a_restore_and_leaves_beta_as_it_was() {
    let _serial = clone_util::serial();
    let snap = snapshot_of("archive01", InitEncryption::None, |x| x);
    let env = Env::new();
    env.profile("slow", "bandwidth_limit = \"4MiB/s\"\n");
    let name = format!("rs-cancel-{}", std::process::id());
    let _guard = Cleanup {
        host: "beta",
        name: name.clone(),
    };
    let before = snapshot("beta");
    let dirs = run_dirs();
    let (repo, id) = (snap.repo(), snap.id());
    let mut child = env.until_copying(&[
        "restore",
        "--repo",
        repo.to_str().unwrap(),
        "--snapshot",
        &id,
        "--to",
        "beta",
        "--name",
        &name,
        "--profile",
        "slow",
    ]);
    // SAFETY: signalling our own child process.
    unsafe { libc::kill(child.id() as i32, libc::SIGINT) };
    let st = wait_exit(&mut child, std::time::Duration::from_secs(120));
    assert_eq!(st.code(), Some(4), "exit code of a cancelled restore");
    assert_eq!(snapshot("beta"), before, "beta changed");
    assert_eq!(run_dirs(), dirs, "run directories left behind");
}

#[test]
fn dry_run_checks_the_chunks_and_changes_nothing() {
    let _serial = clone_util::serial();
    let snap = snapshot_of("archive01", InitEncryption::None, |x| x);
    let env = Env::new();
    let name = format!("rs-dry-{}", std::process::id());
    let _guard = Cleanup {
        host: "beta",
        name: name.clone(),
    };
    let before = snapshot("beta");
    let item = |doc: &Value, id: &str| -> String {
        doc["items"]
            .as_array()
            .unwrap()
            .iter()
            .find(|i| i["id"] == id)
            .map(|i| i["status"].as_str().unwrap().to_string())
            .unwrap_or_else(|| panic!("no {id} in {doc:#}"))
    };
    let (code, doc) = restore(&env, &snap, &["--name", &name, "--dry-run"]);
    assert_eq!(code, 0, "{doc:#}");
    assert_eq!(item(&doc, "snapshot_chunks"), "pass");
    // Space on beta depends on what else runs there: it must not block.
    assert_ne!(item(&doc, "dest_space"), "fail");
    // A chunk file gone: the checklist fails before anything starts.
    std::fs::remove_file(chunk_file(&snap, 0, 0)).unwrap();
    let (code, doc) = restore(&env, &snap, &["--name", &name, "--dry-run"]);
    assert_eq!(code, 3, "{doc:#}");
    assert_eq!(item(&doc, "snapshot_chunks"), "fail");
    let (code, doc) = restore(&env, &snap, &["--name", &name]);
    assert_eq!(code, 3, "{doc:#}");
    assert_eq!(doc["ok"], false);
    assert_eq!(snapshot("beta"), before);
}
