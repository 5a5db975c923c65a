//! The clone flow: `c` opens the dialog, Enter checks, the checklist
//! arrives, Enter starts; `x` asks, then cancels.

use super::behaviour::{key, press, screen_line, screen_text as screen, typed};
use super::fixtures::{checklist_failed, checklist_ok, full, profiles, two_disk_job};
use crate::backend::messages::{Action, Event};
use crate::model::{CloneRequest, JobPhase};
use crate::tui::state::{AppState, CheckState, CloneDialog, CloneField, Confirm, Overlay, Pane};
use crossterm::event::{KeyCode, KeyEvent, KeyModifiers, MouseEvent, MouseEventKind};

/// The fixture with profiles received and web01 selected in the VMs pane.
pub(super) fn on_web01() -> AppState {
    let mut s = full(80, 24);
    s.apply(Event::Profiles(profiles()));
    s.focus = Pane::Vms;
    s
}

fn dialog(s: &AppState) -> &CloneDialog {
    match &s.overlay {
        Some(Overlay::Clone(d)) => d,
        other => panic!("no clone dialog: {other:?}"),
    }
}

pub(super) fn request(to: &str, name: &str, profile: &str) -> CloneRequest {
    CloneRequest {
        from: "alpha".into(),
        vm: "web01".into(),
        to: to.into(),
        new_name: name.into(),
        profile: profile.into(),
        start: false,
    }
}

/// Open the dialog on web01 and press Enter: the request is on its way.
pub(super) fn validating() -> AppState {
    let mut s = on_web01();
    typed(&mut s, "c");
    let sent = press(&mut s, &[key(KeyCode::Enter)]);
    assert_eq!(sent.len(), 1);
    s
}

#[test]
fn c_opens_the_dialog_prefilled() {
    let mut s = on_web01();
    assert!(typed(&mut s, "c").is_empty());
    let d = dialog(&s);
    assert_eq!((d.from.as_str(), d.vm.as_str()), ("alpha", "web01"));
    // beta is the only other host that is up, so it comes first.
    assert_eq!(d.to, "beta");
    assert_eq!(d.name, "web01-clone");
    assert_eq!(d.profile, "default");
    assert_eq!(d.field, CloneField::Destination);
    assert_eq!(d.confirm(), Confirm::Check);
    let text = screen(&s);
    assert!(text.contains("web01 on alpha · running"), "{text}");
    assert!(text.contains("< beta >"), "{text}");
}

#[test]
fn up_hosts_come_first_and_default_is_preselected_wherever_it_is() {
    let mut s = on_web01();
    // beta down, zeta up: zeta first.
    s.hosts[1].state = crate::model::ConnState::Connecting;
    s.hosts[5].state = crate::model::ConnState::Up;
    let mut list = profiles();
    list.rotate_left(1);
    assert_ne!(list[0].name, "default");
    s.apply(Event::Profiles(list));
    typed(&mut s, "c");
    let d = dialog(&s);
    assert_eq!(d.to, "zeta");
    assert_eq!(d.profile, "default");
}

#[test]
fn c_needs_a_vm_in_the_vms_pane_and_another_host() {
    let mut s = on_web01();
    s.focus = Pane::Hosts;
    typed(&mut s, "c");
    assert!(s.overlay.is_none());
    assert!(s.status.as_ref().unwrap().text.contains("VMs pane"));

    let mut s = on_web01();
    s.hosts.truncate(1);
    typed(&mut s, "c");
    assert!(s.overlay.is_none());
    assert!(s.status.as_ref().unwrap().text.contains("no other host"));
}

#[test]
fn tab_order_is_destination_name_profile_button() {
    let mut s = on_web01();
    typed(&mut s, "c");
    let mut order = Vec::new();
    for _ in 0..4 {
        press(&mut s, &[key(KeyCode::Tab)]);
        order.push(dialog(&s).field);
    }
    assert_eq!(
        order,
        [
            CloneField::Name,
            CloneField::Profile,
            CloneField::Confirm,
            CloneField::Destination
        ]
    );
    press(
        &mut s,
        &[KeyEvent::new(KeyCode::BackTab, KeyModifiers::SHIFT)],
    );
    assert_eq!(dialog(&s).field, CloneField::Confirm);
}

