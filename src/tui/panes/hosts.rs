//! Hosts pane: one row per configured host, and the selected host's facts below.

use super::{Col, below_header, block, inner, render_table, width_of};
use crate::model::format::size;
use crate::model::{ConnState, HostInfo, HostView};
use crate::tui::state::{AppState, Pane};
use crate::tui::theme::Theme;
use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Cell, Paragraph, Wrap};

fn cols(state: &AppState) -> [Col; 6] {
    let name = width_of("Name", state.hosts.iter().map(|h| h.name.as_str()), 20);
    [
        Col::fill("Name", name, 0),
        Col::new("State", 16, 0),
        Col::new("CPUs", 4, 1),
        Col::new("Mem free/total", 17, 2),
        Col::new("Pools free/total", 19, 3),
        Col::new("libvirt/qemu", 12, 4),
    ]
}

/// Lines for the selected host's facts, under the table.
const DETAIL_LINES: u16 = 5;

fn split(area: Rect) -> (Rect, Rect) {
    let inner = inner(area);
    // Keep at least a header and two rows for the table.
    let detail = DETAIL_LINES.min(inner.height.saturating_sub(3));
    let [table, details] = inner.layout(&Layout::vertical([
        Constraint::Fill(1),
        Constraint::Length(detail),
    ]));
    (table, details)
}

pub fn rows_area(area: Rect, _state: &AppState) -> Rect {
    below_header(split(area).0)
}

pub(crate) fn state_style(state: &ConnState, theme: &Theme) -> Style {
    match state {
        ConnState::Up => theme.ok(),
        ConnState::Idle | ConnState::Connecting => theme.warn(),
        ConnState::HostKeyUnknown { .. } | ConnState::NeedsPassphrase { .. } => theme.warn(),
        _ => theme.error(),
    }
}

fn pools(info: &HostInfo) -> (u64, u64) {
    info.pools
        .iter()
        .filter(|p| p.active)
        .fold((0, 0), |(a, c), p| {
            (a + p.available_bytes, c + p.capacity_bytes)
        })
}

fn row(h: &HostView, theme: &Theme) -> Vec<Cell<'static>> {
    let mut cells = vec![
        Cell::from(h.name.clone()),
        Cell::from(h.state.label()).style(state_style(&h.state, theme)),
    ];
    match &h.info {
        Some(i) => {
            let (free, cap) = pools(i);
            cells.extend([
                Cell::from(i.cpus.to_string()),
                Cell::from(format!(
                    "{}/{}",
                    size(i.memory_free_bytes),
                    size(i.memory_total_bytes)
                )),
                Cell::from(format!("{}/{}", size(free), size(cap))),
                Cell::from(format!("{}/{}", i.libvirt_version, i.qemu_version)),
            ]);
        }
        None => cells.extend((0..4).map(|_| Cell::from("-"))),
    }
    cells
}

/// What the operator should know about the selected host, one fact a line.
fn details(h: &HostView, state: &AppState) -> Vec<Line<'static>> {
    let theme = &state.theme;
    let enter = state.key_for("details").unwrap_or("enter").to_string();
    let mut lines = vec![Line::from(h.endpoint.clone())];
    match &h.state {
        ConnState::HostKeyUnknown { fingerprint } => {
            lines.push(Line::styled(
                format!("new host key {fingerprint}"),
                theme.warn(),
            ));
            lines.push(Line::from(format!("{enter}: check and accept it")));
        }
        ConnState::NeedsPassphrase { key_path } => {
            lines.push(Line::styled(
                format!("{key_path} is encrypted"),
                theme.warn(),
            ));
            lines.push(Line::from(format!("{enter}: type its passphrase")));
        }
        other => {
            if let Some(reason) = other.reason() {
                lines.push(Line::styled(
                    format!("{}: {reason}", other.label()),
                    state_style(other, theme),
                ));
            }
        }
    }
    // Short lines: they must fit the narrow pane at 80 columns.
    if let Some(i) = &h.info {
        lines.push(Line::from(format!(
            "libvirt {} qemu {}",
            i.libvirt_version, i.qemu_version
        )));
        lines.push(Line::from(format!(
            "{} CPUs · {}/{} free",
            i.cpus,
            size(i.memory_free_bytes),
            size(i.memory_total_bytes)
        )));
        for p in &i.pools {
            let state = if p.active { "" } else { " (inactive)" };
            lines.push(Line::from(format!(
                "{} {}/{} free{state}",
                p.name,
                size(p.available_bytes),
                size(p.capacity_bytes)
            )));
        }
    }
    lines
}

fn empty_help(state: &AppState) -> Vec<Line<'static>> {
    let add = state.key_for("add_host").unwrap_or("a").to_string();
    let path = match &state.config_path {
        Some(p) => p.display().to_string(),
        None => "the config file (see KVM_CLONE_CONFIG)".to_string(),
    };
    vec![
        Line::styled("No hosts configured.", state.theme.warn()),
        Line::from(""),
        Line::from(vec![
            Span::raw("Press "),
            Span::styled(add, state.theme.header()),
            Span::raw(" to add one, or add [[hosts]] entries to"),
        ]),
        Line::from(path),
    ]
}

pub fn draw(frame: &mut Frame, area: Rect, state: &AppState) {
    let focused = state.focus == Pane::Hosts;
    let title = format!(" Hosts ({}) ", state.hosts.len());
    frame.render_widget(block(title, focused, &state.theme), area);
    if state.hosts.is_empty() {
        let text = Paragraph::new(empty_help(state)).wrap(Wrap { trim: false });
        frame.render_widget(text, inner(area));
        return;
    }
    let (table, detail) = split(area);
    let rows = state.hosts.iter().map(|h| row(h, &state.theme)).collect();
    render_table(
        frame,
        table,
        &cols(state),
        rows,
        state.selection.hosts,
        focused,
        &state.theme,
    );
    if let Some(h) = state.selected_host() {
        let text = Paragraph::new(details(h, state))
            .block(
                Block::new()
                    .borders(Borders::TOP)
                    .border_style(state.theme.dim()),
            )
            .wrap(Wrap { trim: false });
        frame.render_widget(text, detail);
    }
}
