//! The backend task against the lab: actions in, events out, through real
//! SSH, the libvirt tunnel and libvirt's own lifecycle events.

mod common;

use kvm_clone::backend::messages::{Action, Event};
use kvm_clone::backend::{self, Backend, Options};
use kvm_clone::config::{self, HostConfig, LoadedConfig};
use kvm_clone::model::{ConnState, VmInfo, VmState};
use std::path::Path;
use std::time::Duration;

/// Upper bound for anything the lab should do; only keeps a broken run from hanging.
const BOUND: Duration = Duration::from_secs(60);

fn lab_host(name: &str) -> HostConfig {
    let lab = common::lab();
    let mut h = HostConfig::new(name, common::Lab::address(name));
    h.port = Some(2222);
    h.user = Some("root".into());
    h.identity_files = vec![lab.key()];
    h
}

fn empty_config(dir: &Path) -> LoadedConfig {
    config::load_from(None, None, Some(dir.join("config.toml"))).expect("empty config")
}

/// Options that never touch the developer's own ~/.ssh, with polling so slow
/// that anything seen sooner came from a libvirt event.
fn options(known_hosts: &Path) -> Options {
    Options {
        user_known_hosts: Some(known_hosts.to_path_buf()),
        ssh_config: Some(known_hosts.with_file_name("no-ssh-config")),
        poll_interval: Duration::from_secs(600),
        poll_slow: Duration::from_secs(600),
        ..Options::default()
    }
}

async fn next_matching<T>(
    events: &mut tokio::sync::mpsc::UnboundedReceiver<Event>,
    what: &str,
    mut f: impl FnMut(&Event) -> Option<T>,
) -> T {
    let wait = async {
        loop {
            match events.recv().await {
                Some(ev) => {
                    if let Some(t) = f(&ev) {
                        return t;
                    }
                }
                None => panic!("backend stopped while waiting for {what}"),
            }
        }
    };
    tokio::time::timeout(BOUND, wait)
        .await
        .unwrap_or_else(|_| panic!("no {what} within {BOUND:?}"))
}

fn host_state(ev: &Event, host: &str) -> Option<ConnState> {
    match ev {
        Event::Host(h) if h.name == host => Some(h.state.clone()),
        _ => None,
    }
}

fn vms_of(ev: &Event, host: &str) -> Option<Vec<VmInfo>> {
    match ev {
        Event::Vms { host: h, vms } if h == host => Some(vms.clone()),
        _ => None,
    }
}

