//! The repository view: snapshots per VM with size, new data, reduction
//! and age; the prune form and its dry run; verify results; the restore form.

use super::{centered, frame_box};
use crate::model::format;
use crate::model::{CheckStatus, PruneView, SnapshotRow, VerifyView};
use crate::tui::state::{AppState, KEEP_FIELDS, RepoBrowser, RepoMode, RestoreForm};
use crate::tui::theme::Theme;
use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Paragraph, Wrap};

const MAX_WIDTH: u16 = 110;

/// "3d", "5h", "12m", "40s": how long before `now` the snapshot was taken.
pub fn age(time: i64, now: i64) -> String {
    let secs = now.saturating_sub(time).max(0) as u64;
    match secs {
        s if s < 60 => format!("{s}s"),
        s if s < 3600 => format!("{}m", s / 60),
        s if s < 86_400 => format!("{}h", s / 3600),
        s => format!("{}d", s / 86_400),
    }
}

/// Data referenced per byte the snapshot added: "12.5×", "∞" when it
/// added nothing.
pub fn reduction(r: &SnapshotRow) -> String {
    match r.reduction() {
        None => "∞".into(),
        Some(x) if x >= 1000.0 => ">999×".into(),
        Some(x) => format!("{x:.1}×"),
    }
}

fn header(theme: &Theme) -> Line<'static> {
    Line::styled(
        format!(
            "  {:<8} {:<12} {:<7} {:>5} {:>9} {:>9} {:>9} {:>6}",
            "ID", "VM", "HOST", "AGE", "SIZE", "DATA", "NEW", "RATIO"
        ),
        theme.header(),
    )
}

fn row_line(r: &SnapshotRow, now: i64, selected: bool, theme: &Theme) -> Line<'static> {
    let id: String = r.id.chars().take(8).collect();
    let vm: String = r.vm.chars().take(12).collect();
    let host: String = r.host.chars().take(7).collect();
    let text = format!(
        "{} {:<8} {:<12} {:<7} {:>5} {:>9} {:>9} {:>9} {:>6}",
        if selected { ">" } else { " " },
        id,
        vm,
        host,
        age(r.time, now),
        format::size(r.virtual_bytes),
        format::size(r.data_bytes),
        format::size(r.new_bytes),
        reduction(r),
    );
    if selected {
        Line::styled(text, theme.selected(true))
    } else {
        Line::from(text)
    }
}

fn list_lines(b: &RepoBrowser, now: i64, theme: &Theme, height: usize) -> Vec<Line<'static>> {
    let Some(view) = &b.view else {
        return vec![Line::styled(
            b.busy.clone().unwrap_or_else(|| "not read yet".into()),
            theme.dim(),
        )];
    };
    let rows = b.rows();
    if rows.is_empty() {
        return vec![Line::styled(
            "no snapshots yet: export a VM with e",
            theme.dim(),
        )];
    }
    let body = height.saturating_sub(1).max(1);
    let first = b.selected.saturating_sub(body - 1);
    let mut out = vec![header(theme)];
    out.extend(
        rows.iter()
            .enumerate()
            .skip(first)
            .take(body)
            .map(|(i, r)| row_line(r, now.max(view.read_at), i == b.selected, theme)),
    );
    out
}

fn prune_form_lines(keep: &[String; 5], field: usize, theme: &Theme) -> Vec<Line<'static>> {
    let mut out = vec![
        Line::styled("Prune: keep, per VM (empty = no such rule)", theme.header()),
        Line::from(""),
    ];
    for (i, name) in KEEP_FIELDS.iter().enumerate() {
        let cursor = if i == field { "_" } else { "" };
        let line = format!("  keep {name:<8} {}{cursor}", keep[i]);
        out.push(if i == field {
            Line::styled(line, theme.selected(true))
        } else {
            Line::from(line)
        });
    }
    out.push(Line::from(""));
    out.push(Line::styled(
        "enter: show what it would remove (nothing is removed yet)",
        theme.dim(),
    ));
    out
}

