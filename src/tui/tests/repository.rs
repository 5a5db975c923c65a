//! The repository view (`b`) and the export dialog (`e`).

use super::behaviour::{drawn as screen, key, press, screen_text as text, typed};
use super::fixtures::{full, profiles};
use crate::backend::messages::{Action, Event};
use crate::model::{KeepPolicy, PruneLine, PruneView, RepoView, SnapshotRow, VerifyView};
use crate::tui::state::{AppState, ExportField, Overlay, Pane, RepoBrowser, RepoMode};
use crossterm::event::KeyCode;

pub(super) const REPO: &str = "/srv/backups/kvm";
/// 2026-11-22 12:00:00 UTC.
const NOW: i64 = 1_795_348_800;

fn snap(id: &str, vm: &str, hours_ago: i64, data: u64, new: u64) -> SnapshotRow {
    SnapshotRow {
        id: id.into(),
        vm: vm.into(),
        host: "alpha".into(),
        time: NOW - hours_ago * 3600,
        profile: "quick-backup".into(),
        live: vm == "web01",
        disks: vec!["vda".into()],
        virtual_bytes: 2 << 30,
        data_bytes: data,
        new_bytes: new,
    }
}

pub(super) fn view() -> RepoView {
    RepoView {
        path: REPO.into(),
        encrypted: true,
        read_at: NOW,
        snapshots: vec![
            snap("a1b2c3d4e5f60718", "web01", 1, 300 << 20, 0),
            snap("0f1e2d3c4b5a6978", "archive01", 5, 64 << 20, 20 << 20),
            snap("1122334455667788", "web01", 26, 300 << 20, 150 << 20),
        ],
    }
}

/// A read-back verify that found one damaged chunk file it can remove.
pub(super) fn damaged() -> VerifyView {
    VerifyView {
        read_data: true,
        snapshots: 1,
        chunks: 75,
        problems: vec![
            "snapshot a1b2c3d4 (web01) disk vda at offset 104857600: chunk 3f…: damaged".into(),
        ],
        repairable: 1,
        repaired: 0,
    }
}

pub(super) fn with_repo(w: u16, h: u16) -> AppState {
    let mut s = full(w, h);
    s.repository = Some(REPO.into());
    s.apply(Event::Profiles(profiles()));
    s
}

fn browser(s: &AppState) -> &RepoBrowser {
    match &s.overlay {
        Some(Overlay::Repository(b)) => b,
        other => panic!("no repository view: {other:?}"),
    }
}

#[test]
fn b_reads_the_configured_repository_and_lists_snapshots_per_vm() {
    let mut s = with_repo(120, 40);
    let out = typed(&mut s, "b");
    assert!(
        matches!(&out[..], [Action::RepoOpen { path, passphrase: None }] if path.to_str() == Some(REPO)),
        "{out:?}"
    );
    s.apply(Event::Repo(view()));
    let vms: Vec<&str> = browser(&s).rows().iter().map(|r| r.vm.as_str()).collect();
    assert_eq!(vms, ["archive01", "web01", "web01"], "grouped by VM");
    let web: Vec<&str> = browser(&s).rows()[1..]
        .iter()
        .map(|r| r.id.as_str())
        .collect();
    assert_eq!(
        web,
        ["a1b2c3d4e5f60718", "1122334455667788"],
        "newest first"
    );
    let t = text(&s);
    assert!(t.contains("encrypted · 3 snapshot(s)"), "{t}");
    // The unchanged re-export added nothing: infinitely reduced.
    assert!(t.contains("a1b2c3d4 web01") && t.contains("∞"), "{t}");
    for (w, h) in [(80, 24), (120, 40)] {
        s.area = ratatui::layout::Rect::new(0, 0, w, h);
        insta::assert_snapshot!(format!("repository_{w}x{h}"), screen(&s).backend());
    }
}

#[test]
fn a_locked_repository_asks_for_its_passphrase_without_echo() {
    let mut s = with_repo(80, 24);
    typed(&mut s, "b");
    s.apply(Event::RepoLocked {
        path: REPO.into(),
        message: "the repository is encrypted: type its passphrase".into(),
    });
    assert!(matches!(browser(&s).mode, RepoMode::Passphrase(_)));
    assert!(typed(&mut s, "hunter2").is_empty());
    let t = text(&s);
    assert!(t.contains("Passphrase: *******_"), "{t}");
    assert!(!t.contains("hunter2"), "never echoed");
    let out = press(&mut s, &[key(KeyCode::Enter)]);
    match &out[..] {
        [
            Action::RepoOpen {
                passphrase: Some(p),
                ..
            },
        ] => assert_eq!(p.expose(), "hunter2"),
        other => panic!("{other:?}"),
    }
    assert!(!format!("{out:?}").contains("hunter2"), "Debug hides it");
}

