//! Key specs as written in the config file ("q", "ctrl-c", "shift-tab", "f1")
//! and their normalised form, so a spec and a crossterm event compare equal.

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use std::fmt;

/// One key with its modifiers, normalised: characters carry their case
/// instead of SHIFT, and Shift-Tab is always `BackTab` without modifiers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct KeySpec {
    code: KeyCodeKey,
    ctrl: bool,
    alt: bool,
    shift: bool,
}

/// The subset of `KeyCode` we bind; `KeyCode` itself is not `Ord`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
enum KeyCodeKey {
    Char(char),
    F(u8),
    Enter,
    Esc,
    Tab,
    BackTab,
    Backspace,
    Delete,
    Insert,
    Up,
    Down,
    Left,
    Right,
    Home,
    End,
    PageUp,
    PageDown,
}

const NAMED: &[(&str, KeyCodeKey)] = &[
    ("enter", KeyCodeKey::Enter),
    ("return", KeyCodeKey::Enter),
    ("esc", KeyCodeKey::Esc),
    ("escape", KeyCodeKey::Esc),
    ("tab", KeyCodeKey::Tab),
    ("backtab", KeyCodeKey::BackTab),
    ("backspace", KeyCodeKey::Backspace),
    ("delete", KeyCodeKey::Delete),
    ("del", KeyCodeKey::Delete),
    ("insert", KeyCodeKey::Insert),
    ("up", KeyCodeKey::Up),
    ("down", KeyCodeKey::Down),
    ("left", KeyCodeKey::Left),
    ("right", KeyCodeKey::Right),
    ("home", KeyCodeKey::Home),
    ("end", KeyCodeKey::End),
    ("pageup", KeyCodeKey::PageUp),
    ("pgup", KeyCodeKey::PageUp),
    ("pagedown", KeyCodeKey::PageDown),
    ("pgdn", KeyCodeKey::PageDown),
    ("space", KeyCodeKey::Char(' ')),
    ("minus", KeyCodeKey::Char('-')),
];

impl KeySpec {
    fn new(code: KeyCodeKey, ctrl: bool, alt: bool, shift: bool) -> Self {
        // Characters carry their case; Shift-Tab is BackTab. Either way the
        // shift flag would only make equal keys compare unequal.
        let (code, shift) = match code {
            KeyCodeKey::Char(c) if shift => (KeyCodeKey::Char(upper(c)), false),
            KeyCodeKey::Char(_) => (code, false),
            KeyCodeKey::Tab if shift => (KeyCodeKey::BackTab, false),
            KeyCodeKey::BackTab => (code, false),
            _ => (code, shift),
        };
        // Ctrl letters arrive lower-case from terminals; ctrl-C and ctrl-c are one key.
        let code = match code {
            KeyCodeKey::Char(c) if ctrl => KeyCodeKey::Char(c.to_ascii_lowercase()),
            _ => code,
        };
        KeySpec {
            code,
            ctrl,
            alt,
            shift,
        }
    }

    /// Parse a spec such as "q", "R", "ctrl-c", "shift-tab", "f5", "?".
    pub fn parse(spec: &str) -> Result<KeySpec, String> {
        if spec.is_empty() {
            return Err("empty key".into());
        }
        // A single character is always itself, even "-" or "+".
        let mut chars = spec.chars();
        if let (Some(c), None) = (chars.next(), chars.next()) {
            return Self::single(c);
        }
        let parts: Vec<&str> = spec.split('-').collect();
        let (key, mods) = match parts.split_last() {
            Some((key, mods)) => (*key, mods),
            None => return Err("empty key".into()),
        };
        let (mut ctrl, mut alt, mut shift) = (false, false, false);
        for m in mods {
            match m.to_ascii_lowercase().as_str() {
                "ctrl" | "control" => ctrl = true,
                "alt" | "meta" => alt = true,
                "shift" => shift = true,
                "" => return Err(format!("empty modifier in {spec:?}")),
                other => {
                    return Err(format!(
                        "unknown modifier {other:?} (use ctrl, alt or shift)"
                    ));
                }
            }
        }
        let code = Self::key_name(key)?;
        Ok(KeySpec::new(code, ctrl, alt, shift))
    }

