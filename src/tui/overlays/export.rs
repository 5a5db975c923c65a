//! The export dialog: repository, profile, passphrase (shown as `*`).

use super::{centered, frame_box};
use crate::tui::state::{AppState, ExportDialog, ExportField};
use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::Line;
use ratatui::widgets::{Paragraph, Wrap};

pub fn draw(frame: &mut Frame, area: Rect, state: &AppState, d: &ExportDialog) {
    let theme = &state.theme;
    if let Some(c) = &d.create {
        let mut lines = super::repo_create::lines(c, theme);
        lines.push(Line::styled(super::repo_create::HINTS, theme.dim()));
        let title = format!("Export {} from {}: new repository", d.vm, d.from);
        let inner = frame_box(frame, centered(area, 86, 12), &title, theme);
        frame.render_widget(Paragraph::new(lines).wrap(Wrap { trim: false }), inner);
        return;
    }
    let focus = |f: ExportField| {
        if d.field == f {
            ("> ", theme.selected(true))
        } else {
            ("  ", ratatui::style::Style::default())
        }
    };
    let cursor = |f: ExportField| if d.field == f { "_" } else { "" };
    let profile = d.profile_name().unwrap_or("(none received yet)");
    let description = state
        .profiles
        .iter()
        .find(|p| p.name == profile)
        .map(|p| p.description.clone())
        .unwrap_or_default();
    let typed = d.passphrase.expose().chars().count();
    let pass = if typed == 0 && d.field != ExportField::Passphrase {
        "(the profile's source or $KVM_CLONE_PASSPHRASE)".to_string()
    } else {
        format!("{}{}", "*".repeat(typed), cursor(ExportField::Passphrase))
    };
    let (m, s) = focus(ExportField::Repository);
    let mut lines = vec![
        Line::styled(format!("Export {} from {}", d.vm, d.from), theme.header()),
        Line::from(""),
        Line::styled(
            format!(
                "{m}repository  {}{}",
                d.repository,
                cursor(ExportField::Repository)
            ),
            s,
        ),
    ];
    let (m, s) = focus(ExportField::Profile);
    lines.push(Line::styled(format!("{m}profile     ◂ {profile} ▸"), s));
    lines.push(Line::styled(
        format!("              {description}"),
        theme.dim(),
    ));
    let (m, s) = focus(ExportField::Passphrase);
    lines.push(Line::styled(format!("{m}passphrase  {pass}"), s));
    lines.push(Line::from(""));
    match &d.note {
        Some(n) if d.probing => lines.push(Line::styled(n.clone(), theme.warn())),
        Some(n) => lines.push(Line::styled(n.clone(), theme.error())),
        None => lines.push(Line::styled(
            "A running VM is read from a pull backup; the next export reads only what changed.",
            theme.dim(),
        )),
    }
    lines.push(Line::styled(
        "tab field · ←→ profile · enter start · esc cancel",
        theme.dim(),
    ));
    let inner = frame_box(
        frame,
        centered(area, 86, 12),
        "Export to a repository",
        theme,
    );
    frame.render_widget(Paragraph::new(lines).wrap(Wrap { trim: false }), inner);
}