#[test]
fn prune_shows_the_dry_run_before_anything_is_removed() {
    let mut s = with_repo(80, 24);
    typed(&mut s, "b");
    s.apply(Event::Repo(view()));
    assert!(typed(&mut s, "P").is_empty());
    // An empty policy is refused: it would remove everything.
    assert!(press(&mut s, &[key(KeyCode::Enter)]).is_empty());
    assert!(text(&s).contains("at least one rule"), "{}", text(&s));
    typed(&mut s, "1");
    let out = press(&mut s, &[key(KeyCode::Enter)]);
    let policy = KeepPolicy {
        last: 1,
        ..KeepPolicy::default()
    };
    assert!(
        matches!(&out[..], [Action::RepoPrune { dry_run: true, policy: p, .. }] if *p == policy),
        "{out:?}"
    );
    let plan = PruneView {
        dry_run: true,
        snapshots: vec![
            PruneLine {
                id: "a1b2c3d4e5f60718".into(),
                vm: "web01".into(),
                time: NOW - 3600,
                keep: true,
                reasons: vec!["last 1".into()],
            },
            PruneLine {
                id: "1122334455667788".into(),
                vm: "web01".into(),
                time: NOW - 26 * 3600,
                keep: false,
                reasons: vec![],
            },
        ],
        chunks_removed: 37,
        bytes_freed: 150 << 20,
    };
    s.apply(Event::RepoPruned {
        path: REPO.into(),
        policy,
        report: plan,
    });
    let t = text(&s);
    assert!(t.contains("1 of 2 snapshot(s) would go"), "{t}");
    insta::assert_snapshot!("repository_prune_plan_80x24", screen(&s).backend());
    let out = typed(&mut s, "y");
    assert!(
        matches!(&out[..], [Action::RepoPrune { dry_run: false, policy: p, confirmed: Some(c), .. }] if *p == policy && c == &["1122334455667788".to_string()]),
        "{out:?}"
    );
}

#[test]
fn verify_results_name_the_damage() {
    let mut s = with_repo(80, 24);
    typed(&mut s, "b");
    s.apply(Event::Repo(view()));
    let out = typed(&mut s, "jV");
    match &out[..] {
        [
            Action::RepoVerify {
                snapshot: Some(id),
                read_data: true,
                ..
            },
        ] => assert_eq!(id, "a1b2c3d4e5f60718"),
        other => panic!("{other:?}"),
    }
    s.apply(Event::RepoVerified {
        path: REPO.into(),
        report: damaged(),
    });
    let t = text(&s);
    assert!(t.contains("DAMAGED: 1 problem(s)"), "{t}");
    assert!(t.contains("disk vda at offset 104857600"), "{t}");
    assert!(t.contains("F remove the damaged chunk files"), "{t}");

    // F asks first; anything but y keeps the files.
    assert!(typed(&mut s, "F").is_empty());
    let t = text(&s);
    assert!(t.contains("Remove the 1 damaged chunk file(s)?"), "{t}");
    assert!(typed(&mut s, "n").is_empty());
    assert!(!text(&s).contains("Remove the 1"), "{}", text(&s));
    typed(&mut s, "F");
    let out = typed(&mut s, "y");
    match &out[..] {
        [
            Action::RepoVerify {
                snapshot: Some(id),
                read_data: true,
                repair: true,
                ..
            },
        ] => assert_eq!(id, "a1b2c3d4e5f60718"),
        other => panic!("{other:?}"),
    }
    s.apply(Event::RepoVerified {
        path: REPO.into(),
        report: VerifyView {
            read_data: true,
            snapshots: 1,
            chunks: 75,
            problems: vec![
                "snapshot a1b2c3d4 (web01) disk vda at offset 104857600: chunk 3f…: damaged".into(),
            ],
            repairable: 0,
            repaired: 1,
        },
    });
    let t = text(&s);
    assert!(t.contains("removed 1 damaged chunk file(s)"), "{t}");
    assert!(!t.contains("F remove"), "nothing left to remove: {t}");
    // A verify that found only missing chunks offers no repair.
    assert!(typed(&mut s, "F").is_empty());
}

