use super::*;
use std::path::Path;
use std::time::Duration;

fn parse(text: &str) -> Result<Profile, String> {
    parse_profile(text, Path::new("p.toml")).map_err(|e| e.to_string())
}

/// A valid age recipient for these bytes.
fn age_key(byte: u8) -> String {
    let hrp = bech32::Hrp::parse("age").unwrap();
    bech32::encode::<bech32::Bech32>(hrp, &[byte; 32]).unwrap()
}

#[test]
fn every_builtin_parses_with_what_the_issue_asks() {
    let all = load_profiles(None).unwrap();
    let names: Vec<&str> = all.iter().map(|p| p.profile.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "default",
            "quick-clone",
            "migration",
            "quick-backup",
            "disaster-recovery",
            "archival",
            "fast",
            "raw",
            "throttled"
        ]
    );
    for l in &all {
        assert_eq!(l.source, ProfileSource::BuiltIn);
        assert!(!l.profile.description.is_empty(), "{}", l.profile.name);
        assert!(is_builtin(&l.profile.name));
    }
    let p = |n: &str| {
        all.iter()
            .find(|l| l.profile.name == n)
            .unwrap()
            .profile
            .clone()
    };
    let quick = p("quick-clone");
    assert_eq!(
        (quick.kind, quick.live, quick.verify),
        (ProfileKind::Clone, LivePolicy::Live, false)
    );
    let m = p("migration");
    assert_eq!(m.live, LivePolicy::RequireShutdown);
    assert!(m.verify && m.preserve_macs && m.start);
    let qb = p("quick-backup");
    assert_eq!((qb.kind, qb.live), (ProfileKind::Export, LivePolicy::Live));
    assert!(qb.incremental);
    let dr = p("disaster-recovery");
    assert!(dr.verify);
    assert_eq!(
        dr.encryption,
        Encryption::Passphrase {
            source: PassphraseSource::Prompt
        }
    );
    let r = dr.retention.unwrap();
    assert_eq!(
        (r.keep_daily, r.keep_weekly, r.keep_monthly, r.keep_last),
        (Some(7), Some(4), Some(6), None)
    );
    let a = p("archival");
    assert!(a.verify && a.encryption != Encryption::None);
    assert_eq!(a.compression, Compression::Zstd(19));
    assert_eq!(qb.compression, Compression::Lz4);
    assert_eq!(dr.compression, Compression::Lz4);
    assert_eq!(a.retention.unwrap().keep_monthly, Some(24));
    assert_eq!(p("throttled").bandwidth_limit, Some(50 << 20));
    assert_eq!(p("default").retry.initial, Duration::from_secs(1));
    assert_eq!(p("default").copy_workers(), 16);
}

#[test]
fn user_profile_replaces_builtin_in_place_and_adds_new_ones() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("fast.toml"),
        "name = \"fast\"\nverify = true\n",
    )
    .unwrap();
    std::fs::write(
        dir.path().join("nightly.toml"),
        "name = \"nightly\"\nstart = true\n",
    )
    .unwrap();
    let all = load_profiles(Some(dir.path())).unwrap();
    let builtin_count = load_profiles(None).unwrap().len();
    assert_eq!(all.len(), builtin_count + 1);
    let fast = all.iter().find(|p| p.profile.name == "fast").unwrap();
    assert!(fast.profile.verify);
    assert!(fast.overrides_builtin);
    assert_eq!(
        fast.source,
        ProfileSource::User(dir.path().join("fast.toml"))
    );
    let nightly = all.last().unwrap();
    assert_eq!(nightly.profile.name, "nightly");
    assert!(nightly.profile.start && !nightly.overrides_builtin);
}

#[test]
fn unknown_field_is_rejected_with_its_line() {
    let e = parse("name = \"x\"\nverfy = true\n").unwrap_err();
    assert!(e.starts_with("p.toml:2:"), "{e}");
    assert!(e.contains("unknown field verfy"), "{e}");
    let e = parse("name = \"x\"\n\n[retry]\nattempts = 2\nmax = \"3s\"\n").unwrap_err();
    assert!(e.starts_with("p.toml:5:"), "{e}");
    // A bad file among the user's is an error naming it, not skipped.
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("bad.toml"),
        "name = \"bad\"\nstrat = true\n",
    )
    .unwrap();
    let e = load_profiles(Some(dir.path())).unwrap_err().to_string();
    assert!(e.contains("bad.toml:2:"), "{e}");
}

