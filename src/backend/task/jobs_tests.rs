//! The job table numbers its jobs: 1, 2, 3… in the order it makes them,
//! a retry being a new job with a new number, and every view of a job
//! carries its number.

use super::super::Backend;
use crate::backend::Options;
use crate::backend::bus::EventBus;
use crate::backend::history_feed::HistoryFeed;
use crate::backend::messages::Event;
use crate::config::profile::load_profiles;
use crate::config::{Config, ConfigOrigin, Limits, LoadedConfig};
use crate::jobs::queue::Queue;
use crate::model::{CloneRequest, JobPhase, JobRequest, JobView};
use std::collections::HashMap;
use tokio::sync::mpsc::{UnboundedReceiver, unbounded_channel};

/// A backend with no hosts: every job it queues fails at its start
/// ("no host named"), which is enough to see it numbered.
fn backend() -> (Backend, UnboundedReceiver<Event>) {
    let events = EventBus::new();
    let rx = events.attach();
    let (states, _) = unbounded_channel();
    let (job_ended, _) = unbounded_channel();
    let b = Backend {
        config: LoadedConfig {
            config: Config::default(),
            path: "/nonexistent/kvm-clone/config.toml".into(),
            origin: ConfigOrigin::Explicit,
            exists: false,
        },
        options: Options::default(),
        schedules: None,
        hosts: Vec::new(),
        history: HistoryFeed::none(events.clone()),
        events,
        states,
        jobs: HashMap::new(),
        job_ended,
        queue: Queue::new(Limits {
            per_host: 1,
            max: 1,
        }),
        known: Default::default(),
        last_number: 0,
        positions: HashMap::new(),
        repos: Default::default(),
    };
    (b, rx)
}

fn clone_of(vm: &str) -> JobRequest {
    JobRequest::Clone(CloneRequest {
        from: "alpha".into(),
        vm: vm.into(),
        to: "beta".into(),
        new_name: format!("{vm}-clone"),
        profile: "default".into(),
        start: false,
    })
}

fn views(rx: &mut UnboundedReceiver<Event>) -> Vec<JobView> {
    let mut out = Vec::new();
    while let Ok(ev) = rx.try_recv() {
        if let Event::Job(v) = ev {
            out.push(v);
        }
    }
    out
}

#[test]
fn jobs_are_numbered_in_order_and_a_retry_gets_a_new_number() {
    let (mut b, mut rx) = backend();
    let profile = load_profiles(None)
        .expect("built-in profiles")
        .remove(0)
        .profile;
    b.enqueue(clone_of("web01"), profile.clone());
    b.enqueue(clone_of("multi01"), profile);
    let first = views(&mut rx);
    // Each job: its queued view, then its failed one, both numbered.
    let numbered: Vec<(u32, JobPhase)> = first.iter().map(|v| (v.number, v.phase)).collect();
    assert_eq!(
        numbered,
        [
            (1, JobPhase::Queued),
            (1, JobPhase::Failed),
            (2, JobPhase::Queued),
            (2, JobPhase::Failed),
        ]
    );
    let web01 = first[0].id;
    assert_ne!(web01, first[2].id);

    b.retry_job(web01);
    let retried = views(&mut rx);
    assert!(retried.iter().all(|v| v.number == 3 && v.vm == "web01"));
    assert!(retried.iter().all(|v| v.id != web01), "a new job, a new id");

    // The backend's own messages name a job by its number too.
    b.cancel_job(web01);
    let said: Vec<String> = std::iter::from_fn(|| rx.try_recv().ok())
        .filter_map(|ev| match ev {
            Event::Error { message, .. } => Some(message),
            _ => None,
        })
        .collect();
    assert_eq!(said, ["no running job #1"]);
}
