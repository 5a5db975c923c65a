//! `kvm-clone hosts` and `kvm-clone vms`: wait for the hosts to settle, print what they report.

use super::{HEADLESS_TIMEOUT, load};
use color_eyre::eyre::Result;
use kvm_clone::backend::messages::{Action, Event};
use kvm_clone::backend::{self, Backend};
use kvm_clone::headless;
use kvm_clone::model::{ConnState, HostView, VmInfo};
use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;
/// Hosts as the backend reports them once each has settled (up with facts,
/// or failed), or when the timeout passes.
struct Inventory {
    hosts: Vec<HostView>,
    vms: BTreeMap<String, Vec<VmInfo>>,
}

fn settled(h: &HostView, vms: &BTreeMap<String, Vec<VmInfo>>, want_vms: bool) -> bool {
    match h.state {
        ConnState::Up => h.info.is_some() && (!want_vms || vms.contains_key(&h.name)),
        ConnState::Idle | ConnState::Connecting => false,
        _ => true,
    }
}

async fn collect(config: Option<&Path>, only: Option<&str>, want_vms: bool) -> Result<Inventory> {
    let loaded = load(config)?;
    if let Some(name) = only {
        super::require_host(&loaded, name)?;
    }
    let options = backend::Options {
        only_host: only.map(String::from),
        ..backend::Options::default()
    };
    let Backend {
        actions,
        mut events,
        task,
        ..
    } = backend::spawn(loaded, options);
    let mut inv = Inventory {
        hosts: Vec::new(),
        vms: BTreeMap::new(),
    };
    let deadline = tokio::time::sleep(HEADLESS_TIMEOUT);
    tokio::pin!(deadline);
    loop {
        let done = !inv.hosts.is_empty()
            && inv
                .hosts
                .iter()
                .filter(|h| only.is_none_or(|o| o == h.name))
                .all(|h| settled(h, &inv.vms, want_vms));
        if done {
            break;
        }
        tokio::select! {
            _ = &mut deadline => break,
            ev = events.recv() => match ev {
                None | Some(Event::Stopped) => break,
                // What was reported before this subscriber attached.
                Some(Event::Snapshot(s)) => {
                    inv.hosts = s.hosts;
                    inv.vms = s.vms;
                }
                Some(Event::Hosts(list)) => inv.hosts = list,
                Some(Event::Host(h)) => {
                    if let Some(slot) = inv.hosts.iter_mut().find(|x| x.name == h.name) {
                        *slot = h;
                    } else {
                        inv.hosts.push(h);
                    }
                }
                Some(Event::HostInfo { host, info }) => {
                    if let Some(slot) = inv.hosts.iter_mut().find(|x| x.name == host) {
                        slot.info = Some(info);
                    }
                }
                Some(Event::Vms { host, vms }) => { inv.vms.insert(host, vms); }
                Some(Event::Error { host, message }) => {
                    tracing::warn!(host = ?host, "{message}");
                }
                Some(_) => {}
            }
        }
    }
    let _ = actions.send(Action::Quit);
    let _ = tokio::time::timeout(Duration::from_secs(5), task).await;
    Ok(inv)
}

/// Prints the hosts; exit 75 (docs/json.md) when any is not up, so a
/// script sees what the table and the JSON say.
pub async fn hosts(config: Option<&Path>, json: bool) -> Result<std::process::ExitCode> {
    let inv = collect(config, None, false).await?;
    if json {
        println!("{}", headless::hosts::render_json(&inv.hosts)?);
    } else {
        print!("{}", headless::hosts::render_table(&inv.hosts));
    }
    let all_up = !inv.hosts.is_empty() && inv.hosts.iter().all(|h| h.state == ConnState::Up);
    Ok(std::process::ExitCode::from(if all_up {
        0
    } else {
        super::clone::exit::UNREACHABLE
    }))
}

pub async fn vms(
    config: Option<&Path>,
    host: Option<&str>,
    json: bool,
) -> Result<std::process::ExitCode> {
    let inv = collect(config, host, true).await?;
    let mut out = Vec::new();
    let mut missing = Vec::new();
    for h in inv
        .hosts
        .iter()
        .filter(|h| host.is_none_or(|o| o == h.name))
    {
        match inv.vms.get(&h.name) {
            Some(v) => out.push((h.name.clone(), v.clone())),
            None => missing.push(match h.state.reason() {
                Some(r) => format!("{}: {}: {}", h.name, h.state.label(), r),
                None => format!("{}: {}", h.name, h.state.label()),
            }),
        }
    }
    if json {
        println!("{}", headless::vms::render_json(&out)?);
    } else {
        print!("{}", headless::vms::render_table(&out));
    }
    if missing.is_empty() {
        Ok(std::process::ExitCode::SUCCESS)
    } else {
        // What could be listed is printed (and is valid JSON); the hosts
        // that gave nothing are named, and the exit code says so.
        eprintln!("kvm-clone: no VM list from: {}", missing.join("; "));
        Ok(std::process::ExitCode::from(
            super::clone::exit::UNREACHABLE,
        ))
    }
}
