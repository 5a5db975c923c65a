//! The help overlay: sized to the screen, scrolled, nothing cut, the
//! context in focus first, and over the repository view too.

use super::behaviour::{coloured, drawn, key, press, screen_text, typed};
use super::fixtures::full;
use super::repository::{REPO, damaged, view, with_repo};
use crate::backend::messages::Event;
use crate::tui::keymap::{Context, KeyMap};
use crate::tui::state::{AppState, HelpView, Overlay, Pane, RepoMode, help_document};
use crossterm::event::{KeyCode, KeyEvent, KeyModifiers, MouseEvent, MouseEventKind};

const SIZES: [(u16, u16); 2] = [(80, 24), (120, 40)];

fn help(s: &AppState) -> &HelpView {
    match &s.overlay {
        Some(Overlay::Help(v)) => v,
        other => panic!("no help: {other:?}"),
    }
}

fn titles(s: &AppState) -> Vec<&str> {
    help(s)
        .doc
        .sections
        .iter()
        .map(|x| x.title.as_str())
        .collect()
}

fn opened(w: u16, h: u16, pane: Pane) -> AppState {
    let mut s = full(w, h);
    s.focus = pane;
    typed(&mut s, "?");
    s
}

fn repo_list(w: u16, h: u16) -> AppState {
    let mut s = with_repo(w, h);
    typed(&mut s, "b");
    s.apply(Event::Repo(view()));
    typed(&mut s, "j");
    s
}

fn wheel(down: bool) -> MouseEvent {
    MouseEvent {
        kind: if down {
            MouseEventKind::ScrollDown
        } else {
            MouseEventKind::ScrollUp
        },
        column: 40,
        row: 10,
        modifiers: KeyModifiers::NONE,
    }
}

#[test]
fn help_scrolled_snapshots() {
    for (w, h) in SIZES {
        let mut s = opened(w, h, Pane::Hosts);
        press(&mut s, &[key(KeyCode::PageDown), key(KeyCode::PageDown)]);
        insta::assert_snapshot!(format!("help_scrolled_{w}x{h}"), drawn(&s).backend());
    }
}

#[test]
fn help_in_the_history_pane_starts_with_its_filter_words() {
    let s = opened(80, 24, Pane::History);
    assert_eq!(
        titles(&s)[..4],
        [
            "History pane",
            "History filter (/ in History)",
            "History filter words",
            "Every pane"
        ]
    );
    insta::assert_snapshot!("help_history_80x24", drawn(&s).backend());
}

#[test]
fn help_over_the_repository_view_lists_its_keys_first_and_goes_back_to_it() {
    let mut s = repo_list(80, 24);
    typed(&mut s, "?");
    let titles = titles(&s);
    assert_eq!(titles[0], "Repository view (b)");
    assert!(
        titles[1].starts_with("Repository: "),
        "its other modes next"
    );
    let t = screen_text(&s);
    assert!(t.contains("Keys: Repository view (b)"), "{t}");
    assert!(t.contains("verify it reading every chunk"), "{t}");
    insta::assert_snapshot!("help_repository_80x24", drawn(&s).backend());
    // The backend's answer reaches the view under help.
    s.apply(Event::RepoVerified {
        path: REPO.into(),
        report: damaged(),
    });
    press(&mut s, &[key(KeyCode::Esc)]);
    let Some(Overlay::Repository(b)) = &s.overlay else {
        panic!("help did not go back to the view: {:?}", s.overlay)
    };
    assert!(matches!(b.mode, RepoMode::Verified(_)), "{:?}", b.mode);
    assert_eq!(b.selected, 1, "the selection is kept");
}

#[test]
fn question_mark_is_text_where_text_is_typed() {
    let mut s = repo_list(80, 24);
    typed(&mut s, "o/a?");
    let Some(Overlay::Repository(b)) = &s.overlay else {
        panic!("{:?}", s.overlay)
    };
    assert_eq!(b.path, format!("{REPO}/a?"));
    let mut s = full(80, 24);
    typed(&mut s, "/?");
    assert_eq!(s.filter.text, "?");
    assert!(s.overlay.is_none());
}