#[test]
fn pickers_move_with_arrows_both_ways_and_wrap() {
    let mut s = on_web01();
    typed(&mut s, "c");
    press(&mut s, &[key(KeyCode::Right)]);
    assert_eq!(dialog(&s).to, "gamma");
    press(&mut s, &[key(KeyCode::Down)]);
    assert_eq!(dialog(&s).to, "delta");
    press(&mut s, &[key(KeyCode::Left), key(KeyCode::Up)]);
    assert_eq!(dialog(&s).to, "beta");
    press(&mut s, &[key(KeyCode::Left)]);
    assert_eq!(dialog(&s).to, "zeta");
    // The source host is never offered.
    for _ in 0..6 {
        press(&mut s, &[key(KeyCode::Right)]);
        assert_ne!(dialog(&s).to, "alpha");
    }
    press(&mut s, &[key(KeyCode::Tab), key(KeyCode::Tab)]);
    press(&mut s, &[key(KeyCode::Right)]);
    assert_eq!(dialog(&s).profile, "quick-clone");
    press(&mut s, &[key(KeyCode::Up), key(KeyCode::Up)]);
    assert_eq!(dialog(&s).profile, "throttled");
}

#[test]
fn the_name_is_edited_in_place_and_checked_as_typed() {
    let mut s = on_web01();
    typed(&mut s, "c");
    press(&mut s, &[key(KeyCode::Tab)]);
    for _ in 0.."-clone".len() {
        press(&mut s, &[key(KeyCode::Backspace)]);
    }
    // Letters are text here, not commands: q does not quit, j does not move.
    typed(&mut s, "-qjy");
    assert_eq!(dialog(&s).name, "web01-qjy");
    assert!(!s.quit);
    typed(&mut s, "/");
    assert!(screen(&s).contains("path separator"));
    // Enter with a bad name sends nothing and stays on the name.
    press(&mut s, &[key(KeyCode::Tab)]);
    assert!(press(&mut s, &[key(KeyCode::Enter)]).is_empty());
    assert_eq!(dialog(&s).field, CloneField::Name);
    press(
        &mut s,
        &[KeyEvent::new(KeyCode::Char('u'), KeyModifiers::CONTROL)],
    );
    assert_eq!(dialog(&s).name, "");
    assert!(screen(&s).contains("it is empty"));
    typed(&mut s, "db..2");
    assert!(screen(&s).contains("it contains \"..\""));
    assert!(press(&mut s, &[key(KeyCode::Enter)]).is_empty());
}

#[test]
fn enter_sends_validate_clone_with_the_fields_as_chosen() {
    let mut s = on_web01();
    typed(&mut s, "c");
    press(&mut s, &[key(KeyCode::Right), key(KeyCode::Left)]); // back on beta
    press(&mut s, &[key(KeyCode::Tab), key(KeyCode::Backspace)]);
    typed(&mut s, "2");
    press(&mut s, &[key(KeyCode::Tab), key(KeyCode::Right)]);
    let sent = press(&mut s, &[key(KeyCode::Enter)]);
    match &sent[..] {
        [Action::ValidateClone(r)] => assert_eq!(*r, request("beta", "web01-clon2", "quick-clone")),
        other => panic!("{other:?}"),
    }
    let d = dialog(&s);
    assert_eq!(d.confirm(), Confirm::Waiting);
    assert_eq!(d.field, CloneField::Confirm);
    assert!(screen(&s).contains("validating…"));
    // A second Enter while waiting sends nothing.
    assert!(press(&mut s, &[key(KeyCode::Enter)]).is_empty());
}

#[test]
fn the_checklist_of_the_request_shows_and_enter_starts_the_clone() {
    let mut s = validating();
    // An answer to some other request is not this dialog's.
    s.apply(Event::Validation {
        request: request("beta", "other", "default"),
        checklist: checklist_failed(),
    });
    assert_eq!(dialog(&s).confirm(), Confirm::Waiting);
    s.apply(Event::Validation {
        request: request("beta", "web01-clone", "default"),
        checklist: checklist_ok(),
    });
    assert_eq!(dialog(&s).confirm(), Confirm::Start);
    let text = screen(&s);
    assert!(text.contains("[WARN] Memory: beta would commit"), "{text}");
    assert!(
        text.contains("→ the clone is defined but not started"),
        "{text}"
    );
    assert!(text.contains("[PASS] Source VM"), "{text}");
    assert!(text.contains("[ Start clone ]"), "{text}");
    let sent = press(&mut s, &[key(KeyCode::Enter)]);
    match &sent[..] {
        [Action::StartClone(r)] => assert_eq!(*r, request("beta", "web01-clone", "default")),
        other => panic!("{other:?}"),
    }
    assert!(s.overlay.is_none());
    assert_eq!(s.focus, Pane::Jobs);
}

