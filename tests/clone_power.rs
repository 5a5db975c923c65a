//! Live policies that power the source off, against a real guest: the tiny
//! guest of tests/lab/tiny-guest boots a kernel and powers off on the ACPI
//! power button (`virsh shutdown`), which the lab's own VMs never do.
//! Its own test binary, one test at a time: the guests run under TCG.

mod clone_util;

use clone_util::{Cleanup, Env, identical, images, lab, local, snapshot, wait_exit};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

/// How long a TCG guest may take to boot on a loaded machine: a readiness
/// bound only, never what a test asserts.
const BOOT: Duration = Duration::from_secs(300);
const DISK_MIB: usize = 64;

/// The kernel and initrd, built (once) by the repository's own script.
fn tiny_guest_files() -> (String, String) {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let out = Command::new(root.join("tests/lab/tiny-guest"))
        .env("KVM_CLONE_LAB_DIR", &lab().dir)
        .output()
        .expect("run tests/lab/tiny-guest");
    assert!(
        out.status.success(),
        "tiny-guest failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let get = |key: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(key))
            .unwrap_or_else(|| panic!("no {key} in {text}"))
            .to_string()
    };
    (get("KERNEL="), get("INITRD="))
}

/// Deterministic, incompressible bytes (xorshift64).
fn pattern(seed: u64, len: usize) -> Vec<u8> {
    let mut x = seed | 1;
    let mut v = Vec::with_capacity(len);
    while v.len() < len {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        v.extend_from_slice(&x.to_le_bytes());
    }
    v
}

/// A running VM on alpha with a sparse raw disk holding known data; its
/// domain, disk and serial log are removed on drop. `boots` false gives a
/// guest that runs firmware only and ignores the power button.
struct Guest {
    name: String,
    log: PathBuf,
    _domain: Cleanup,
}

impl Guest {
    fn start(tag: &str, boots: bool) -> Guest {
        let name = format!("guest-{tag}-{}", std::process::id());
        let log = lab()
            .dir
            .join("hosts/alpha")
            .join(format!("{name}.serial.log"));
        let guest = Guest {
            name: name.clone(),
            log: log.clone(),
            // Domain and `{name}-*` images.
            _domain: Cleanup {
                host: "alpha",
                name: name.clone(),
            },
        };
        let disk = guest.disk();
        {
            use std::io::{Seek, SeekFrom, Write};
            let mut f = std::fs::File::create(&disk).expect("create disk");
            f.set_len((DISK_MIB << 20) as u64).expect("size disk");
            f.write_all(&pattern(1, 4 << 20)).expect("write disk");
            f.seek(SeekFrom::Start(40 << 20)).expect("seek");
            f.write_all(&pattern(2, 2 << 20)).expect("write disk");
        }
        let os = if boots {
            let (kernel, initrd) = tiny_guest_files();
            format!(
                "<kernel>{kernel}</kernel><initrd>{initrd}</initrd>\
                 <cmdline>console=ttyS0 panic=-1</cmdline>"
            )
        } else {
            "<boot dev='hd'/>".to_string()
        };
        // TCG always: under this machine's nested KVM the Linux kernel hangs
        // right after the setup code, and TCG boots it in seconds.
        let xml = format!(
            "<domain type='qemu'><name>{name}</name><memory unit='MiB'>128</memory>\
             <vcpu>1</vcpu><os><type arch='x86_64' machine='pc'>hvm</type>{os}</os>\
             <features><acpi/></features><devices>\
             <emulator>/usr/bin/qemu-system-x86_64</emulator>\
             <disk type='file' device='disk'><driver name='qemu' type='raw'/>\
             <source file='/var/lib/libvirt/images/{name}-vda.raw'/>\
             <target dev='vda' bus='virtio'/></disk>\
             <serial type='file'><source path='{}'/></serial>\
             <memballoon model='none'/></devices></domain>",
            log.display()
        );
        let file = lab().dir.join("hosts/alpha").join(format!("{name}.xml"));
        std::fs::write(&file, xml).expect("write domain xml");
        lab().virsh("alpha", &["pool-refresh", "default"]);
        lab().virsh("alpha", &["define", &file.to_string_lossy()]);
        let _ = std::fs::remove_file(&file);
        lab().virsh("alpha", &["start", &name]);
        if boots {
            guest.wait_ready();
        }
        guest
    }

    /// Waits until the guest listens for the power button.
    fn wait_ready(&self) {
        let start = Instant::now();
        loop {
            let text = std::fs::read_to_string(&self.log).unwrap_or_default();
            if text.contains("tiny-guest: waiting for the power button") {
                return;
            }
            assert!(
                start.elapsed() < BOOT,
                "{} did not boot; serial log:\n{text}",
                self.name
            );
            std::thread::sleep(Duration::from_millis(500));
        }
    }

    /// Drops the serial log, so `wait_ready` sees only a later boot.
    fn forget_log(&self) {
        let _ = std::fs::remove_file(&self.log);
    }

    fn state(&self) -> String {
        lab()
            .virsh("alpha", &["domstate", &self.name])
            .trim()
            .to_string()
    }

    fn disk(&self) -> PathBuf {
        images("alpha").join(format!("{}-vda.raw", self.name))
    }
}

impl Drop for Guest {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.log);
    }
}

