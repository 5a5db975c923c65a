//! The key tables help is built from (`tui::keymap::context`) against the
//! key handling: in each context, every key a table lists does something,
//! and every key that does something is listed. "Does something" is any
//! change of the state or the screen, or an action sent, but not a status
//! line alone: a refusal ("select a VM first") is not handling the key.

use super::behaviour::{drawn, key, press, typed};
use super::clone_flow::{on_web01, request};
use super::fixtures::{checklist_ok, full, jobs};
use super::repository::{REPO, damaged, view, with_repo};
use crate::backend::messages::Event;
use crate::model::JobPhase;
use crate::tui::keymap::{Context, Key, KeyMap, KeySpec, Row};
use crate::tui::state::{AppState, Overlay, Pane, PassphrasePrompt};
use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

type Fixture = fn() -> AppState;

fn pane(p: Pane, row: usize) -> AppState {
    let mut s = full(80, 24);
    s.focus = p;
    s.select(p, row);
    s
}

/// A pane with the VM filter set, for esc.
fn filtered(p: Pane) -> AppState {
    let mut s = pane(p, 0);
    s.filter.text = "0".into();
    s
}

/// The jobs pane with a failed job at the end, to retry.
fn jobs_with_failed(row: usize) -> AppState {
    let mut s = pane(Pane::Jobs, 0);
    let mut failed = jobs().remove(0);
    (failed.id, failed.phase) = (10, JobPhase::Failed);
    s.jobs.push(failed);
    s.select(Pane::Jobs, row);
    s
}

fn vm_filter(down: bool) -> AppState {
    let mut s = pane(Pane::Vms, 0);
    typed(&mut s, "/0");
    if down {
        press(&mut s, &[key(KeyCode::Down)]);
    }
    s
}

fn history_filter(down: bool) -> AppState {
    let mut s = pane(Pane::History, 0);
    typed(&mut s, "/w");
    if down {
        press(&mut s, &[key(KeyCode::Down)]);
    }
    s
}

/// The repository view listing its snapshots, the second selected.
fn repo() -> AppState {
    let mut s = with_repo(80, 24);
    typed(&mut s, "b");
    s.apply(Event::Repo(view()));
    typed(&mut s, "j");
    s
}

fn verified() -> AppState {
    let mut s = repo();
    s.apply(Event::RepoVerified {
        path: REPO.into(),
        report: damaged(),
    });
    s
}

fn restore(field: usize) -> AppState {
    let mut s = repo();
    typed(&mut s, "R");
    for _ in 0..field {
        press(&mut s, &[key(KeyCode::Tab)]);
    }
    s
}

fn clone_at(tabs: usize) -> AppState {
    let mut s = on_web01();
    typed(&mut s, "c");
    for _ in 0..tabs {
        press(&mut s, &[key(KeyCode::Tab)]);
    }
    s
}

/// The clone dialog on its button, with a passed checklist scrolled a line.
fn clone_checked() -> AppState {
    let mut s = clone_at(0);
    press(&mut s, &[key(KeyCode::Enter)]);
    s.apply(Event::Validation {
        request: request("beta", "web01-clone", "default"),
        checklist: checklist_ok(),
    });
    press(&mut s, &[key(KeyCode::Down)]);
    s
}

fn ctrl(c: char) -> KeyEvent {
    KeyEvent::new(KeyCode::Char(c), KeyModifiers::CONTROL)
}

fn export_at(tabs: usize) -> AppState {
    let mut s = on_web01();
    typed(&mut s, "e");
    for _ in 0..tabs {
        press(&mut s, &[key(KeyCode::Tab)]);
    }
    typed(&mut s, "/x");
    s
}

fn with_overlay(ov: Overlay) -> AppState {
    let mut s = pane(Pane::Vms, 0);
    s.overlay = Some(ov);
    s
}

/// A view scrolled a little, so every scroll key moves it.
fn scrolled(mut s: AppState) -> AppState {
    press(&mut s, &[key(KeyCode::Down), key(KeyCode::Down)]);
    s
}