#[test]
fn bad_values_name_their_field_line_and_reason() {
    let cases = [
        (
            "name = \"x\"\nconnections = 0\n",
            "p.toml:2:",
            "connections: 0 is not in 1..=16",
        ),
        (
            "name = \"x\"\nrequests_in_flight = 65\n",
            "p.toml:2:",
            "requests_in_flight",
        ),
        (
            "name = \"x\"\nspace_margin = 0.5\n",
            "p.toml:2:",
            "space_margin",
        ),
        ("name = \"a/b\"\n", "p.toml:1:", "not a profile name"),
        ("name = \"x\"\nformat = \"vmdk\"\n", "p.toml:2:", "vmdk"),
        (
            "name = \"x\"\nlive = \"sometimes\"\n",
            "p.toml:2:",
            "sometimes",
        ),
        ("name = \"x\"\nkind = \"backup\"\n", "p.toml:2:", "backup"),
        (
            "name = \"x\"\nbandwidth_limit = \"fast\"\n",
            "p.toml:2:",
            "not a rate",
        ),
        (
            "name = \"x\"\nshutdown_timeout = \"soon\"\n",
            "p.toml:2:",
            "not a duration",
        ),
        (
            "name = \"x\"\nshutdown_timeout = \"2h\"\n",
            "p.toml:2:",
            "between 1s and 1h",
        ),
        (
            "name = \"x\"\n[retry]\ninitial_delay = \"5s\"\nmax_delay = \"100ms\"\n",
            "p.toml:3:",
            "initial_delay",
        ),
        (
            "name = \"x\"\n[retry]\ninitial_delay = \"1s\"\ninitial_ms = 1000\n",
            "p.toml:4:",
            "not both",
        ),
        (
            "name = \"x\"\nwebhook = \"ftp://h/x\"\n",
            "p.toml:2:",
            "http",
        ),
        (
            "name = \"x\"\nwebhook = \"not a url\"\n",
            "p.toml:2:",
            "not a webhook URL",
        ),
        (
            "name = \"x\"\nallow_shutdown = true\n",
            "p.toml:2:",
            "live = \"shutdown-restart\"",
        ),
        (
            "name = \"x\"\n\n[retention]\nkeep_daily = 7\n",
            "p.toml:3:",
            "retention: only export profiles take it",
        ),
        (
            "name = \"x\"\ncompress = true\n",
            "p.toml:2:",
            "only export profiles",
        ),
        (
            "name = \"x\"\nkind = \"export\"\npreserve_macs = true\n",
            "p.toml:3:",
            "preserve_macs: only clone profiles",
        ),
        (
            "name = \"x\"\nkind = \"export\"\npool = \"fast\"\n",
            "p.toml:3:",
            "pool: only clone profiles",
        ),
        (
            "name = \"x\"\nkind = \"export\"\n[retention]\nkeep_daily = 0\n",
            "p.toml:4:",
            "keep_daily: 0 is not in 1..=10000",
        ),
        (
            "name = \"x\"\nkind = \"export\"\n[retention]\n",
            "p.toml:3:",
            "names no rule",
        ),
        (
            "name = \"x\"\nkind = \"export\"\n[encryption]\nmode = \"passphrase\"\npassphrase = \"hunter2\"\n",
            "p.toml:5:",
            "never written in a profile",
        ),
        (
            "name = \"x\"\nkind = \"export\"\n[encryption]\nmode = \"recipients\"\nrecipients = [\"age1nope\"]\n",
            "p.toml:5:",
            "not an age X25519 public key",
        ),
        (
            "name = \"x\"\nkind = \"export\"\n[encryption]\nmode = \"recipients\"\n",
            "p.toml:4:",
            "needs a recipients list",
        ),
        (
            "name = \"x\"\nkind = \"export\"\n[encryption]\nmode = \"none\"\npassphrase_env = \"P\"\n",
            "p.toml:5:",
            "only with mode = \"passphrase\"",
        ),
        (
            "name = \"x\"\nkind = \"export\"\n[encryption]\nmode = \"passphrase\"\npassphrase_env = \"1X\"\n",
            "p.toml:5:",
            "not an environment variable name",
        ),
    ];
    for (text, place, what) in cases {
        let e = parse(text).unwrap_err();
        assert!(e.starts_with(place), "{text:?}: {e}");
        assert!(e.contains(what), "{text:?}: {e}");
    }
    // The passphrase's value never shows in the message.
    let e = parse(cases[21].0).unwrap_err();
    assert!(!e.contains("hunter2"), "{e}");
}

