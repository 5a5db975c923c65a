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

/// Lines for the selected host's facts, under the table (border included),
/// unless it has more to say (a pool whose free space libvirt overstates).
const DETAIL_LINES: u16 = 5;

fn split(area: Rect, state: &AppState) -> (Rect, Rect) {
    let inner = inner(area);
    let wanted = state.selected_host().map_or(0, |h| {
        let rows: usize = details(h, state)
            .iter()
            .map(|l| wrapped_rows(&l.to_string(), inner.width))
            .sum();
        u16::try_from(rows).unwrap_or(u16::MAX).saturating_add(1)
    });
    // Keep at least a header and two rows for the table.
    let detail = wanted.max(DETAIL_LINES).min(inner.height.saturating_sub(3));
    let [table, details] = inner.layout(&Layout::vertical([
        Constraint::Fill(1),
        Constraint::Length(detail),
    ]));
    (table, details)
}

/// Rows `text` takes when wrapped at word boundaries to `width` columns, as
/// the detail paragraph wraps it (a word longer than the width is split).
fn wrapped_rows(text: &str, width: u16) -> usize {
    let width = usize::from(width.max(1));
    let (mut rows, mut used) = (1, 0);
    for word in text.split(' ').map(|w| w.chars().count()) {
        if used > 0 && used + 1 + word <= width {
            used += 1 + word;
            continue;
        }
        if used > 0 {
            rows += 1;
        }
        // A word wider than the line fills whole rows first.
        let full = word.saturating_sub(1) / width;
        rows += full;
        used = word - full * width;
    }
    rows
}

pub fn rows_area(area: Rect, state: &AppState) -> Rect {
    below_header(split(area, state).0)
}

pub(crate) fn state_style(state: &ConnState, theme: &Theme) -> Style {
    match state {
        ConnState::Up => theme.ok(),
        ConnState::Idle | ConnState::Connecting => theme.warn(),
        ConnState::HostKeyUnknown { .. } | ConnState::NeedsPassphrase { .. } => theme.warn(),
        _ => theme.error(),
    }
}

/// Usable free space and capacity of the active pools, and whether libvirt
/// claims more free space for any of them.
fn pools(info: &HostInfo) -> (u64, u64, bool) {
    info.pools
        .iter()
        .filter(|p| p.active)
        .fold((0, 0, false), |(a, c, over), p| {
            (
                a + p.usable_bytes,
                c + p.capacity_bytes,
                over || p.libvirt_overstates().is_some(),
            )
        })
}

/// Marks a free-space figure that libvirt overstates; the detail says by how much.
const OVERSTATED: &str = "*";

fn row(h: &HostView, theme: &Theme) -> Vec<Cell<'static>> {
    let mut cells = vec![
        Cell::from(h.name.clone()),
        Cell::from(h.state.label()).style(state_style(&h.state, theme)),
    ];
    match &h.info {
        Some(i) => {
            let (free, cap, over) = pools(i);
            let mark = if over { OVERSTATED } else { "" };
            cells.extend([
                Cell::from(i.cpus.to_string()),
                Cell::from(format!(
                    "{}/{}",
                    size(i.memory_free_bytes),
                    size(i.memory_total_bytes)
                )),
                Cell::from(format!("{}/{}{mark}", size(free), size(cap))),
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
            let over = p.libvirt_overstates();
            lines.push(Line::from(format!(
                "{} {}/{} free{}{state}",
                p.name,
                size(p.usable_bytes),
                size(p.capacity_bytes),
                if over.is_some() { OVERSTATED } else { "" },
            )));
            if let Some(claimed) = over {
                // Root-reserved blocks: libvirt counts them, a copy cannot use them.
                lines.push(Line::styled(
                    format!("{OVERSTATED} libvirt says {}", size(claimed)),
                    theme.dim(),
                ));
            }
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
    let (table, detail) = split(area, state);
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

#[cfg(test)]
mod tests {
    use super::wrapped_rows;

    #[test]
    fn wrapped_rows_counts_word_wrapping() {
        assert_eq!(wrapped_rows("", 10), 1);
        assert_eq!(wrapped_rows("default 44 GiB", 14), 1);
        assert_eq!(wrapped_rows("default 44 GiB", 13), 2);
        assert_eq!(wrapped_rows("default 59.2 GiB/252 GiB free*", 28), 2);
        assert_eq!(wrapped_rows("abcdefghij", 4), 3);
    }
}
