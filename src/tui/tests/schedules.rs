//! The schedules view (`S`): the daemon's schedules from its events and
//! the attach snapshot, Enter to run one now.

use super::behaviour::{coloured, drawn, key, press, screen_text as text, typed};
use super::fixtures::{empty, full};
use crate::backend::messages::{Action, Event};
use crate::model::schedule::{RunResult, ScheduleRun, ScheduleView};
use crate::model::snapshot::StateSnapshot;
use crate::tui::keymap::Context;
use crate::tui::state::{AppState, Overlay};
use crossterm::event::{KeyCode, KeyModifiers, MouseEvent, MouseEventKind};

/// 2026-11-22 12:00:00 UTC, in milliseconds.
const NOW_MS: u64 = 1_795_348_800_000;
const HOUR_MS: u64 = 3_600_000;

fn schedule(name: &str, job: &str, cron: &str, target: &str) -> ScheduleView {
    ScheduleView {
        name: name.into(),
        cron: cron.into(),
        job: job.into(),
        target: target.into(),
        next_ms: Some(NOW_MS + 14 * HOUR_MS),
        running: false,
        last: None,
    }
}

fn run(hours_ago: u64, result: Option<RunResult>, message: Option<&str>) -> ScheduleRun {
    let started = NOW_MS - hours_ago * HOUR_MS;
    ScheduleRun {
        due_ms: started - 12,
        started_ms: started,
        ended_ms: result.map(|_| started + 61_188),
        result,
        message: message.map(Into::into),
        jobs: if result.is_some() {
            vec![]
        } else {
            vec![41, 42]
        },
    }
}

/// A running export, a failed verify and a prune that never ran.
pub(super) fn schedules() -> Vec<ScheduleView> {
    let mut web = schedule(
        "nightly-web",
        "export",
        "0 2 * * *",
        "host alpha, VMs web*, db01 into /srv/backups (profile nightly)",
    );
    web.running = true;
    web.last = Some(run(0, None, None));
    let mut check = schedule(
        "weekly-check",
        "verify",
        "@weekly",
        "/srv/backups (profile nightly)",
    );
    check.last = Some(run(
        30,
        Some(RunResult::Failed),
        Some("snapshot a1b2c3d4 (web01): 1 chunk damaged"),
    ));
    let tidy = schedule(
        "tidy",
        "prune",
        "*/5 * * * *",
        "/srv/backups (profile keep3)",
    );
    vec![web, check, tidy]
}

/// The full fixture with the schedules, attached to a daemon.
pub(super) fn with_schedules(w: u16, h: u16) -> AppState {
    let mut s = full(w, h);
    s.daemon = Some("kvm-clone 0.1.0 daemon".into());
    s.apply(Event::Schedules(schedules()));
    s
}

fn selected(s: &AppState) -> usize {
    match &s.overlay {
        Some(Overlay::Schedules(l)) => l.selected,
        other => panic!("no schedules view: {other:?}"),
    }
}

/// The view open on its second schedule.
pub(super) fn open(w: u16, h: u16) -> AppState {
    let mut s = with_schedules(w, h);
    typed(&mut s, "Sj");
    s
}

#[test]
fn schedules_come_from_their_event_and_from_the_snapshot() {
    let mut s = empty(80, 24);
    s.apply(Event::Schedules(schedules()));
    assert_eq!(s.schedules, schedules());

    // A TUI attaching to the daemon starts from its snapshot.
    let mut snap = StateSnapshot::default();
    snap.set_schedules(schedules()[1..].to_vec());
    let mut s = empty(80, 24);
    s.apply(Event::Snapshot(Box::new(snap)));
    assert_eq!(s.schedules, schedules()[1..]);
}

#[test]
fn s_opens_the_view_and_enter_runs_the_selected_schedule() {
    let mut s = open(120, 40);
    assert_eq!(s.context(), Context::Schedules);
    assert_eq!(selected(&s), 1);
    let out = press(&mut s, &[key(KeyCode::Enter)]);
    assert_eq!(out, [Action::RunSchedule("weekly-check".into())]);
    assert!(
        s.status
            .as_ref()
            .is_some_and(|st| !st.error && st.text.contains("run schedule weekly-check now")),
        "{:?}",
        s.status
    );
    // The view stays open: the run shows up in it.
    assert_eq!(selected(&s), 1);
    let t = text(&s);
    assert!(
        t.contains("asked the daemon to run schedule weekly-check now"),
        "{t}"
    );
}

#[test]
fn enter_on_a_running_schedule_asks_nothing_and_says_why() {
    let mut s = open(80, 24);
    typed(&mut s, "k");
    assert_eq!(press(&mut s, &[key(KeyCode::Enter)]), []);
    let t = text(&s);
    assert!(t.contains("schedule nightly-web is running"), "{t}");
}

