//! The profile menu (`p`) and "save as profile" in the clone dialog.

use super::behaviour::{coloured, drawn as screen, key, press, screen_text as text, typed};
use super::fixtures::{full, profiles};
use crate::backend::messages::{Action, Event};
use crate::config::profile::{ProfileKind, ProfileSource, ProfileSummary};
use crate::tui::state::{AppState, CloneField, Overlay, Pane, ProfileMenu};
use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

const USER_FILE: &str = "/home/op/.config/kvm-clone/profiles/quick-clone.toml";

/// Built-ins, with quick-clone replaced by a user file, as the backend sends them.
fn with_override() -> Vec<ProfileSummary> {
    let mut list = profiles();
    let q = list.iter_mut().find(|p| p.name == "quick-clone").unwrap();
    q.source = ProfileSource::User(USER_FILE.into());
    q.overrides_builtin = true;
    q.description = "ours: quick, but verified".into();
    list
}

fn on_web01(w: u16, h: u16) -> AppState {
    let mut s = full(w, h);
    s.apply(Event::Profiles(with_override()));
    s.focus = Pane::Vms;
    s
}

fn menu(s: &AppState) -> &ProfileMenu {
    match &s.overlay {
        Some(Overlay::Profiles(m)) => m,
        other => panic!("no profile menu: {other:?}"),
    }
}

fn ctrl(c: char) -> KeyEvent {
    KeyEvent::new(KeyCode::Char(c), KeyModifiers::CONTROL)
}

#[test]
fn menu_snapshots_with_a_user_override_selected() {
    for (w, h) in [(80, 24), (120, 40)] {
        let mut s = on_web01(w, h);
        typed(&mut s, "pj");
        insta::assert_snapshot!(format!("profile_menu_{w}x{h}"), screen(&s).backend());
    }
}

/// Every setting of the selected profile is on screen, even where its long
/// source path wraps, at 80×24 and on a terminal shorter than that (the
/// blank line above the hints goes first).
#[test]
fn every_setting_fits_at_80x24_and_below() {
    for h in [24, 22] {
        let mut s = on_web01(80, h);
        typed(&mut s, "pj");
        let shown = format!("{:?}", screen(&s).backend());
        for label in ["kind", "preserve MACs", "start after", "webhook", "↑↓ move"] {
            assert!(shown.contains(label), "80x{h}: {label} cut off:\n{shown}");
        }
    }
}

#[test]
fn menu_snapshot_of_a_shutting_down_profile() {
    let mut s = on_web01(80, 24);
    typed(&mut s, "pjj");
    assert_eq!(menu(&s).selected, 2);
    insta::assert_snapshot!("profile_menu_migration_80x24", screen(&s).backend());
}

#[test]
fn p_lists_the_clone_profiles_with_the_selected_ones_settings() {
    let mut s = on_web01(120, 40);
    // Opening reads the profiles again (files added by hand).
    assert_eq!(typed(&mut s, "p"), vec![Action::ListProfiles]);
    let m = menu(&s);
    assert_eq!(m.target.kind(), ProfileKind::Clone);
    assert_eq!(m.selected, 0, "default first");
    let shown: Vec<&str> = s
        .menu_profiles(ProfileKind::Clone)
        .iter()
        .map(|p| p.name.as_str())
        .collect();
    assert_eq!(
        shown,
        [
            "default",
            "quick-clone",
            "migration",
            "fast",
            "raw",
            "throttled"
        ]
    );
    let t = text(&s);
    assert!(t.contains("Profile for cloning web01 from alpha"), "{t}");
    assert!(
        !t.contains("disaster-recovery"),
        "export profiles are not offered for a clone:\n{t}"
    );
    typed(&mut s, "j");
    let t = text(&s);
    assert!(t.contains("quick-clone *"), "{t}");
    assert!(t.contains(USER_FILE), "{t}");
    assert!(t.contains("overrides the built-in"), "{t}");
    assert!(t.contains("ours: quick, but verified"), "{t}");
    // The list stops at its ends.
    typed(&mut s, "kkk");
    assert_eq!(menu(&s).selected, 0);
    typed(&mut s, "G");
    assert_eq!(menu(&s).selected, 5);
    press(&mut s, &[key(KeyCode::Esc)]);
    assert!(s.overlay.is_none());
}

