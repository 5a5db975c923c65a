//! The four panes. Each draws itself from the state alone; the row geometry
//! here is shared with mouse hit-testing.

pub mod history;
pub mod hosts;
pub mod jobs;
pub mod vms;

use super::state::{AppState, Pane};
use super::theme::Theme;
use ratatui::Frame;
use ratatui::layout::{Constraint, Margin, Position, Rect};
use ratatui::text::Line;
use ratatui::widgets::{Block, BorderType, Cell, HighlightSpacing, Row, Table, TableState};

/// Marker before the selected row; keeps the selection visible without colour.
const MARK: &str = "> ";
pub(crate) const MARK_W: u16 = 2;

/// A table column: minimum width and how soon it is dropped when the pane is
/// narrow (0 = never).
pub(crate) struct Col {
    pub header: &'static str,
    pub width: u16,
    pub prio: u8,
    /// Takes the width left over.
    pub fill: bool,
}

impl Col {
    pub const fn new(header: &'static str, width: u16, prio: u8) -> Col {
        Col {
            header,
            width,
            prio,
            fill: false,
        }
    }

    pub const fn fill(header: &'static str, width: u16, prio: u8) -> Col {
        Col {
            header,
            width,
            prio,
            fill: true,
        }
    }
}

/// Width of a column that fits its longest value (and its header), within bounds.
pub(crate) fn width_of<'a>(header: &str, values: impl Iterator<Item = &'a str>, max: u16) -> u16 {
    let w = values
        .map(|v| v.chars().count())
        .chain(std::iter::once(header.chars().count()))
        .max()
        .unwrap_or(0);
    (w.min(max as usize) as u16).max(4)
}

/// Indices of the columns that fit in `avail`, in display order; the most
/// important go in first.
pub(crate) fn fit(cols: &[Col], avail: u16) -> Vec<usize> {
    let mut order: Vec<usize> = (0..cols.len()).collect();
    order.sort_by_key(|i| cols[*i].prio);
    let mut used = 0u16;
    let mut keep = Vec::new();
    for i in order {
        let need = cols[i].width + if keep.is_empty() { 0 } else { 1 };
        if cols[i].prio == 0 || used + need <= avail {
            used += need;
            keep.push(i);
        }
    }
    keep.sort_unstable();
    keep
}

/// First row shown so the selected one is visible; the same in draw and mouse.
pub fn offset(selected: usize, visible: u16) -> usize {
    selected.saturating_sub((visible as usize).saturating_sub(1))
}

pub(crate) fn block(title: String, focused: bool, theme: &Theme) -> Block<'static> {
    // A thick border marks focus without colour.
    let kind = if focused {
        BorderType::Thick
    } else {
        BorderType::Plain
    };
    Block::bordered()
        .border_type(kind)
        .border_style(theme.border(focused))
        .title(Line::from(title))
}

pub(crate) fn inner(area: Rect) -> Rect {
    area.inner(Margin::new(1, 1))
}

/// Data rows of a table drawn in `table`: everything under the header line.
pub(crate) fn below_header(table: Rect) -> Rect {
    Rect {
        y: table.y.saturating_add(1),
        height: table.height.saturating_sub(1),
        ..table
    }
}

/// Draw a table whose columns drop out as the area narrows.
pub(crate) fn render_table(
    frame: &mut Frame,
    area: Rect,
    cols: &[Col],
    rows: Vec<Vec<Cell<'static>>>,
    selected: usize,
    focused: bool,
    theme: &Theme,
) {
    let keep = fit(cols, area.width.saturating_sub(MARK_W));
    let widths: Vec<Constraint> = keep
        .iter()
        .map(|i| {
            let c = &cols[*i];
            if c.fill {
                Constraint::Fill(1)
            } else {
                Constraint::Length(c.width)
            }
        })
        .collect();
    let header = Row::new(keep.iter().map(|i| Cell::from(cols[*i].header))).style(theme.header());
    let visible = below_header(area).height;
    let rows: Vec<Row> = rows
        .into_iter()
        .map(|cells| {
            let mut cells: Vec<Option<Cell>> = cells.into_iter().map(Some).collect();
            Row::new(
                keep.iter()
                    .map(|i| cells.get_mut(*i).and_then(Option::take).unwrap_or_default()),
            )
        })
        .collect();
    let n = rows.len();
    let table = Table::new(rows, widths)
        .header(header)
        .column_spacing(1)
        .highlight_symbol(MARK)
        .highlight_spacing(HighlightSpacing::Always)
        .row_highlight_style(theme.selected(focused));
    let mut ts = TableState::default()
        .with_offset(offset(selected, visible))
        .with_selected((n > 0).then_some(selected));
    frame.render_stateful_widget(table, area, &mut ts);
}

/// Where a pane draws its data rows (for hit-testing).
pub fn rows_area(pane: Pane, area: Rect, state: &AppState) -> Rect {
    match pane {
        Pane::Hosts => hosts::rows_area(area, state),
        Pane::Vms => vms::rows_area(area, state),
        Pane::Jobs => jobs::rows_area(area, state),
        Pane::History => history::rows_area(area, state),
    }
}

/// The row of `pane` (drawn in `area`) under `pos`, if there is one.
pub fn row_at(pane: Pane, area: Rect, state: &AppState, pos: Position) -> Option<usize> {
    let rows = rows_area(pane, area, state);
    if !rows.contains(pos) {
        return None;
    }
    let line = (pos.y - rows.y) as usize;
    let row = match pane {
        // The jobs table may keep a running job on its top line.
        Pane::Jobs => jobs::shown(state, rows.height).get(line).copied()?,
        _ => offset(state.selection.get(pane), rows.height) + line,
    };
    (row < state.len(pane)).then_some(row)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn narrow_tables_drop_the_least_important_columns() {
        let cols = [
            Col::fill("Name", 6, 0),
            Col::new("State", 8, 0),
            Col::new("Extra", 10, 2),
            Col::new("CPU", 3, 1),
        ];
        assert_eq!(fit(&cols, 40), vec![0, 1, 2, 3]);
        assert_eq!(fit(&cols, 20), vec![0, 1, 3]);
        assert_eq!(fit(&cols, 10), vec![0, 1]);
    }

    #[test]
    fn offset_keeps_the_selection_on_screen() {
        assert_eq!(offset(0, 5), 0);
        assert_eq!(offset(4, 5), 0);
        assert_eq!(offset(5, 5), 1);
        assert_eq!(offset(3, 0), 3);
    }
}