fn profile(env: &Env, name: &str, live: &str, extra: &str) {
    env.profile(
        name,
        &format!("kind = \"clone\"\nlive = \"{live}\"\nverify = true\n{extra}"),
    );
}

/// Clones `guest` to beta with profile `p`; the clone is removed on drop.
fn clone(env: &Env, guest: &Guest, p: &str) -> (i32, Value, Cleanup) {
    let name = format!("{}-c", guest.name);
    let g = Cleanup {
        host: "beta",
        name: name.clone(),
    };
    let (code, doc) = env.clone_json(&clone_util::to_beta(&guest.name, &name, p));
    (code, doc, g)
}

fn copy_is_identical(guest: &Guest, doc: &Value) {
    let disks = doc["result"]["disks"].as_array().expect("disks");
    assert_eq!(disks.len(), 1, "{doc:#}");
    let copy = local("beta", disks[0].as_str().expect("disk path"));
    assert!(identical(&guest.disk(), &copy), "{copy:?} differs");
}

#[test]
fn shutdown_restart_copies_offline_and_starts_the_source_again() {
    let _serial = clone_util::serial();
    let guest = Guest::start("pw-restart", true);
    let env = Env::new();
    profile(&env, "pw-restart", "shutdown-restart", "");
    guest.forget_log();
    let (code, doc, _g) = clone(&env, &guest, "pw-restart");
    assert_eq!(code, 0, "{doc:#}");
    assert_eq!(doc["ok"], true);
    let r = &doc["result"];
    assert_eq!(r["live"], false, "{doc:#}");
    assert_eq!(r["source_shut_down"], true, "{doc:#}");
    assert_eq!(r["source_restarted"], true, "{doc:#}");
    assert_eq!(r["verified"], true, "{doc:#}");
    copy_is_identical(&guest, &doc);
    assert_eq!(guest.state(), "running");
    // Really started again: the guest boots once more.
    guest.wait_ready();
}

#[test]
fn require_shutdown_moves_a_running_vm_and_leaves_the_source_off() {
    let _serial = clone_util::serial();
    let guest = Guest::start("pw-move", true);
    let env = Env::new();
    profile(&env, "pw-move", "require-shutdown", "");
    let (code, doc, _g) = clone(&env, &guest, "pw-move");
    assert_eq!(code, 0, "{doc:#}");
    let r = &doc["result"];
    assert_eq!(r["source_shut_down"], true, "{doc:#}");
    assert_eq!(r["source_restarted"], false, "{doc:#}");
    copy_is_identical(&guest, &doc);
    assert_eq!(guest.state(), "shut off");
}

#[test]
fn a_guest_that_ignores_the_power_button_fails_the_job_and_keeps_running() {
    let _serial = clone_util::serial();
    let guest = Guest::start("pw-deaf", false);
    let env = Env::new();
    profile(
        &env,
        "pw-deaf",
        "shutdown-restart",
        "shutdown_timeout = \"3s\"\n",
    );
    let before = snapshot("beta");
    let (code, doc, _g) = clone(&env, &guest, "pw-deaf");
    assert_ne!(code, 0, "{doc:#}");
    assert_eq!(doc["ok"], false);
    let err = doc["error"].as_str().unwrap_or_default();
    assert!(err.contains("did not shut down within 3s"), "{err}");
    assert!(err.contains("not forced off"), "{err}");
    assert_eq!(snapshot("beta"), before, "beta changed");
    assert_eq!(guest.state(), "running", "the source was forced off");
}

#[test]
fn a_paused_source_is_refused_and_nothing_changes() {
    let _serial = clone_util::serial();
    let guest = Guest::start("pw-paused", true);
    lab().virsh("alpha", &["suspend", &guest.name]);
    let env = Env::new();
    profile(&env, "pw-paused", "shutdown-restart", "");
    let before = snapshot("beta");
    let (code, doc, _g) = clone(&env, &guest, "pw-paused");
    assert_ne!(code, 0, "{doc:#}");
    let err = doc["error"].as_str().unwrap_or_default();
    assert!(err.contains("paused"), "{err}");
    assert_eq!(snapshot("beta"), before, "beta changed");
    assert_eq!(guest.state(), "paused");
}

#[test]
fn cancel_under_shutdown_restart_starts_the_source_again() {
    let _serial = clone_util::serial();
    let guest = Guest::start("pw-cancel", true);
    let env = Env::new();
    profile(
        &env,
        "pw-cancel",
        "shutdown-restart",
        "bandwidth_limit = \"1MiB/s\"\n",
    );
    let name = format!("{}-c", guest.name);
    let _g = Cleanup {
        host: "beta",
        name: name.clone(),
    };
    let before = snapshot("beta");
    guest.forget_log();
    let mut child = env.clone_until_copying(&clone_util::to_beta(&guest.name, &name, "pw-cancel"));
    assert_eq!(guest.state(), "shut off", "copying while the source runs");
    // SAFETY: signalling our own child process.
    unsafe { libc::kill(child.id() as i32, libc::SIGINT) };
    let st = wait_exit(&mut child, Duration::from_secs(120));
    assert_eq!(st.code(), Some(4), "exit code of a cancelled clone");
    assert_eq!(snapshot("beta"), before, "beta changed");
    assert_eq!(guest.state(), "running");
    guest.wait_ready();
}