#[test]
fn enter_opens_the_clone_dialog_with_the_pick_and_its_picker_agrees() {
    let mut s = on_web01(80, 24);
    typed(&mut s, "pjj");
    assert!(press(&mut s, &[key(KeyCode::Enter)]).is_empty());
    let Some(Overlay::Clone(d)) = &s.overlay else {
        panic!("no dialog: {:?}", s.overlay)
    };
    assert_eq!(d.profile, "migration");
    assert_eq!((d.from.as_str(), d.vm.as_str()), ("alpha", "web01"));
    assert!(
        text(&s).contains("migration  3 of 6 profiles"),
        "{}",
        text(&s)
    );
    // The dialog's own picker moves on from the pick.
    press(
        &mut s,
        &[key(KeyCode::Tab), key(KeyCode::Tab), key(KeyCode::Right)],
    );
    let Some(Overlay::Clone(d)) = &s.overlay else {
        panic!()
    };
    assert_eq!(d.field, CloneField::Profile);
    assert_eq!(d.profile, "fast");
    // The request carries the picked profile.
    assert_eq!(d.request().profile, "fast");
}

#[test]
fn p_outside_the_vms_pane_says_what_it_needs() {
    let mut s = on_web01(80, 24);
    // Not the hosts pane: there the VMs pane's highlighted VM is meant.
    s.focus = Pane::Jobs;
    typed(&mut s, "p");
    assert!(s.overlay.is_none());
    assert!(s.status.as_ref().unwrap().text.contains("select a VM"));
}

#[test]
fn save_as_profile_refuses_builtins_confirms_replacing_and_sends() {
    let mut s = on_web01(80, 24);
    typed(&mut s, "c");
    press(
        &mut s,
        &[key(KeyCode::Tab), key(KeyCode::Tab), key(KeyCode::Right)],
    );
    s.on_key(ctrl('s'), &crate::tui::keymap::KeyMap::default());
    assert!(text(&s).contains("Save as profile:"), "{}", text(&s));
    // A built-in name is refused outright.
    typed(&mut s, "migration");
    assert!(press(&mut s, &[key(KeyCode::Enter)]).is_empty());
    assert!(
        text(&s).contains("built-in profile; choose another name"),
        "{}",
        text(&s)
    );
    // The user's own profile: Enter once warns, twice replaces.
    s.on_key(ctrl('u'), &crate::tui::keymap::KeyMap::default());
    typed(&mut s, "quick-clone");
    // quick-clone is also a built-in name: refused even though a user file has it.
    assert!(press(&mut s, &[key(KeyCode::Enter)]).is_empty());
    s.on_key(ctrl('u'), &crate::tui::keymap::KeyMap::default());
    let mut list = with_override();
    list.push(ProfileSummary {
        name: "nightly".into(),
        source: ProfileSource::User("/p/nightly.toml".into()),
        overrides_builtin: false,
        ..list[0].clone()
    });
    s.apply(Event::Profiles(list));
    typed(&mut s, "nightly");
    assert!(press(&mut s, &[key(KeyCode::Enter)]).is_empty());
    assert!(
        text(&s).contains("replaces /p/nightly.toml; enter again"),
        "{}",
        text(&s)
    );
    let sent = press(&mut s, &[key(KeyCode::Enter)]);
    match &sent[..] {
        [
            Action::SaveProfile {
                name,
                from,
                replace,
                edit: None,
            },
        ] => {
            assert_eq!(
                (name.as_str(), from.as_str(), *replace),
                ("nightly", "quick-clone", true)
            );
        }
        other => panic!("{other:?}"),
    }
    // A new name goes out without replace; the dialog stays open.
    s.on_key(ctrl('s'), &crate::tui::keymap::KeyMap::default());
    typed(&mut s, "web-nightly");
    let sent = press(&mut s, &[key(KeyCode::Enter)]);
    assert!(
        matches!(&sent[..], [Action::SaveProfile { name, replace: false, .. }] if name == "web-nightly"),
        "{sent:?}"
    );
    assert!(matches!(s.overlay, Some(Overlay::Clone(_))));
    s.apply(Event::ProfileSaved {
        name: "web-nightly".into(),
        path: "/p/web-nightly.toml".into(),
    });
    assert!(
        s.status
            .as_ref()
            .unwrap()
            .text
            .contains("/p/web-nightly.toml")
    );
}

#[test]
fn save_prompt_esc_returns_to_the_dialog() {
    let mut s = on_web01(80, 24);
    typed(&mut s, "c");
    s.on_key(ctrl('s'), &crate::tui::keymap::KeyMap::default());
    typed(&mut s, "x");
    press(&mut s, &[key(KeyCode::Esc)]);
    let Some(Overlay::Clone(d)) = &s.overlay else {
        panic!()
    };
    assert!(d.save.is_none());
    assert!(text(&s).contains("save as profile"), "hint names the key");
}

#[test]
fn menu_without_colour_still_marks_the_selection() {
    let mut s = on_web01(80, 24);
    s.theme.color = false;
    typed(&mut s, "pj");
    assert!(!coloured(&s));
    assert!(text(&s).contains("> quick-clone *"), "{}", text(&s));
}
