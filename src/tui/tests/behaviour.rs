//! Keys, mouse and backend events change the state as the operator expects.

use super::fixtures::{alpha_vms, beta_vms, empty, full, history_entry, hosts, jobs};
use crate::backend::messages::{Action, Event};
use crate::model::history::{HistoryFilter, HistoryPage, HistoryStats};
use crate::model::{ConnState, HistoryEntry, HistoryResult, JobPhase};
use crate::tui::keymap::KeyMap;
use crate::tui::state::{AddHostField, AppState, MenuTarget, Overlay, Pane, RepoMode};
use crate::tui::ui;
use crossterm::event::{KeyCode, KeyEvent, KeyModifiers, MouseButton, MouseEvent, MouseEventKind};
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use std::collections::BTreeMap;

pub(super) fn key(code: KeyCode) -> KeyEvent {
    KeyEvent::new(code, KeyModifiers::NONE)
}

pub(super) fn ch(c: char) -> KeyEvent {
    let mods = if c.is_ascii_uppercase() || c == '?' {
        KeyModifiers::SHIFT
    } else {
        KeyModifiers::NONE
    };
    KeyEvent::new(KeyCode::Char(c), mods)
}

/// Press keys with the default key map; collect every action.
pub(super) fn press(s: &mut AppState, keys: &[KeyEvent]) -> Vec<Action> {
    let map = KeyMap::default();
    keys.iter().flat_map(|k| s.on_key(*k, &map)).collect()
}

pub(super) fn typed(s: &mut AppState, text: &str) -> Vec<Action> {
    let keys: Vec<KeyEvent> = text.chars().map(ch).collect();
    press(s, &keys)
}

fn vm_names(s: &AppState) -> Vec<String> {
    s.visible_vms().iter().map(|v| v.name.clone()).collect()
}

fn click(col: u16, row: u16) -> MouseEvent {
    MouseEvent {
        kind: MouseEventKind::Down(MouseButton::Left),
        column: col,
        row,
        modifiers: KeyModifiers::NONE,
    }
}

/// The whole screen drawn, for snapshots.
pub(super) fn drawn(s: &AppState) -> Terminal<TestBackend> {
    let mut t = Terminal::new(TestBackend::new(s.area.width, s.area.height)).unwrap();
    t.draw(|f| ui::draw(f, s)).unwrap();
    t
}

/// Whether any cell of the drawn screen has a colour (NO_COLOR: none may).
pub(super) fn coloured(s: &AppState) -> bool {
    drawn(s)
        .backend()
        .buffer()
        .content()
        .iter()
        .any(|c| c.fg != ratatui::style::Color::Reset || c.bg != ratatui::style::Color::Reset)
}

/// The whole screen as text, one line per row.
pub(super) fn screen_text(s: &AppState) -> String {
    (0..s.area.height)
        .map(|y| screen_line(s, y))
        .collect::<Vec<_>>()
        .join("\n")
}

pub(super) fn screen_line(s: &AppState, y: u16) -> String {
    let mut t = Terminal::new(TestBackend::new(s.area.width, s.area.height)).unwrap();
    t.draw(|f| ui::draw(f, s)).unwrap();
    let buf = t.backend().buffer();
    (0..s.area.width)
        .map(|x| buf[(x, y)].symbol().to_string())
        .collect()
}

#[test]
fn tab_and_shift_tab_cycle_panes_and_hl_move_sideways() {
    let mut s = full(80, 24);
    let order: Vec<Pane> = (0..4)
        .map(|_| {
            press(&mut s, &[key(KeyCode::Tab)]);
            s.focus
        })
        .collect();
    assert_eq!(order, [Pane::Vms, Pane::Jobs, Pane::History, Pane::Hosts]);
    press(
        &mut s,
        &[KeyEvent::new(KeyCode::BackTab, KeyModifiers::SHIFT)],
    );
    assert_eq!(s.focus, Pane::History);
    s.focus = Pane::Hosts;
    typed(&mut s, "l");
    assert_eq!(s.focus, Pane::Vms);
    typed(&mut s, "h");
    assert_eq!(s.focus, Pane::Hosts);
}

