//! Creating a repository from the TUI: the export dialog and the
//! repository view offer it when the path holds none (issue 14, item 5),
//! and the repository used last is where the next dialog starts.

use super::behaviour::{drawn as screen, key, press, screen_text as text, typed};
use super::repository::{REPO, view, with_repo};
use crate::backend::messages::{Action, Event};
use crate::model::{NewRepoKey, RepoPlace};
use crate::tui::state::{AppState, CreateRepo, Overlay, Pane, RepoMode};
use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

const NEW: &str = "/srv/backups/new";

fn create_form(s: &AppState) -> &CreateRepo {
    match &s.overlay {
        Some(Overlay::Export(d)) => d.create.as_ref().expect("no create form in the dialog"),
        Some(Overlay::Repository(b)) => match &b.mode {
            RepoMode::Create(c) => c,
            other => panic!("the view is not offering to create: {other:?}"),
        },
        other => panic!("no dialog: {other:?}"),
    }
}

/// The export dialog for web01 with the path typed and Enter pressed.
fn export_to_new(w: u16, h: u16) -> AppState {
    let mut s = with_repo(w, h);
    s.focus = Pane::Vms;
    typed(&mut s, "e");
    press(&mut s, &[ctrl('u')]);
    typed(&mut s, NEW);
    let out = press(&mut s, &[key(KeyCode::Enter)]);
    assert!(
        matches!(&out[..], [Action::RepoProbe { path }] if path.to_str() == Some(NEW)),
        "{out:?}"
    );
    s
}

fn ctrl(c: char) -> KeyEvent {
    KeyEvent::new(KeyCode::Char(c), KeyModifiers::CONTROL)
}

pub(super) fn export_offering(w: u16, h: u16) -> AppState {
    let mut s = export_to_new(w, h);
    s.apply(Event::RepoProbed {
        path: NEW.into(),
        place: RepoPlace::Absent,
    });
    s
}

#[test]
fn the_export_dialog_offers_to_create_a_missing_repository_then_exports_into_it() {
    let mut s = export_offering(80, 24);
    assert!(text(&s).contains("No repository at /srv/backups/new yet"));
    insta::assert_snapshot!("export_create_repo_80x24", screen(&s).backend());
    // The passphrase twice: a mismatch is refused and nothing is sent.
    press(&mut s, &[key(KeyCode::Tab)]);
    typed(&mut s, "s3cret");
    press(&mut s, &[key(KeyCode::Tab)]);
    typed(&mut s, "s3cre");
    assert!(press(&mut s, &[key(KeyCode::Enter)]).is_empty());
    assert_eq!(
        create_form(&s).note.as_deref(),
        Some("the passphrases differ; type them again")
    );
    typed(&mut s, "t");
    let screen_now = text(&s);
    assert!(
        !screen_now.contains("s3cret") && screen_now.contains("******"),
        "{screen_now}"
    );
    let out = press(&mut s, &[key(KeyCode::Enter)]);
    match &out[..] {
        [
            Action::RepoCreate {
                path,
                key: NewRepoKey::Passphrase(p),
            },
        ] => {
            assert_eq!(path.to_str(), Some(NEW));
            assert_eq!(p.expose(), "s3cret");
        }
        other => panic!("{other:?}"),
    }
    assert!(!format!("{out:?} {:?}", s.overlay).contains("s3cret"));
    // Created: the export starts with the new passphrase, and the path is
    // remembered for the next dialog.
    s.apply(Event::RepoCreated {
        path: NEW.into(),
        encryption: "passphrase".into(),
    });
    match &s.take_actions()[..] {
        [Action::StartExport(r)] => {
            assert_eq!(r.repo.to_str(), Some(NEW));
            assert_eq!(r.vm, "web01");
            match &r.unlock {
                crate::repo::Unlock::Passphrase(p) => assert_eq!(p.as_str(), "s3cret"),
                other => panic!("{other:?}"),
            }
        }
        other => panic!("{other:?}"),
    }
    assert!(s.overlay.is_none());
    assert_eq!(s.repository.as_deref(), Some(std::path::Path::new(NEW)));
    typed(&mut s, "e");
    let Some(Overlay::Export(d)) = &s.overlay else {
        panic!("no export dialog");
    };
    assert_eq!(d.repository, NEW, "the last repository is prefilled");
}

