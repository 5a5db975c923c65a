//! The History pane's view state: its filter (typed after `/` while the pane
//! has focus), the pages the backend sends, and the detail overlay.
//!
//! Filter syntax (docs/keys.md): words separated by spaces; `vm:TEXT`,
//! `host:TEXT`, `kind:KIND`, `result:RESULT`; a bare word means `vm:`. VM
//! and host match when they contain the text, ignoring case.

use super::keys::typed_char;
use super::{AppState, Overlay, Pane};
use crate::backend::messages::Action;
use crate::model::history::{HistoryFilter, HistoryPage};
use crate::model::{HistoryEntry, HistoryResult, JobKind};
use crate::tui::keymap::{Command, KeyMap};
use crossterm::event::{KeyCode, KeyEvent};

/// The words the filter takes: key, an example, what it matches. The
/// parser's errors and the help overlay both list them from here.
pub const FILTER_WORDS: [(&str, &str, &str); 4] = [
    (
        "vm",
        "vm:web",
        "VM names containing web, any case; a bare word (web) too",
    ),
    (
        "host",
        "host:beta",
        "jobs from or to a host whose name contains beta",
    ),
    ("kind", "kind:clone", "jobs of that kind:"),
    ("result", "result:failed", "jobs with that result:"),
];

/// The filter words as help lists them, with the kinds and results there are.
pub fn filter_help() -> Vec<(String, String)> {
    let values = |key: &str| match key {
        "kind" => JobKind::ALL.map(JobKind::label).join(", "),
        "result" => HistoryResult::ALL.map(HistoryResult::label).join(", "),
        _ => String::new(),
    };
    let mut rows: Vec<(String, String)> = FILTER_WORDS
        .iter()
        .map(|(key, example, matches)| {
            let text = format!("{matches} {}", values(key));
            (example.to_string(), text.trim_end().to_string())
        })
        .collect();
    rows.push((
        "web host:beta".into(),
        "words combine: all must match".into(),
    ));
    rows
}

/// The filter the text asks for, or why it is not one.
pub fn parse_filter(text: &str) -> Result<HistoryFilter, String> {
    let mut f = HistoryFilter::default();
    for word in text.split_whitespace() {
        let (key, value) = word.split_once(':').unwrap_or(("vm", word));
        if value.is_empty() {
            return Err(format!("{key}: needs a value"));
        }
        match key {
            "vm" => f.vm = Some(value.into()),
            "host" => f.host = Some(value.into()),
            "kind" => f.kind = Some(value.into()),
            "result" => {
                f.result = Some(HistoryResult::parse(value).ok_or_else(|| {
                    let all: Vec<&str> = HistoryResult::ALL.iter().map(|r| r.label()).collect();
                    format!("result:{value}: use one of {}", all.join(", "))
                })?)
            }
            other => {
                let keys: Vec<String> = FILTER_WORDS.iter().map(|w| format!("{}:", w.0)).collect();
                let (head, last) = keys.split_at(keys.len() - 1);
                return Err(format!(
                    "{other}: use {} or {}",
                    head.join(", "),
                    last.join("")
                ));
            }
        }
    }
    // No filter is the backend's default page; any word searches.
    f.contains = f != HistoryFilter::default();
    Ok(f)
}

impl AppState {
    /// The filter the pane's text means; the last one that parsed while
    /// the text is incomplete.
    pub fn history_query(&self) -> HistoryFilter {
        parse_filter(&self.history_filter.text).unwrap_or_else(|_| self.history_asked.clone())
    }

    /// Takes a page of the backend's; one for another filter than the
    /// current one is late and dropped.
    pub(super) fn history_page(&mut self, page: HistoryPage) {
        if page.filter != self.history_query() {
            return;
        }
        // On the newest row, the selection follows new rows; elsewhere it
        // stays on its entry.
        let keep = self
            .selected_history()
            .map(|e| e.id)
            .filter(|_| self.selection.history > 0);
        self.history = page.entries;
        self.history_stats = Some(page.stats);
        let row = match keep {
            Some(id) => self
                .history
                .iter()
                .position(|e| e.id == id)
                .unwrap_or(self.selection.history),
            None => 0,
        };
        self.select(Pane::History, row);
    }