/// Issue: h and l did nothing in the Jobs and History panes although the
/// README calls them previous and next pane.
#[test]
fn h_and_l_move_between_panes_from_jobs_and_history() {
    let mut s = full(80, 24);
    s.focus = Pane::Jobs;
    typed(&mut s, "l");
    assert_eq!(s.focus, Pane::History);
    typed(&mut s, "l");
    assert_eq!(s.focus, Pane::Hosts, "History's next pane wraps to Hosts");
    s.focus = Pane::History;
    typed(&mut s, "h");
    assert_eq!(s.focus, Pane::Jobs);
    typed(&mut s, "h");
    assert_eq!(s.focus, Pane::Vms);
    press(&mut s, &[key(KeyCode::Right)]);
    assert_eq!(s.focus, Pane::Jobs, "the arrows too");
    s.focus = Pane::Hosts;
    press(&mut s, &[key(KeyCode::Left)]);
    assert_eq!(
        s.focus,
        Pane::History,
        "Hosts' previous pane wraps to History"
    );
}

#[test]
fn selecting_a_host_shows_its_vms() {
    let mut s = full(80, 24);
    assert_eq!(vm_names(&s), ["web01", "archive01", "multi01", "shared01"]);
    s.focus = Pane::Vms;
    typed(&mut s, "jj");
    assert_eq!(s.selected_vm().unwrap().name, "multi01");
    s.focus = Pane::Hosts;
    press(&mut s, &[key(KeyCode::Down)]);
    assert_eq!(s.selected_host().unwrap().name, "beta");
    assert_eq!(vm_names(&s), ["web02", "archive02", "multi02", "shared01"]);
    // A new host starts at its first VM.
    assert_eq!(s.selection.vms, 0);
}

#[test]
fn movement_stops_at_the_ends_and_home_end_jump() {
    let mut s = full(80, 24);
    typed(&mut s, "k");
    assert_eq!(s.selection.hosts, 0);
    press(&mut s, &[key(KeyCode::End)]);
    assert_eq!(s.selected_host().unwrap().name, "zeta");
    typed(&mut s, "j");
    assert_eq!(s.selection.hosts, 5);
    press(&mut s, &[key(KeyCode::Home)]);
    assert_eq!(s.selection.hosts, 0);
    // The hosts table shows 4 rows at 80x24, so a page is 4.
    press(&mut s, &[key(KeyCode::PageDown)]);
    assert_eq!(s.selection.hosts, 4);
    press(&mut s, &[key(KeyCode::PageUp)]);
    assert_eq!(s.selection.hosts, 0);
}

#[test]
fn r_refreshes_the_selected_host_and_shift_r_all() {
    let mut s = full(80, 24);
    typed(&mut s, "j");
    let actions = typed(&mut s, "r");
    assert!(matches!(&actions[..], [Action::Refresh(Some(h))] if h == "beta"));
    let actions = typed(&mut s, "R");
    assert!(matches!(&actions[..], [Action::Refresh(None)]));
    // Nothing to refresh without hosts.
    let mut e = empty(80, 24);
    assert!(typed(&mut e, "r").is_empty());
}

#[test]
fn filter_is_typed_inline_and_esc_clears_it() {
    let mut s = full(80, 24);
    typed(&mut s, "/mu");
    assert!(s.filter.editing);
    assert_eq!(s.focus, Pane::Vms);
    assert_eq!(vm_names(&s), ["multi01"]);
    press(&mut s, &[key(KeyCode::Backspace)]);
    assert_eq!(vm_names(&s), ["multi01"]);
    press(&mut s, &[key(KeyCode::Backspace)]);
    assert_eq!(vm_names(&s), ["web01", "archive01", "multi01", "shared01"]);
    // Case-insensitive; Enter keeps the filter and gives keys back to the panes.
    typed(&mut s, "LT");
    press(&mut s, &[key(KeyCode::Enter)]);
    assert!(!s.filter.editing);
    assert_eq!(vm_names(&s), ["multi01"]);
    // 'q' is a command again, not filter text: no job check needed here.
    s.jobs.clear();
    press(&mut s, &[key(KeyCode::Esc)]);
    assert_eq!(s.filter.text, "");
    assert_eq!(vm_names(&s).len(), 4);
    typed(&mut s, "/web");
    press(&mut s, &[key(KeyCode::Esc)]);
    assert!(!s.filter.editing);
    assert_eq!(s.filter.text, "");
}

