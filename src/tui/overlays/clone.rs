//! Clone dialog: destination, new name and profile, then the pre-flight
//! checklist of the request sent, and the start button it unlocks.

use super::{centered, frame_box, wrap};
use crate::model::format::size;
use crate::model::{CheckItem, CheckStatus, Checklist};
use crate::tui::state::{
    AppState, CheckState, CloneDialog, CloneField, Confirm, SaveAs, destinations, name_problem,
};
use crate::tui::theme::Theme;
use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;

/// Widest the dialog gets; on small screens it leaves two columns each side.
const MAX_WIDTH: u16 = 100;
/// Source, destination, name, name error, profile, blank.
const FORM: u16 = 6;
/// The checklist's heading.
const HEADING: u16 = 1;
/// Blank, button, key hints.
const FOOTER: u16 = 3;
/// "[FAIL] " and the indent of continuation lines.
const MARK_W: usize = 7;

/// Without colour the marker alone tells the status. The same words as
/// the CLI's checklist and the history: `[PASS]`, `[WARN]`, `[FAIL]`.
fn marker(status: CheckStatus, theme: &Theme) -> (&'static str, Style) {
    match status {
        CheckStatus::Pass => ("[PASS]", theme.ok()),
        CheckStatus::Warn => ("[WARN]", theme.warn()),
        CheckStatus::Fail => ("[FAIL]", theme.error()),
    }
}

/// One check: marker, title and message; the hint below for warnings and failures.
pub(crate) fn item_lines(item: &CheckItem, width: usize, theme: &Theme) -> Vec<Line<'static>> {
    let (mark, style) = marker(item.status, theme);
    let body = if item.message.is_empty() {
        item.title.clone()
    } else {
        format!("{}: {}", item.title, item.message)
    };
    let text_w = width.saturating_sub(MARK_W);
    let mut out: Vec<Line> = wrap(&body, text_w)
        .into_iter()
        .enumerate()
        .map(|(i, l)| {
            let lead = if i == 0 {
                Span::styled(format!("{mark:<MARK_W$}"), style)
            } else {
                Span::raw(" ".repeat(MARK_W))
            };
            Line::from(vec![lead, Span::raw(l)])
        })
        .collect();
    if let Some(hint) = item
        .hint
        .as_ref()
        .filter(|_| item.status != CheckStatus::Pass)
    {
        let hint_w = text_w.saturating_sub(2);
        for (i, l) in wrap(hint, hint_w).into_iter().enumerate() {
            let lead = if i == 0 { "→ " } else { "  " };
            out.push(Line::styled(
                format!("{}{lead}{l}", " ".repeat(MARK_W)),
                theme.dim(),
            ));
        }
    }
    out
}

pub(crate) fn summary(list: &Checklist) -> String {
    let n = |s| list.items.iter().filter(|i| i.status == s).count();
    format!(
        "{} ok, {} warn, {} failed",
        n(CheckStatus::Pass),
        n(CheckStatus::Warn),
        n(CheckStatus::Fail)
    )
}

/// The scrollable part: the checklist, or what stands in for it.
fn list_lines(state: &AppState, d: &CloneDialog, width: usize) -> Vec<Line<'static>> {
    let theme = &state.theme;
    match d.check.as_ref().map(|c| &c.state) {
        None => wrap(
            "Not run yet. They check the source VM, the new name, space, networks \
             and CPU on the destination; nothing changes until you start.",
            width,
        )
        .into_iter()
        .map(|l| Line::styled(l, theme.dim()))
        .collect(),
        Some(CheckState::Waiting) => vec![Line::from("validating…")],
        Some(CheckState::Error(msg)) => {
            let body = format!("could not check: {}: {msg}", d.from);
            wrap(&body, width.saturating_sub(MARK_W))
                .into_iter()
                .enumerate()
                .map(|(i, l)| {
                    let lead = if i == 0 { "[FAIL]" } else { "" };
                    Line::from(vec![
                        Span::styled(format!("{lead:<MARK_W$}"), theme.error()),
                        Span::raw(l),
                    ])
                })
                .collect()
        }
        Some(CheckState::Done(list)) => {
            // What blocks or needs a look first: small screens show it unscrolled.
            let mut items: Vec<&CheckItem> = list.items.iter().collect();
            items.sort_by_key(|i| match i.status {
                CheckStatus::Fail => 0,
                CheckStatus::Warn => 1,
                CheckStatus::Pass => 2,
            });
            items
                .into_iter()
                .flat_map(|i| item_lines(i, width, theme))
                .collect()
        }
    }
}

