//! Editing profiles in the profile menu (issue 14, item 6): `e` on a
//! profile, the main settings changed and checked, Enter saves; Tab shows
//! the export profiles (with retention); opening the menu reads the
//! profiles again.

use super::behaviour::{drawn as screen, key, press, screen_text as text};
use super::fixtures::{full, profiles};
use crate::backend::messages::{Action, Event};
use crate::config::profile::{ProfileKind, ProfileSource};
use crate::model::profile::LivePolicy;
use crate::model::{FormatChoice, KeepPolicy};
use crate::tui::state::{AppState, FormField, Overlay, Pane, ProfileForm};
use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

/// Keys as typed, `\t` being Tab.
fn keys(s: &mut AppState, text: &str) -> Vec<Action> {
    let evs: Vec<KeyEvent> = text
        .chars()
        .map(|c| match c {
            '\t' => key(KeyCode::Tab),
            c => KeyEvent::new(KeyCode::Char(c), KeyModifiers::NONE),
        })
        .collect();
    press(s, &evs)
}

fn on_web01(w: u16, h: u16) -> AppState {
    let mut s = full(w, h);
    s.apply(Event::Profiles(profiles()));
    s.focus = Pane::Vms;
    s
}

/// The menu on web01 after `typed` (which includes `p` and `e`).
pub(super) fn editing(w: u16, h: u16, typed: &str) -> AppState {
    let mut s = on_web01(w, h);
    keys(&mut s, typed);
    s
}

fn form(s: &AppState) -> &ProfileForm {
    match &s.overlay {
        Some(Overlay::Profiles(m)) => m.form.as_ref().expect("not editing"),
        other => panic!("no profile menu: {other:?}"),
    }
}

fn clear() -> KeyEvent {
    KeyEvent::new(KeyCode::Char('u'), KeyModifiers::CONTROL)
}

#[test]
fn opening_the_menu_reads_the_profiles_again_and_a_new_file_shows_up() {
    let mut s = on_web01(80, 24);
    let out = keys(&mut s, "p");
    assert_eq!(out, vec![Action::ListProfiles]);
    let mut list = profiles();
    list.push(crate::config::profile::ProfileSummary {
        name: "by-hand".into(),
        source: ProfileSource::User("/p/by-hand.toml".into()),
        ..list[0].clone()
    });
    s.apply(Event::Profiles(list));
    assert!(text(&s).contains("by-hand *"), "{}", text(&s));
}

#[test]
fn a_builtin_is_edited_and_saved_under_a_new_name() {
    let mut s = editing(80, 24, "pe");
    insta::assert_snapshot!("profile_edit_80x24", screen(&s).backend());
    assert_eq!(form(&s).name, "my-default");
    // Name, then running VM, format, verify: one step each.
    press(&mut s, &[clear()]);
    keys(&mut s, "nightly-clone\t");
    press(&mut s, &[key(KeyCode::Right), key(KeyCode::Right)]);
    keys(&mut s, "\t");
    press(&mut s, &[key(KeyCode::Left)]);
    keys(&mut s, "\t");
    press(&mut s, &[key(KeyCode::Right)]);
    keys(&mut s, "\t50MiB/s\t");
    press(&mut s, &[clear()]);
    keys(&mut s, "8\t");
    press(&mut s, &[clear()]);
    keys(&mut s, "16");
    let out = press(&mut s, &[key(KeyCode::Enter)]);
    let edit = match &out[..] {
        [
            Action::SaveProfile {
                name,
                from,
                replace: false,
                edit: Some(e),
            },
        ] => {
            assert_eq!((name.as_str(), from.as_str()), ("nightly-clone", "default"));
            e.clone()
        }
        other => panic!("{other:?}"),
    };
    assert_eq!(edit.live, LivePolicy::ShutdownRestart);
    assert_eq!(edit.format, FormatChoice::Raw);
    assert!(!edit.verify, "default verifies; toggled off");
    assert_eq!(edit.bandwidth_limit, Some(50 << 20));
    assert_eq!((edit.connections, edit.requests_in_flight), (8, 16));
    assert_eq!(edit.retention, None, "clone profiles have none");
    assert!(form(&s).saving);
    // Written: back to the menu, on the new profile once listed.
    s.apply(Event::ProfileSaved {
        name: "nightly-clone".into(),
        path: "/p/nightly-clone.toml".into(),
    });
    let mut list = profiles();
    list.push(crate::config::profile::ProfileSummary {
        name: "nightly-clone".into(),
        source: ProfileSource::User("/p/nightly-clone.toml".into()),
        ..list[0].clone()
    });
    s.apply(Event::Profiles(list));
    let Some(Overlay::Profiles(m)) = &s.overlay else {
        panic!("menu closed");
    };
    assert!(m.form.is_none());
    assert_eq!(
        s.menu_profiles(ProfileKind::Clone)[m.selected].name,
        "nightly-clone"
    );
}