#[test]
fn filter_selection_stays_inside_the_filtered_list() {
    let mut s = full(80, 24);
    s.focus = Pane::Vms;
    typed(&mut s, "jjj");
    assert_eq!(s.selected_vm().unwrap().name, "shared01");
    typed(&mut s, "/web");
    assert_eq!(s.selected_vm().unwrap().name, "web01");
}

#[test]
fn enter_on_a_vm_opens_its_details_and_esc_closes() {
    let mut s = full(80, 24);
    s.focus = Pane::Vms;
    typed(&mut s, "j");
    press(&mut s, &[key(KeyCode::Enter)]);
    match &s.overlay {
        Some(Overlay::VmDetail { host, vm, scroll }) => {
            assert_eq!(
                (host.as_str(), vm.as_str(), *scroll),
                ("alpha", "archive01", 0)
            );
        }
        other => panic!("{other:?}"),
    }
    // q closes the view instead of quitting.
    typed(&mut s, "q");
    assert!(s.overlay.is_none());
    assert!(!s.quit);
}

#[test]
fn detail_scroll_is_bounded_by_its_content() {
    let mut s = full(80, 24);
    s.focus = Pane::Vms;
    press(&mut s, &[key(KeyCode::Enter)]);
    press(&mut s, &[key(KeyCode::End)]);
    let Some(Overlay::VmDetail { scroll: end, .. }) = s.overlay else {
        panic!("no detail")
    };
    assert!(end > 0, "web01's XML does not fit 80x24");
    typed(&mut s, "jjj");
    let Some(Overlay::VmDetail { scroll, .. }) = s.overlay else {
        panic!("no detail")
    };
    assert_eq!(scroll, end);
    typed(&mut s, "k");
    let Some(Overlay::VmDetail { scroll, .. }) = s.overlay else {
        panic!("no detail")
    };
    assert_eq!(scroll, end - 1);
}

#[test]
fn enter_on_unknown_host_asks_and_y_accepts_with_the_fingerprint() {
    let mut s = full(80, 24);
    typed(&mut s, "jj");
    press(&mut s, &[key(KeyCode::Enter)]);
    assert!(matches!(&s.overlay, Some(Overlay::HostKey { host, .. }) if host == "gamma"));
    // Other keys do nothing while the dialog is open.
    assert!(typed(&mut s, "qr").is_empty());
    assert!(!s.quit);
    let actions = typed(&mut s, "y");
    match &actions[..] {
        [Action::AcceptHostKey { host, fingerprint }] => {
            assert_eq!(host, "gamma");
            assert_eq!(
                fingerprint,
                "SHA256:n4Jd3Kx1qv0mW2v9cG7bZr0T8pQeXyL5uH6aF1sD2kE"
            );
        }
        other => panic!("{other:?}"),
    }
    assert!(s.overlay.is_none() || !matches!(s.overlay, Some(Overlay::HostKey { .. })));
}

#[test]
fn a_accepts_and_esc_rejects_a_host_key() {
    let mut s = full(80, 24);
    typed(&mut s, "jj");
    press(&mut s, &[key(KeyCode::Enter)]);
    assert!(matches!(
        typed(&mut s, "a")[..],
        [Action::AcceptHostKey { .. }]
    ));
    press(&mut s, &[key(KeyCode::Esc)]); // close whatever opened next
    s.overlay = None;
    s.focus = Pane::Hosts;
    press(&mut s, &[key(KeyCode::Enter)]);
    let actions = press(&mut s, &[key(KeyCode::Esc)]);
    assert!(matches!(&actions[..], [Action::RejectHostKey { host }] if host == "gamma"));
}

#[test]
fn prompts_open_by_themselves_once_and_stay_closed_when_dismissed() {
    let mut s = empty(80, 24);
    let mut hs = hosts();
    hs.truncate(3); // alpha, beta, gamma (unknown key)
    s.apply(Event::Hosts(hs.clone()));
    assert!(matches!(&s.overlay, Some(Overlay::HostKey { host, .. }) if host == "gamma"));
    typed(&mut s, "n");
    assert!(s.overlay.is_none());
    // The same state again (a periodic refresh) does not nag.
    s.apply(Event::Host(hs[2].clone()));
    assert!(s.overlay.is_none());
    // A change and back asks again.
    let mut g = hs[2].clone();
    g.state = ConnState::Connecting;
    s.apply(Event::Host(g));
    assert!(s.overlay.is_none());
    s.apply(Event::Host(hs[2].clone()));
    assert!(matches!(&s.overlay, Some(Overlay::HostKey { .. })));
}

