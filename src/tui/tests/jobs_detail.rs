//! The job queue, retry and the job detail view in the TUI: keys, the
//! reducer, and snapshots of the detail view.

use super::behaviour::{key, press, typed};
use super::fixtures::{checklist_failed, checklist_ok, full, jobs, two_disk_job};
use super::snapshots::both;
use crate::backend::messages::{Action, Event};
use crate::model::detail::{DetailUpdate, PhaseStamp, RetryNote};
use crate::model::{CloneRequest, JobPhase, JobView};
use crate::tui::state::{AppState, ENDED_JOBS_KEPT, Overlay, Pane};
use crossterm::event::KeyCode;

const T0: u64 = 1_750_000_000_000;
const MIB: f64 = 1024.0 * 1024.0;

fn detail(s: &mut AppState, id: u64, update: DetailUpdate) {
    s.apply(Event::JobDetail { id, update });
}

fn request(vm: &str) -> CloneRequest {
    CloneRequest {
        from: "alpha".into(),
        vm: vm.into(),
        to: "beta".into(),
        new_name: format!("{vm}-clone"),
        profile: "throttled".into(),
        start: false,
    }
}

/// multi01 mid-copy with a retry behind it, a minute of rate samples and
/// a log; web01 queued behind it.
pub(super) fn running(w: u16, h: u16) -> AppState {
    let mut s = full(w, h);
    let mut job = two_disk_job();
    job.rate_bytes_per_sec = 48.0 * MIB;
    let mut queued = jobs().remove(0);
    queued.phase = JobPhase::Queued;
    queued.queue_position = Some(1);
    queued.disks.clear();
    queued.eta_secs = None;
    queued.rate_bytes_per_sec = 0.0;
    s.jobs = vec![job, queued];
    s.focus = Pane::Jobs;
    let id = 9;
    detail(&mut s, id, DetailUpdate::Request(request("multi01")));
    for (i, phase) in [
        JobPhase::Queued,
        JobPhase::Validating,
        JobPhase::Preparing,
        JobPhase::Copying,
    ]
    .into_iter()
    .enumerate()
    {
        let at_ms = T0 + i as u64 * 2_500;
        detail(&mut s, id, DetailUpdate::Phase(PhaseStamp { phase, at_ms }));
    }
    detail(&mut s, id, DetailUpdate::Checklist(checklist_ok()));
    detail(
        &mut s,
        id,
        DetailUpdate::Retry(RetryNote {
            at_ms: T0 + 20_000,
            disk: "vdb".into(),
            attempt: 1,
            reason: "read at offset 1048576 failed: connection reset by peer".into(),
        }),
    );
    for i in 0..60u32 {
        // A dip where the retry happened.
        let rate = if (20..24).contains(&i) {
            0.0
        } else {
            (40 + i % 12) as f64 * MIB
        };
        let average = Some(45.0 * MIB);
        detail(&mut s, id, DetailUpdate::Sample { rate, average });
    }
    let log: Vec<String> = [
        "14:13:20 INFO  clone phase job=c9 phase=Validating",
        "14:13:22 INFO  clone phase job=c9 phase=Preparing",
        "14:13:25 INFO  clone phase job=c9 phase=Copying",
        "14:13:40 WARN  copy: read at offset 1048576 failed: connection reset by peer; retry 1 in 1s",
    ]
    .map(String::from)
    .to_vec();
    detail(&mut s, id, DetailUpdate::Log(log));
    s
}

fn open_detail(s: &mut AppState) {
    press(s, &[key(KeyCode::Enter)]);
    assert!(matches!(s.overlay, Some(Overlay::JobDetail { .. })));
}

#[test]
fn job_detail_while_copying() {
    both("job_detail_copying", |w, h| {
        let mut s = running(w, h);
        open_detail(&mut s);
        s
    });
}

#[test]
fn job_detail_of_a_job_that_failed_validation() {
    both("job_detail_failed", |w, h| {
        let mut s = full(w, h);
        let mut job = jobs().remove(1);
        job.phase = JobPhase::Failed;
        job.message = Some("pre-flight checks failed: name taken".into());
        s.jobs = vec![job];
        s.focus = Pane::Jobs;
        let id = 8;
        detail(&mut s, id, DetailUpdate::Request(request("multi01")));
        for (i, phase) in [JobPhase::Queued, JobPhase::Validating, JobPhase::Failed]
            .into_iter()
            .enumerate()
        {
            let at_ms = T0 + i as u64 * 1_200;
            detail(&mut s, id, DetailUpdate::Phase(PhaseStamp { phase, at_ms }));
        }
        detail(&mut s, id, DetailUpdate::Checklist(checklist_failed()));
        let message = Some("pre-flight checks failed: name taken".into());
        detail(&mut s, id, DetailUpdate::Ended { message });
        open_detail(&mut s);
        s
    });
}

#[test]
fn queued_jobs_show_their_place_in_the_jobs_pane() {
    both("jobs_queued", |w, h| {
        let mut s = running(w, h);
        s.selection.jobs = 1;
        s
    });
}

