//! `kvm-clone hosts` and `kvm-clone vms` against the lab, through the real
//! binary, SSH and the libvirt tunnel.

mod common;

use serde_json::Value;
use std::process::{Command, Output};

fn kvm_clone(args: &[&str]) -> Output {
    let lab = common::lab();
    let data = tempfile::tempdir().expect("tempdir");
    Command::new(env!("CARGO_BIN_EXE_kvm-clone"))
        .env("KVM_CLONE_NO_DAEMON", "1")
        // In process: never a daemon that happens to run here.
        .env("KVM_CLONE_NO_DAEMON", "1")
        .args(args)
        .env("KVM_CLONE_CONFIG", lab.config())
        .env("KVM_CLONE_DATA_DIR", data.path())
        .env_remove("SSH_AUTH_SOCK")
        .output()
        .expect("run kvm-clone")
}

fn json(args: &[&str]) -> Value {
    let out = kvm_clone(args);
    assert!(
        out.status.success(),
        "kvm-clone {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("valid JSON")
}

#[test]
fn hosts_json_shows_both_lab_hosts_up_with_facts() {
    let v = json(&["hosts", "--json"]);
    let hosts = v["hosts"].as_array().expect("hosts array");
    let names: Vec<&str> = hosts.iter().filter_map(|h| h["name"].as_str()).collect();
    assert_eq!(names, ["alpha", "beta"]);
    for h in hosts {
        assert_eq!(h["state"], "up", "{h}");
        let info = &h["info"];
        assert!(
            info["libvirt_version"]
                .as_str()
                .is_some_and(|s| s.starts_with("9.")),
            "{info}"
        );
        assert!(info["cpus"].as_u64().is_some_and(|c| c >= 1), "{info}");
        let pools = info["pools"].as_array().expect("pools");
        assert!(
            pools
                .iter()
                .any(|p| p["name"] == "default" && p["active"] == true),
            "{info}"
        );
    }
}

/// Issue 14: the hosts view showed libvirt's free space, which counts the
/// filesystem's reserved blocks, while the pre-flight check used `statvfs`.
/// Both lab pools are directories: their usable figure is measured.
#[test]
fn hosts_json_pools_carry_the_usable_free_space() {
    let v = json(&["hosts", "--json"]);
    for h in v["hosts"].as_array().expect("hosts array") {
        let pool = h["info"]["pools"]
            .as_array()
            .and_then(|p| p.iter().find(|p| p["name"] == "default"))
            .unwrap_or_else(|| panic!("no default pool: {h}"));
        assert_eq!(pool["path"], "/var/lib/libvirt/images", "{pool}");
        let fs = pool["fs_available_bytes"].as_u64().expect("measured");
        let libvirt = pool["available_bytes"].as_u64().expect("libvirt's");
        assert_eq!(
            pool["usable_bytes"].as_u64(),
            Some(fs.min(libvirt)),
            "{pool}"
        );
    }
    let text = String::from_utf8_lossy(&kvm_clone(&["hosts"]).stdout).to_string();
    assert!(
        text.contains("default ") && text.contains(" free"),
        "{text}"
    );
}

fn vm_names(v: &Value, host: &str) -> Vec<String> {
    let entry = v["hosts"]
        .as_array()
        .and_then(|a| a.iter().find(|h| h["host"] == host))
        .unwrap_or_else(|| panic!("no {host} in {v}"));
    let mut names: Vec<String> = entry["vms"]
        .as_array()
        .expect("vms")
        .iter()
        .filter_map(|vm| vm["name"].as_str().map(String::from))
        .collect();
    names.sort();
    names
}

#[test]
fn vms_of_each_host_match_virsh_list_all() {
    let lab = common::lab();
    let v = json(&["vms", "--json"]);
    for host in ["alpha", "beta"] {
        assert_eq!(vm_names(&v, host), lab.domains(host), "{host}");
    }
}

#[test]
fn vms_of_one_host_carry_state_disks_and_nics() {
    let v = json(&["vms", "--host", "beta", "--json"]);
    assert_eq!(v["hosts"].as_array().map(Vec::len), Some(1));
    let vms = v["hosts"][0]["vms"].as_array().expect("vms");
    let web = vms.iter().find(|vm| vm["name"] == "web02").expect("web02");
    assert_eq!(web["state"], "running");
    assert_eq!(web["disks"][0]["capacity_bytes"], 2u64 << 30);
    assert_eq!(web["live_clone"]["possible"], true, "{web}");
    let multi = vms
        .iter()
        .find(|vm| vm["name"] == "multi02")
        .expect("multi02");
    assert_eq!(multi["disks"].as_array().map(Vec::len), Some(2));
    assert_eq!(multi["nics"].as_array().map(Vec::len), Some(2));
    assert_eq!(multi["state"], "shut_off");
}

#[test]
fn table_output_lists_hosts() {
    let out = kvm_clone(&["hosts"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.starts_with("NAME"), "{text}");
    assert!(text.contains("alpha") && text.contains("beta"), "{text}");
}

#[test]
fn unknown_host_is_a_clear_error() {
    let out = kvm_clone(&["vms", "--host", "gamma"]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("no host named \"gamma\""), "{err}");
}

#[test]
fn bad_config_names_file_and_line() {
    let dir = tempfile::tempdir().expect("tempdir");
    let cfg = dir.path().join("config.toml");
    std::fs::write(
        &cfg,
        "[[hosts]]\nname = \"a\"\naddress = \"127.0.0.1\"\nadress = \"x\"\n",
    )
    .expect("write");
    let out = Command::new(env!("CARGO_BIN_EXE_kvm-clone"))
        .env("KVM_CLONE_NO_DAEMON", "1")
        .args(["--config", cfg.to_str().expect("utf8"), "hosts"])
        .env("KVM_CLONE_DATA_DIR", dir.path())
        .output()
        .expect("run");
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains(&format!("{}:4", cfg.display())), "{err}");
    assert!(err.contains("adress"), "{err}");
}

/// Issue: for a changed host key, `hosts` printed only "host key changed:
/// @@@@…" and exited 0. It must name the fingerprint and the known_hosts
/// file:line, and exit 75 when any host is not up.
#[test]
fn a_changed_host_key_is_named_with_its_fingerprint_and_file_line() {
    let lab = common::lab();
    let dir = tempfile::tempdir().expect("tempdir");
    // beta's entry holds another key: a freshly made one.
    let other = dir.path().join("other");
    let made = Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-f"])
        .arg(&other)
        .status()
        .expect("ssh-keygen");
    assert!(made.success());
    let other_key = std::fs::read_to_string(other.with_extension("pub")).unwrap();
    let mut fields = other_key.split_whitespace();
    let (kind, blob) = (fields.next().unwrap(), fields.next().unwrap());
    let known: String = std::fs::read_to_string(lab.known_hosts())
        .unwrap()
        .lines()
        .filter(|l| !l.contains("127.0.0.2"))
        .map(|l| format!("{l}\n"))
        .collect();
    let known_file = dir.path().join("known_hosts");
    std::fs::write(
        &known_file,
        format!("{known}[127.0.0.2]:2222 {kind} {blob}\n"),
    )
    .unwrap();
    let line = known.lines().count() + 1;
    let config = std::fs::read_to_string(lab.config())
        .unwrap()
        .lines()
        .map(|l| {
            if l.starts_with("known_hosts") {
                format!("known_hosts = [\"{}\"]", known_file.display())
            } else {
                l.to_string()
            }
        })
        .collect::<Vec<_>>()
        .join("\n");
    let config_file = dir.path().join("config.toml");
    std::fs::write(&config_file, config).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_kvm-clone"))
        .env("KVM_CLONE_NO_DAEMON", "1")
        .arg("hosts")
        .env("KVM_CLONE_CONFIG", &config_file)
        .env("KVM_CLONE_DATA_DIR", dir.path().join("data"))
        .env("HOME", dir.path())
        .env_remove("SSH_AUTH_SOCK")
        .output()
        .expect("run kvm-clone");
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(75), "{text}");
    let beta = text
        .lines()
        .find(|l| l.starts_with("beta"))
        .expect("beta row");
    assert!(beta.contains("host key changed"), "{text}");
    assert!(beta.contains("SHA256:"), "{text}");
    let place = format!("{}:{line}", known_file.display());
    assert!(beta.contains(&place), "want {place} in {text}");
    assert!(!beta.contains("@@@@"), "{text}");
    let alpha = text
        .lines()
        .find(|l| l.starts_with("alpha"))
        .expect("alpha row");
    assert!(alpha.contains(" up "), "{text}");
}