#[test]
fn passphrase_is_sent_once_as_a_secret() {
    let mut s = empty(80, 24);
    let eps = hosts().into_iter().find(|h| h.name == "epsilon").unwrap();
    s.apply(Event::Hosts(vec![eps.clone()]));
    assert!(matches!(&s.overlay, Some(Overlay::Passphrase(_))));
    // Enter with nothing typed does not send.
    assert!(press(&mut s, &[key(KeyCode::Enter)]).is_empty());
    typed(&mut s, "correct horse");
    press(&mut s, &[key(KeyCode::Backspace)]);
    let actions = press(&mut s, &[key(KeyCode::Enter)]);
    match &actions[..] {
        [
            Action::Passphrase {
                host,
                key_path,
                passphrase,
            },
        ] => {
            assert_eq!(host, "epsilon");
            assert_eq!(key_path, "/home/op/.ssh/id_ed25519");
            assert_eq!(passphrase.expose(), "correct hors");
        }
        other => panic!("{other:?}"),
    }
    assert!(s.overlay.is_none());
    assert!(!format!("{s:?}").contains("correct"));
    // Wrong passphrase: the backend reports the same state again and we ask again.
    s.apply(Event::Host(eps));
    assert!(matches!(&s.overlay, Some(Overlay::Passphrase(p)) if p.typed() == 0));
    // Esc dismisses without sending.
    assert!(press(&mut s, &[key(KeyCode::Esc)]).is_empty());
    assert!(s.overlay.is_none());
}

#[test]
fn enter_on_a_failed_host_reconnects_and_on_an_up_host_goes_to_its_vms() {
    let mut s = full(80, 24);
    typed(&mut s, "jjj"); // delta, unreachable
    let actions = press(&mut s, &[key(KeyCode::Enter)]);
    assert!(matches!(&actions[..], [Action::Connect(h)] if h == "delta"));
    press(&mut s, &[key(KeyCode::Home), key(KeyCode::Enter)]);
    assert_eq!(s.focus, Pane::Vms);
}

#[test]
fn add_host_form_validates_then_sends_the_host() {
    let mut s = full(80, 24);
    typed(&mut s, "a");
    assert!(matches!(s.overlay, Some(Overlay::AddHost(_))));
    // Enter with an empty name is refused, in the form.
    assert!(press(&mut s, &[key(KeyCode::Enter)]).is_empty());
    let Some(Overlay::AddHost(f)) = &s.overlay else {
        panic!()
    };
    assert_eq!(f.error.as_deref(), Some("Name: required"));
    typed(&mut s, "theta");
    press(&mut s, &[key(KeyCode::Tab)]);
    typed(&mut s, "10.0.0.8");
    press(
        &mut s,
        &[key(KeyCode::Tab), key(KeyCode::Tab), key(KeyCode::Tab)],
    );
    let Some(Overlay::AddHost(f)) = &s.overlay else {
        panic!()
    };
    assert_eq!(f.field, AddHostField::Identity);
    typed(&mut s, "/root/.ssh/lab");
    let actions = press(&mut s, &[key(KeyCode::Enter)]);
    match &actions[..] {
        [Action::AddHost(cfg)] => {
            assert_eq!(cfg.name, "theta");
            assert_eq!(cfg.address.as_deref(), Some("10.0.0.8"));
            assert_eq!(cfg.port, Some(22));
            assert_eq!(cfg.user.as_deref(), Some("root"));
            assert_eq!(
                cfg.identity_files,
                [std::path::PathBuf::from("/root/.ssh/lab")]
            );
        }
        other => panic!("{other:?}"),
    }
    assert!(s.overlay.is_none());
}

#[test]
fn add_host_refuses_a_name_already_in_use() {
    let mut s = full(80, 24);
    typed(&mut s, "a");
    typed(&mut s, "alpha");
    press(&mut s, &[key(KeyCode::Tab)]);
    typed(&mut s, "h");
    assert!(press(&mut s, &[key(KeyCode::Enter)]).is_empty());
    let Some(Overlay::AddHost(f)) = &s.overlay else {
        panic!()
    };
    assert!(f.error.as_deref().unwrap().contains("already exists"));
    press(&mut s, &[key(KeyCode::Esc)]);
    assert!(s.overlay.is_none());
}

