//! The History pane: its filter, the pages it takes, the detail overlay,
//! and their snapshots at 80×24 and 120×40.

use super::behaviour::{ch, drawn as screen, key, press, typed};
use super::fixtures::{checklist_failed, full, history, history_stats};
use crate::backend::messages::{Action, Event};
use crate::model::HistoryResult;
use crate::model::history::{HistoryFilter, HistoryPage};
use crate::tui::panes::history as pane;
use crate::tui::state::{AppState, Overlay, Pane};
use crossterm::event::KeyCode;

const SIZES: [(u16, u16); 2] = [(80, 24), (120, 40)];

fn history_focused(w: u16, h: u16) -> AppState {
    let mut s = full(w, h);
    s.focus = Pane::History;
    s
}

fn queries(actions: &[Action]) -> Vec<HistoryFilter> {
    actions
        .iter()
        .filter_map(|a| match a {
            Action::QueryHistory(f) => Some(f.clone()),
            _ => None,
        })
        .collect()
}

#[test]
fn slash_in_the_history_pane_filters_history_not_vms() {
    let mut s = history_focused(80, 24);
    let sent = press(&mut s, &[ch('/')]);
    assert!(sent.is_empty());
    assert!(s.history_filter.editing && !s.filter.editing);
    assert_eq!(s.focus, Pane::History);
    let sent = typed(&mut s, "result:failed");
    // A bare word searches VM names as it is typed; "result:f" … "result:faile"
    // do not parse and are not sent.
    let asked = queries(&sent);
    let n = asked.len();
    assert_eq!(asked[0].vm.as_deref(), Some("r"));
    assert_eq!(asked[n - 2].vm.as_deref(), Some("result"), "{asked:?}");
    assert_eq!(
        asked[n - 1].result,
        Some(HistoryResult::Failed),
        "{asked:?}"
    );
    assert_eq!(asked[n - 1].vm, None);
    assert_eq!(n, "result".len() + 1, "{asked:?}");
    assert_eq!(s.filter.text, "", "the VM filter is untouched");
    // Enter keeps it; Esc in the pane clears it and asks for everything.
    press(&mut s, &[key(KeyCode::Enter)]);
    assert!(!s.history_filter.editing);
    assert_eq!(s.history_filter.text, "result:failed");
    let sent = press(&mut s, &[key(KeyCode::Esc)]);
    assert_eq!(queries(&sent), [HistoryFilter::default()]);
    assert!(s.history_filter.text.is_empty());
}

#[test]
fn a_page_for_another_filter_is_dropped() {
    let mut s = history_focused(80, 24);
    press(&mut s, &[ch('/')]);
    typed(&mut s, "web");
    let stale = HistoryPage {
        filter: HistoryFilter::default(),
        entries: Vec::new(),
        stats: Default::default(),
    };
    s.apply(Event::History(stale));
    assert_eq!(s.history.len(), 2, "a late page replaced the current one");
    let current = HistoryPage {
        filter: s.history_query(),
        entries: history()[1..].to_vec(),
        stats: Default::default(),
    };
    s.apply(Event::History(current));
    assert_eq!(s.history.len(), 1);
}

#[test]
fn enter_opens_the_detail_and_asks_for_the_full_row() {
    let mut s = history_focused(80, 24);
    s.selection.history = 1;
    let sent = press(&mut s, &[key(KeyCode::Enter)]);
    assert!(matches!(sent[..], [Action::HistoryDetail(5)]), "{sent:?}");
    assert!(matches!(
        s.overlay,
        Some(Overlay::HistoryDetail { id: 5, .. })
    ));
    press(&mut s, &[key(KeyCode::Esc)]);
    assert!(s.overlay.is_none());
}

#[test]
fn totals_line_reads_without_colour() {
    assert_eq!(
        pane::totals(&history_stats()),
        "12 jobs · 83% ok · 1.3 GiB moved · 45 MiB/s avg · 1m05s per job"
    );
}

#[test]
fn history_pane_with_totals_and_a_filter() {
    for (w, h) in SIZES {
        let mut s = history_focused(w, h);
        s.history_filter.text = "kind:clone".into();
        insta::assert_snapshot!(format!("history_pane_{w}x{h}"), screen(&s).backend());
    }
}

/// The failed row in full: fields, its validation report and its log.
pub(super) fn detail(w: u16, h: u16) -> AppState {
    let mut s = history_focused(w, h);
    press(&mut s, &[key(KeyCode::Enter)]);
    let mut full_row = history()[0].clone();
    full_row.validation = serde_json::to_value(checklist_failed()).ok();
    full_row.log = vec![
        "2025-06-15 17:16:40.120 clone of shared01 from beta to alpha as shared01-clone, profile default".into(),
        "2025-06-15 17:16:40.131 phase: validating".into(),
        "2025-06-15 17:16:42.007 failed: pre-flight checks failed: Space: pool default on alpha: 512 MiB free, 1.1 GiB needed".into(),
    ];
    s.apply(Event::HistoryDetail(Box::new(full_row)));
    s
}

#[test]
fn history_detail_overlay() {
    for (w, h) in SIZES {
        let s = detail(w, h);
        insta::assert_snapshot!(format!("history_detail_{w}x{h}"), screen(&s).backend());
    }
}

#[test]
fn history_detail_scrolls_to_the_log() {
    let mut s = detail(80, 24);
    press(&mut s, &[key(KeyCode::End)]);
    let Some(Overlay::HistoryDetail { scroll, .. }) = s.overlay else {
        panic!("closed")
    };
    assert!(scroll > 0);
    insta::assert_snapshot!("history_detail_end_80x24", screen(&s).backend());
}

/// Issue: a headless job that ended meanwhile never appeared in the History
/// pane, and no key refreshed it. The pane reads the history again when it
/// gains the focus and on `r`; on the newest row the selection follows new
/// rows, elsewhere it stays on its entry.
#[test]
fn the_history_is_read_again_on_focus_and_on_r() {
    let mut s = full(80, 24);
    s.focus = Pane::Jobs;
    let out = press(&mut s, &[key(KeyCode::Tab)]);
    assert_eq!(s.focus, Pane::History);
    assert_eq!(queries(&out), [s.history_query()], "on focus");
    let out = typed(&mut s, "r");
    assert_eq!(queries(&out), [s.history_query()], "on r");
    let out = press(&mut s, &[key(KeyCode::Down)]);
    assert!(queries(&out).is_empty(), "not on every key");

    // On the newest row: a newer row arrives and is selected.
    s.selection.history = 0;
    let newer = super::fixtures::history_entry(7, "web01", ("alpha", "beta"), HistoryResult::Done);
    let mut rows = vec![newer];
    rows.extend(history());
    let filter = s.history_query();
    let page = |entries: Vec<_>| HistoryPage {
        filter: filter.clone(),
        entries,
        stats: Default::default(),
    };
    let first = page(rows.clone());
    s.apply(Event::History(first));
    assert_eq!(s.selected_history().map(|e| e.id), Some(7));
    // On an older row: it stays on that entry when more arrive.
    s.selection.history = 2;
    let newest = super::fixtures::history_entry(8, "web02", ("alpha", "beta"), HistoryResult::Done);
    rows.insert(0, newest);
    let second = page(rows);
    s.apply(Event::History(second));
    assert_eq!(s.selected_history().map(|e| e.id), Some(5));
}
