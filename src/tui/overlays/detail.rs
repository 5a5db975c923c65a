//! VM detail: disks with allocation/capacity, NICs, live-clone verdict and
//! the domain XML, all in one scrollable view.

use super::frame_box;
use crate::model::VmInfo;
use crate::model::format::size;
use crate::tui::state::AppState;
use ratatui::Frame;
use ratatui::layout::{Margin, Rect};
use ratatui::text::Line;
use ratatui::widgets::Paragraph;

fn find<'a>(state: &'a AppState, host: &str, vm: &str) -> Option<&'a VmInfo> {
    state.vms.get(host)?.iter().find(|v| v.name == vm)
}

fn lines(state: &AppState, host: &str, vm: &str) -> Vec<Line<'static>> {
    let theme = &state.theme;
    let Some(vm) = find(state, host, vm) else {
        return vec![Line::styled(
            format!("{vm} is no longer on {host}."),
            theme.warn(),
        )];
    };
    let mut out = vec![
        Line::from(format!(
            "{} · {} vCPUs · {} · uuid {}",
            vm.state.label(),
            vm.vcpus,
            size(vm.memory_bytes),
            vm.uuid
        )),
        match (vm.live_clone.possible, &vm.live_clone.reason) {
            (true, _) => Line::styled("live clone: yes", theme.ok()),
            (false, Some(r)) => Line::from(format!("live clone: no, {r}")),
            (false, None) => Line::from("live clone: no"),
        },
        Line::from(""),
        Line::styled(format!("Disks ({})", vm.disks.len()), theme.header()),
    ];
    for d in &vm.disks {
        let mut flags = Vec::new();
        if d.readonly {
            flags.push("read-only");
        }
        if d.shareable {
            flags.push("shareable");
        }
        out.push(Line::from(format!(
            "  {:<5} {:<6} {:<6} {} allocated of {}{}",
            d.target,
            d.device,
            d.format.as_deref().unwrap_or("-"),
            size(d.allocation_bytes),
            size(d.capacity_bytes),
            if flags.is_empty() {
                String::new()
            } else {
                format!(" [{}]", flags.join(", "))
            }
        )));
        // The path on its own line: long, and what operators look for.
        out.push(Line::styled(
            format!("        {}", d.source.as_deref().unwrap_or("(no file)")),
            theme.dim(),
        ));
    }
    out.push(Line::from(""));
    out.push(Line::styled(
        format!("NICs ({})", vm.nics.len()),
        theme.header(),
    ));
    for n in &vm.nics {
        out.push(Line::from(format!(
            "  {:<8} {:<10} {:<17} {}",
            n.kind,
            n.source.as_deref().unwrap_or("-"),
            n.mac.as_deref().unwrap_or("-"),
            n.model.as_deref().unwrap_or("-"),
        )));
    }
    out.push(Line::from(""));
    out.push(Line::styled("Domain XML", theme.header()));
    out.extend(vm.xml.lines().map(|l| Line::from(format!("  {l}"))));
    out
}

fn rect(area: Rect) -> Rect {
    area.inner(Margin::new(2, 1))
}

/// How far the detail view of `vm` can scroll in `area`.
pub fn max_scroll(state: &AppState, host: &str, vm: &str, area: Rect) -> u16 {
    let n = lines(state, host, vm).len() as u16;
    n.saturating_sub(rect(area).height.saturating_sub(2))
}

pub fn draw(frame: &mut Frame, area: Rect, state: &AppState, host: &str, vm: &str, scroll: u16) {
    let title = format!("{vm} on {host} (esc closes, ↑↓ scroll)");
    let inner = frame_box(frame, rect(area), &title, &state.theme);
    let scroll = scroll.min(max_scroll(state, host, vm, area));
    frame.render_widget(
        Paragraph::new(lines(state, host, vm)).scroll((scroll, 0)),
        inner,
    );
}
