//! Clones between the lab hosts through the real binary: offline, live and
//! multi-disk, and every validation failure leaving beta untouched.

mod clone_util;

use clone_util::{Cleanup, Env, disks, identical, lab, local, macs, snapshot};
use serde_json::Value;

fn uuid(host: &str, vm: &str) -> String {
    lab().virsh(host, &["domuuid", vm]).trim().to_string()
}

/// Clones `vm` from alpha to beta and checks what every clone must satisfy.
fn clone_and_check(vm: &str, sources: &[&str]) -> Cleanup {
    let env = Env::new();
    let name = format!("t-{vm}-{}", std::process::id());
    let guard = Cleanup {
        host: "beta",
        name: name.clone(),
    };
    let (code, doc) = env.clone_json(&[
        "--from", "alpha", "--vm", vm, "--to", "beta", "--name", &name,
    ]);
    assert_eq!(code, 0, "{doc:#}");
    assert_eq!(doc["ok"], true);
    assert_eq!(
        doc["result"]["verified"], true,
        "the default profile verifies"
    );
    assert_eq!(doc["validation"]["ok"], true);
    // Guest-visible content of every disk equals the source's.
    let copies = disks(&doc);
    assert_eq!(copies.len(), sources.len(), "{doc:#}");
    for (src, dst) in sources.iter().zip(&copies) {
        assert!(
            identical(&clone_util::images("alpha").join(src), &local("beta", dst)),
            "{src} vs {dst}"
        );
    }
    // A new identity, defined on beta, and it starts.
    assert_ne!(uuid("beta", &name), uuid("alpha", vm));
    assert_eq!(
        doc["result"]["new_uuid"].as_str(),
        Some(uuid("beta", &name).as_str())
    );
    let (old, new) = (macs("alpha", vm), macs("beta", &name));
    assert_eq!(old.len(), new.len());
    for m in &new {
        assert!(
            m.starts_with("52:54:00:") && !old.contains(m),
            "{m} in {old:?}"
        );
    }
    lab().virsh("beta", &["start", &name]);
    assert_eq!(lab().virsh("beta", &["domstate", &name]).trim(), "running");
    guard
}

#[test]
fn offline_raw_vm_clones_with_identical_content_and_stays_sparse() {
    let _serial = clone_util::serial();
    let _g = clone_and_check("archive01", &["archive01.raw"]);
    let name = format!("t-archive01-{}", std::process::id());
    // The default profile keeps each disk's format: raw stays raw.
    let xml = lab().virsh("beta", &["dumpxml", &name]);
    assert!(
        xml.contains("type='raw'") && !xml.contains("qcow2"),
        "{xml}"
    );
    let copy = local("beta", &format!("{name}-vda.raw"));
    let used = std::fs::metadata(&copy).map(|m| {
        use std::os::unix::fs::MetadataExt;
        m.blocks() * 512
    });
    // 64 MiB written of 1 GiB: holes stayed holes.
    assert!(used.as_ref().is_ok_and(|b| *b < 100 << 20), "{used:?}");
}

#[test]
fn running_vm_clones_live_and_keeps_running() {
    let _serial = clone_util::serial();
    let _g = clone_and_check("web01", &["web01.qcow2"]);
    assert_eq!(
        lab().virsh("alpha", &["domstate", "web01"]).trim(),
        "running"
    );
    let job = lab().virsh("alpha", &["domjobinfo", "web01"]);
    assert!(job.contains("None"), "a job is left on web01: {job}");
}

#[test]
fn two_disk_two_nic_vm_clones_both_disks() {
    let _serial = clone_util::serial();
    let _g = clone_and_check("multi01", &["multi01-sys.qcow2", "multi01-data.raw"]);
}

fn refused(args: &[&str], why: &str) {
    let env = Env::new();
    let before = snapshot("beta");
    let (code, doc) = env.clone_json(args);
    assert_eq!(code, 3, "{doc:#}");
    assert_eq!(doc["ok"], false);
    let err = doc["error"].as_str().unwrap_or_default();
    assert!(err.contains(why), "{err}");
    assert_eq!(snapshot("beta"), before, "beta changed");
}

#[test]
fn name_conflict_is_refused_and_beta_is_unchanged() {
    let _serial = clone_util::serial();
    refused(
        &[
            "--from",
            "alpha",
            "--vm",
            "archive01",
            "--to",
            "beta",
            "--name",
            "shared01",
        ],
        "already exists on beta",
    );
}