#[test]
fn q_quits_at_once_without_jobs_and_asks_while_one_runs() {
    let mut s = full(80, 24);
    s.jobs.clear();
    typed(&mut s, "q");
    assert!(s.quit);

    let mut s = full(80, 24);
    typed(&mut s, "q");
    assert!(!s.quit);
    assert!(matches!(s.overlay, Some(Overlay::ConfirmQuit)));
    typed(&mut s, "n");
    assert!(s.overlay.is_none() && !s.quit);
    press(
        &mut s,
        &[KeyEvent::new(KeyCode::Char('c'), KeyModifiers::CONTROL)],
    );
    typed(&mut s, "y");
    assert!(s.quit);
}

#[test]
fn help_lists_the_bindings_of_the_key_map_in_use() {
    let overrides: BTreeMap<String, Vec<String>> =
        [("refresh".to_string(), vec!["f5".to_string()])].into();
    let map = KeyMap::from_config(&overrides).unwrap();
    let mut s = full(120, 40);
    s.on_key(ch('?'), &map);
    let Some(Overlay::Help(v)) = &s.overlay else {
        panic!("no help")
    };
    // The hosts pane first, then what every pane shares, with the override.
    assert_eq!(v.doc.sections[0].title, "Hosts pane");
    let shared = &v.doc.sections[1];
    assert_eq!(shared.title, "Every pane");
    let keys: Vec<&str> = shared.rows.iter().map(|r| r.0.as_str()).collect();
    assert!(keys.contains(&"f5") && !keys.contains(&"r"), "{keys:?}");
    let text = screen_text(&s);
    assert!(
        text.lines()
            .any(|l| l.contains(" f5 ") && l.contains("refresh the host selected in Hosts")),
        "help shows the override:\n{text}"
    );
    // With the override, r no longer refreshes.
    s.overlay = None;
    assert!(s.on_key(ch('r'), &map).is_empty());
    assert!(matches!(
        s.on_key(KeyEvent::new(KeyCode::F(5), KeyModifiers::NONE), &map)[..],
        [Action::Refresh(Some(_))]
    ));
}

#[test]
fn key_releases_are_ignored() {
    let mut s = full(80, 24);
    let mut k = ch('j');
    k.kind = crossterm::event::KeyEventKind::Release;
    press(&mut s, &[k]);
    assert_eq!(s.selection.hosts, 0);
}

#[test]
fn click_selects_the_row_under_the_pointer_and_focuses_its_pane() {
    let mut s = full(80, 24);
    // At 80x24 the VMs pane's third data row is screen row 4.
    assert!(screen_line(&s, 4).contains("multi01"));
    s.on_mouse(click(40, 4));
    assert_eq!(s.focus, Pane::Vms);
    assert_eq!(s.selected_vm().unwrap().name, "multi01");
    // Hosts pane, row 5: delta.
    assert!(screen_line(&s, 5).contains("delta"));
    s.on_mouse(click(5, 5));
    assert_eq!(s.focus, Pane::Hosts);
    assert_eq!(s.selected_host().unwrap().name, "delta");
    // A click on a header or empty row only focuses.
    // Jobs pane: header on row 13, jobs on 14 and 15.
    assert!(screen_line(&s, 15).contains("multi01"));
    s.on_mouse(click(40, 13));
    assert_eq!(s.focus, Pane::Jobs);
    assert_eq!(s.selection.jobs, 0);
    s.on_mouse(click(40, 15));
    assert_eq!(s.selection.jobs, 1);
    s.on_mouse(click(40, 16));
    assert_eq!(s.selection.jobs, 1);
}

#[test]
fn click_on_a_scrolled_list_selects_what_is_drawn_there() {
    let mut s = full(80, 24);
    press(&mut s, &[key(KeyCode::End)]); // zeta; the list scrolls
    // Four rows fit: gamma..zeta, so the first data row shows gamma.
    let line = screen_line(&s, 2);
    assert!(line.contains("gamma"), "{line}");
    s.on_mouse(click(5, 2));
    assert_eq!(s.selected_host().unwrap().name, "gamma");
}