fn prune_plan_lines(plan: &PruneView, now: i64, theme: &Theme) -> Vec<Line<'static>> {
    let removed = plan.snapshots.iter().filter(|s| !s.keep).count();
    let mut out = vec![Line::styled(
        format!(
            "Dry run: {removed} of {} snapshot(s) would go; {} chunk(s), {} freed",
            plan.snapshots.len(),
            plan.chunks_removed,
            format::size(plan.bytes_freed)
        ),
        theme.header(),
    )];
    for s in &plan.snapshots {
        let id: String = s.id.chars().take(8).collect();
        let (verdict, style) = if s.keep {
            (format!("keep ({})", s.reasons.join(", ")), theme.ok())
        } else {
            ("remove".to_string(), theme.warn())
        };
        out.push(Line::from(vec![
            Span::raw(format!(
                "  {id:<8} {:<14} {:>5}  ",
                s.vm.chars().take(14).collect::<String>(),
                age(s.time, now)
            )),
            Span::styled(verdict, style),
        ]));
    }
    out
}

fn verify_lines(v: &VerifyView, theme: &Theme) -> Vec<Line<'static>> {
    let what = if v.read_data {
        "every chunk read, decrypted and checked"
    } else {
        "every referenced chunk present"
    };
    let mut out = vec![Line::styled(format!("Verify: {what}"), theme.header())];
    if v.problems.is_empty() {
        out.push(Line::styled(
            format!(
                "OK: {} snapshot(s), {} chunk(s), no damage",
                v.snapshots, v.chunks
            ),
            theme.ok(),
        ));
    } else {
        out.push(Line::styled(
            format!("DAMAGED: {} problem(s)", v.problems.len()),
            theme.error(),
        ));
        out.extend(
            v.problems
                .iter()
                .map(|p| Line::styled(format!("  {p}"), theme.error())),
        );
    }
    out
}

fn restore_lines(f: &RestoreForm, theme: &Theme) -> Vec<Line<'static>> {
    let mark = |i: usize| if f.field == i { "> " } else { "  " };
    let style = |i: usize| {
        if f.field == i {
            theme.selected(true)
        } else {
            ratatui::style::Style::default()
        }
    };
    let host = f
        .hosts
        .get(f.host)
        .map(|h| format!("◂ {h} ▸"))
        .unwrap_or_else(|| "(no connected host)".into());
    let name = if f.keep_identity {
        format!("{} (kept)", f.vm)
    } else {
        format!("{}{}", f.name, if f.field == 1 { "_" } else { "" })
    };
    let check = if f.keep_identity { "[x]" } else { "[ ]" };
    let mut lines = vec![
        Line::styled(
            format!(
                "Restore {} from snapshot {}",
                f.vm,
                f.snapshot.chars().take(8).collect::<String>()
            ),
            theme.header(),
        ),
        Line::from(""),
        Line::styled(format!("{}to host     {host}", mark(0)), style(0)),
        Line::styled(format!("{}new name    {name}", mark(1)), style(1)),
        Line::styled(
            format!(
                "{}{check} keep identity (same name, UUID, MACs: disaster recovery)",
                mark(2)
            ),
            style(2),
        ),
        Line::from(""),
    ];
    match (&f.checklist, f.checking) {
        (_, true) => lines.push(Line::styled("checking…", theme.dim())),
        (Some(c), _) => {
            // Failures and warnings first: what the operator must read.
            let mut items: Vec<_> = c.items.iter().collect();
            items.sort_by_key(|i| std::cmp::Reverse(i.status));
            for i in items {
                let style = match i.status {
                    CheckStatus::Pass => theme.ok(),
                    CheckStatus::Warn => theme.warn(),
                    CheckStatus::Fail => theme.error(),
                };
                lines.push(Line::styled(
                    format!("[{}] {}: {}", i.status.label(), i.title, i.message),
                    style,
                ));
            }
            lines.push(Line::from(""));
            lines.push(Line::styled(
                if c.ok() {
                    "enter: start the restore (nothing is defined until every disk is written)"
                } else {
                    "enter: check again"
                },
                theme.dim(),
            ));
        }
        (None, false) => lines.push(Line::styled(
            "enter: run the pre-flight checks; a second enter starts the restore",
            theme.dim(),
        )),
    }
    lines
}