#[test]
fn restore_form_sends_the_request_with_a_new_name_or_the_identity() {
    let mut s = with_repo(120, 40);
    typed(&mut s, "b");
    s.apply(Event::Repo(view()));
    typed(&mut s, "R");
    let RepoMode::Restore(f) = &browser(&s).mode else {
        panic!("no restore form");
    };
    assert_eq!(f.name, "archive01-restored");
    insta::assert_snapshot!("repository_restore_120x40", screen(&s).backend());
    // Issue: one enter started the restore with no checklist. The first
    // enter checks; the second, once the checks passed, starts.
    let out = check_then_start(&mut s);
    match &out[..] {
        [Action::StartRestore(r)] => {
            assert_eq!(r.snapshot, "0f1e2d3c4b5a6978");
            assert_eq!(r.new_name.as_deref(), Some("archive01-restored"));
            assert!(!r.keep_identity);
        }
        other => panic!("{other:?}"),
    }
    // Keep identity: no new name is sent.
    typed(&mut s, "R");
    press(&mut s, &[key(KeyCode::Tab)]);
    press(&mut s, &[key(KeyCode::Tab)]);
    typed(&mut s, " ");
    let out = check_then_start(&mut s);
    match &out[..] {
        [Action::StartRestore(r)] => {
            assert!(r.keep_identity);
            assert_eq!(r.new_name, None);
        }
        other => panic!("{other:?}"),
    }
}

/// Enter (the checks are asked for), the backend's passed checklist, then
/// enter again: what that second enter sends.
fn check_then_start(s: &mut AppState) -> Vec<Action> {
    let out = press(s, &[key(KeyCode::Enter)]);
    let [Action::ValidateRestore(r)] = &out[..] else {
        panic!("the first enter must check: {out:?}");
    };
    let (snapshot, to) = (r.snapshot.clone(), r.to.clone());
    s.apply(Event::RestoreValidation {
        snapshot,
        to,
        checklist: super::fixtures::checklist_ok(),
    });
    press(s, &[key(KeyCode::Enter)])
}

/// The repository view's restore form, its first enter pressed: the
/// state and the request it sent to be checked.
fn restore_form_checking() -> (AppState, crate::model::RestoreRequest) {
    let mut s = with_repo(120, 40);
    typed(&mut s, "b");
    s.apply(Event::Repo(view()));
    typed(&mut s, "R");
    let out = press(&mut s, &[key(KeyCode::Enter)]);
    let [Action::ValidateRestore(r)] = &out[..] else {
        panic!("the first enter must check: {out:?}");
    };
    (s, r.clone())
}

/// The checks could not run (the backend answered with an error for the
/// destination): the form stops waiting, says why, and enter checks again.
/// It stayed at "checking…" for good before (seen in the tmux test).
#[test]
fn a_restore_check_that_errors_stops_waiting_and_says_why() {
    let (mut s, r) = restore_form_checking();
    s.apply(Event::Error {
        host: Some(r.to.clone()),
        message: "validating the restore of snapshot x: the repository is encrypted".into(),
    });
    let t = text(&s);
    assert!(!t.contains("checking…"), "{t}");
    assert!(t.contains("the checks could not run"), "{t}");
    let out = press(&mut s, &[key(KeyCode::Enter)]);
    assert!(matches!(&out[..], [Action::ValidateRestore(_)]), "{out:?}");
}

/// A failed checklist blocks the start; a change of the fields drops a
/// passed one, so what starts is always what was checked.
#[test]
fn the_restore_starts_only_after_its_checks_pass_for_these_fields() {
    let (mut s, r) = restore_form_checking();
    let (snapshot, to) = (r.snapshot.clone(), r.to.clone());
    assert!(text(&s).contains("checking…"), "{}", text(&s));
    s.apply(Event::RestoreValidation {
        snapshot: snapshot.clone(),
        to: to.clone(),
        checklist: super::fixtures::checklist_failed(),
    });
    let t = text(&s);
    assert!(t.contains("[FAIL]") && t.contains("check again"), "{t}");
    let out = press(&mut s, &[key(KeyCode::Enter)]);
    assert!(
        matches!(&out[..], [Action::ValidateRestore(_)]),
        "a failed checklist must not start: {out:?}"
    );
    s.apply(Event::RestoreValidation {
        snapshot,
        to,
        checklist: super::fixtures::checklist_ok(),
    });
    // Editing the name after the checks passed drops them.
    press(&mut s, &[key(KeyCode::Tab)]);
    typed(&mut s, "x");
    let out = press(&mut s, &[key(KeyCode::Enter)]);
    assert!(
        matches!(&out[..], [Action::ValidateRestore(r)] if r.new_name.as_deref() == Some("archive01-restoredx")),
        "{out:?}"
    );
}