#[test]
fn bad_values_are_refused_in_one_line_naming_the_setting() {
    let cases: [(&str, FormField, &str); 4] = [
        (
            "0",
            FormField::Connections,
            "connections: \"0\" is not a whole number in 1..=16",
        ),
        (
            "65",
            FormField::Requests,
            "requests: \"65\" is not a whole number in 1..=64",
        ),
        (
            "fast",
            FormField::Bandwidth,
            "bandwidth: \"fast\" is not a rate",
        ),
        (
            "default",
            FormField::Name,
            "\"default\" is a built-in profile",
        ),
    ];
    for (value, field, want) in cases {
        let mut s = editing(80, 24, "pe");
        while form(&s).field != field {
            keys(&mut s, "\t");
        }
        press(&mut s, &[clear()]);
        keys(&mut s, value);
        assert!(press(&mut s, &[key(KeyCode::Enter)]).is_empty(), "{value}");
        let note = form(&s).note.clone().unwrap_or_default();
        assert!(note.starts_with(want), "{value}: {note}");
        assert!(!note.contains('\n'));
        assert!(text(&s).contains(&note[..30]), "{}", text(&s));
    }
}

#[test]
fn export_profiles_are_edited_with_their_retention() {
    // Tab: export profiles; quick-backup first, then the next one.
    let mut s = editing(80, 24, "p\t");
    assert!(
        text(&s).contains("Profile for exporting web01"),
        "{}",
        text(&s)
    );
    keys(&mut s, "e");
    assert_eq!(form(&s).from, "quick-backup");
    assert_eq!(form(&s).keep[0], "14");
    insta::assert_snapshot!("profile_edit_export_80x24", screen(&s).backend());
    while form(&s).field != FormField::Keep(0) {
        keys(&mut s, "\t");
    }
    press(&mut s, &[clear()]);
    keys(&mut s, "3\t\t4");
    let out = press(&mut s, &[key(KeyCode::Enter)]);
    match &out[..] {
        [
            Action::SaveProfile {
                edit: Some(e),
                name,
                ..
            },
        ] => {
            assert_eq!(name, "my-quick-backup");
            assert_eq!(
                e.retention,
                Some(KeepPolicy {
                    last: 3,
                    weekly: 4,
                    ..KeepPolicy::default()
                })
            );
        }
        other => panic!("{other:?}"),
    }
    // Enter on an export profile opens the export dialog with it.
    let mut s = editing(80, 24, "p\tj");
    press(&mut s, &[key(KeyCode::Enter)]);
    match &s.overlay {
        Some(Overlay::Export(d)) => assert_eq!(d.profile_name(), Some("disaster-recovery")),
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_user_profile_is_saved_over_its_own_file_and_a_failure_shows_in_the_form() {
    let mut s = full(80, 24);
    let mut list = profiles();
    let q = list.iter_mut().find(|p| p.name == "quick-clone").unwrap();
    q.source = ProfileSource::User("/p/quick-clone.toml".into());
    q.overrides_builtin = true;
    s.apply(Event::Profiles(list));
    s.focus = Pane::Vms;
    keys(&mut s, "pje");
    assert_eq!(form(&s).name, "quick-clone");
    assert!(form(&s).own_file);
    let out = press(&mut s, &[key(KeyCode::Enter)]);
    assert!(
        matches!(&out[..], [Action::SaveProfile { name, replace: true, edit: Some(_), .. }] if name == "quick-clone"),
        "{out:?}"
    );
    s.apply(Event::Error {
        host: None,
        message: "saving profile \"quick-clone\": permission denied".into(),
    });
    assert!(!form(&s).saving);
    assert!(
        form(&s)
            .note
            .as_deref()
            .unwrap_or("")
            .contains("permission denied")
    );
    // Esc: back to the menu without saving.
    press(&mut s, &[key(KeyCode::Esc)]);
    assert!(matches!(&s.overlay, Some(Overlay::Profiles(m)) if m.form.is_none()));
}