#[test]
fn detail_scrolls_within_its_content_end_follows_the_log_and_esc_closes() {
    let mut s = running(80, 24);
    open_detail(&mut s);
    let bottom = |s: &AppState| crate::tui::overlays::job_detail::max_scroll(s, 9, s.area);
    let max = bottom(&s);
    assert!(max > 0, "the body is longer than the screen");
    press(
        &mut s,
        &[
            key(KeyCode::PageDown),
            key(KeyCode::PageDown),
            key(KeyCode::PageDown),
        ],
    );
    assert!(matches!(s.overlay, Some(Overlay::JobDetail { scroll, .. }) if scroll == max));
    // End sticks to the bottom: new log lines come into view.
    press(&mut s, &[key(KeyCode::End)]);
    let new = vec!["14:14:00 INFO  newest line".to_string()];
    detail(&mut s, 9, DetailUpdate::Log(new));
    assert_eq!(bottom(&s), max + 1);
    let last = super::behaviour::screen_line(&s, 21);
    assert!(last.contains("newest line"), "{last}");
    // Up from there moves one line up from the bottom.
    press(&mut s, &[key(KeyCode::Up)]);
    assert!(matches!(s.overlay, Some(Overlay::JobDetail { scroll, .. }) if scroll == max));
    press(&mut s, &[key(KeyCode::Esc)]);
    assert!(s.overlay.is_none());
}

#[test]
fn r_retries_failed_and_cancelled_jobs_only() {
    let mut s = running(80, 24);
    // Running: nothing sent.
    assert!(typed(&mut s, "R").is_empty());
    assert!(s.status.as_ref().unwrap().text.contains("still copying"));
    for (phase, retried) in [
        (JobPhase::Failed, true),
        (JobPhase::Cancelled, true),
        (JobPhase::Done, false),
    ] {
        s.jobs[0].phase = phase;
        let actions = typed(&mut s, "R");
        if retried {
            assert!(matches!(&actions[..], [Action::RetryJob(9)]), "{phase:?}");
        } else {
            assert!(actions.is_empty(), "{phase:?}");
        }
    }
    // Outside the jobs pane R still refreshes every host.
    s.focus = Pane::Hosts;
    assert!(matches!(&typed(&mut s, "R")[..], [Action::Refresh(None)]));
}

#[test]
fn x_on_a_queued_job_asks_then_cancels_it() {
    let mut s = running(80, 24);
    typed(&mut s, "j");
    typed(&mut s, "x");
    assert!(matches!(
        s.overlay,
        Some(Overlay::ConfirmCancel { id: 7, .. })
    ));
    assert!(matches!(&typed(&mut s, "y")[..], [Action::CancelJob(7)]));
}

fn ended(id: u64) -> JobView {
    let mut j = jobs().remove(0);
    j.id = id;
    j.phase = JobPhase::Failed;
    j
}

#[test]
fn ended_jobs_are_kept_within_a_bound_with_their_details() {
    let mut s = running(80, 24);
    for id in 100..100 + ENDED_JOBS_KEPT as u64 + 2 {
        s.apply(Event::Job(ended(id)));
        detail(&mut s, id, DetailUpdate::Log(vec![format!("line of {id}")]));
    }
    let ended_ids: Vec<u64> = s
        .jobs
        .iter()
        .filter(|j| j.phase == JobPhase::Failed)
        .map(|j| j.id)
        .collect();
    assert_eq!(ended_ids.len(), ENDED_JOBS_KEPT);
    // Listed newest first; the oldest ended jobs left first.
    assert_eq!(ended_ids.first(), Some(&111));
    assert_eq!(ended_ids.last(), Some(&102));
    // The running and queued jobs stay, and so do their details.
    assert!(s.jobs.iter().any(|j| j.id == 9) && s.jobs.iter().any(|j| j.id == 7));
    assert!(s.job_details.contains_key(&9));
    // One more ended job: the details of the job that left go too.
    s.apply(Event::Job(ended(200)));
    assert!(!s.job_details.contains_key(&102));
    assert!(s.job_details.contains_key(&103));
}

/// Issue: the Rate column cut "216.3 KiB/s" to "216.3 KiB/" at 80 columns,
/// and "1023.9 KiB/s" still overflowed an 11-wide column. Rates now have at
/// most three figures and fit, whatever the VM name leaves.
#[test]
fn a_rate_is_shown_whole_at_80_columns() {
    const KIB: f64 = 1024.0;
    for vm_len in 1..=24 {
        for bps in [216.3 * KIB, 1023.9 * KIB, 99.96 * KIB * KIB] {
            let mut s = running(80, 24);
            s.jobs[0].vm = "v".repeat(vm_len);
            s.jobs[0].rate_bytes_per_sec = bps;
            let text = super::behaviour::screen_text(&s);
            let want = format!(" {} ", crate::model::format::rate(bps));
            let row = text.lines().find(|l| l.contains(" copying "));
            assert!(
                row.is_some_and(|l| l.contains(&want)),
                "vm {vm_len}, {want}:\n{text}"
            );
        }
    }
}