#[test]
fn missing_vm_is_refused() {
    let _serial = clone_util::serial();
    refused(
        &["--from", "alpha", "--vm", "no-such-vm", "--to", "beta"],
        "no-such-vm",
    );
}

#[test]
fn missing_network_is_refused() {
    let _serial = clone_util::serial();
    let name = format!("t-net-{}", std::process::id());
    let xml = format!(
        "<domain type='qemu'><name>{name}</name><memory unit='MiB'>32</memory><vcpu>1</vcpu>\
         <os><type arch='x86_64' machine='pc'>hvm</type></os>\
         <devices><emulator>/usr/bin/qemu-system-x86_64</emulator>\
         <interface type='network'><source network='t-missing-net'/></interface>\
         <memballoon model='none'/></devices></domain>"
    );
    let file = lab().dir.join(format!("{name}.xml"));
    std::fs::write(&file, xml).expect("xml");
    lab().virsh("alpha", &["define", file.to_str().expect("utf8")]);
    let _g = Cleanup {
        host: "alpha",
        name: name.clone(),
    };
    refused(
        &["--from", "alpha", "--vm", &name, "--to", "beta"],
        "t-missing-net",
    );
}

#[test]
fn insufficient_space_is_refused() {
    let _serial = clone_util::serial();
    // A 16 MiB pool on beta, made inside beta's namespace, as its default.
    let pool = format!("t-small-{}", std::process::id());
    let dir = format!("/var/lib/libvirt/{pool}");
    let setup = format!(
        "mkdir -p {dir} && mount -t tmpfs -o size=16m tmpfs {dir} && \
         virsh -q pool-create-as {pool} dir --target {dir}"
    );
    lab().run(&["ssh", "beta", &setup]);
    struct Pool(String, String);
    impl Drop for Pool {
        fn drop(&mut self) {
            let (pool, dir) = (&self.0, &self.1);
            let cmd = format!("virsh -q pool-destroy {pool}; umount {dir}; rmdir {dir}");
            let _ = std::process::Command::new(&lab().script)
                .args(["ssh", "beta", &cmd])
                .status();
        }
    }
    let _p = Pool(pool.clone(), dir);
    let config = std::fs::read_to_string(lab().config()).expect("config");
    let mut env = Env::new();
    let small = env.home.path().join("small.toml");
    // beta's entry is the second one: point its pool at the small one.
    let at = config.rfind("pool = \"default\"").expect("beta pool line");
    let patched = format!("{}pool = \"{pool}\"{}", &config[..at], &config[at + 16..]);
    std::fs::write(&small, patched).expect("config");
    env.config = small;
    let before = snapshot("beta");
    let (code, doc) = env.clone_json(&["--from", "alpha", "--vm", "web01", "--to", "beta"]);
    assert_eq!(code, 3, "{doc:#}");
    let err = doc["error"].as_str().unwrap_or_default();
    assert!(err.contains("16 MiB"), "{err}");
    assert_eq!(snapshot("beta"), before);
}

