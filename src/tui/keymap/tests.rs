use super::*;
use crossterm::event::{KeyCode, KeyModifiers};

fn over(pairs: &[(&str, &[&str])]) -> BTreeMap<String, Vec<String>> {
    pairs
        .iter()
        .map(|(a, ks)| (a.to_string(), ks.iter().map(|k| k.to_string()).collect()))
        .collect()
}

fn press(c: char) -> KeyEvent {
    KeyEvent::new(KeyCode::Char(c), KeyModifiers::NONE)
}

#[test]
fn every_command_is_in_the_table_once() {
    let all = [
        Command::Quit,
        Command::Help,
        Command::Filter,
        Command::Refresh,
        Command::RefreshAll,
        Command::NextPane,
        Command::PrevPane,
        Command::Up,
        Command::Down,
        Command::Left,
        Command::Right,
        Command::Top,
        Command::Bottom,
        Command::PageUp,
        Command::PageDown,
        Command::Details,
        Command::AddHost,
        Command::Clone,
        Command::Cancel,
        Command::Retry,
        Command::Profiles,
        Command::SaveProfile,
        Command::Export,
        Command::Repository,
        Command::Schedules,
    ];
    assert_eq!(TABLE.len(), all.len());
    for cmd in all {
        assert_eq!(TABLE.iter().filter(|r| r.0 == cmd).count(), 1, "{cmd:?}");
        assert_eq!(Command::from_name(cmd.name()), Some(cmd));
    }
}

#[test]
fn defaults_parse_and_do_not_conflict() {
    let map = KeyMap::default();
    for (cmd, _, keys) in TABLE {
        assert_eq!(map.bindings[cmd].len(), keys.len(), "{}", cmd.name());
    }
    map.check_conflicts().unwrap();
    assert_eq!(map.command(&press('q')), Some(Command::Quit));
    assert_eq!(
        map.command(&KeyEvent::new(KeyCode::Char('R'), KeyModifiers::SHIFT)),
        Some(Command::RefreshAll)
    );
    assert_eq!(map.command(&press('z')), None);
}

#[test]
fn retry_shares_r_with_refresh_all_only_in_the_jobs_pane() {
    let map = KeyMap::default();
    let r = KeyEvent::new(KeyCode::Char('R'), KeyModifiers::SHIFT);
    assert_eq!(map.command_in(&r, true), Some(Command::Retry));
    assert_eq!(map.command_in(&r, false), Some(Command::RefreshAll));
    // Global keys still work in the jobs pane.
    assert_eq!(map.command_in(&press('x'), true), Some(Command::Cancel));
    // Two global commands on one key still conflict, and so do two jobs-pane ones.
    let err = KeyMap::from_config(&over(&[("refresh", &["R"])])).unwrap_err();
    assert!(matches!(err, KeyMapError::Conflict { .. }), "{err}");
    let moved = KeyMap::from_config(&over(&[("retry", &["ctrl-r"])])).unwrap();
    assert_eq!(moved.command_in(&r, true), Some(Command::RefreshAll));
}

#[test]
fn override_replaces_the_keys_of_one_action() {
    let map = KeyMap::from_config(&over(&[("quit", &["ctrl-q"]), ("cancel", &["X"])])).unwrap();
    assert_eq!(map.command(&press('q')), None);
    assert_eq!(
        map.command(&KeyEvent::new(KeyCode::Char('q'), KeyModifiers::CONTROL)),
        Some(Command::Quit)
    );
    assert_eq!(map.keys_of(Command::Quit), "ctrl-q");
    assert_eq!(map.command(&press('x')), None);
    // Untouched actions keep their defaults.
    assert_eq!(map.command(&press('j')), Some(Command::Down));
}

#[test]
fn unknown_action_names_the_entry() {
    let err = KeyMap::from_config(&over(&[("quitt", &["q"])])).unwrap_err();
    let msg = err.to_string();
    assert!(msg.starts_with("keys.quitt: no such action"), "{msg}");
    assert!(msg.contains("quit, next_pane"), "{msg}");
}

#[test]
fn bad_spec_names_the_entry_and_the_reason() {
    let err = KeyMap::from_config(&over(&[("help", &["f1", "super-h"])])).unwrap_err();
    assert_eq!(
        err.to_string(),
        "keys.help: cannot read key \"super-h\": unknown modifier \"super\" (use ctrl, alt or shift)"
    );
}

#[test]
fn a_key_bound_twice_is_refused() {
    let err = KeyMap::from_config(&over(&[("quit", &["x"])])).unwrap_err();
    assert_eq!(
        err,
        KeyMapError::Conflict {
            key: "x".into(),
            first: "quit",
            second: "cancel"
        }
    );
    // Moving cancel away resolves it.
    KeyMap::from_config(&over(&[("quit", &["x"]), ("cancel", &["ctrl-x"])])).unwrap();
}

#[test]
fn help_tells_the_truth_after_overrides() {
    let map = KeyMap::from_config(&over(&[("refresh", &["f5", "r"])])).unwrap();
    let help = map.help();
    assert_eq!(help.len(), TABLE.len());
    let refresh = help.iter().find(|h| h.name == "refresh").unwrap();
    assert_eq!(refresh.keys, "f5, r");
}