    /// The history pane just gained the focus: read it again, since other
    /// processes may have added rows.
    pub(super) fn history_on_focus(&mut self, before: Pane, out: &mut Vec<Action>) {
        if before != Pane::History && self.focus == Pane::History {
            out.push(Action::QueryHistory(self.history_query()));
        }
    }

    pub fn selected_history(&self) -> Option<&HistoryEntry> {
        self.history.get(self.selection.history)
    }

    /// Keys while the history filter is being typed. Every change that
    /// parses asks the backend for its page.
    pub(super) fn history_filter_key(
        &mut self,
        key: &KeyEvent,
        keys: &KeyMap,
        out: &mut Vec<Action>,
    ) {
        match key.code {
            KeyCode::Esc => {
                self.history_filter.text.clear();
                self.history_filter.editing = false;
            }
            KeyCode::Enter => {
                self.history_filter.editing = false;
                return;
            }
            KeyCode::Backspace => {
                self.history_filter.text.pop();
            }
            KeyCode::Up | KeyCode::Down => {
                if let Some(cmd @ (Command::Up | Command::Down)) = keys.command(key) {
                    let delta = if cmd == Command::Up { -1 } else { 1 };
                    self.move_selection(Pane::History, delta);
                }
                return;
            }
            _ => match typed_char(key) {
                Some(c) => self.history_filter.text.push(c),
                None => return,
            },
        }
        self.ask_history(out);
    }

    /// Clears the filter (Esc in the pane); false when there was none.
    pub(super) fn clear_history_filter(&mut self, out: &mut Vec<Action>) -> bool {
        if self.history_filter.text.is_empty() {
            return false;
        }
        self.history_filter.text.clear();
        self.ask_history(out);
        true
    }

    fn ask_history(&mut self, out: &mut Vec<Action>) {
        if let Ok(f) = parse_filter(&self.history_filter.text)
            && f != self.history_asked
        {
            self.history_asked = f.clone();
            self.selection.history = 0;
            out.push(Action::QueryHistory(f));
        }
    }

    /// Why the filter text is not a filter, for the status line.
    pub fn history_filter_problem(&self) -> Option<String> {
        parse_filter(&self.history_filter.text).err()
    }

    /// Enter on a history row: the detail overlay, filled in when the
    /// backend sends the row's log and validation report.
    pub(super) fn open_history_detail(&mut self, out: &mut Vec<Action>) {
        if let Some(id) = self.selected_history().map(|e| e.id) {
            if self.history_detail.as_ref().is_none_or(|d| d.id != id) {
                self.history_detail = None;
            }
            self.overlay = Some(Overlay::HistoryDetail { id, scroll: 0 });
            out.push(Action::HistoryDetail(id));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_and_keys_make_a_filter() {
        let f = parse_filter("web kind:clone result:failed host:beta").unwrap();
        assert_eq!(f.vm.as_deref(), Some("web"));
        assert_eq!(f.kind.as_deref(), Some("clone"));
        assert_eq!(f.host.as_deref(), Some("beta"));
        assert_eq!(f.result, Some(HistoryResult::Failed));
        assert!(f.contains);
        assert_eq!(parse_filter("  ").unwrap(), HistoryFilter::default());
    }

    #[test]
    fn every_word_help_lists_is_a_filter() {
        for (key, example, _) in FILTER_WORDS {
            let f = parse_filter(example).unwrap();
            let set = match key {
                "vm" => f.vm.is_some(),
                "host" => f.host.is_some(),
                "kind" => f.kind.is_some(),
                "result" => f.result.is_some(),
                _ => false,
            };
            assert!(set, "{example} sets no {key}");
        }
        let rows = filter_help();
        assert!(
            rows.iter()
                .any(|(_, t)| t.ends_with("clone, export, restore, extract"))
        );
        assert!(
            rows.iter()
                .any(|(_, t)| t.contains("running, done, failed"))
        );
        let last = &rows[rows.len() - 1].0;
        assert!(parse_filter(last).unwrap().host.is_some(), "{last}");
    }

    #[test]
    fn bad_words_say_why() {
        assert!(parse_filter("result:ok").unwrap_err().contains("done"));
        assert_eq!(
            parse_filter("colour:red").unwrap_err(),
            "colour: use vm:, host:, kind: or result:"
        );
        assert!(parse_filter("host:").unwrap_err().contains("needs a value"));
    }
}