/// `shown` is the first line, the height and the number of lines when they
/// do not all fit.
fn heading(d: &CloneDialog, shown: Option<(u16, u16, usize)>) -> String {
    let mut s = "Pre-flight checks".to_string();
    if let Some(CheckState::Done(list)) = d.check.as_ref().map(|c| &c.state) {
        s.push_str(&format!(": {}", summary(list)));
    }
    if d.check.is_some() && !d.check_is_current() {
        s.push_str(" (fields changed since)");
    }
    if let Some((first, height, n)) = shown {
        let last = (first as usize + height as usize).min(n);
        s.push_str(&format!(" · lines {}-{last} of {n}, pgup/pgdn", first + 1));
    }
    s
}

fn width(area: Rect) -> u16 {
    area.width.saturating_sub(4).min(MAX_WIDTH)
}

fn rect(area: Rect, list_len: usize) -> Rect {
    let list = (list_len as u16).max(1);
    let h = 2 + FORM + HEADING + list + FOOTER;
    centered(area, width(area), h.min(area.height.saturating_sub(2)))
}

fn text_width(area: Rect) -> usize {
    width(area).saturating_sub(2) as usize
}

fn list_height(rect: Rect) -> u16 {
    rect.height.saturating_sub(2 + FORM + HEADING + FOOTER)
}

/// How far the checklist can scroll in `area`.
pub fn max_scroll(state: &AppState, d: &CloneDialog, area: Rect) -> u16 {
    let n = list_lines(state, d, text_width(area)).len();
    (n as u16).saturating_sub(list_height(rect(area, n)))
}

fn label(d: &CloneDialog, field: CloneField, text: &str, theme: &Theme) -> Span<'static> {
    let on = d.field == field;
    let mark = if on { "> " } else { "  " };
    let style = if on {
        theme.selected(false)
    } else {
        Style::new()
    };
    Span::styled(format!("{mark}{text:<14}"), style)
}

/// A picker's value: arrows around it while it has focus.
fn choice(d: &CloneDialog, field: CloneField, value: &str) -> Span<'static> {
    if d.field == field {
        Span::raw(format!("< {value} >"))
    } else {
        Span::raw(value.to_string())
    }
}

/// "2 of 4 profiles"; `what` is the singular.
fn position(options: &[String], value: &str, what: &str) -> String {
    let n = options.len();
    let what = if n == 1 {
        what.to_string()
    } else {
        format!("{what}s")
    };
    match options.iter().position(|o| o == value) {
        Some(i) => format!("{} of {n} {what}", i + 1),
        None => format!("not among the {n} {what}"),
    }
}

fn form(state: &AppState, d: &CloneDialog) -> Vec<Line<'static>> {
    let theme = &state.theme;
    let source = match state
        .vms
        .get(&d.from)
        .and_then(|vms| vms.iter().find(|v| v.name == d.vm))
    {
        Some(vm) => {
            let alloc: u64 = vm.disks.iter().map(|x| x.allocation_bytes).sum();
            let n = vm.disks.len();
            let disks = if n == 1 { "disk" } else { "disks" };
            format!(
                "{} on {} · {} · {} in {n} {disks}",
                d.vm,
                d.from,
                vm.state.label(),
                size(alloc)
            )
        }
        None => format!("{} on {}", d.vm, d.from),
    };
    let dests = destinations(&state.hosts, &d.from);
    let dest_state = state
        .hosts
        .iter()
        .find(|h| h.name == d.to)
        .map(|h| h.state.label())
        .unwrap_or("not configured");
    let profiles = state.profile_names();
    let cursor = if d.field == CloneField::Name { "_" } else { "" };
    let name_note = match name_problem(&d.name) {
        Some(e) => Line::from(vec![
            Span::raw(" ".repeat(16)),
            Span::styled(e, theme.error()),
        ]),
        None => Line::from(""),
    };
    vec![
        Line::from(vec![
            Span::raw(format!("  {:<14}", "Source:")),
            Span::raw(source),
        ]),
        Line::from(vec![
            label(d, CloneField::Destination, "Destination:", theme),
            choice(d, CloneField::Destination, &d.to),
            Span::styled(
                format!("  {dest_state} · {}", position(&dests, &d.to, "host")),
                theme.dim(),
            ),
        ]),
        Line::from(vec![
            label(d, CloneField::Name, "New name:", theme),
            Span::raw(format!("{}{cursor}", d.name)),
        ]),
        name_note,
        Line::from(vec![
            label(d, CloneField::Profile, "Profile:", theme),
            choice(d, CloneField::Profile, &d.profile),
            Span::styled(
                format!("  {}", position(&profiles, &d.profile, "profile")),
                theme.dim(),
            ),
        ]),
        Line::from(""),
    ]
}