#[test]
fn scroll_keys_and_the_wheel_move_help_within_its_length() {
    let mut s = opened(80, 24, Pane::Hosts);
    let max = crate::tui::overlays::help::max_scroll(&help(&s).doc, s.area);
    assert!(max > 100, "help is longer than a screen: {max}");
    let scroll = |s: &AppState| help(s).scroll;
    assert!(screen_text(&s).contains("lines 1-20 of"));
    typed(&mut s, "jj");
    assert_eq!(scroll(&s), 2);
    press(&mut s, &[key(KeyCode::Up)]);
    assert_eq!(scroll(&s), 1);
    typed(&mut s, "kk");
    assert_eq!(scroll(&s), 0, "stops at the top");
    press(&mut s, &[key(KeyCode::PageDown)]);
    assert_eq!(scroll(&s), 19, "a page keeps one line of the last");
    press(&mut s, &[key(KeyCode::PageUp)]);
    assert_eq!(scroll(&s), 0);
    typed(&mut s, "G");
    assert_eq!(scroll(&s), max);
    let total = max + 20;
    assert!(
        screen_text(&s).contains(&format!("lines {}-{total} of {total}", max + 1)),
        "{}",
        screen_text(&s)
    );
    typed(&mut s, "j");
    assert_eq!(scroll(&s), max, "stops at the end");
    press(&mut s, &[key(KeyCode::Home)]);
    assert_eq!(scroll(&s), 0);
    press(&mut s, &[key(KeyCode::End)]);
    assert_eq!(scroll(&s), max);
    s.on_mouse(wheel(true));
    assert_eq!(scroll(&s), max, "the wheel stops at the end too");
    s.on_mouse(wheel(false));
    assert_eq!(scroll(&s), max - 1);
    typed(&mut s, "g");
    s.on_mouse(wheel(true));
    assert_eq!(scroll(&s), 1);
}

#[test]
fn esc_q_question_mark_and_enter_close_help() {
    let q = KeyEvent::new(KeyCode::Char('?'), KeyModifiers::SHIFT);
    for k in [
        key(KeyCode::Esc),
        key(KeyCode::Char('q')),
        q,
        key(KeyCode::Enter),
    ] {
        let mut s = opened(80, 24, Pane::Vms);
        press(&mut s, &[k]);
        assert!(s.overlay.is_none(), "{k:?}");
        assert!(!s.quit, "q closes help, it does not quit");
    }
}

/// The issue: at 120 columns help cut "pick a profile for the selected
/// action (clone) an". Every row's text is on screen whole, page by page.
#[test]
fn nothing_is_cut_at_80x24_or_120x40() {
    for (w, h) in SIZES {
        let mut s = opened(w, h, Pane::Vms);
        let max = crate::tui::overlays::help::max_scroll(&help(&s).doc, s.area);
        let mut seen = String::new();
        let mut at = 0;
        loop {
            let rect = drawn(&s);
            let buf = rect.backend().buffer();
            // The inside of the box: between its double borders.
            for y in 0..h {
                let row: String = (0..w).map(|x| buf[(x, y)].symbol().to_string()).collect();
                if let (Some(a), Some(b)) = (row.find('║'), row.rfind('║'))
                    && a < b
                {
                    seen.push_str(&row[a + '║'.len_utf8()..b]);
                    seen.push(' ');
                }
            }
            if at >= max {
                break;
            }
            press(&mut s, &[key(KeyCode::PageDown)]);
            at = help(&s).scroll;
        }
        let seen = seen.split_whitespace().collect::<Vec<_>>().join(" ");
        for section in &help(&s).doc.sections {
            assert!(seen.contains(&section.title), "{w}x{h}: {}", section.title);
            for (keys, does) in &section.rows {
                let want = format!("{keys} {does}")
                    .split_whitespace()
                    .collect::<Vec<_>>()
                    .join(" ");
                // The key column wraps on its own; the text must be whole.
                assert!(
                    seen.contains(&want) || seen.contains(does.as_str()),
                    "{w}x{h}: cut or missing: {want}"
                );
            }
        }
    }
}

#[test]
fn help_reads_without_colour() {
    let mut s = full(80, 24);
    s.theme.color = false;
    typed(&mut s, "?");
    assert!(!coloured(&s), "NO_COLOR output has colours");
    // Titles stand out by place, not colour: rows are indented under them.
    let text = screen_text(&s);
    assert!(text.contains("║Every pane"), "{text}");
    assert!(text.contains("║  q, ctrl-c"), "{text}");
}

#[test]
fn the_document_follows_the_focus_and_the_key_map() {
    let keys = KeyMap::default();
    let doc = help_document(&keys, Context::Jobs);
    assert_eq!(doc.focus, "Jobs pane");
    let titles: Vec<&str> = doc.sections.iter().map(|s| s.title.as_str()).collect();
    assert_eq!(titles[..2], ["Jobs pane", "Every pane"]);
    // In the jobs pane R is retry: the shared "R refresh all" is left out
    // there, and listed in full in its own section later.
    let shared = &doc.sections[1].rows;
    assert!(!shared.iter().any(|r| r.0 == "R"), "{shared:?}");
    // Every context has its section, once; the filter words once.
    for c in Context::ALL {
        assert_eq!(
            titles.iter().filter(|t| **t == c.title()).count(),
            1,
            "{c:?}"
        );
    }
    assert_eq!(
        titles
            .iter()
            .filter(|t| **t == "History filter words")
            .count(),
        1
    );
    let words = doc
        .sections
        .iter()
        .find(|s| s.title == "History filter words")
        .map(|s| s.rows.clone())
        .unwrap_or_default();
    for w in ["vm:web", "host:beta", "kind:clone", "result:failed"] {
        assert!(words.iter().any(|r| r.0 == w), "{w}: {words:?}");
    }
}
