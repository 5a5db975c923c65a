//! Helpers for export tests against the lab: an encrypted repository in a
//! temp dir, `kvm-clone export --json` through the real binary, a running
//! VM of the test's own, and the check that an export left the lab clean.
//! Needs `mod clone_util;` declared before it in the test crate.
#![allow(dead_code)]

use crate::clone_util::{Cleanup, Env, images, lab, run_dirs};
use kvm_clone::repo::{InitEncryption, InitOptions, Repo, Unlock};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Command;
use zeroize::Zeroizing;

pub const MIB: u64 = 1 << 20;
pub const PASS: &str = "export-lab correct horse";

/// A fresh encrypted repository (cheap scrypt: tests only).
pub fn repo(dir: &Path) -> PathBuf {
    let path = dir.join("repo");
    Repo::init(
        &path,
        &InitOptions {
            encryption: InitEncryption::Passphrase(Zeroizing::new(PASS.into())),
            scrypt_log_n: Some(10),
            ..InitOptions::default()
        },
    )
    .expect("repo init");
    path
}

pub fn open(path: &Path) -> Repo {
    Repo::open(path, &Unlock::Passphrase(Zeroizing::new(PASS.into()))).expect("repo open")
}

/// `kvm-clone export … --json` with the passphrase in the environment.
pub fn export(env: &Env, vm: &str, repo: &Path, pass: &str) -> (i32, Value, String) {
    let out = env
        .command(&[
            "export",
            "--from",
            "alpha",
            "--vm",
            vm,
            "--repo",
            repo.to_str().unwrap(),
            "--json",
        ])
        .env("KVM_CLONE_PASSPHRASE", pass)
        .output()
        .expect("run kvm-clone export");
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    let doc = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "no JSON ({e}); stdout: {} stderr: {stderr}",
            String::from_utf8_lossy(&out.stdout)
        )
    });
    (out.status.code().unwrap_or(-1), doc, stderr)
}

pub fn ok(r: (i32, Value, String)) -> Value {
    let (code, doc, stderr) = r;
    assert_eq!(code, 0, "export failed: {doc} {stderr}");
    doc["result"].clone()
}

pub fn total(r: &Value, field: &str) -> u64 {
    r["totals"][field]
        .as_u64()
        .unwrap_or_else(|| panic!("totals.{field} in {r}"))
}

/// A running VM of this test's own: web01's definition with a new name,
/// no UUID or MAC, and a fresh qcow2 holding `data` bytes of random data.
/// Removed with its checkpoints and image when dropped.
pub struct LiveVm {
    pub name: String,
    pub image: PathBuf,
    _cleanup: Cleanup,
}

impl LiveVm {
    pub fn start(label: &str, size: u64, data: u64) -> LiveVm {
        let name = format!("export-{label}-{}", std::process::id());
        let image = images("alpha").join(format!("{name}.qcow2"));
        let raw = images("alpha").join(format!("{name}.fill"));
        // The guard first, so a failure below (e.g. a full disk) still
        // removes whatever was made.
        let vm = LiveVm {
            _cleanup: Cleanup {
                host: "alpha",
                name: name.clone(),
            },
            name: name.clone(),
            image: image.clone(),
        };
        let sh = |script: &str| {
            let out = Command::new("sh")
                .arg("-c")
                .arg(script)
                .output()
                .expect("sh");
            assert!(out.status.success(), "{script}: {out:?}");
        };
        sh(&format!(
            "head -c {data} /dev/urandom > {raw} && truncate -s {size} {raw} && \
             qemu-img convert -q -f raw -O qcow2 {raw} {img} && rm -f {raw}",
            raw = raw.display(),
            img = image.display()
        ));
        let xml = lab().virsh("alpha", &["dumpxml", "--inactive", "web01"]);
        let xml: String = xml
            .lines()
            .filter(|l| !l.contains("<uuid>") && !l.contains("<mac address"))
            .map(|l| {
                l.replace("<name>web01</name>", &format!("<name>{name}</name>"))
                    .replace("web01.qcow2", &format!("{name}.qcow2"))
            })
            .collect::<Vec<_>>()
            .join("\n");
        let file = std::env::temp_dir().join(format!("{name}.xml"));
        std::fs::write(&file, xml).unwrap();
        lab().virsh("alpha", &["define", file.to_str().unwrap()]);
        let _ = std::fs::remove_file(&file);
        lab().virsh("alpha", &["start", &name]);
        vm
    }

    /// Writes through the running qemu (HMP qemu-io on the disk's device).
    pub fn write(&self, pattern: u8, offset_mib: u64, len_mib: u64) {
        // The device by its QOM path from `info block`: the node itself is
        // locked by the device.
        let info = lab().virsh(
            "alpha",
            &["qemu-monitor-command", &self.name, "--hmp", "info block"],
        );
        let device = info
            .lines()
            .find_map(|l| l.trim().strip_prefix("Attached to:"))
            .map(str::trim)
            .unwrap_or_else(|| panic!("no device in {info}"))
            .to_string();
        let cmd = format!("qemu-io -d {device} \"write -P {pattern:#x} {offset_mib}M {len_mib}M\"");
        let out = lab().virsh(
            "alpha",
            &["qemu-monitor-command", &self.name, "--hmp", &cmd],
        );
        assert!(!out.contains("rror"), "qemu-io: {out}");
    }
}

impl Drop for LiveVm {
    fn drop(&mut self) {
        // Checkpoints first: libvirt refuses to undefine a domain with them.
        let uri = lab().socket_uri("alpha");
        let _ = Command::new("virsh")
            .args(["-q", "-c", &uri, "destroy", &self.name])
            .output();
        let _ = Command::new("virsh")
            .args([
                "-q",
                "-c",
                &uri,
                "undefine",
                "--checkpoints-metadata",
                &self.name,
            ])
            .output();
        let _ = std::fs::remove_file(&self.image);
        let _ = std::fs::remove_file(self.image.with_extension("fill"));
    }
}

/// The lab as this test must leave it: no run directories, no scratch
/// files, no backup job.
pub fn assert_clean(vm: &str) {
    assert!(
        run_dirs().iter().all(|d| !d.starts_with("kvm-clone.e")),
        "run dirs left: {:?}",
        run_dirs()
    );
    let scratch: Vec<String> = std::fs::read_dir(images("alpha"))
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".scratch"))
        .collect();
    assert!(scratch.is_empty(), "scratch files left: {scratch:?}");
    // domjobinfo fails on a shut-off VM, which has no job anyway.
    let job = Command::new("virsh")
        .args(["-q", "-c", &lab().socket_uri("alpha"), "domjobinfo", vm])
        .output()
        .expect("virsh");
    let job = String::from_utf8_lossy(&job.stdout);
    assert!(!job.contains("Backup"), "backup job left: {job}");
}