    fn single(c: char) -> Result<KeySpec, String> {
        if c.is_control() {
            return Err("control characters are written as ctrl-<key>".into());
        }
        Ok(KeySpec::new(KeyCodeKey::Char(c), false, false, false))
    }

    fn key_name(key: &str) -> Result<KeyCodeKey, String> {
        let mut chars = key.chars();
        if let (Some(c), None) = (chars.next(), chars.next()) {
            return Ok(KeyCodeKey::Char(c));
        }
        let lower = key.to_ascii_lowercase();
        if let Some((_, code)) = NAMED.iter().find(|(n, _)| *n == lower) {
            return Ok(*code);
        }
        if let Some(n) = lower.strip_prefix('f')
            && let Ok(n) = n.parse::<u8>()
            && (1..=24).contains(&n)
        {
            return Ok(KeyCodeKey::F(n));
        }
        if key.is_empty() {
            return Err("missing key after the modifier".into());
        }
        Err(format!(
            "unknown key {key:?} (use a single character, f1..f24, or one of: {})",
            NAMED.iter().map(|(n, _)| *n).collect::<Vec<_>>().join(", ")
        ))
    }

    /// The spec of a terminal key event, or None for keys we never bind.
    pub fn from_event(ev: &KeyEvent) -> Option<KeySpec> {
        let code = match ev.code {
            KeyCode::Char(c) => KeyCodeKey::Char(c),
            KeyCode::F(n) => KeyCodeKey::F(n),
            KeyCode::Enter => KeyCodeKey::Enter,
            KeyCode::Esc => KeyCodeKey::Esc,
            KeyCode::Tab => KeyCodeKey::Tab,
            KeyCode::BackTab => KeyCodeKey::BackTab,
            KeyCode::Backspace => KeyCodeKey::Backspace,
            KeyCode::Delete => KeyCodeKey::Delete,
            KeyCode::Insert => KeyCodeKey::Insert,
            KeyCode::Up => KeyCodeKey::Up,
            KeyCode::Down => KeyCodeKey::Down,
            KeyCode::Left => KeyCodeKey::Left,
            KeyCode::Right => KeyCodeKey::Right,
            KeyCode::Home => KeyCodeKey::Home,
            KeyCode::End => KeyCodeKey::End,
            KeyCode::PageUp => KeyCodeKey::PageUp,
            KeyCode::PageDown => KeyCodeKey::PageDown,
            _ => return None,
        };
        let m = ev.modifiers;
        Some(KeySpec::new(
            code,
            m.contains(KeyModifiers::CONTROL),
            m.contains(KeyModifiers::ALT),
            m.contains(KeyModifiers::SHIFT),
        ))
    }
}

impl KeySpec {
    /// The event a terminal sends for this key (tests drive the key
    /// handling with what the tables list).
    #[cfg(test)]
    pub fn event(&self) -> KeyEvent {
        let code = match self.code {
            KeyCodeKey::Char(c) => KeyCode::Char(c),
            KeyCodeKey::F(n) => KeyCode::F(n),
            KeyCodeKey::Enter => KeyCode::Enter,
            KeyCodeKey::Esc => KeyCode::Esc,
            KeyCodeKey::Tab => KeyCode::Tab,
            KeyCodeKey::BackTab => KeyCode::BackTab,
            KeyCodeKey::Backspace => KeyCode::Backspace,
            KeyCodeKey::Delete => KeyCode::Delete,
            KeyCodeKey::Insert => KeyCode::Insert,
            KeyCodeKey::Up => KeyCode::Up,
            KeyCodeKey::Down => KeyCode::Down,
            KeyCodeKey::Left => KeyCode::Left,
            KeyCodeKey::Right => KeyCode::Right,
            KeyCodeKey::Home => KeyCode::Home,
            KeyCodeKey::End => KeyCode::End,
            KeyCodeKey::PageUp => KeyCode::PageUp,
            KeyCodeKey::PageDown => KeyCode::PageDown,
        };
        let mut m = KeyModifiers::NONE;
        m.set(KeyModifiers::CONTROL, self.ctrl);
        m.set(KeyModifiers::ALT, self.alt);
        let shifted = matches!(self.code, KeyCodeKey::Char(c) if c.is_uppercase())
            || self.code == KeyCodeKey::BackTab;
        m.set(KeyModifiers::SHIFT, self.shift || shifted);
        KeyEvent::new(code, m)
    }
}