#[test]
fn uefi_vm_clones_with_its_own_nvram_copy() {
    let _serial = clone_util::serial();
    let name = format!("t-uefi-{}", std::process::id());
    // Removes the source VM, its varstore and image, even when a step fails.
    struct Source(String);
    impl Drop for Source {
        fn drop(&mut self) {
            let uri = lab().socket_uri("alpha");
            for args in [
                vec!["destroy", &self.0],
                vec!["undefine", "--nvram", &self.0],
            ] {
                let _ = std::process::Command::new("virsh")
                    .args(["-q", "-c", &uri])
                    .args(args)
                    .output();
            }
            let _ = std::fs::remove_file(
                clone_util::images("alpha").join(format!("{}-vda.qcow2", self.0)),
            );
        }
    }
    let _source = Source(name.clone());
    let img = clone_util::images("alpha").join(format!("{name}-vda.qcow2"));
    let st = std::process::Command::new("qemu-img")
        .args(["create", "-q", "-f", "qcow2"])
        .arg(&img)
        .arg("64M")
        .status()
        .expect("qemu-img");
    assert!(st.success());
    lab().virsh("alpha", &["pool-refresh", "default"]);
    let kind = if std::fs::metadata("/dev/kvm").is_ok() {
        "kvm"
    } else {
        "qemu"
    };
    let xml = format!(
        "<domain type='{kind}'><name>{name}</name><memory unit='MiB'>128</memory><vcpu>1</vcpu>\
         <os><type arch='x86_64' machine='q35'>hvm</type>\
         <loader readonly='yes' type='pflash'>/usr/share/OVMF/OVMF_CODE_4M.fd</loader>\
         <nvram template='/usr/share/OVMF/OVMF_VARS_4M.fd'>/var/lib/libvirt/qemu/nvram/{name}_VARS.fd</nvram></os>\
         <features><acpi/></features><cpu mode='custom' match='exact' check='none'><model fallback='forbid'>qemu64</model></cpu>\
         <devices><emulator>/usr/bin/qemu-system-x86_64</emulator>\
         <disk type='file' device='disk'><driver name='qemu' type='qcow2'/>\
         <source file='/var/lib/libvirt/images/{name}-vda.qcow2'/><target dev='vda' bus='virtio'/></disk>\
         <memballoon model='none'/></devices></domain>"
    );
    let file = lab().dir.join(format!("{name}.xml"));
    std::fs::write(&file, xml).expect("xml");
    lab().virsh("alpha", &["define", file.to_str().expect("utf8")]);
    // libvirt makes the varstore from the template on the first start.
    lab().virsh("alpha", &["start", &name]);
    lab().virsh("alpha", &["destroy", &name]);

    let env = Env::new();
    let new = format!("{name}-c");
    let _g = Cleanup {
        host: "beta",
        name: new.clone(),
    };
    let (code, doc) = env.clone_json(&[
        "--from", "alpha", "--vm", &name, "--to", "beta", "--name", &new,
    ]);
    let copy = clone_util::images("beta").join(format!("{new}_VARS.fd"));
    let copy_guard = scopeguard(copy.clone());
    assert_eq!(code, 0, "{doc:#}");
    let source_vars = lab()
        .dir
        .join(format!("hosts/alpha/lib/qemu/nvram/{name}_VARS.fd"));
    assert_eq!(
        std::fs::read(&source_vars).expect("source varstore"),
        std::fs::read(&copy).expect("copied varstore")
    );
    let xml = lab().virsh("beta", &["dumpxml", &new]);
    assert!(
        xml.contains(&format!("/var/lib/libvirt/images/{new}_VARS.fd")),
        "{xml}"
    );
    lab().virsh("beta", &["start", &new]);
    drop(copy_guard);
}

/// Removes a file when dropped.
fn scopeguard(path: std::path::PathBuf) -> impl Drop {
    struct Rm(std::path::PathBuf);
    impl Drop for Rm {
        fn drop(&mut self) {
            let _ = std::fs::remove_file(&self.0);
        }
    }
    Rm(path)
}

#[test]
fn dry_run_only_checks_and_changes_nothing() {
    let _serial = clone_util::serial();
    let env = Env::new();
    let before = snapshot("beta");
    let args = [
        "clone",
        "--from",
        "alpha",
        "--vm",
        "archive01",
        "--to",
        "beta",
        "--dry-run",
        "--json",
    ];
    let out = env.run(&args);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let doc: Value = serde_json::from_slice(&out.stdout).expect("JSON");
    assert_eq!(doc["ok"], true, "{doc:#}");
    assert!(doc["items"].as_array().is_some_and(|i| !i.is_empty()));
    let conflict = env.run(&[
        "clone",
        "--from",
        "alpha",
        "--vm",
        "archive01",
        "--to",
        "beta",
        "--name",
        "shared01",
        "--dry-run",
    ]);
    assert_eq!(conflict.status.code(), Some(3));
    let text = String::from_utf8_lossy(&conflict.stdout);
    assert!(text.contains("shared01"), "{text}");
    assert_eq!(snapshot("beta"), before, "a dry run changed beta");
}

#[test]
fn start_flag_starts_the_clone_once_defined() {
    let _serial = clone_util::serial();
    let env = Env::new();
    let name = format!("t-start-{}", std::process::id());
    let _g = Cleanup {
        host: "beta",
        name: name.clone(),
    };
    let (code, doc) = env.clone_json(&[
        "--from",
        "alpha",
        "--vm",
        "archive01",
        "--to",
        "beta",
        "--name",
        &name,
        "--profile",
        "fast",
        "--start",
    ]);
    assert_eq!(code, 0, "{doc:#}");
    assert_eq!(doc["result"]["started"], true, "{doc:#}");
    assert_eq!(lab().virsh("beta", &["domstate", &name]).trim(), "running");
    // The source is left as it was.
    assert_eq!(
        lab().virsh("alpha", &["domstate", "archive01"]).trim(),
        "shut off"
    );
}