#[test]
fn wheel_moves_the_selection_of_the_pane_under_the_pointer() {
    let mut s = full(80, 24);
    let wheel = |kind, col, row| MouseEvent {
        kind,
        column: col,
        row,
        modifiers: KeyModifiers::NONE,
    };
    s.on_mouse(wheel(MouseEventKind::ScrollDown, 40, 5));
    s.on_mouse(wheel(MouseEventKind::ScrollDown, 40, 5));
    assert_eq!(s.selected_vm().unwrap().name, "multi01");
    s.on_mouse(wheel(MouseEventKind::ScrollUp, 40, 5));
    assert_eq!(s.selected_vm().unwrap().name, "archive01");
    assert_eq!(s.selection.hosts, 0);
}

#[test]
fn events_update_lists_and_keep_the_selection_by_name() {
    let mut s = empty(80, 24);
    let mut hs = hosts();
    hs.truncate(2);
    s.apply(Event::Hosts(hs.clone()));
    s.apply(Event::Vms {
        host: "alpha".into(),
        vms: alpha_vms(),
    });
    s.apply(Event::Vms {
        host: "beta".into(),
        vms: beta_vms(),
    });
    s.focus = Pane::Vms;
    typed(&mut s, "jj");
    assert_eq!(s.selected_vm().unwrap().name, "multi01");
    // web01 disappears: the selection follows multi01.
    let mut vms = alpha_vms();
    vms.remove(0);
    s.apply(Event::Vms {
        host: "alpha".into(),
        vms,
    });
    assert_eq!(s.selected_vm().unwrap().name, "multi01");
    // Hosts reordered: still alpha.
    hs.reverse();
    s.apply(Event::Hosts(hs));
    assert_eq!(s.selected_host().unwrap().name, "alpha");
    // One host's state changes.
    let mut b = hosts()[1].clone();
    b.state = ConnState::Unreachable {
        reason: "timeout".into(),
    };
    s.apply(Event::Host(b));
    assert_eq!(s.hosts[0].state.label(), "unreachable");
}

#[test]
fn jobs_are_upserted_and_ended_ones_stay_when_history_lists_them() {
    let mut s = empty(80, 24);
    let mut j = jobs().remove(0);
    s.apply(Event::Job(j.clone()));
    assert!(s.has_running_jobs());
    j.phase = JobPhase::Done;
    s.apply(Event::Job(j.clone()));
    assert_eq!(s.jobs.len(), 1);
    assert!(!s.has_running_jobs());
    let mut entry = history_entry(2, "web01", ("alpha", "beta"), HistoryResult::Running);
    entry.job = j.id;
    let page = |entries: Vec<HistoryEntry>| {
        Event::History(HistoryPage {
            filter: HistoryFilter::default(),
            entries,
            stats: HistoryStats::default(),
        })
    };
    s.apply(page(vec![entry.clone()]));
    assert_eq!(s.jobs.len(), 1);
    entry.result = HistoryResult::Done;
    let older = history_entry(1, "web01", ("alpha", "beta"), HistoryResult::Done);
    s.apply(page(vec![entry.clone(), older]));
    // Still listed once its row is finished, for its details and a retry.
    assert_eq!(s.jobs.len(), 1);
    // Newest first.
    assert_eq!(s.history[0].job, j.id);
}

#[test]
fn errors_go_to_the_status_line_and_stopped_quits() {
    let mut s = full(80, 24);
    s.apply(Event::Error {
        host: Some("beta".into()),
        message: "libvirt: connection reset".into(),
    });
    let st = s.status.clone().unwrap();
    assert!(st.error);
    assert_eq!(st.text, "beta: libvirt: connection reset");
    assert!(screen_line(&s, 23).starts_with("beta: libvirt: connection reset"));
    s.apply(Event::Stopped);
    assert!(s.quit);
}

#[test]
fn host_info_fills_in_the_facts() {
    let mut s = empty(80, 24);
    let mut a = hosts().remove(0);
    let info = a.info.take().unwrap();
    s.apply(Event::Hosts(vec![a]));
    assert!(s.hosts[0].info.is_none());
    s.apply(Event::HostInfo {
        host: "alpha".into(),
        info: info.clone(),
    });
    assert_eq!(s.hosts[0].info.as_ref(), Some(&info));
}