async fn quit(b: Backend) {
    b.actions.send(Action::Quit).expect("backend alive");
    tokio::time::timeout(BOUND, b.task)
        .await
        .expect("backend stops")
        .expect("no panic");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_host_key_is_refused_until_accepted_then_inventory_flows() {
    let lab = common::lab();
    let dir = tempfile::tempdir().expect("tempdir");
    let known = dir.path().join("known_hosts");
    let mut loaded = empty_config(dir.path());
    loaded.config.hosts.push(lab_host("alpha"));
    let mut b = backend::spawn(loaded, options(&known));

    let fingerprint = next_matching(&mut b.events, "host key prompt", |ev| {
        match host_state(ev, "alpha") {
            Some(ConnState::HostKeyUnknown { fingerprint }) => Some(fingerprint),
            Some(ConnState::Up) => panic!("connected to a host whose key nobody accepted"),
            _ => None,
        }
    })
    .await;
    // The fingerprint shown is the lab host's real key, as ssh-keygen prints it.
    let out = std::process::Command::new("ssh-keygen")
        .arg("-lf")
        .arg(lab.dir.join("hosts/alpha/ssh/ssh_host_ed25519_key.pub"))
        .output()
        .expect("ssh-keygen");
    assert!(
        String::from_utf8_lossy(&out.stdout).contains(&fingerprint),
        "{fingerprint}"
    );

    b.actions
        .send(Action::AcceptHostKey {
            host: "alpha".into(),
            fingerprint,
        })
        .expect("send");
    let vms = next_matching(&mut b.events, "alpha's VMs", |ev| vms_of(ev, "alpha")).await;
    let mut names: Vec<String> = vms.iter().map(|v| v.name.clone()).collect();
    names.sort();
    assert_eq!(names, lab.domains("alpha"));
    let written = std::fs::read_to_string(&known).expect("known_hosts written");
    assert!(
        written.starts_with("[127.0.0.1]:2222 ssh-ed25519 "),
        "{written}"
    );
    quit(b).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn add_host_writes_the_config_and_connects() {
    let lab = common::lab();
    let dir = tempfile::tempdir().expect("tempdir");
    let known = dir.path().join("known_hosts");
    std::fs::copy(lab.known_hosts(), &known).expect("copy known_hosts");
    let loaded = empty_config(dir.path());
    let path = loaded.path.clone();
    let mut b = backend::spawn(loaded, options(&known));
    next_matching(&mut b.events, "empty host list", |ev| match ev {
        Event::Hosts(h) if h.is_empty() => Some(()),
        _ => None,
    })
    .await;

    b.actions
        .send(Action::AddHost(lab_host("beta")))
        .expect("send");
    let vms = next_matching(&mut b.events, "beta's VMs", |ev| vms_of(ev, "beta")).await;
    assert!(vms.iter().any(|v| v.name == "web02"), "{vms:?}");
    let reloaded = config::load(Some(&path)).expect("config written and valid");
    assert_eq!(reloaded.config.hosts, vec![lab_host("beta")]);

    // A second host of the same name is refused with a clear message.
    b.actions
        .send(Action::AddHost(lab_host("beta")))
        .expect("send");
    let msg = next_matching(&mut b.events, "duplicate refusal", |ev| match ev {
        Event::Error { message, .. } => Some(message.clone()),
        _ => None,
    })
    .await;
    assert!(msg.contains("beta") && msg.contains("already"), "{msg}");
    quit(b).await;
}

/// Defines a small VM on alpha for this test and removes it at the end.
struct TestVm {
    name: String,
}

impl TestVm {
    fn define(name: &str) -> TestVm {
        let lab = common::lab();
        let kind = if std::fs::metadata("/dev/kvm").is_ok() {
            "kvm"
        } else {
            "qemu"
        };
        let xml = format!(
            "<domain type='{kind}'><name>{name}</name><memory unit='MiB'>32</memory>\
             <vcpu>1</vcpu><os><type arch='x86_64' machine='pc'>hvm</type></os>\
             <cpu mode='custom' match='exact' check='none'><model fallback='forbid'>qemu64</model></cpu>\
             <devices><emulator>/usr/bin/qemu-system-x86_64</emulator>\
             <memballoon model='none'/></devices></domain>"
        );
        let file = lab.dir.join(format!("{name}.xml"));
        std::fs::write(&file, xml).expect("write xml");
        lab.virsh("alpha", &["define", file.to_str().expect("utf8")]);
        TestVm {
            name: name.to_string(),
        }
    }
}

impl Drop for TestVm {
    fn drop(&mut self) {
        let lab = common::lab();
        let uri = lab.socket_uri("alpha");
        for args in [["destroy", &self.name], ["undefine", &self.name]] {
            let _ = std::process::Command::new("virsh")
                .args(["-q", "-c", &uri])
                .args(args)
                .output();
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn vm_started_with_virsh_shows_as_running_from_lifecycle_events() {
    let lab = common::lab();
    let dir = tempfile::tempdir().expect("tempdir");
    let known = dir.path().join("known_hosts");
    std::fs::copy(lab.known_hosts(), &known).expect("copy known_hosts");
    let mut loaded = empty_config(dir.path());
    loaded.config.hosts.push(lab_host("alpha"));
    let mut b = backend::spawn(loaded, options(&known));
    next_matching(&mut b.events, "first inventory", |ev| vms_of(ev, "alpha")).await;

    let vm = TestVm::define(&format!("backend-events-{}", std::process::id()));
    lab.virsh("alpha", &["start", &vm.name]);
    // Polling is set to 10 minutes, so seeing it at all proves the event path.
    let state = next_matching(&mut b.events, "the started VM", |ev| {
        vms_of(ev, "alpha")?
            .into_iter()
            .find(|v| v.name == vm.name && v.state == VmState::Running)
            .map(|v| v.state)
    })
    .await;
    assert_eq!(state, VmState::Running);
    lab.virsh("alpha", &["destroy", &vm.name]);
    next_matching(&mut b.events, "the stopped VM", |ev| {
        vms_of(ev, "alpha")?
            .into_iter()
            .find(|v| v.name == vm.name && v.state == VmState::ShutOff)
            .map(|_| ())
    })
    .await;
    quit(b).await;
}
