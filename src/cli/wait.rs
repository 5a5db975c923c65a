//! Waiting for hosts before a headless job starts.

use super::HEADLESS_TIMEOUT;
use super::clone::exit;
use color_eyre::eyre::{Result, eyre};
use kvm_clone::backend::messages::{Action, Event};
use kvm_clone::model::ConnState;
use std::collections::{BTreeMap, BTreeSet};
use tokio::sync::mpsc::{UnboundedReceiver, UnboundedSender};

/// Waits until every host in `hosts` is up with its VM list read. `Ok(None)`
/// when they are; `Ok(Some(code))` when one cannot be reached or refused us
/// (already reported on stderr, the backend told to quit).
pub async fn hosts_ready(
    hosts: &[&str],
    actions: &UnboundedSender<Action>,
    events: &mut UnboundedReceiver<Event>,
) -> Result<Option<u8>> {
    let mut ready = BTreeSet::new();
    let mut states: BTreeMap<String, ConnState> = BTreeMap::new();
    let wait = tokio::time::sleep(HEADLESS_TIMEOUT);
    tokio::pin!(wait);
    while ready.len() < hosts.len() {
        tokio::select! {
            _ = &mut wait => {
                let why: Vec<String> = states
                    .iter()
                    .map(|(h, s)| format!("{h}: {}{}", s.label(), s.reason().map(|r| format!(" ({r})")).unwrap_or_default()))
                    .collect();
                eprintln!("kvm-clone: hosts not ready after {}s: {}", HEADLESS_TIMEOUT.as_secs(), why.join("; "));
                let _ = actions.send(Action::Quit);
                return Ok(Some(exit::UNREACHABLE));
            }
            ev = events.recv() => {
                let (views, listed) = match ev {
                    None | Some(Event::Stopped) => return Err(eyre!("the backend stopped")),
                    // What was reported before this subscriber attached.
                    Some(Event::Snapshot(s)) => (s.hosts, s.vms.into_keys().collect()),
                    Some(Event::Host(h)) => (vec![h], Vec::new()),
                    Some(Event::Vms { host, .. }) => (Vec::new(), vec![host]),
                    Some(_) => (Vec::new(), Vec::new()),
                };
                for h in views {
                    let failed = !matches!(h.state, ConnState::Up | ConnState::Connecting | ConnState::Idle | ConnState::Unreachable { .. });
                    if failed && hosts.contains(&h.name.as_str()) {
                        eprintln!("kvm-clone: {}: {}: {}", h.name, h.state.label(), h.state.reason().unwrap_or(""));
                        let _ = actions.send(Action::Quit);
                        return Ok(Some(exit::UNREACHABLE));
                    }
                    states.insert(h.name.clone(), h.state);
                }
                ready.extend(listed.into_iter().filter(|h| hosts.contains(&h.as_str())));
            }
        }
    }
    Ok(None)
}
