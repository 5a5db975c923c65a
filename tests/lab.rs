//! The lab itself: two real libvirt hosts reached over real sshd.

mod common;

use std::process::Command;

fn virsh_over_ssh(host: &str, args: &[&str]) -> String {
    let lab = common::lab();
    // libvirt's own ssh transport, with an ssh that trusts only the lab's known_hosts.
    let uri = format!(
        "qemu+ssh://root@{}:2222/system?keyfile={}&command={}",
        common::Lab::address(host),
        lab.key().display(),
        lab.dir.join("bin/ssh").display()
    );
    let out = Command::new("virsh")
        .args(["-q", "-c", &uri])
        .args(args)
        .output()
        .expect("run virsh");
    assert!(
        out.status.success(),
        "virsh over ssh to {host}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn names(list: &str) -> Vec<String> {
    let mut v: Vec<String> = list
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(String::from)
        .collect();
    v.sort();
    v
}

#[test]
fn each_host_shows_its_own_vms_over_ssh() {
    let alpha = names(&virsh_over_ssh("alpha", &["list", "--all", "--name"]));
    let beta = names(&virsh_over_ssh("beta", &["list", "--all", "--name"]));
    for vm in ["web01", "archive01", "multi01", "shared01"] {
        assert!(
            alpha.contains(&vm.to_string()),
            "alpha lacks {vm}: {alpha:?}"
        );
    }
    for vm in ["web02", "archive02", "multi02", "shared01"] {
        assert!(beta.contains(&vm.to_string()), "beta lacks {vm}: {beta:?}");
    }
    assert!(
        !beta.contains(&"web01".to_string()),
        "beta sees alpha's VMs: {beta:?}"
    );
    assert!(
        !alpha.contains(&"web02".to_string()),
        "alpha sees beta's VMs: {alpha:?}"
    );
}

#[test]
fn ssh_commands_run_in_the_hosts_own_namespace() {
    // The same path holds different images on each host.
    let lab = common::lab();
    for (host, image) in [("alpha", "web01.qcow2"), ("beta", "web02.qcow2")] {
        let out = Command::new(&lab.script)
            .args(["ssh", host, "ls", "/var/lib/libvirt/images"])
            .env("KVM_CLONE_LAB_DIR", &lab.dir)
            .output()
            .expect("lab ssh");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let listing = String::from_utf8_lossy(&out.stdout);
        assert!(listing.contains(image), "{host}: {listing}");
    }
}

#[test]
fn running_vm_has_a_2gib_qcow2_disk_with_about_300mib_written() {
    let lab = common::lab();
    for (host, vm) in [("alpha", "web01"), ("beta", "web02")] {
        assert_eq!(lab.virsh(host, &["domstate", vm]).trim(), "running");
        let info = lab.virsh(host, &["domblkinfo", vm, "vda", "--human"]);
        assert!(
            info.contains("Capacity:       2.000 GiB"),
            "{host}/{vm}: {info}"
        );
        let bytes = lab.virsh(host, &["domblkinfo", vm, "vda"]);
        let alloc: u64 = bytes
            .lines()
            .find_map(|l| l.strip_prefix("Allocation:"))
            .and_then(|v| v.trim().parse().ok())
            .expect("allocation line");
        let mib = alloc / (1024 * 1024);
        assert!(
            (290..=340).contains(&mib),
            "{host}/{vm} allocates {mib} MiB"
        );
        let xml = lab.virsh(host, &["dumpxml", vm]);
        assert!(xml.contains("type='qcow2'"), "{xml}");
    }
}

#[test]
fn offline_raw_vm_is_shut_off_and_sparse() {
    let lab = common::lab();
    assert_eq!(
        lab.virsh("alpha", &["domstate", "archive01"]).trim(),
        "shut off"
    );
    let img = lab.dir.join("hosts/alpha/lib/images/archive01.raw");
    let meta = std::fs::metadata(&img).expect("archive01.raw");
    use std::os::unix::fs::MetadataExt;
    assert_eq!(meta.len(), 1 << 30);
    assert!(
        meta.blocks() * 512 < meta.len() / 4,
        "not sparse: {} blocks",
        meta.blocks()
    );
}

#[test]
fn multi_vm_has_two_disks_and_two_user_nics() {
    let lab = common::lab();
    let xml = lab.virsh("alpha", &["dumpxml", "multi01"]);
    assert_eq!(
        xml.matches("<disk type='file' device='disk'>").count(),
        2,
        "{xml}"
    );
    assert_eq!(xml.matches("<interface type='user'>").count(), 2, "{xml}");
}

#[test]
fn shared01_exists_on_both_hosts_with_different_uuids() {
    let lab = common::lab();
    let a = lab.virsh("alpha", &["domuuid", "shared01"]);
    let b = lab.virsh("beta", &["domuuid", "shared01"]);
    assert_ne!(a.trim(), b.trim());
}

#[test]
fn default_pool_is_active_on_both_hosts() {
    let lab = common::lab();
    for host in ["alpha", "beta"] {
        let info = lab.virsh(host, &["pool-info", "default"]);
        assert!(info.contains("running"), "{host}: {info}");
    }
}

#[test]
fn up_again_keeps_the_same_daemons() {
    let lab = common::lab();
    let pid = |h: &str| {
        std::fs::read_to_string(lab.dir.join("hosts").join(h).join("libvirtd.pid")).expect("pid")
    };
    let before = (pid("alpha"), pid("beta"));
    lab.run(&["up"]);
    assert_eq!(before, (pid("alpha"), pid("beta")));
    lab.run(&["status"]);
}