fn button(d: &CloneDialog, theme: &Theme) -> Line<'static> {
    let (text, why, why_style) = match d.confirm() {
        Confirm::Check => (
            "[ Check ]",
            "enter runs the pre-flight checks".into(),
            theme.dim(),
        ),
        Confirm::Waiting => ("[ Check ]", "validating…".into(), theme.dim()),
        Confirm::Start => (
            "[ Start clone ]",
            format!("enter or y: clone {} to {} as {}", d.vm, d.to, d.name),
            theme.ok(),
        ),
        Confirm::Blocked { failed } => {
            let checks = if failed == 1 { "check" } else { "checks" };
            (
                "[ Check again ]",
                format!("cannot start: {failed} {checks} failed; fix, enter checks again"),
                theme.error(),
            )
        }
        Confirm::Retry => (
            "[ Check again ]",
            "the checks did not run; enter tries again".into(),
            theme.error(),
        ),
    };
    let on = d.field == CloneField::Confirm;
    let style = if on {
        theme.selected(true)
    } else {
        theme.header()
    };
    Line::from(vec![
        Span::raw(if on { "> " } else { "  " }),
        Span::styled(text, style),
        Span::raw("  "),
        Span::styled(why, why_style),
    ])
}

/// The "save as profile" prompt in place of the button.
fn save_lines(d: &CloneDialog, s: &SaveAs, state: &AppState) -> Vec<Line<'static>> {
    let theme = &state.theme;
    let note = match &s.note {
        Some(n) if s.confirm_replace => Line::styled(n.clone(), theme.warn()),
        Some(n) => Line::styled(n.clone(), theme.error()),
        None => Line::from(""),
    };
    vec![
        note,
        Line::from(vec![
            Span::styled("> Save as profile: ", theme.selected(true)),
            Span::raw(format!("{}_", s.name)),
        ]),
        Line::styled(
            format!(
                "settings of {}, kept in your profiles · enter save · esc back",
                d.profile
            ),
            theme.dim(),
        ),
    ]
}

pub fn draw(frame: &mut Frame, area: Rect, state: &AppState, d: &CloneDialog) {
    let theme = &state.theme;
    let width = text_width(area);
    let lines = list_lines(state, d, width);
    let rect = rect(area, lines.len());
    let n = lines.len();
    let height = list_height(rect);
    let max = (n as u16).saturating_sub(height);
    let scroll = d.scroll.min(max);
    let shown = (max > 0).then_some((scroll, height, n));
    let title = format!("Clone {} from {}", d.vm, d.from);
    let inner = frame_box(frame, rect, &title, theme);
    let [form_r, head_r, list_r, foot_r] = inner.layout(&Layout::vertical([
        Constraint::Length(FORM),
        Constraint::Length(HEADING),
        Constraint::Fill(1),
        Constraint::Length(FOOTER),
    ]));
    frame.render_widget(Paragraph::new(form(state, d)), form_r);
    frame.render_widget(
        Paragraph::new(Line::styled(heading(d, shown), theme.header())),
        head_r,
    );
    frame.render_widget(Paragraph::new(lines).scroll((scroll, 0)), list_r);
    let footer = match &d.save {
        Some(s) => save_lines(d, s, state),
        None => vec![
            Line::from(""),
            button(d, theme),
            Line::styled(
                format!(
                    "tab field · ←→ choose · enter check/start · {} save as profile · esc close",
                    state.key_for("save_profile").unwrap_or("ctrl-s")
                ),
                theme.dim(),
            ),
        ],
    };
    frame.render_widget(Paragraph::new(footer), foot_r);
}