#[test]
fn e_exports_the_selected_vm_with_quick_backup_by_default() {
    let mut s = with_repo(80, 24);
    s.focus = Pane::Vms;
    typed(&mut s, "e");
    let Some(Overlay::Export(d)) = &s.overlay else {
        panic!("no export dialog");
    };
    assert_eq!(d.repository, REPO);
    assert_eq!(d.profile_name(), Some("quick-backup"));
    insta::assert_snapshot!("export_dialog_80x24", screen(&s).backend());
    press(&mut s, &[key(KeyCode::Tab)]);
    press(&mut s, &[key(KeyCode::Tab)]);
    let Some(Overlay::Export(d)) = &s.overlay else {
        panic!("closed");
    };
    assert_eq!(d.field, ExportField::Passphrase);
    typed(&mut s, "s3cret");
    assert!(!text(&s).contains("s3cret"));
    // Enter asks what the path holds; a repository: the export starts.
    let out = press(&mut s, &[key(KeyCode::Enter)]);
    assert!(
        matches!(&out[..], [Action::RepoProbe { path }] if path.to_str() == Some(REPO)),
        "{out:?}"
    );
    assert!(s.take_actions().is_empty());
    s.apply(Event::RepoProbed {
        path: REPO.into(),
        place: crate::model::RepoPlace::Repository,
    });
    let out = s.take_actions();
    match &out[..] {
        [Action::StartExport(r)] => {
            assert_eq!((r.from.as_str(), r.vm.as_str()), ("alpha", "web01"));
            assert_eq!(r.profile, "quick-backup");
            match &r.unlock {
                crate::repo::Unlock::Passphrase(p) => assert_eq!(p.as_str(), "s3cret"),
                other => panic!("{other:?}"),
            }
        }
        other => panic!("{other:?}"),
    }
    assert!(s.overlay.is_none());
}

/// Issue: the snapshot AGE column never updated. Ages count to the clock
/// the event loop sets at each redraw (and the view redraws by itself
/// while it is open), never to before the repository was read.
#[test]
fn snapshot_ages_follow_the_clock() {
    let mut s = with_repo(120, 40);
    // No job running: only the view makes time matter.
    s.jobs.clear();
    assert!(!s.needs_ticks());
    typed(&mut s, "b");
    s.apply(Event::Repo(view()));
    let age_of = |s: &AppState, id: &str| {
        let t = text(s);
        t.lines()
            .find(|l| l.contains(id))
            .unwrap_or_default()
            .to_string()
    };
    assert!(
        age_of(&s, "a1b2c3d4").contains(" 1h "),
        "{}",
        age_of(&s, "a1b2c3d4")
    );
    assert!(s.needs_ticks(), "the open view redraws by itself");
    s.clock_s = NOW + 2 * 3600;
    assert!(
        age_of(&s, "a1b2c3d4").contains(" 3h "),
        "{}",
        age_of(&s, "a1b2c3d4")
    );
    // A clock behind the read shows the ages as read.
    s.clock_s = NOW - 3600;
    assert!(
        age_of(&s, "a1b2c3d4").contains(" 1h "),
        "{}",
        age_of(&s, "a1b2c3d4")
    );
    s.overlay = None;
    assert!(!s.needs_ticks(), "closed, nothing changes with time");
}

/// Issue: Ctrl-U did nothing in the restore form's name field (help says it
/// clears it), and the destination went back to the first host between
/// attempts, so a restore landed on the source host.
#[test]
fn the_restore_form_clears_the_name_and_keeps_the_chosen_host() {
    let mut s = with_repo(120, 40);
    typed(&mut s, "b");
    s.apply(Event::Repo(view()));
    typed(&mut s, "R");
    let form = |s: &AppState| match &browser(s).mode {
        RepoMode::Restore(f) => f.clone(),
        other => panic!("no restore form: {other:?}"),
    };
    let first = form(&s);
    assert!(first.hosts.len() >= 2, "{:?}", first.hosts);
    // Pick the other host, then clear the name and type a new one.
    press(&mut s, &[key(KeyCode::Right)]);
    let chosen = form(&s).hosts[form(&s).host].clone();
    assert_ne!(chosen, first.hosts[first.host]);
    press(&mut s, &[key(KeyCode::Tab)]);
    let ctrl_u = crossterm::event::KeyEvent::new(
        KeyCode::Char('u'),
        crossterm::event::KeyModifiers::CONTROL,
    );
    s.on_key(ctrl_u, &crate::tui::keymap::KeyMap::default());
    assert_eq!(form(&s).name, "", "ctrl-u clears the name");
    typed(&mut s, "r1");
    assert_eq!(form(&s).name, "r1");
    // Leave, and open the form again: the chosen host is kept.
    press(&mut s, &[key(KeyCode::Esc)]);
    typed(&mut s, "R");
    let again = form(&s);
    assert_eq!(again.hosts[again.host], chosen, "the destination was reset");
}