#[test]
fn y_on_the_button_starts_an_ok_clone() {
    let mut s = validating();
    assert!(typed(&mut s, "y").is_empty(), "nothing to start yet");
    s.apply(Event::Validation {
        request: request("beta", "web01-clone", "default"),
        checklist: checklist_ok(),
    });
    assert!(matches!(typed(&mut s, "y")[..], [Action::StartClone(_)]));
}

#[test]
fn a_failed_checklist_blocks_the_start_until_fixed_and_checked_again() {
    let mut s = validating();
    s.apply(Event::Validation {
        request: request("beta", "web01-clone", "default"),
        checklist: checklist_failed(),
    });
    assert_eq!(dialog(&s).confirm(), Confirm::Blocked { failed: 2 });
    let text = screen(&s);
    assert!(
        text.contains("[FAIL] Name on beta: a domain named web01-clone"),
        "{text}"
    );
    assert!(text.contains("cannot start: 2 checks failed"), "{text}");
    // y does nothing; Enter checks again instead of starting.
    assert!(typed(&mut s, "y").is_empty());
    let sent = press(&mut s, &[key(KeyCode::Enter)]);
    assert!(matches!(&sent[..], [Action::ValidateClone(_)]), "{sent:?}");
    s.apply(Event::Validation {
        request: request("beta", "web01-clone", "default"),
        checklist: checklist_failed(),
    });
    // Fix the name: the old result no longer applies, Enter checks the new one.
    press(&mut s, &[key(KeyCode::BackTab), key(KeyCode::BackTab)]);
    assert_eq!(dialog(&s).field, CloneField::Name);
    typed(&mut s, "2");
    assert_eq!(dialog(&s).confirm(), Confirm::Check);
    assert!(screen(&s).contains("(fields changed since)"));
    let sent = press(&mut s, &[key(KeyCode::Enter)]);
    match &sent[..] {
        [Action::ValidateClone(r)] => assert_eq!(r.new_name, "web01-clone2"),
        other => panic!("{other:?}"),
    }
    // Nothing ever started.
    assert!(s.overlay.is_some());
}

#[test]
fn an_ok_result_for_older_fields_does_not_start() {
    let mut s = validating();
    s.apply(Event::Validation {
        request: request("beta", "web01-clone", "default"),
        checklist: checklist_ok(),
    });
    press(&mut s, &[key(KeyCode::Tab), key(KeyCode::Right)]); // destination → gamma
    assert_eq!(dialog(&s).to, "gamma");
    let sent = press(&mut s, &[key(KeyCode::Enter)]);
    assert!(
        matches!(&sent[..], [Action::ValidateClone(r)] if r.to == "gamma"),
        "{sent:?}"
    );
}

#[test]
fn an_error_for_the_source_host_shows_in_the_waiting_dialog() {
    let mut s = validating();
    // About another host: not this dialog's business.
    s.apply(Event::Error {
        host: Some("delta".into()),
        message: "connection refused".into(),
    });
    assert_eq!(dialog(&s).confirm(), Confirm::Waiting);
    s.apply(Event::Error {
        host: Some("alpha".into()),
        message: "cannot clone web01 yet: the clone job is not part of this build".into(),
    });
    let d = dialog(&s);
    assert!(
        matches!(&d.check.as_ref().unwrap().state, CheckState::Error(m) if m.contains("not part"))
    );
    assert_eq!(d.confirm(), Confirm::Retry);
    let text = screen(&s);
    assert!(
        text.contains("[FAIL] could not check: alpha: cannot clone"),
        "{text}"
    );
    // Enter tries again.
    assert!(matches!(
        press(&mut s, &[key(KeyCode::Enter)])[..],
        [Action::ValidateClone(_)]
    ));
}

#[test]
fn esc_closes_the_dialog_and_a_late_answer_is_dropped() {
    let mut s = validating();
    assert!(press(&mut s, &[key(KeyCode::Esc)]).is_empty());
    assert!(s.overlay.is_none());
    s.apply(Event::Validation {
        request: request("beta", "web01-clone", "default"),
        checklist: checklist_ok(),
    });
    assert!(s.overlay.is_none());
}

