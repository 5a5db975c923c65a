//! Jobs are told apart by the number the backend gave them ("#3"), the
//! same in the jobs pane, the status line, the dialogs and the history;
//! running jobs come first, a new job takes the selection, and at 80×24
//! a running job and every job's route stay in view (issue 14, item 4).

use super::behaviour::{screen_text, typed};
use super::fixtures::{empty, full, history, jobs, two_disk_job};
use super::snapshots::both;
use crate::backend::messages::{Event, JobResult};
use crate::model::history::{HistoryFilter, HistoryPage};
use crate::model::{JobKind, JobPhase, JobView};
use crate::tui::state::{AppState, Overlay, Pane};

/// Job `number` (id `number + 100`) of `vm`, alpha to beta, in `phase`.
fn job(number: u32, vm: &str, phase: JobPhase) -> JobView {
    let mut j = jobs().remove(0);
    j.id = 100 + u64::from(number);
    j.number = number;
    j.vm = vm.into();
    j.phase = phase;
    if phase != JobPhase::Copying {
        j.rate_bytes_per_sec = 0.0;
        j.eta_secs = None;
    }
    if phase == JobPhase::Queued {
        j.disks.clear();
    }
    if phase == JobPhase::Done {
        j.disks[0].bytes_done = j.disks[0].bytes_total;
    }
    j
}

fn ids(s: &AppState) -> Vec<u32> {
    s.jobs.iter().map(|j| j.number).collect()
}

fn selected(s: &AppState) -> Option<u32> {
    s.selected_job().map(|j| j.number)
}

/// Six jobs as a session makes them: two ended, a failed export, a
/// two-disk clone copying, one cancelled, another clone copying and a
/// restore waiting in the queue.
fn session(w: u16, h: u16) -> AppState {
    let mut s = full(w, h);
    s.jobs.clear();
    s.focus = Pane::Jobs;
    let mut export = job(2, "archive01", JobPhase::Failed);
    export.kind = JobKind::Export;
    export.to = "/backups/r".into();
    export.message = Some("copying: connection reset by alpha".into());
    let mut multi = two_disk_job();
    multi.id = 103;
    multi.number = 3;
    let mut shared = job(4, "shared01", JobPhase::Cancelled);
    (shared.from, shared.to) = ("beta".into(), "alpha".into());
    let mut queued = job(6, "archive01", JobPhase::Queued);
    queued.kind = JobKind::Restore;
    queued.queue_position = Some(1);
    for j in [
        job(1, "web01", JobPhase::Done),
        export,
        multi,
        shared,
        job(5, "web01", JobPhase::Copying),
        queued,
    ] {
        s.apply(Event::Job(j));
    }
    s
}

#[test]
fn running_jobs_come_first_newest_first_then_the_queue_then_ended_ones() {
    let s = session(120, 40);
    assert_eq!(ids(&s), [5, 3, 6, 4, 2, 1]);
}

#[test]
fn a_new_job_takes_the_selection_and_a_moved_job_keeps_it() {
    let mut s = session(120, 40);
    assert_eq!(selected(&s), Some(6), "the newest job is selected");
    typed(&mut s, "k");
    assert_eq!(selected(&s), Some(3));
    // #5 ends and moves below the running and queued jobs: #3 stays selected.
    s.apply(Event::Job(job(5, "web01", JobPhase::Done)));
    assert_eq!(ids(&s), [3, 6, 5, 4, 2, 1]);
    assert_eq!(selected(&s), Some(3));
    // The queued restore starts: it moves up, the selection stays on #3.
    let mut started = s.jobs[1].clone();
    started.phase = JobPhase::Validating;
    started.queue_position = None;
    s.apply(Event::Job(started));
    assert_eq!(ids(&s), [6, 3, 5, 4, 2, 1]);
    assert_eq!(selected(&s), Some(3));
    // A new job appears: the selection goes to it.
    s.apply(Event::Job(job(7, "multi01", JobPhase::Queued)));
    assert_eq!(selected(&s), Some(7));
}

