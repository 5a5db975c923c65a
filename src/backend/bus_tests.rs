use super::*;
use crate::model::detail::DetailUpdate;
use crate::model::{ConnState, HostView, JobKind, JobPhase, JobView};
use tokio::sync::mpsc::error::TryRecvError;

fn host(name: &str, state: ConnState) -> HostView {
    HostView {
        name: name.into(),
        endpoint: format!("root@{name}:22"),
        state,
        info: None,
    }
}

fn job(id: u64, phase: JobPhase) -> JobView {
    JobView {
        id,
        number: 0,
        kind: JobKind::Export,
        vm: "web01".into(),
        from: "alpha".into(),
        to: "/backups/r".into(),
        phase,
        disks: Vec::new(),
        rate_bytes_per_sec: 0.0,
        eta_secs: None,
        message: None,
        queue_position: None,
    }
}

/// Everything queued on a subscriber now.
fn drain(rx: &mut UnboundedReceiver<Event>) -> Vec<Event> {
    std::iter::from_fn(|| rx.try_recv().ok()).collect()
}

fn snapshot_of(ev: Option<&Event>) -> StateSnapshot {
    match ev {
        Some(Event::Snapshot(s)) => (**s).clone(),
        other => panic!("expected a snapshot first, got {other:?}"),
    }
}

#[test]
fn every_subscriber_gets_every_event_after_its_snapshot() {
    let bus = EventBus::new();
    let (mut a, mut b) = (bus.attach(), bus.attach());
    let ev = Event::Host(host("alpha", ConnState::Up));
    bus.send(ev.clone());
    for rx in [&mut a, &mut b] {
        let got = drain(rx);
        assert_eq!(snapshot_of(got.first()), StateSnapshot::default());
        assert_eq!(got.len(), 2, "{got:?}");
        assert_eq!(got[1], ev);
    }
}

#[test]
fn a_late_subscriber_starts_from_the_state_and_sees_only_what_follows() {
    let bus = EventBus::new();
    let mut early = bus.attach();
    bus.send(Event::Hosts(vec![host("alpha", ConnState::Connecting)]));
    bus.send(Event::Job(job(4, JobPhase::Copying)));
    bus.send(Event::JobDetail {
        id: 4,
        update: DetailUpdate::Log(vec!["copying vda".into()]),
    });
    // Not state: only for whoever is attached now.
    bus.send(Event::Error {
        host: None,
        message: "gone by".into(),
    });

    let mut late = bus.attach();
    let after = Event::Host(host("alpha", ConnState::Up));
    bus.send(after.clone());

    let got = drain(&mut late);
    let snap = snapshot_of(got.first());
    assert_eq!(snap.hosts, vec![host("alpha", ConnState::Connecting)]);
    assert_eq!(snap.jobs.keys().collect::<Vec<_>>(), [&4]);
    assert_eq!(snap.jobs[&4].view.phase, JobPhase::Copying);
    assert_eq!(snap.jobs[&4].detail.log, ["copying vda"]);
    assert_eq!(got[1..], [after]);
    // The early one saw all five, after its own (empty) snapshot.
    assert_eq!(drain(&mut early).len(), 6);
}

#[test]
fn a_dropped_subscriber_is_removed() {
    let bus = EventBus::new();
    let mut kept = bus.attach();
    let gone = bus.attach();
    assert_eq!(bus.subscribers(), 2);
    drop(gone);
    bus.send(Event::Stopped);
    assert_eq!(bus.subscribers(), 1);
    assert_eq!(drain(&mut kept)[1..], [Event::Stopped]);
    // Attaching also sweeps out the closed ones.
    drop(bus.attach());
    drop(bus.attach());
    assert_eq!(bus.subscribers(), 2);
    let _third = bus.attach();
    assert_eq!(bus.subscribers(), 2);
}

#[test]
fn streams_end_with_the_bus_and_late_comers_hear_it_stopped() {
    let bus = EventBus::new();
    let attach = bus.attacher();
    let mut rx = attach.attach();
    bus.send(Event::Stopped);
    // Stopped, but a job's clone of the bus still lives.
    let after_stop = drain(&mut attach.attach());
    assert!(matches!(
        after_stop[..],
        [Event::Snapshot(_), Event::Stopped]
    ));
    drop(bus);
    let got = drain(&mut rx);
    assert!(matches!(got[..], [Event::Snapshot(_), Event::Stopped]));
    assert_eq!(rx.try_recv(), Err(TryRecvError::Disconnected));
    let mut gone = attach.attach();
    assert_eq!(gone.try_recv(), Ok(Event::Stopped));
    assert_eq!(gone.try_recv(), Err(TryRecvError::Disconnected));
}

#[test]
fn attaching_while_events_flow_neither_loses_nor_repeats_one() {
    const JOBS: u64 = 2000;
    let bus = EventBus::new();
    let sender = {
        let bus = bus.clone();
        std::thread::spawn(move || {
            for id in 1..=JOBS {
                bus.send(Event::Job(job(id, JobPhase::Queued)));
            }
        })
    };
    // Attach once sending is under way; wherever it has got to, every job
    // must be in the snapshot or the stream, and in only one of them.
    while lock(&bus.shared).state.jobs.is_empty() {
        std::thread::yield_now();
    }
    let mut rx = bus.attach();
    sender.join().expect("sender");
    let got = drain(&mut rx);
    let mut ids: Vec<u64> = snapshot_of(got.first()).jobs.into_keys().collect();
    for ev in &got[1..] {
        match ev {
            Event::Job(v) => ids.push(v.id),
            other => panic!("{other:?}"),
        }
    }
    assert_eq!(ids, (1..=JOBS).collect::<Vec<_>>());
}