fn hints(b: &RepoBrowser) -> &'static str {
    match &b.mode {
        RepoMode::Path => "type the path · enter open · ctrl-u clear · esc close",
        RepoMode::Passphrase(_) => "enter unlock · ctrl-u clear · esc close (kept in memory only)",
        RepoMode::List => {
            "R restore · v verify · V read all · P prune · r reload · o other · esc close"
        }
        RepoMode::PruneForm { .. } => "tab/↑↓ rule · digits · enter dry run · esc back",
        RepoMode::PrunePlan { .. } => "y apply this prune · n/esc back (nothing removed)",
        RepoMode::Verified(v) if v.repairable > 0 => {
            "F remove the damaged chunk files · enter/esc back"
        }
        RepoMode::Verified(_) => "enter/esc back",
        RepoMode::RepairConfirm(_) => "y remove them · n/esc keep them",
        RepoMode::Restore(_) => "tab/↑↓ field · ←→ host · space toggle · enter start · esc back",
        RepoMode::Create(_) => super::repo_create::HINTS,
    }
}

pub fn draw(frame: &mut Frame, area: Rect, state: &AppState, b: &RepoBrowser) {
    let theme = &state.theme;
    let width = area.width.saturating_sub(2).min(MAX_WIDTH);
    let rect = centered(area, width, area.height.saturating_sub(2));
    let title = match &b.view {
        Some(v) => format!(
            "Repository {} · {} · {} snapshot(s)",
            v.path,
            if v.encrypted {
                "encrypted"
            } else {
                "NOT encrypted"
            },
            v.snapshots.len()
        ),
        None => "Repository".to_string(),
    };
    let inner = frame_box(frame, rect, &title, theme);
    let [main, note_r, foot] = inner.layout(&Layout::vertical([
        Constraint::Fill(1),
        Constraint::Length(1),
        Constraint::Length(1),
    ]));
    // Ages count to the clock as it runs, never to before the read.
    let now = b.view.as_ref().map_or(0, |v| v.read_at).max(state.clock_s);
    let lines = match &b.mode {
        RepoMode::Path => vec![
            Line::styled("Which repository?", theme.header()),
            Line::from(""),
            Line::from(format!("Path: {}_", b.path)),
            Line::from(""),
            Line::styled(
                "A missing or empty directory: you are offered to create a repository there.",
                theme.dim(),
            ),
        ],
        RepoMode::Passphrase(input) => vec![
            Line::styled(format!("{} is encrypted", b.path), theme.header()),
            Line::from(""),
            Line::from(format!(
                "Passphrase: {}_",
                "*".repeat(input.expose().chars().count())
            )),
        ],
        RepoMode::List => list_lines(b, now, theme, main.height as usize),
        RepoMode::PruneForm { keep, field } => prune_form_lines(keep, *field, theme),
        RepoMode::PrunePlan { plan, .. } => prune_plan_lines(plan, now, theme),
        RepoMode::Verified(v) => verify_lines(v, theme),
        RepoMode::RepairConfirm(v) => {
            let mut lines = verify_lines(v, theme);
            lines.push(Line::from(""));
            lines.push(Line::styled(
                format!(
                    "Remove the {} damaged chunk file(s)? Snapshots that use them stay incomplete until an export of the VM stores that data again; restore refuses them meanwhile, as it does now.",
                    v.repairable
                ),
                theme.warn(),
            ));
            lines
        }
        RepoMode::Restore(f) => restore_lines(f, theme),
        RepoMode::Create(c) => super::repo_create::lines(c, theme),
    };
    // The snapshot table is cut, not wrapped, on narrow screens.
    let para = Paragraph::new(lines);
    let para = if matches!(b.mode, RepoMode::List) {
        para
    } else {
        para.wrap(Wrap { trim: false })
    };
    frame.render_widget(para, main);
    let note = match (&b.busy, &b.note) {
        (Some(busy), _) => Line::styled(busy.clone(), theme.warn()),
        (None, Some(n)) if n.error => Line::styled(n.text.clone(), theme.error()),
        (None, Some(n)) => Line::styled(n.text.clone(), theme.ok()),
        (None, None) => Line::from(""),
    };
    frame.render_widget(Paragraph::new(note), note_r);
    frame.render_widget(Paragraph::new(Line::styled(hints(b), theme.dim())), foot);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ages_read_like_durations() {
        assert_eq!(age(100, 130), "30s");
        assert_eq!(age(0, 7200), "2h");
        assert_eq!(age(0, 3 * 86_400 + 5), "3d");
        // A clock behind the snapshot never shows a negative age.
        assert_eq!(age(200, 100), "0s");
    }
}