#[test]
fn a_path_that_holds_something_else_is_refused_with_its_reason() {
    let mut s = export_to_new(80, 24);
    s.apply(Event::RepoProbed {
        path: NEW.into(),
        place: RepoPlace::Other {
            reason: format!("{NEW}: not a kvm-clone repository, and not empty"),
        },
    });
    let Some(Overlay::Export(d)) = &s.overlay else {
        panic!("closed");
    };
    assert!(d.create.is_none());
    assert!(text(&s).contains("not a kvm-clone repository, and not empty"));
    assert!(s.take_actions().is_empty());
}

#[test]
fn esc_in_the_create_form_goes_back_to_the_dialog_and_a_failure_is_shown() {
    let mut s = export_offering(80, 24);
    // Recipients: a malformed key is refused in one line.
    press(&mut s, &[key(KeyCode::Right), key(KeyCode::Tab)]);
    typed(&mut s, "age1nope");
    assert!(press(&mut s, &[key(KeyCode::Enter)]).is_empty());
    let note = create_form(&s).note.clone().unwrap_or_default();
    assert!(note.contains("is not an age X25519 public key"), "{note}");
    assert!(!note.contains('\n'));
    // A good one is sent; the backend's refusal comes back into the form.
    let good = age::x25519::Identity::generate().to_public().to_string();
    press(&mut s, &[ctrl('u')]);
    typed(&mut s, &good);
    let out = press(&mut s, &[key(KeyCode::Enter)]);
    assert!(
        matches!(&out[..], [Action::RepoCreate { key: NewRepoKey::Recipients(r), .. }] if r == &vec![good.clone()]),
        "{out:?}"
    );
    s.apply(Event::RepoFailed {
        path: NEW.into(),
        message: "disk full".into(),
    });
    assert_eq!(create_form(&s).note.as_deref(), Some("disk full"));
    assert!(!create_form(&s).creating);
    press(&mut s, &[key(KeyCode::Esc)]);
    let Some(Overlay::Export(d)) = &s.overlay else {
        panic!("esc closed the dialog");
    };
    assert!(d.create.is_none());
}

pub(super) fn view_offering(w: u16, h: u16) -> AppState {
    let mut s = with_repo(w, h);
    s.repository = None;
    typed(&mut s, "b");
    typed(&mut s, NEW);
    let out = press(&mut s, &[key(KeyCode::Enter)]);
    assert!(
        matches!(&out[..], [Action::RepoOpen { path, .. }] if path.to_str() == Some(NEW)),
        "{out:?}"
    );
    s.apply(Event::RepoProbed {
        path: NEW.into(),
        place: RepoPlace::Absent,
    });
    s
}

#[test]
fn the_repository_view_offers_to_create_one_and_then_lists_it() {
    let mut s = view_offering(120, 40);
    insta::assert_snapshot!("repo_view_create_120x40", screen(&s).backend());
    // No encryption: nothing to type.
    press(&mut s, &[key(KeyCode::Left)]);
    assert!(text(&s).contains("none (NOT encrypted)"));
    let out = press(&mut s, &[key(KeyCode::Enter)]);
    assert!(
        matches!(
            &out[..],
            [Action::RepoCreate {
                key: NewRepoKey::None,
                ..
            }]
        ),
        "{out:?}"
    );
    s.apply(Event::RepoCreated {
        path: NEW.into(),
        encryption: "none".into(),
    });
    let out = s.take_actions();
    assert!(
        matches!(&out[..], [Action::RepoOpen { path, passphrase: None }] if path.to_str() == Some(NEW)),
        "{out:?}"
    );
    let mut v = view();
    v.path = NEW.into();
    v.snapshots.clear();
    s.apply(Event::Repo(v));
    assert!(text(&s).contains("no snapshots yet"));
    assert_eq!(s.repository.as_deref(), Some(std::path::Path::new(NEW)));
}

/// An answer for another path (the operator moved on) changes nothing.
#[test]
fn answers_for_another_path_are_ignored() {
    let mut s = export_to_new(80, 24);
    s.apply(Event::RepoProbed {
        path: REPO.into(),
        place: RepoPlace::Repository,
    });
    assert!(s.take_actions().is_empty());
    assert!(matches!(&s.overlay, Some(Overlay::Export(d)) if d.probing));
}