/// Issue: the `#` column showed "183" for every job (the first digits of
/// 16-digit ids) and the status line the whole id.
#[test]
fn the_number_is_what_the_pane_status_line_and_dialogs_show() {
    let mut s = session(120, 40);
    let text = screen_text(&s);
    for n in ["#1 ", "#2 ", "#3 ", "#4 ", "#5 ", "#6 "] {
        assert!(text.contains(n), "{n}: {text}");
    }
    s.apply(Event::JobDone {
        id: 103,
        result: JobResult::Failed {
            message: "no space on beta".into(),
            checklist: None,
        },
    });
    assert_eq!(
        s.status.as_ref().map(|st| st.text.as_str()),
        Some("job #3 failed: no space on beta")
    );
    s.apply(Event::JobDone {
        id: 104,
        result: JobResult::Cancelled,
    });
    assert_eq!(
        s.status.as_ref().map(|st| st.text.as_str()),
        Some("job #4 cancelled; nothing left behind")
    );
    // x on the selected job: the question names it by its number.
    typed(&mut s, "x");
    assert!(matches!(
        s.overlay,
        Some(Overlay::ConfirmCancel { id: 106, .. })
    ));
    assert!(
        screen_text(&s).contains("cancel job #6"),
        "{}",
        screen_text(&s)
    );
    typed(&mut s, "n");
    // #3 fails and moves down among the ended jobs; R on #4 retries it.
    s.apply(Event::Job(job(3, "multi01", JobPhase::Failed)));
    assert_eq!(ids(&s), [5, 6, 4, 3, 2, 1]);
    typed(&mut s, "j");
    assert_eq!(selected(&s), Some(4));
    typed(&mut s, "R");
    assert_eq!(
        s.status.as_ref().map(|st| st.text.as_str()),
        Some("retrying job #4 as a new job…")
    );
    // Enter opens the detail, titled with the number.
    s.overlay = Some(Overlay::JobDetail { id: 105, scroll: 0 });
    assert!(screen_text(&s).contains("Job #5: clone web01"));
    s.overlay = Some(Overlay::ConfirmQuit);
    let text = screen_text(&s);
    assert!(text.contains("2 jobs are still running: #5, #6"), "{text}");
}

/// Issue: at 80×24 the running clone scrolled out of view when the
/// selection was on an ended job, and From→To was the first column to go.
#[test]
fn at_80x24_a_running_job_and_the_routes_stay_in_view() {
    let mut s = session(80, 24);
    let text = screen_text(&s);
    assert!(text.contains("alpha→beta"), "{text}");
    assert!(text.contains("#5 "), "{text}");
    // Down to the oldest ended job: the newest running one stays on top.
    typed(&mut s, "jjj");
    assert_eq!(selected(&s), Some(1));
    let text = screen_text(&s);
    assert!(text.contains("#5 ") && text.contains("copying"), "{text}");
    assert!(text.contains("#1 "), "{text}");
    // A long VM name and route still leave the route in view.
    let mut long = job(8, "a-rather-long-vm-name-01", JobPhase::Copying);
    (long.from, long.to) = ("kvm-prod-01".into(), "kvm-prod-02".into());
    s.apply(Event::Job(long));
    let text = screen_text(&s);
    assert!(text.contains("kvm-prod-01→kvm-prod-02"), "{text}");
}

/// A click on the top line of a table that keeps a running job on top
/// selects that job, not the row scrolled under it.
#[test]
fn a_click_on_the_kept_running_job_selects_it() {
    let mut s = session(80, 24);
    typed(&mut s, "jjj");
    let rects = crate::tui::layout::layout(s.area);
    // Jobs pane: border, header, then the first data line.
    let y = rects.jobs.y + 2;
    s.on_mouse(crossterm::event::MouseEvent {
        kind: crossterm::event::MouseEventKind::Down(crossterm::event::MouseButton::Left),
        column: 10,
        row: y,
        modifiers: crossterm::event::KeyModifiers::NONE,
    });
    assert_eq!(selected(&s), Some(5));
}

/// History keeps its own rows; those of this session's jobs show the
/// job's number, so a job that left the jobs pane can still be found.
#[test]
fn history_rows_of_this_sessions_jobs_show_their_number() {
    let mut s = session(120, 40);
    let mut entries = history();
    entries[0].job = 102;
    s.apply(Event::History(HistoryPage {
        filter: HistoryFilter::default(),
        entries,
        stats: super::fixtures::history_stats(),
    }));
    let rects = crate::tui::layout::layout(s.area);
    let row = super::behaviour::screen_line(&s, rects.history.y + 2);
    assert!(row.contains("#2 "), "{row}");
    let other = super::behaviour::screen_line(&s, rects.history.y + 3);
    assert!(!other.contains('#'), "{other}");
    // The row's detail names the job by number, id and row, each labelled.
    let row_id = s.history[0].id;
    s.overlay = Some(Overlay::HistoryDetail {
        id: row_id,
        scroll: 0,
    });
    let text = screen_text(&s);
    let want = format!("#2 (id 102, history row {row_id})");
    assert!(text.contains(&want), "{want}: {text}");
}

#[test]
fn jobs_with_numbers_running_first() {
    both("jobs_numbered", session);
}

/// An ended job selected at 80×24: the running #5 stays on the top line.
#[test]
fn jobs_with_an_ended_job_selected() {
    both("jobs_numbered_ended_selected", |w, h| {
        let mut s = session(w, h);
        typed(&mut s, "jjj");
        s
    });
}

/// Views from a backend that predates numbers (0) still tell jobs apart:
/// by the last digits of their ids.
#[test]
fn without_numbers_the_ids_last_digits_show() {
    let mut s = empty(120, 40);
    for id in [1_838_000_000_123_001, 1_838_000_000_456_002] {
        let mut j = jobs().remove(0);
        (j.id, j.number) = (id, 0);
        s.apply(Event::Job(j));
    }
    let text = screen_text(&s);
    assert!(text.contains("…23001") && text.contains("…56002"), "{text}");
}