/// Issue: a killed front end left `kvm-clone-PID-*` directories holding
/// `libvirt.sock`. The next start removes those of dead processes, and
/// only those.
#[test]
fn tunnel_directories_of_dead_runs_are_removed_at_the_next_start() {
    let lab = common::lab();
    let dir = tempfile::tempdir().expect("tempdir");
    let runtime = dir.path().join("run");
    std::fs::create_dir(&runtime).unwrap();
    let mut child = Command::new("true").spawn().unwrap();
    let dead_pid = child.id();
    child.wait().unwrap();
    let dead = runtime.join(format!("kvm-clone-{dead_pid}-0123456789abcdef"));
    let live = runtime.join(format!("kvm-clone-{}-fedcba9876543210", std::process::id()));
    let other = runtime.join("kvm-clone-nbd-0123456789abcdef");
    for d in [&dead, &live, &other] {
        std::fs::create_dir(d).unwrap();
        std::fs::write(d.join("libvirt.sock"), b"").unwrap();
    }
    let out = Command::new(env!("CARGO_BIN_EXE_kvm-clone"))
        .env("KVM_CLONE_NO_DAEMON", "1")
        .args(["hosts", "--json"])
        .env("KVM_CLONE_CONFIG", lab.config())
        .env("KVM_CLONE_DATA_DIR", dir.path().join("data"))
        .env("XDG_RUNTIME_DIR", &runtime)
        .env_remove("SSH_AUTH_SOCK")
        .output()
        .expect("run kvm-clone");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!dead.exists(), "a dead run's directory is left");
    assert!(
        live.join("libvirt.sock").exists(),
        "a live process's directory was touched"
    );
    assert!(other.exists(), "a directory of another shape was touched");
    // The run's own tunnel directories are gone once it ends.
    let left: Vec<String> = std::fs::read_dir(&runtime)
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(left.len(), 2, "{left:?}");
}

