//! A TUI that attaches to a running backend starts from its snapshot
//! ([`Event::Snapshot`]) and ends up showing what one attached from the
//! start shows.

use super::behaviour::{screen_text, typed};
use super::fixtures::{alpha_vms, beta_vms, empty, full, history, history_stats, hosts, jobs};
use super::fixtures::{profiles, two_disk_job};
use crate::backend::bus::EventBus;
use crate::backend::messages::Event;
use crate::model::detail::{DetailUpdate, PhaseStamp};
use crate::model::history::{HistoryFilter, HistoryPage};
use crate::model::snapshot::StateSnapshot;
use crate::model::{ConnState, JobPhase};
use crate::tui::state::{AppState, Overlay, Pane};

fn page(filter: HistoryFilter) -> HistoryPage {
    HistoryPage {
        filter,
        entries: history(),
        stats: history_stats(),
    }
}

/// Alpha and beta with their VMs, the fixture's two jobs (job 7 with a
/// phase and a log line), the default history page and the built-in profiles.
fn snapshot() -> StateSnapshot {
    let mut s = StateSnapshot::default();
    s.set_hosts(hosts()[..2].to_vec());
    s.set_vms("alpha".into(), alpha_vms());
    s.set_vms("beta".into(), beta_vms());
    for j in jobs() {
        s.set_job(j);
    }
    s.job_detail(
        7,
        DetailUpdate::Phase(PhaseStamp {
            phase: JobPhase::Copying,
            at_ms: 5,
        }),
    );
    s.job_detail(7, DetailUpdate::Log(vec!["copying vda".into()]));
    s.set_history(page(HistoryFilter::default()));
    s.set_profiles(profiles());
    s
}

fn names<T>(items: &[T], name: impl Fn(&T) -> &str) -> Vec<String> {
    items.iter().map(|i| name(i).to_string()).collect()
}

#[test]
fn a_snapshot_fills_an_empty_tui() {
    let mut s = empty(100, 30);
    s.apply(Event::Snapshot(Box::new(snapshot())));

    assert_eq!(names(&s.hosts, |h| &h.name), ["alpha", "beta"]);
    assert_eq!(s.vms["beta"], beta_vms());
    assert_eq!(
        names(&s.visible_vms(), |v| &v.name),
        names(&alpha_vms(), |v| &v.name)
    );
    // Both at work: the newest first.
    assert_eq!(s.jobs, jobs().into_iter().rev().collect::<Vec<_>>());
    assert_eq!(s.job_details[&7].log, ["copying vda"]);
    assert_eq!(s.job_details[&7].entered(JobPhase::Copying), Some(5));
    assert_eq!(s.history, history());
    assert_eq!(s.history_stats, Some(history_stats()));
    assert_eq!(s.profiles, profiles());
    let screen = screen_text(&s);
    for shown in ["alpha", "beta", "web01", "multi01"] {
        assert!(screen.contains(shown), "{shown}: {screen}");
    }
}

#[test]
fn a_snapshot_replaces_what_was_shown_and_keeps_the_selection_by_name() {
    let mut s = full(100, 30);
    s.focus = Pane::Vms;
    typed(&mut s, "jj");
    let vm = s.selected_vm().map(|v| v.name.clone());
    assert_eq!(vm.as_deref(), Some("multi01"));
    s.focus = Pane::Jobs;
    typed(&mut s, "j");
    assert_eq!(s.selected_job().map(|j| j.id), Some(8));
    // Since: web01 left alpha, a new job came first and a profile went.
    let mut snap = snapshot();
    let mut vms = alpha_vms();
    vms.remove(0);
    snap.set_vms("alpha".into(), vms);
    snap.jobs.clear();
    let mut newer = two_disk_job();
    newer.id = 3;
    for j in std::iter::once(newer).chain(jobs()) {
        snap.set_job(j);
    }
    snap.profiles.truncate(1);

    s.apply(Event::Snapshot(Box::new(snap)));
    // gamma, delta, epsilon and zeta are gone with their prompts.
    assert_eq!(names(&s.hosts, |h| &h.name), ["alpha", "beta"]);
    assert_eq!(s.selected_host().map(|h| h.name.as_str()), Some("alpha"));
    assert_eq!(s.selected_vm().map(|v| v.name.as_str()), Some("multi01"));
    assert_eq!(s.jobs.iter().map(|j| j.id).collect::<Vec<_>>(), [8, 7, 3]);
    assert_eq!(s.selected_job().map(|j| j.id), Some(8));
    assert_eq!(s.profiles.len(), 1);
}

#[test]
fn prompts_of_snapshot_hosts_open_and_a_page_for_another_filter_is_dropped() {
    let mut s = empty(100, 30);
    let mut snap = snapshot();
    snap.set_host(hosts()[2].clone());
    snap.set_history(page(HistoryFilter {
        vm: Some("shared".into()),
        contains: true,
        ..HistoryFilter::default()
    }));
    s.apply(Event::Snapshot(Box::new(snap)));
    assert!(
        matches!(&s.overlay, Some(Overlay::HostKey { host, .. }) if host == "gamma"),
        "{:?}",
        s.overlay
    );
    // Another front end's filter: this pane still waits for its own page.
    assert!(s.history.is_empty());
    assert_eq!(s.history_stats, None);
}

/// What the panes show, for comparing two TUIs.
fn shown(s: &AppState) -> impl PartialEq + std::fmt::Debug {
    (
        s.hosts.clone(),
        s.vms.clone(),
        s.jobs.clone(),
        s.job_details.clone(),
        s.history.clone(),
        s.profiles.clone(),
    )
}

#[test]
fn a_tui_attached_late_shows_what_one_attached_at_the_start_shows() {
    let bus = EventBus::new();
    let mut first = bus.attach();
    let mut events = vec![
        Event::Hosts(hosts()[..2].to_vec()),
        Event::Vms {
            host: "alpha".into(),
            vms: alpha_vms(),
        },
        Event::Profiles(profiles()),
        Event::History(page(HistoryFilter::default())),
    ];
    for j in jobs() {
        let id = j.id;
        events.push(Event::Job(j));
        events.push(Event::JobDetail {
            id,
            update: DetailUpdate::Phase(PhaseStamp {
                phase: JobPhase::Queued,
                at_ms: id,
            }),
        });
    }
    events.push(Event::JobDetail {
        id: 7,
        update: DetailUpdate::Log(vec!["copying vda".into()]),
    });
    let later = vec![
        Event::Vms {
            host: "beta".into(),
            vms: beta_vms(),
        },
        Event::Host(hosts()[1].clone()),
        Event::Job({
            let mut done = jobs().remove(0);
            done.phase = JobPhase::Done;
            done
        }),
    ];
    for ev in events {
        bus.send(ev);
    }
    let mut second = bus.attach();
    for ev in later {
        bus.send(ev);
    }
    let (mut a, mut b) = (empty(100, 30), empty(100, 30));
    for (state, rx) in [(&mut a, &mut first), (&mut b, &mut second)] {
        while let Ok(ev) = rx.try_recv() {
            state.apply(ev);
        }
    }
    assert_eq!(b.hosts.len(), 2);
    assert_eq!(b.hosts[1].state, ConnState::Up);
    // Job 7 ended: it is listed after the job still at work.
    assert_eq!(b.jobs[1].id, 7);
    assert_eq!(b.jobs[1].phase, JobPhase::Done);
    assert_eq!(shown(&b), shown(&a));
}