/// States in which the context is in focus; a key does something in the
/// context when it does in one of them.
fn fixtures(c: Context) -> Vec<Fixture> {
    match c {
        Context::AllPanes => vec![],
        Context::Hosts => vec![|| pane(Pane::Hosts, 1), || filtered(Pane::Hosts)],
        Context::Vms => vec![|| pane(Pane::Vms, 1), || filtered(Pane::Vms)],
        Context::Jobs => vec![|| jobs_with_failed(1), || jobs_with_failed(2), || {
            filtered(Pane::Jobs)
        }],
        Context::History => vec![|| pane(Pane::History, 0), || pane(Pane::History, 1), || {
            let mut s = pane(Pane::History, 0);
            s.history_filter.text = "web".into();
            s
        }],
        Context::VmFilter => vec![|| vm_filter(false), || vm_filter(true)],
        Context::HistoryFilter => vec![|| history_filter(false), || history_filter(true)],
        Context::RepoList => vec![repo],
        Context::Schedules => vec![|| super::schedules::open(80, 24)],
        Context::RepoOpen => vec![
            || {
                let mut s = repo();
                typed(&mut s, "o/srv");
                s
            },
            || {
                let mut s = repo();
                s.apply(Event::RepoLocked {
                    path: REPO.into(),
                    message: "encrypted".into(),
                });
                typed(&mut s, "pw");
                s
            },
        ],
        Context::RepoVerified => vec![verified],
        Context::RepoRepair => vec![|| {
            let mut s = verified();
            typed(&mut s, "F");
            s
        }],
        Context::RepoPruneForm => vec![|| {
            let mut s = repo();
            typed(&mut s, "P1");
            s
        }],
        Context::RepoPrunePlan => vec![|| {
            let mut s = repo();
            typed(&mut s, "P1");
            press(&mut s, &[key(KeyCode::Enter)]);
            s.apply(Event::RepoPruned {
                path: REPO.into(),
                policy: crate::model::KeepPolicy {
                    last: 1,
                    ..Default::default()
                },
                report: crate::model::PruneView {
                    dry_run: true,
                    snapshots: vec![],
                    chunks_removed: 0,
                    bytes_freed: 0,
                },
            });
            s
        }],
        Context::RepoRestore => vec![|| restore(0), || restore(1), || restore(2)],
        Context::RepoCreate => vec![|| super::repo_create::export_offering(80, 24), || {
            let mut s = super::repo_create::view_offering(80, 24);
            press(&mut s, &[key(KeyCode::Tab)]);
            typed(&mut s, "pw");
            s
        }],
        Context::AddHost => vec![|| {
            let mut s = pane(Pane::Hosts, 0);
            typed(&mut s, "ax");
            s
        }],
        Context::Clone => vec![|| clone_at(0), || clone_at(1), clone_checked],
        Context::SaveProfile => vec![|| {
            let mut s = clone_at(0);
            press(&mut s, &[ctrl('s')]);
            typed(&mut s, "mine");
            s
        }],
        Context::Profiles => vec![|| {
            let mut s = on_web01();
            typed(&mut s, "pj");
            s
        }],
        Context::ProfileEdit => vec![
            || super::profile_edit::editing(80, 24, "pe"),
            || super::profile_edit::editing(80, 24, "pe\t"),
            || super::profile_edit::editing(80, 24, "p\tje\t\t\t\t\t\t\t1"),
        ],
        Context::Export => vec![|| export_at(0), || export_at(1), || export_at(2)],
        Context::HostKey => vec![|| {
            with_overlay(Overlay::HostKey {
                host: "gamma".into(),
                fingerprint: "SHA256:x".into(),
            })
        }],
        Context::Passphrase => vec![|| {
            let mut p = PassphrasePrompt::new("epsilon".into(), "/k".into());
            p.push('x');
            with_overlay(Overlay::Passphrase(p))
        }],
        Context::ConfirmQuit => vec![|| {
            let mut s = pane(Pane::Hosts, 0);
            typed(&mut s, "q");
            s
        }],
        Context::ConfirmCancel => vec![|| {
            let mut s = jobs_with_failed(0);
            typed(&mut s, "x");
            s
        }],
        Context::VmDetail => vec![|| {
            let mut s = with_overlay(Overlay::VmDetail {
                host: "alpha".into(),
                vm: "multi01".into(),
                scroll: 0,
            });
            // Longer than the screen, so it scrolls.
            if let Some(vm) = s.vms.get_mut("alpha").and_then(|v| v.get_mut(2)) {
                vm.xml = "<domain>\n".repeat(40);
            }
            scrolled(s)
        }],
        Context::JobDetail => vec![|| {
            let mut s = super::jobs_detail::running(80, 24);
            press(&mut s, &[key(KeyCode::Enter)]);
            scrolled(s)
        }],
        Context::HistoryDetail => vec![|| scrolled(super::history::detail(80, 24))],
        Context::Help => vec![|| {
            let mut s = pane(Pane::Hosts, 0);
            typed(&mut s, "?");
            scrolled(s)
        }],
    }
}

/// Everything a key can change, but the status line.
fn fingerprint(s: &mut AppState) -> String {
    s.status = None;
    format!("{s:?}\n{}", drawn(s).backend())
}