/// Issue: an operator's mistake got a developer's report (`Error: 0:`,
/// `Location:`, a backtrace hint, colour codes into a pipe) and an empty
/// stdout with --json. Now: one line that names the configured hosts, no
/// colour, and with --json an error object on stdout.
#[test]
fn an_operators_mistake_is_one_plain_line() {
    for args in [
        &["clone", "--from", "gamma", "--vm", "web01", "--to", "beta"][..],
        &["snapshots", "--repo", "/nonexistent/kvm-clone-repo"],
        &["verify", "--repo", "/nonexistent/kvm-clone-repo"],
    ] {
        let lab = common::lab();
        let out = Command::new(env!("CARGO_BIN_EXE_kvm-clone"))
            .env("KVM_CLONE_NO_DAEMON", "1")
            .args(args)
            .env("KVM_CLONE_CONFIG", lab.config())
            .env("KVM_CLONE_PASSPHRASE", "x")
            .env("RUST_BACKTRACE", "1")
            .output()
            .expect("run kvm-clone");
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{args:?}: {err}");
        assert_eq!(err.trim_end().lines().count(), 1, "{args:?}: {err}");
        assert!(err.starts_with("kvm-clone: "), "{err}");
        assert!(!err.contains('\u{1b}'), "colour codes into a pipe: {err:?}");
        assert!(
            !err.contains("Location") && !err.contains("BACKTRACE"),
            "{err}"
        );
        let mut with_json = args.to_vec();
        with_json.push("--json");
        let out = Command::new(env!("CARGO_BIN_EXE_kvm-clone"))
            .env("KVM_CLONE_NO_DAEMON", "1")
            .args(&with_json)
            .env("KVM_CLONE_CONFIG", lab.config())
            .env("KVM_CLONE_PASSPHRASE", "x")
            .output()
            .expect("run kvm-clone");
        let doc: Value = serde_json::from_slice(&out.stdout)
            .unwrap_or_else(|e| panic!("{with_json:?}: no JSON on stdout ({e})"));
        assert_eq!(doc["ok"], false, "{doc}");
        assert!(
            doc["error"].as_str().is_some_and(|e| !e.is_empty()),
            "{doc}"
        );
    }
    let out = kvm_clone(&["clone", "--from", "gamma", "--vm", "web01", "--to", "beta"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("configured: alpha, beta"), "{err}");
}
