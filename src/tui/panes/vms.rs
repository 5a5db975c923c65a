//! VMs pane: the selected host's VMs (filtered), and the selected VM's disks
//! and NICs below.

use super::{Col, below_header, block, inner, render_table, width_of};
use crate::model::format::{of, size};
use crate::model::{ConnState, VmInfo, VmState};
use crate::tui::state::{AppState, Pane};
use crate::tui::theme::Theme;
use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::Style;
use ratatui::text::Line;
use ratatui::widgets::{Block, Borders, Cell, Paragraph, Wrap};

fn cols(vms: &[&VmInfo]) -> [Col; 8] {
    let name = width_of("Name", vms.iter().map(|v| v.name.as_str()), 32);
    [
        Col::fill("Name", name, 0),
        Col::new("State", 8, 0),
        Col::new("CPU", 3, 1),
        Col::new("Mem", 7, 1),
        Col::new("Disk", 4, 1),
        Col::new("Live", 4, 1),
        Col::new("NIC", 3, 2),
        Col::new("Alloc/Capacity", 18, 3),
    ]
}

/// Separator plus two lines about the selected VM.
const DETAIL_LINES: u16 = 3;

fn split(area: Rect) -> (Rect, Rect) {
    let inner = inner(area);
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

fn state_style(s: VmState, theme: &Theme) -> Style {
    match s {
        VmState::Running => theme.ok(),
        VmState::Crashed => theme.error(),
        VmState::Paused | VmState::Suspended => theme.warn(),
        VmState::ShutOff | VmState::Other => Style::new(),
    }
}

fn disk_totals(vm: &VmInfo) -> (u64, u64) {
    vm.disks.iter().fold((0, 0), |(a, c), d| {
        (a + d.allocation_bytes, c + d.capacity_bytes)
    })
}

fn row(vm: &VmInfo, theme: &Theme) -> Vec<Cell<'static>> {
    let (alloc, cap) = disk_totals(vm);
    vec![
        Cell::from(vm.name.clone()),
        Cell::from(vm.state.label()).style(state_style(vm.state, theme)),
        Cell::from(vm.vcpus.to_string()),
        Cell::from(size(vm.memory_bytes)),
        Cell::from(vm.disks.len().to_string()),
        Cell::from(if vm.live_clone.possible { "yes" } else { "no" }),
        Cell::from(vm.nics.len().to_string()),
        Cell::from(of(alloc, cap)),
    ]
}

fn details(vm: &VmInfo) -> Vec<Line<'static>> {
    let disks: Vec<String> = vm
        .disks
        .iter()
        .map(|d| format!("{} {}", d.target, of(d.allocation_bytes, d.capacity_bytes)))
        .collect();
    let nics: Vec<String> = vm
        .nics
        .iter()
        .map(|n| format!("{} {}", n.kind, n.source.as_deref().unwrap_or("-")))
        .collect();
    let live = match (&vm.live_clone.possible, &vm.live_clone.reason) {
        (true, _) => "live clone: yes".to_string(),
        (false, Some(r)) => format!("live clone: no ({r})"),
        (false, None) => "live clone: no".to_string(),
    };
    let none = || "none".to_string();
    vec![
        Line::from(format!(
            "disks: {}",
            if disks.is_empty() {
                none()
            } else {
                disks.join(", ")
            }
        )),
        Line::from(format!(
            "NICs: {} · {live}",
            if nics.is_empty() {
                none()
            } else {
                nics.join(", ")
            }
        )),
    ]
}

/// Why the list is empty.
fn empty_reason(state: &AppState) -> String {
    let Some(host) = state.selected_host() else {
        return "No host selected.".into();
    };
    if !state.filter.text.is_empty() && state.vms.get(&host.name).is_some_and(|v| !v.is_empty()) {
        return format!("No VM on {} matches /{}", host.name, state.filter.text);
    }
    let h = &host.name;
    match &host.state {
        ConnState::Up if state.vms.contains_key(h) => format!("{h} has no VMs."),
        ConnState::Up => format!("Loading VMs of {h}…"),
        ConnState::Connecting => format!("Connecting to {h}…"),
        ConnState::HostKeyUnknown { .. } => {
            format!("{h}: its host key is not accepted yet (enter on the host).")
        }
        ConnState::NeedsPassphrase { .. } => {
            format!("{h}: its key needs a passphrase (enter on the host).")
        }
        other => format!("{h}: {}. No VM list.", other.label()),
    }
}

pub fn draw(frame: &mut Frame, area: Rect, state: &AppState) {
    let focused = state.focus == Pane::Vms;
    let vms = state.visible_vms();
    let mut title = match state.selected_host() {
        Some(h) => format!(" VMs on {} ({}) ", h.name, vms.len()),
        None => " VMs ".to_string(),
    };
    if !state.filter.text.is_empty() || state.filter.editing {
        title.push_str(&format!("/{} ", state.filter.text));
    }
    frame.render_widget(block(title, focused, &state.theme), area);
    if vms.is_empty() {
        let msg = Paragraph::new(empty_reason(state)).wrap(Wrap { trim: false });
        frame.render_widget(msg, inner(area));
        return;
    }
    let (table, detail) = split(area);
    let rows = vms.iter().map(|vm| row(vm, &state.theme)).collect();
    render_table(
        frame,
        table,
        &cols(&vms),
        rows,
        state.selection.vms,
        focused,
        &state.theme,
    );
    if let Some(vm) = state.selected_vm() {
        let text = Paragraph::new(details(vm))
            .block(
                Block::new()
                    .borders(Borders::TOP)
                    .border_style(state.theme.dim()),
            )
            .wrap(Wrap { trim: false });
        frame.render_widget(text, detail);
    }
}
