//! The help overlay's state: the document built from the key tables of
//! [`crate::tui::keymap::context`] and the key map in use, the context in
//! focus first, and the view it was opened over.

use super::history::filter_help;
use super::{AppState, Overlay, Pane, RepoMode};
use crate::tui::keymap::{Command, Context, KeyMap};
use crate::tui::overlays;
use crossterm::event::{KeyCode, KeyEvent};

/// What help shows: sections of (keys, what they do).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HelpDoc {
    /// The title of the context in focus.
    pub focus: &'static str,
    pub sections: Vec<HelpSection>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HelpSection {
    pub title: String,
    pub rows: Vec<(String, String)>,
}

#[derive(Debug)]
pub struct HelpView {
    pub doc: HelpDoc,
    pub scroll: u16,
    /// The view help was opened over; it is back on top when help closes.
    pub under: Option<Box<Overlay>>,
}

/// Help for `focus`: its keys, then those of every pane, then every other
/// context, so one screen answers "what can I press here" and the rest is
/// a scroll away.
pub fn document(keys: &KeyMap, focus: Context) -> HelpDoc {
    let mut order = vec![focus];
    if focus == Context::History {
        // Its filter and the words, where they are looked for.
        order.push(Context::HistoryFilter);
    }
    if focus.is_pane() {
        // Only the shared keys the pane does not take over.
        order.push(Context::AllPanes);
    } else if let Some(g) = group(focus) {
        // The other modes of the same view or dialog next.
        order.extend(
            Context::ALL
                .into_iter()
                .filter(|c| group(*c) == Some(g) && *c != focus),
        );
    }
    let rest: Vec<Context> = Context::ALL
        .into_iter()
        .filter(|c| !order.contains(c))
        .collect();
    order.extend(rest);
    let mut sections = Vec::new();
    for c in order {
        let rows = match c {
            Context::AllPanes if focus.is_pane() => focus.shared_rows(keys),
            c => c.rows().to_vec(),
        };
        sections.push(HelpSection {
            title: c.title().to_string(),
            rows: rows
                .iter()
                .map(|r| (r.label(keys), r.does.into()))
                .collect(),
        });
        if c == Context::HistoryFilter {
            sections.push(HelpSection {
                title: "History filter words".into(),
                rows: filter_help(),
            });
        }
    }
    HelpDoc {
        focus: focus.title(),
        sections,
    }
}

/// Contexts that belong together: help lists them next to each other.
fn group(c: Context) -> Option<u8> {
    use Context::*;
    match c {
        RepoList | RepoOpen | RepoVerified | RepoRepair | RepoPruneForm | RepoPrunePlan
        | RepoRestore | RepoCreate => Some(1),
        Clone | SaveProfile | Profiles | ProfileEdit | Export => Some(2),
        VmDetail | JobDetail | HistoryDetail | Help => Some(3),
        _ => None,
    }
}

impl Overlay {
    /// The context keys go to while this overlay is on top.
    pub fn context(&self) -> Context {
        match self {
            Overlay::Help(_) => Context::Help,
            Overlay::VmDetail { .. } => Context::VmDetail,
            Overlay::HistoryDetail { .. } => Context::HistoryDetail,
            Overlay::JobDetail { .. } => Context::JobDetail,
            Overlay::ConfirmQuit => Context::ConfirmQuit,
            Overlay::HostKey { .. } => Context::HostKey,
            Overlay::Passphrase(_) => Context::Passphrase,
            Overlay::AddHost(_) => Context::AddHost,
            Overlay::Clone(d) if d.save.is_some() => Context::SaveProfile,
            Overlay::Clone(_) => Context::Clone,
            Overlay::Profiles(m) if m.form.is_some() => Context::ProfileEdit,
            Overlay::Profiles(_) => Context::Profiles,
            Overlay::ConfirmCancel { .. } => Context::ConfirmCancel,
            Overlay::Export(d) if d.create.is_some() => Context::RepoCreate,
            Overlay::Export(_) => Context::Export,
            Overlay::Schedules(_) => Context::Schedules,
            Overlay::Repository(b) => match b.mode {
                RepoMode::Path | RepoMode::Passphrase(_) => Context::RepoOpen,
                RepoMode::List => Context::RepoList,
                RepoMode::Verified(_) => Context::RepoVerified,
                RepoMode::RepairConfirm(_) => Context::RepoRepair,
                RepoMode::PruneForm { .. } => Context::RepoPruneForm,
                RepoMode::PrunePlan { .. } => Context::RepoPrunePlan,
                RepoMode::Restore(_) => Context::RepoRestore,
                RepoMode::Create(_) => Context::RepoCreate,
            },
        }
    }
}

impl AppState {
    /// Where key presses go now.
    pub fn context(&self) -> Context {
        match &self.overlay {
            Some(ov) => ov.context(),
            None if self.filter.editing => Context::VmFilter,
            None if self.history_filter.editing => Context::HistoryFilter,
            None => match self.focus {
                Pane::Hosts => Context::Hosts,
                Pane::Vms => Context::Vms,
                Pane::Jobs => Context::Jobs,
                Pane::History => Context::History,
            },
        }
    }

    /// The overlay on top, or the one help was opened over: backend
    /// answers still reach a view while help covers it.
    pub(super) fn view(&self) -> Option<&Overlay> {
        match &self.overlay {
            Some(Overlay::Help(v)) => v.under.as_deref(),
            other => other.as_ref(),
        }
    }

    pub(super) fn view_mut(&mut self) -> Option<&mut Overlay> {
        match &mut self.overlay {
            Some(Overlay::Help(v)) => v.under.as_deref_mut(),
            other => other.as_mut(),
        }
    }

    /// Help for what is in focus: `under` (taken off the screen) or the pane.
    pub(super) fn help_over(&mut self, keys: &KeyMap, under: Option<Overlay>) -> Overlay {
        let focus = under
            .as_ref()
            .map_or_else(|| self.context(), Overlay::context);
        // From the map in use, so help cannot disagree with the keys.
        self.help = keys.help();
        Overlay::Help(HelpView {
            doc: document(keys, focus),
            scroll: 0,
            under: under.map(Box::new),
        })
    }

    /// A key while help is open: scroll, or close back to what was under it.
    pub(super) fn help_key(
        &mut self,
        mut v: HelpView,
        key: &KeyEvent,
        keys: &KeyMap,
    ) -> Option<Overlay> {
        let cmd = keys.command(key);
        if key.code == KeyCode::Esc
            || matches!(cmd, Some(Command::Help | Command::Quit | Command::Details))
        {
            return v.under.map(|b| *b);
        }
        let max = overlays::help::max_scroll(&v.doc, self.area);
        let page = overlays::help::page(&v.doc, self.area);
        v.scroll = super::keys::scrolled(v.scroll, cmd, max, page);
        Some(Overlay::Help(v))
    }
}