#[test]
fn keys_move_the_selection_and_stop_at_the_ends() {
    let mut s = open(80, 24);
    typed(&mut s, "jjj");
    assert_eq!(selected(&s), 2);
    press(&mut s, &[key(KeyCode::Up)]);
    assert_eq!(selected(&s), 1);
    typed(&mut s, "kkk");
    assert_eq!(selected(&s), 0);
    typed(&mut s, "G");
    assert_eq!(selected(&s), 2);
    press(&mut s, &[key(KeyCode::Home)]);
    assert_eq!(selected(&s), 0);
    // The wheel moves it too.
    let wheel = |kind| MouseEvent {
        kind,
        column: 10,
        row: 5,
        modifiers: KeyModifiers::NONE,
    };
    s.on_mouse(wheel(MouseEventKind::ScrollDown));
    assert_eq!(selected(&s), 1);
    s.on_mouse(wheel(MouseEventKind::ScrollUp));
    s.on_mouse(wheel(MouseEventKind::ScrollUp));
    assert_eq!(selected(&s), 0);
}

#[test]
fn esc_q_and_s_close_the_view_and_help_returns_to_it() {
    for close in ["\u{1b}", "q", "S"] {
        let mut s = open(80, 24);
        match close {
            "\u{1b}" => press(&mut s, &[key(KeyCode::Esc)]),
            c => typed(&mut s, c),
        };
        assert!(s.overlay.is_none(), "{close:?}");
        assert!(!s.quit, "q closes the view, it does not quit");
    }
    let mut s = open(80, 24);
    typed(&mut s, "?");
    let t = text(&s);
    assert!(t.contains("Keys: Schedules view (S)"), "{t}");
    press(&mut s, &[key(KeyCode::Esc)]);
    assert_eq!(selected(&s), 1);
}

#[test]
fn an_update_keeps_the_selected_schedule_by_name() {
    let mut s = open(80, 24);
    // The daemon's list after a config change: another order, one less.
    let mut list = schedules();
    list.swap(0, 1);
    s.apply(Event::Schedules(list));
    assert_eq!(selected(&s), 0, "still on weekly-check");
    // While help covers the view, too.
    typed(&mut s, "?");
    s.apply(Event::Schedules(schedules()));
    press(&mut s, &[key(KeyCode::Esc)]);
    assert_eq!(selected(&s), 1);
    // Gone: the selection stays in the list.
    typed(&mut s, "G");
    s.apply(Event::Schedules(schedules()[..1].to_vec()));
    assert_eq!(selected(&s), 0);
    s.apply(Event::Schedules(vec![]));
    assert_eq!(press(&mut s, &[key(KeyCode::Enter)]), []);
}

#[test]
fn the_list_shows_next_and_last_runs_with_their_result() {
    let s = open(120, 40);
    let t = text(&s);
    for want in [
        "nightly-web    export 0 2 * * *     2026-11-23 02:00:00 running",
        "weekly-check   verify @weekly",
        "failed: snapshot a1b2c3d4 (web01): 1 chunk damaged",
        "tidy           prune  */5 * * * *   2026-11-23 02:00:00 -",
        "target  /srv/backups (profile nightly)",
        "last    started 2026-11-21 06:00:00 (due 2026-11-21 05:59:59), took 1m01s",
    ] {
        assert!(t.contains(want), "{want:?} in\n{t}");
    }
    for (w, h) in [(80, 24), (120, 40)] {
        let mut s = open(w, h);
        insta::assert_snapshot!(format!("schedules_{w}x{h}"), drawn(&s).backend());
        // The running one selected: its jobs show.
        typed(&mut s, "k");
        insta::assert_snapshot!(format!("schedules_running_{w}x{h}"), drawn(&s).backend());
    }
}

#[test]
fn without_schedules_the_view_says_how_to_add_one_and_who_runs_them() {
    for (w, h) in [(80, 24), (120, 40)] {
        let mut s = full(w, h);
        typed(&mut s, "S");
        let t = text(&s);
        assert!(t.contains("docs/schedules.md"), "{t}");
        assert!(t.contains("kvm-clone daemon"), "{t}");
        assert!(t.contains("--no-daemon"), "{t}");
        insta::assert_snapshot!(format!("schedules_empty_{w}x{h}"), drawn(&s).backend());
    }
}

#[test]
fn no_color_leaves_results_and_selection_readable() {
    let mut s = open(80, 24);
    s.theme.color = false;
    assert!(!coloured(&s), "NO_COLOR output has colours");
    let t = text(&s);
    assert!(t.contains("running") && t.contains("failed:"), "{t}");
    typed(&mut s, "j");
    let t = text(&s);
    assert!(t.contains("never run"), "{t}");
    // The selected row: marker and reverse video.
    let t = drawn(&s);
    let buf = t.backend().buffer();
    let at = (0..s.area.height)
        .flat_map(|y| (0..s.area.width).map(move |x| (x, y)))
        .find(|&(x, y)| buf[(x, y)].symbol() == ">" && buf[(x + 2, y)].symbol() == "t")
        .expect("the selected row");
    assert!(
        buf[(at.0 + 2, at.1)]
            .modifier
            .contains(ratatui::style::Modifier::REVERSED)
    );
    s.theme.color = true;
    assert!(coloured(&s));
}