/// Issue: `p` in the hosts pane said "select a VM in the VMs pane first"
/// while a VM was highlighted. The highlighted VM is the one meant.
#[test]
fn p_from_the_hosts_pane_uses_the_highlighted_vm() {
    let mut s = full(80, 24);
    s.focus = Pane::Hosts;
    let vm = s.selected_vm().expect("a highlighted VM").name.clone();
    typed(&mut s, "p");
    assert!(
        matches!(&s.overlay, Some(Overlay::Profiles(m)) if matches!(&m.target, MenuTarget::Clone { vm: v, .. } if *v == vm)),
        "{:?} {:?}",
        s.overlay,
        s.status
    );
    // From the jobs pane there is no VM in sight: still refused.
    s.overlay = None;
    s.focus = Pane::Jobs;
    typed(&mut s, "p");
    assert!(s.overlay.is_none());
}

/// Issue: status messages stayed until the next one and hid the key hints
/// for good. A status goes after STATUS_SECS, an error after ERROR_SECS,
/// counted from when it was first drawn; while one shows, the loop ticks.
#[test]
fn status_lines_expire() {
    use crate::tui::state::{ERROR_SECS, STATUS_SECS};
    let mut s = full(80, 24);
    s.jobs.clear();
    assert!(!s.needs_ticks());
    s.set_status("refreshing alpha…");
    assert!(s.needs_ticks(), "a status that will go needs ticks");
    s.expire_status(1_000);
    assert!(s.status.is_some(), "first drawn now");
    s.expire_status(1_000 + STATUS_SECS - 1);
    assert!(s.status.is_some());
    s.expire_status(1_000 + STATUS_SECS);
    assert!(s.status.is_none(), "gone after {STATUS_SECS} s");
    assert!(screen_text(&s).contains("? help"), "the hints are back");
    s.set_error("backend is not running");
    s.expire_status(2_000);
    s.expire_status(2_000 + STATUS_SECS);
    assert!(s.status.is_some(), "errors stay longer");
    s.expire_status(2_000 + ERROR_SECS);
    assert!(s.status.is_none());
    assert!(!s.needs_ticks());
}

/// Issue: the add-host dialog had no field for an `ssh_alias`. With one,
/// the address may stay empty, and the port and user left at the form's
/// defaults come from ~/.ssh/config, not the form.
#[test]
fn add_host_takes_an_ssh_alias() {
    let mut s = full(80, 24);
    typed(&mut s, "a");
    typed(&mut s, "kvm9");
    // Name → Address → Port → User → Identity → SSH alias.
    for _ in 0..5 {
        press(&mut s, &[key(KeyCode::Tab)]);
    }
    let Some(Overlay::AddHost(f)) = &s.overlay else {
        panic!()
    };
    assert_eq!(f.field, AddHostField::SshAlias);
    typed(&mut s, "kvm9-mgmt");
    let actions = press(&mut s, &[key(KeyCode::Enter)]);
    match &actions[..] {
        [Action::AddHost(h)] => {
            assert_eq!(h.name, "kvm9");
            assert_eq!(h.ssh_alias.as_deref(), Some("kvm9-mgmt"));
            assert_eq!(h.address, None);
            assert_eq!((h.port, h.user.as_deref()), (None, None));
        }
        other => panic!("{other:?} {:?}", s.overlay),
    }
    assert!(
        screen_text(&{
            let mut s = full(80, 24);
            typed(&mut s, "a");
            s
        })
        .contains("SSH alias:"),
        "the form shows the field"
    );
}

/// A letter typed with ctrl is not that letter: ctrl-y does not confirm,
/// ctrl-o does not open another repository.
#[test]
fn ctrl_letters_do_not_answer_questions() {
    let ctrl = |c| KeyEvent::new(KeyCode::Char(c), KeyModifiers::CONTROL);
    let mut s = full(80, 24);
    typed(&mut s, "q");
    assert!(matches!(s.overlay, Some(Overlay::ConfirmQuit)));
    press(&mut s, &[ctrl('y'), ctrl('n')]);
    assert!(matches!(s.overlay, Some(Overlay::ConfirmQuit)) && !s.quit);
    let mut s = super::repository::with_repo(80, 24);
    typed(&mut s, "b");
    s.apply(Event::Repo(super::repository::view()));
    let sent = press(&mut s, &[ctrl('o'), ctrl('v')]);
    assert!(sent.is_empty() && matches!(b_mode(&s), RepoMode::List));
    typed(&mut s, "o");
    assert!(
        matches!(b_mode(&s), RepoMode::Path),
        "o itself still opens another"
    );
}

fn b_mode(s: &AppState) -> &RepoMode {
    match &s.overlay {
        Some(Overlay::Repository(b)) => &b.mode,
        other => panic!("{other:?}"),
    }
}
