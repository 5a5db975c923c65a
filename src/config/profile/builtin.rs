//! Profiles compiled into the binary from the repository's `profiles/`
//! folder, so they exist on every machine.

/// (path shown in messages, text), in menu order.
pub(super) const BUILTIN: &[(&str, &str)] = &[
    (
        "profiles/default.toml",
        include_str!("../../../profiles/default.toml"),
    ),
    (
        "profiles/quick-clone.toml",
        include_str!("../../../profiles/quick-clone.toml"),
    ),
    (
        "profiles/migration.toml",
        include_str!("../../../profiles/migration.toml"),
    ),
    (
        "profiles/quick-backup.toml",
        include_str!("../../../profiles/quick-backup.toml"),
    ),
    (
        "profiles/disaster-recovery.toml",
        include_str!("../../../profiles/disaster-recovery.toml"),
    ),
    (
        "profiles/archival.toml",
        include_str!("../../../profiles/archival.toml"),
    ),
    (
        "profiles/fast.toml",
        include_str!("../../../profiles/fast.toml"),
    ),
    (
        "profiles/raw.toml",
        include_str!("../../../profiles/raw.toml"),
    ),
    (
        "profiles/throttled.toml",
        include_str!("../../../profiles/throttled.toml"),
    ),
];

/// Whether a built-in profile has this name.
pub fn is_builtin(name: &str) -> bool {
    BUILTIN.iter().any(|(path, _)| {
        path.strip_prefix("profiles/")
            .and_then(|f| f.strip_suffix(".toml"))
            == Some(name)
    })
}
