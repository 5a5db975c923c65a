//! The profile menu: the profiles of one kind on the left, the selected
//! one's description, source and settings on the right.

use super::{centered, frame_box};
use crate::config::profile::{ProfileSource, ProfileSummary};
use crate::tui::state::{AppState, FormField, ProfileForm, ProfileMenu};
use crate::tui::theme::Theme;
use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Paragraph, Wrap};

const MAX_WIDTH: u16 = 110;
/// Widest the list gets: the longest name, its marker and padding.
const LIST_MAX: u16 = 24;
/// Settings labels are padded to this width.
const LABEL_W: usize = 14;

fn list_lines(items: &[&ProfileSummary], selected: usize, theme: &Theme) -> Vec<Line<'static>> {
    items
        .iter()
        .enumerate()
        .map(|(i, p)| {
            let user = matches!(p.source, ProfileSource::User(_));
            let text = format!("{}{}", p.name, if user { " *" } else { "" });
            if i == selected {
                Line::styled(format!("> {text}"), theme.selected(true))
            } else {
                Line::from(format!("  {text}"))
            }
        })
        .collect()
}

fn panel_lines(p: &ProfileSummary, theme: &Theme) -> Vec<Line<'static>> {
    let mut source = p.source.label();
    if p.overrides_builtin {
        source.push_str(" (overrides the built-in)");
    }
    // The name is the list's selected row; 80x24 has no line to spare.
    let mut out = vec![
        Line::styled(
            if p.description.is_empty() {
                "(no description)".to_string()
            } else {
                p.description.clone()
            },
            theme.header(),
        ),
        Line::from(vec![
            Span::styled(format!("{:<LABEL_W$}", "source"), theme.dim()),
            Span::raw(source),
        ]),
    ];
    out.extend(p.settings.iter().map(|(k, v)| {
        Line::from(vec![
            Span::styled(format!("{k:<LABEL_W$}"), theme.dim()),
            Span::raw(v.clone()),
        ])
    }));
    out
}

/// The editor in the panel: one line per field, then why Enter was refused.
fn form_lines(f: &ProfileForm, theme: &Theme) -> Vec<Line<'static>> {
    let title = if f.own_file {
        format!("Edit {} (its file)", f.from)
    } else {
        format!("Edit a copy of {}", f.from)
    };
    let mut out = vec![Line::styled(title, theme.header())];
    for field in f.fields() {
        let on = f.field == field;
        let value = f.shown(field);
        let value = match (on, field.is_choice()) {
            (true, true) => format!("◂ {value} ▸"),
            (true, false) => format!("{value}_"),
            (false, _) if field == FormField::Bandwidth && value.is_empty() => "unlimited".into(),
            (false, _) => value,
        };
        let text = format!(
            "{}{:<LABEL_W$}{value}",
            if on { "> " } else { "  " },
            field.label()
        );
        out.push(if on {
            Line::styled(text, theme.selected(true))
        } else {
            Line::from(text)
        });
    }
    out.push(match (&f.note, f.saving) {
        (_, true) => Line::styled("saving…", theme.warn()),
        (Some(n), false) => Line::styled(n.clone(), theme.error()),
        (None, false) => Line::styled(
            "empty bandwidth: unlimited · empty keep: no rule",
            theme.dim(),
        ),
    });
    out
}

pub fn draw(frame: &mut Frame, area: Rect, state: &AppState, m: &ProfileMenu) {
    let theme = &state.theme;
    let items = state.menu_profiles(m.target.kind());
    let selected = m.selected.min(items.len().saturating_sub(1));
    let width = area.width.saturating_sub(4).min(MAX_WIDTH);
    let list_w = items
        .iter()
        .map(|p| p.name.chars().count() as u16 + 5)
        .max()
        .unwrap_or(10)
        .min(LIST_MAX);
    // The panel's lines as wrapped at its width (frame, list and bar aside),
    // so a long source path does not push the last settings out of the box.
    let panel_w = usize::from(width.saturating_sub(2 + list_w + 1).max(1));
    let panel = |p: &ProfileSummary| match &m.form {
        Some(f) => form_lines(f, theme),
        None => panel_lines(p, theme),
    };
    let panel_len = items.get(selected).map_or(1, |p| {
        panel(p)
            .iter()
            .map(|l| l.width().div_ceil(panel_w).max(1))
            .sum::<usize>()
            + 1
    });
    let body = items.len().max(panel_len) as u16;
    // Frame, body, then a blank and the hints; short screens drop the blank.
    let short = body + 4 > area.height.saturating_sub(2);
    let foot_h = if short { 1 } else { 2 };
    let height = (body + 2 + foot_h).min(if short {
        area.height
    } else {
        area.height.saturating_sub(2)
    });
    let rect = centered(area, width, height);
    let inner = frame_box(frame, rect, &m.target.title(), theme);
    let [main, foot] = inner.layout(&Layout::vertical([
        Constraint::Fill(1),
        Constraint::Length(foot_h),
    ]));
    let [list_r, gap, panel_r] = main.layout(&Layout::horizontal([
        Constraint::Length(list_w),
        Constraint::Length(1),
        Constraint::Fill(1),
    ]));
    if items.is_empty() {
        frame.render_widget(
            Paragraph::new(Line::styled("no profiles received yet", theme.dim())),
            main,
        );
    } else {
        // Keep the selected row in view on short screens.
        let height = list_r.height.max(1) as usize;
        let scroll = selected.saturating_sub(height - 1) as u16;
        frame.render_widget(
            Paragraph::new(list_lines(&items, selected, theme)).scroll((scroll, 0)),
            list_r,
        );
        let bar: Vec<Line> = (0..gap.height)
            .map(|_| Line::styled("│", theme.dim()))
            .collect();
        frame.render_widget(Paragraph::new(bar), gap);
        frame.render_widget(
            Paragraph::new(panel(items[selected])).wrap(Wrap { trim: false }),
            panel_r,
        );
    }
    let hint = Line::styled(
        if m.form.is_some() {
            "tab field · ←→ choice · enter save · esc back"
        } else {
            "↑↓ move · enter pick · tab clone/export · e edit · * yours"
        },
        theme.dim(),
    );
    let foot_lines = if short {
        vec![hint]
    } else {
        vec![Line::from(""), hint]
    };
    frame.render_widget(Paragraph::new(foot_lines), foot);
}