fn upper(c: char) -> char {
    let mut up = c.to_uppercase();
    match (up.next(), up.next()) {
        (Some(u), None) => u,
        _ => c,
    }
}

impl fmt::Display for KeySpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.ctrl {
            f.write_str("ctrl-")?;
        }
        if self.alt {
            f.write_str("alt-")?;
        }
        if self.shift {
            f.write_str("shift-")?;
        }
        match self.code {
            KeyCodeKey::Char(' ') => f.write_str("space"),
            KeyCodeKey::Char(c) => write!(f, "{c}"),
            KeyCodeKey::F(n) => write!(f, "f{n}"),
            KeyCodeKey::BackTab => f.write_str("shift-tab"),
            other => {
                let name = NAMED
                    .iter()
                    .find(|(_, c)| *c == other)
                    .map(|(n, _)| *n)
                    .unwrap_or("?");
                f.write_str(name)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev(code: KeyCode, mods: KeyModifiers) -> KeyEvent {
        KeyEvent::new(code, mods)
    }

    #[test]
    fn specs_match_the_events_terminals_send() {
        let cases = [
            ("q", ev(KeyCode::Char('q'), KeyModifiers::NONE)),
            ("R", ev(KeyCode::Char('R'), KeyModifiers::SHIFT)),
            ("shift-r", ev(KeyCode::Char('R'), KeyModifiers::SHIFT)),
            ("ctrl-c", ev(KeyCode::Char('c'), KeyModifiers::CONTROL)),
            ("shift-tab", ev(KeyCode::BackTab, KeyModifiers::SHIFT)),
            ("?", ev(KeyCode::Char('?'), KeyModifiers::SHIFT)),
            ("enter", ev(KeyCode::Enter, KeyModifiers::NONE)),
            ("F1", ev(KeyCode::F(1), KeyModifiers::NONE)),
            ("-", ev(KeyCode::Char('-'), KeyModifiers::NONE)),
            ("alt-x", ev(KeyCode::Char('x'), KeyModifiers::ALT)),
        ];
        for (spec, event) in cases {
            let parsed = KeySpec::parse(spec).unwrap();
            assert_eq!(Some(parsed), KeySpec::from_event(&event), "{spec}");
        }
    }

    #[test]
    fn event_is_the_key_itself() {
        for spec in [
            "q",
            "R",
            "ctrl-c",
            "shift-tab",
            "f5",
            "pageup",
            "?",
            "alt-enter",
        ] {
            let k = KeySpec::parse(spec).unwrap();
            assert_eq!(KeySpec::from_event(&k.event()), Some(k), "{spec}");
        }
    }

    #[test]
    fn lower_and_upper_case_are_different_keys() {
        assert_ne!(KeySpec::parse("r").unwrap(), KeySpec::parse("R").unwrap());
    }

    #[test]
    fn display_round_trips() {
        for spec in [
            "q",
            "ctrl-c",
            "shift-tab",
            "f5",
            "pageup",
            "G",
            "space",
            "alt-enter",
        ] {
            let k = KeySpec::parse(spec).unwrap();
            assert_eq!(KeySpec::parse(&k.to_string()).unwrap(), k, "{spec}");
        }
    }

    #[test]
    fn bad_specs_say_why() {
        assert!(KeySpec::parse("").unwrap_err().contains("empty"));
        assert!(
            KeySpec::parse("hyper-x")
                .unwrap_err()
                .contains("unknown modifier")
        );
        assert!(KeySpec::parse("f99").unwrap_err().contains("unknown key"));
        assert!(KeySpec::parse("ctrl-").unwrap_err().contains("missing key"));
        assert!(
            KeySpec::parse("enterr")
                .unwrap_err()
                .contains("unknown key")
        );
    }
}