#[test]
fn the_checklist_scrolls_within_its_length() {
    let mut s = validating();
    s.apply(Event::Validation {
        request: request("beta", "web01-clone", "default"),
        checklist: checklist_ok(),
    });
    // Ten checks do not fit at 80x24.
    assert!(screen(&s).contains("lines 1-"));
    press(&mut s, &[key(KeyCode::PageDown), key(KeyCode::PageDown)]);
    press(&mut s, &[key(KeyCode::PageDown), key(KeyCode::PageDown)]);
    let end = dialog(&s).scroll;
    assert!(end > 0);
    press(&mut s, &[key(KeyCode::Down)]); // focus is on the button
    assert_eq!(dialog(&s).scroll, end, "scrolled past the end");
    press(&mut s, &[key(KeyCode::Up)]);
    assert_eq!(dialog(&s).scroll, end - 1);
    let wheel = MouseEvent {
        kind: MouseEventKind::ScrollUp,
        column: 40,
        row: 12,
        modifiers: KeyModifiers::NONE,
    };
    for _ in 0..20 {
        s.on_mouse(wheel);
    }
    assert_eq!(dialog(&s).scroll, 0);
    assert!(
        screen(&s).contains("[WARN] Memory"),
        "the warning is listed first"
    );
}

#[test]
fn x_asks_then_y_cancels_the_selected_running_job() {
    let mut s = full(80, 24);
    s.focus = Pane::Jobs;
    assert!(typed(&mut s, "x").is_empty());
    assert!(matches!(
        s.overlay,
        Some(Overlay::ConfirmCancel { id: 7, .. })
    ));
    assert!(screen(&s).contains("cancel job #1 (clone of web01 to beta)? y/n"));
    // Other keys leave the question open.
    assert!(typed(&mut s, "q").is_empty());
    assert!(!s.quit && s.overlay.is_some());
    let sent = typed(&mut s, "y");
    assert!(matches!(sent[..], [Action::CancelJob(7)]), "{sent:?}");
    assert!(s.overlay.is_none());
}

#[test]
fn n_or_esc_keep_the_job_and_finished_jobs_are_not_cancelled() {
    let mut s = full(80, 24);
    s.focus = Pane::Jobs;
    typed(&mut s, "x");
    assert!(typed(&mut s, "n").is_empty());
    assert!(s.overlay.is_none());
    typed(&mut s, "x");
    assert!(press(&mut s, &[key(KeyCode::Esc)]).is_empty());
    assert!(s.overlay.is_none());
    // The job ends while the question is open: y sends nothing.
    typed(&mut s, "x");
    let mut done = s.jobs[0].clone();
    done.phase = JobPhase::Done;
    s.apply(Event::Job(done));
    assert!(typed(&mut s, "y").is_empty());
    assert!(s.status.as_ref().unwrap().text.contains("already ended"));
    // x on a finished job does not ask.
    assert!(typed(&mut s, "x").is_empty());
    assert!(s.overlay.is_none());
    // Outside the jobs pane x says where to go.
    s.focus = Pane::Hosts;
    typed(&mut s, "x");
    assert!(s.overlay.is_none());
    assert!(s.status.as_ref().unwrap().text.contains("Jobs pane"));
}

#[test]
fn jobs_pane_shows_the_total_and_the_selected_jobs_disks_at_80x24() {
    let mut s = full(80, 24);
    s.jobs = vec![s.jobs[0].clone(), two_disk_job()];
    s.focus = Pane::Jobs;
    typed(&mut s, "j");
    let rows: Vec<String> = (13..17).map(|y| screen_line(&s, y)).collect();
    assert!(
        rows[1].contains("multi01") && rows[1].contains("85.2 MiB/s"),
        "{rows:?}"
    );
    // At 80 columns the total's bytes give way to the route; the
    // percentage and the disk lines below say how far it is.
    assert!(
        rows[1].contains("copying") && rows[1].contains("93%"),
        "{rows:?}"
    );
    assert!(
        rows[2].contains("vda") && rows[2].contains("512 MiB of 512 MiB"),
        "{rows:?}"
    );
    assert!(
        rows[3].contains("vdb") && rows[3].contains("25 MiB of 64 MiB"),
        "{rows:?}"
    );
    // Back to the one-disk job: its disk replaces them.
    typed(&mut s, "k");
    let text = screen(&s);
    assert!(
        text.contains("135 MiB of 300 MiB") && !text.contains("vdb"),
        "{text}"
    );
}

#[test]
fn profiles_from_the_backend_are_kept() {
    let mut s = full(80, 24);
    assert_eq!(s.profile_names(), ["default"]);
    s.apply(Event::Profiles(profiles()));
    assert_eq!(s.profiles, profiles());
}
