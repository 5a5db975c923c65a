//! The "create a repository" form, drawn inside the export dialog and the
//! repository view.

use crate::tui::state::{CreateField, CreateRepo, NewKeyKind};
use crate::tui::theme::Theme;
use ratatui::style::Style;
use ratatui::text::Line;

pub fn lines(c: &CreateRepo, theme: &Theme) -> Vec<Line<'static>> {
    let row = |f: CreateField, label: &str, value: String| {
        let (mark, style, cursor) = if c.field == f {
            (
                "> ",
                theme.selected(true),
                if f == CreateField::Encryption {
                    ""
                } else {
                    "_"
                },
            )
        } else {
            ("  ", Style::default(), "")
        };
        Line::styled(format!("{mark}{label:<12}{value}{cursor}"), style)
    };
    let stars = |s: &crate::model::Secret| "*".repeat(s.expose().chars().count());
    let mut out = vec![
        Line::styled(
            format!("No repository at {} yet. Create one?", c.path),
            theme.header(),
        ),
        Line::from(""),
        row(
            CreateField::Encryption,
            "encryption",
            format!("◂ {} ▸", c.kind.label()),
        ),
    ];
    match c.kind {
        NewKeyKind::Passphrase => {
            out.push(row(
                CreateField::Passphrase,
                "passphrase",
                stars(&c.passphrase),
            ));
            out.push(row(CreateField::Repeat, "again", stars(&c.repeat)));
        }
        NewKeyKind::Recipients => {
            out.push(row(
                CreateField::Recipients,
                "recipients",
                c.recipients.clone(),
            ));
        }
        NewKeyKind::None => out.push(Line::styled(
            "  chunks and manifests are stored in the clear",
            theme.warn(),
        )),
    }
    out.push(Line::from(""));
    out.push(match (&c.note, c.creating) {
        (_, true) => Line::styled("creating (deriving the key)…", theme.warn()),
        (Some(n), false) => Line::styled(n.clone(), theme.error()),
        (None, false) => Line::styled(
            match c.kind {
                NewKeyKind::Passphrase => {
                    "keep the passphrase safe: without it nothing can be restored"
                }
                NewKeyKind::Recipients => "age1… public keys; their identities open it",
                NewKeyKind::None => "anyone who can read the directory reads the disks",
            },
            theme.dim(),
        ),
    });
    out
}

/// The form's key hints.
pub const HINTS: &str = "tab field · ←→ encryption · enter create · esc back";