#[test]
fn compression_and_the_older_compress_switch() {
    let export = |rest: &str| parse(&format!("name = \"x\"\nkind = \"export\"\n{rest}"));
    for (rest, want) in [
        ("", Compression::Lz4),
        ("compress = true\n", Compression::Lz4),
        ("compress = false\n", Compression::None),
        ("compression = \"none\"\n", Compression::None),
        ("compression = \"lz4\"\n", Compression::Lz4),
        ("compression = \"zstd\"\n", Compression::Zstd(3)),
        (
            "compression = \"zstd\"\ncompression_level = 22\n",
            Compression::Zstd(22),
        ),
    ] {
        assert_eq!(export(rest).unwrap().compression, want, "{rest:?}");
    }
    for (rest, place, what) in [
        (
            "compress = true\ncompression = \"zstd\"\n",
            "p.toml:3:",
            "not both",
        ),
        (
            "compression = \"lz4\"\ncompression_level = 9\n",
            "p.toml:4:",
            "compression_level: only with compression = \"zstd\"",
        ),
        ("compression_level = 9\n", "p.toml:3:", "only with"),
        (
            "compression = \"zstd\"\ncompression_level = 23\n",
            "p.toml:4:",
            "23 is not in 1..=22",
        ),
        (
            "compression = \"zstd\"\ncompression_level = 0\n",
            "p.toml:4:",
            "not in 1..=22",
        ),
        ("compression = \"gzip\"\n", "p.toml:3:", "unknown variant"),
    ] {
        let e = export(rest).unwrap_err();
        assert!(e.starts_with(place), "{rest:?}: {e}");
        assert!(e.contains(what), "{rest:?}: {e}");
    }
    let e = parse("name = \"x\"\ncompression = \"zstd\"\n").unwrap_err();
    assert!(e.contains("compression: only export profiles"), "{e}");
}

#[test]
fn export_settings_and_legacy_retry_keys_are_read() {
    let (k1, k2) = (age_key(1), age_key(2));
    let p = parse(&format!(
        "name = \"x\"\nkind = \"export\"\nlive = \"shutdown-restart\"\nshutdown_timeout = \"1m30s\"\n\
         webhook = \"https://hooks.example.com/kvm?x=1\"\n\
         [encryption]\nmode = \"recipients\"\nrecipients = [\"{k1}\", \"{k2}\"]\n\
         [retention]\nkeep_last = 3\nkeep_yearly = 2\n[retry]\ninitial_ms = 250\nmax_ms = 4000\n"
    ))
    .unwrap();
    assert_eq!(p.live, LivePolicy::ShutdownRestart);
    assert_eq!(p.shutdown_timeout, Duration::from_secs(90));
    assert_eq!(
        p.encryption,
        Encryption::Recipients {
            recipients: vec![k1.clone(), k2]
        }
    );
    assert_eq!(p.retention.unwrap().label(), "3 last, 2 yearly");
    assert_eq!(p.retry.initial, Duration::from_millis(250));
    assert_eq!(p.retry.max, Duration::from_secs(4));
    assert_eq!(
        p.webhook.as_deref(),
        Some("https://hooks.example.com/kvm?x=1")
    );
    assert!(recipient_problem(&k1).is_none());
    assert!(recipient_problem(&k1.to_uppercase()).is_some());
    let other_hrp =
        bech32::encode::<bech32::Bech32>(bech32::Hrp::parse("agx").unwrap(), &[1; 32]).unwrap();
    assert!(recipient_problem(&other_hrp).unwrap().contains("prefix"));
}

#[test]
fn every_builtin_survives_a_save_and_reload() {
    let dir = tempfile::tempdir().unwrap();
    for l in load_profiles(None).unwrap() {
        let mut p = l.profile.clone();
        p.name = format!("my-{}", p.name);
        let path = save_profile(dir.path(), &p, false).unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        assert_eq!(parse_profile(&text, &path).unwrap(), p, "{text}");
    }
}

#[test]
fn save_refuses_builtin_names_and_asks_before_replacing() {
    let dir = tempfile::tempdir().unwrap();
    let mut p = load_profiles(None).unwrap()[0].profile.clone();
    assert!(matches!(
        save_profile(dir.path(), &p, true),
        Err(SaveError::BuiltIn(_))
    ));
    p.name = "../evil".into();
    assert!(matches!(
        save_profile(dir.path(), &p, false),
        Err(SaveError::BadName(_))
    ));
    p.name = "mine".into();
    let path = save_profile(dir.path(), &p, false).unwrap();
    assert_eq!(path, dir.path().join("mine.toml"));
    p.verify = !p.verify;
    let e = save_profile(dir.path(), &p, false).unwrap_err();
    assert!(matches!(e, SaveError::Exists { .. }), "{e}");
    save_profile(dir.path(), &p, true).unwrap();
    let back = load_profiles(Some(dir.path())).unwrap();
    assert_eq!(back.last().unwrap().profile.verify, p.verify);
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(&path).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600);
}

#[test]
fn find_profile_checks_the_kind() {
    // Built-ins only: the user directory is the real one here, but no
    // built-in can be shadowed by a test.
    let e = find_profile("quick-backup", ProfileKind::Clone).unwrap_err();
    assert!(e.contains("export profile"), "{e}");
}
