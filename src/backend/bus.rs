//! How the backend's events reach front ends: one [`EventBus`] that every
//! part of the backend sends through. Each event goes to every attached
//! subscriber, and is folded into a [`StateSnapshot`], so a subscriber that
//! attaches later (a TUI joining the daemon) starts from the current state
//! and then sees only what follows.

use super::messages::Event;
use crate::model::snapshot::StateSnapshot;
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use tokio::sync::mpsc::{UnboundedReceiver, UnboundedSender, unbounded_channel};

/// The sending side; clones share one bus. Subscribers' streams end once
/// every clone is dropped, as a channel's do when its senders are gone.
#[derive(Clone, Default)]
pub struct EventBus {
    shared: Arc<Mutex<Shared>>,
}

/// Attaches subscribers without keeping the bus alive: what a front end
/// holds, so its streams still end when the backend and its jobs are gone.
#[derive(Clone)]
pub struct Attach {
    shared: Weak<Mutex<Shared>>,
}

#[derive(Default)]
struct Shared {
    subscribers: Vec<UnboundedSender<Event>>,
    state: StateSnapshot,
    /// [`Event::Stopped`] has gone out: late subscribers are told too.
    stopped: bool,
}

fn lock(shared: &Mutex<Shared>) -> MutexGuard<'_, Shared> {
    shared.lock().unwrap_or_else(|p| p.into_inner())
}

impl EventBus {
    pub fn new() -> EventBus {
        EventBus::default()
    }

    /// Folds the event into the state and gives every subscriber a copy;
    /// subscribers whose receiver is gone are dropped.
    pub fn send(&self, ev: Event) {
        let mut shared = lock(&self.shared);
        fold(&mut shared.state, &ev);
        shared.stopped |= matches!(ev, Event::Stopped);
        shared.subscribers.retain(|tx| tx.send(ev.clone()).is_ok());
    }

    /// A new subscriber; see [`Attach::attach`].
    pub fn attach(&self) -> UnboundedReceiver<Event> {
        attach_to(&self.shared)
    }

    pub fn attacher(&self) -> Attach {
        Attach {
            shared: Arc::downgrade(&self.shared),
        }
    }

    #[cfg(test)]
    fn subscribers(&self) -> usize {
        lock(&self.shared).subscribers.len()
    }
}

impl Attach {
    /// A new subscriber's stream: first [`Event::Snapshot`] of the state
    /// now, then every event sent after it. Once the backend is gone the
    /// stream is [`Event::Stopped`] and its end.
    pub fn attach(&self) -> UnboundedReceiver<Event> {
        match self.shared.upgrade() {
            Some(shared) => attach_to(&shared),
            None => {
                let (tx, rx) = unbounded_channel();
                let _ = tx.send(Event::Stopped);
                rx
            }
        }
    }
}

fn attach_to(shared: &Mutex<Shared>) -> UnboundedReceiver<Event> {
    let (tx, rx) = unbounded_channel();
    // Snapshot and registration under one lock: no event sent meanwhile can
    // be missing from both, or in both.
    let mut shared = lock(shared);
    let _ = tx.send(Event::Snapshot(Box::new(shared.state.clone())));
    if shared.stopped {
        let _ = tx.send(Event::Stopped);
    }
    shared.subscribers.retain(|t| !t.is_closed());
    shared.subscribers.push(tx);
    rx
}

/// The events that are state change the snapshot; the others (answers,
/// errors, repository views) only concern whoever is attached when they go.
fn fold(state: &mut StateSnapshot, ev: &Event) {
    match ev {
        Event::Hosts(hosts) => state.set_hosts(hosts.clone()),
        Event::Host(view) => state.set_host(view.clone()),
        Event::HostInfo { host, info } => state.set_host_info(host, info.clone()),
        Event::Vms { host, vms } => state.set_vms(host.clone(), vms.clone()),
        Event::Profiles(list) => state.set_profiles(list.clone()),
        Event::Job(view) => state.set_job(view.clone()),
        Event::JobDetail { id, update } => state.job_detail(*id, update.clone()),
        Event::JobDone { id, result } => state.job_done(*id, result.clone()),
        Event::History(page) => state.set_history(page.clone()),
        Event::Schedules(list) => state.set_schedules(list.clone()),
        Event::ProfileSaved { .. }
        | Event::Validation { .. }
        | Event::RestoreValidation { .. }
        | Event::ExportValidation { .. }
        | Event::HistoryDetail(_)
        | Event::Error { .. }
        | Event::Repo(_)
        | Event::RepoLocked { .. }
        | Event::RepoFailed { .. }
        | Event::RepoProbed { .. }
        | Event::RepoCreated { .. }
        | Event::RepoVerified { .. }
        | Event::RepoPruned { .. }
        | Event::Snapshot(_)
        | Event::Stopped => {}
    }
}

#[cfg(test)]
#[path = "bus_tests.rs"]
mod tests;