/// What `ev` does in the fixture, or None when it does nothing.
fn effect(f: Fixture, ev: KeyEvent) -> Option<String> {
    let mut s = f();
    let before = fingerprint(&mut s);
    let sent = s.on_key(ev, &KeyMap::default());
    let after = fingerprint(&mut s);
    (!sent.is_empty() || after != before).then(|| format!("{sent:?}\n{after}"))
}

/// The rows that apply in a context: its own and, in a pane, the shared ones.
fn rows(c: Context, keys: &KeyMap) -> Vec<Row> {
    let mut rows = c.rows().to_vec();
    rows.extend(c.shared_rows(keys));
    rows
}

/// The events a row's keys stand for.
fn events(row: &Row, keys: &KeyMap) -> Vec<KeyEvent> {
    let mut out: Vec<KeyEvent> = row.specs(keys).iter().map(KeySpec::event).collect();
    for k in row.keys {
        match k {
            Key::Text | Key::Other => {
                out.push(KeyEvent::new(KeyCode::Char('z'), KeyModifiers::NONE))
            }
            Key::Digits => out.push(KeyEvent::new(KeyCode::Char('7'), KeyModifiers::NONE)),
            Key::Cmd(_) | Key::Fixed(_) => {}
        }
    }
    out
}

/// Every key worth trying: printable characters, named keys, ctrl letters.
fn candidates() -> Vec<KeyEvent> {
    let mut out: Vec<KeyEvent> = (' '..='~')
        .map(|c| {
            let m = if c.is_ascii_uppercase() {
                KeyModifiers::SHIFT
            } else {
                KeyModifiers::NONE
            };
            KeyEvent::new(KeyCode::Char(c), m)
        })
        .collect();
    use KeyCode::*;
    for code in [
        Enter, Esc, Tab, Backspace, Delete, Insert, Up, Down, Left, Right, Home, End, PageUp,
        PageDown,
    ] {
        out.push(key(code));
    }
    out.push(KeyEvent::new(BackTab, KeyModifiers::SHIFT));
    out.extend((1..=12).map(|n| key(F(n))));
    out.extend(('a'..='z').map(ctrl));
    out
}

fn listed(c: Context, ev: &KeyEvent, keys: &KeyMap) -> bool {
    let rows = rows(c, keys);
    let has = |want: Key| rows.iter().any(|r| r.keys.contains(&want));
    let plain = !ev
        .modifiers
        .intersects(KeyModifiers::CONTROL | KeyModifiers::ALT);
    let spec = KeySpec::from_event(ev);
    rows.iter()
        .any(|r| spec.is_some_and(|s| r.specs(keys).contains(&s)))
        || has(Key::Other)
        || matches!(ev.code, KeyCode::Char(_)) && plain && has(Key::Text)
        || matches!(ev.code, KeyCode::Char(c) if c.is_ascii_digit()) && plain && has(Key::Digits)
}

#[test]
fn every_fixture_is_in_its_context() {
    for c in Context::ALL {
        for f in fixtures(c) {
            assert_eq!(f().context(), c);
        }
    }
}

#[test]
fn every_key_the_tables_list_does_something_there() {
    let keys = KeyMap::default();
    let mut idle = Vec::new();
    for c in Context::ALL.into_iter().filter(|c| *c != Context::AllPanes) {
        let fx = fixtures(c);
        for row in rows(c, &keys) {
            for ev in events(&row, &keys) {
                if !fx.iter().any(|f| effect(*f, ev).is_some()) {
                    idle.push(format!(
                        "{c:?}: {:?} {:?} ({})",
                        ev.modifiers, ev.code, row.does
                    ));
                }
            }
        }
    }
    assert!(
        idle.is_empty(),
        "listed but do nothing:\n{}",
        idle.join("\n")
    );
}

#[test]
fn every_key_that_does_something_is_listed() {
    let keys = KeyMap::default();
    let mut unlisted = Vec::new();
    for c in Context::ALL {
        for f in fixtures(c) {
            for ev in candidates() {
                let Some(done) = effect(f, ev) else {
                    continue;
                };
                if listed(c, &ev, &keys) {
                    continue;
                }
                // Y for y, A for a: the same answer in either case.
                let alias = match ev.code {
                    KeyCode::Char(u) if u.is_ascii_uppercase() => {
                        let lower = KeyEvent::new(
                            KeyCode::Char(u.to_ascii_lowercase()),
                            KeyModifiers::NONE,
                        );
                        listed(c, &lower, &keys) && effect(f, lower) == Some(done)
                    }
                    _ => false,
                };
                if !alias {
                    unlisted.push(format!("{c:?}: {:?} {:?}", ev.modifiers, ev.code));
                }
            }
        }
    }
    unlisted.dedup();
    assert!(
        unlisted.is_empty(),
        "do something, not listed:\n{}",
        unlisted.join("\n")
    );
}
