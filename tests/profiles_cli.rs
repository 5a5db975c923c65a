//! `kvm-clone profiles` through the binary, with a private config home.

use serde_json::Value;
use std::path::Path;
use std::process::{Command, Output};

fn run(home: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_kvm-clone"))
        .args(args)
        .env("HOME", home)
        .env("XDG_CONFIG_HOME", home.join(".config"))
        .env("KVM_CLONE_DATA_DIR", home.join("data"))
        .output()
        .expect("run kvm-clone")
}

fn user_dir(home: &Path) -> std::path::PathBuf {
    let d = home.join(".config/kvm-clone/profiles");
    std::fs::create_dir_all(&d).unwrap();
    d
}

#[test]
fn lists_builtins_and_a_user_override_with_its_source() {
    let home = tempfile::tempdir().unwrap();
    let dir = user_dir(home.path());
    let over = dir.join("quick-clone.toml");
    std::fs::write(
        &over,
        "name = \"quick-clone\"\ndescription = \"ours: verified\"\nverify = true\n",
    )
    .unwrap();
    std::fs::write(
        dir.join("nightly.toml"),
        "name = \"nightly\"\nkind = \"export\"\ndescription = \"nightly backup\"\n[retention]\nkeep_daily = 3\n",
    )
    .unwrap();

    let out = run(home.path(), &["profiles", "--json"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let doc: Value = serde_json::from_slice(&out.stdout).unwrap();
    let list = doc["profiles"].as_array().unwrap();
    let by = |n: &str| list.iter().find(|p| p["name"] == n).unwrap().clone();
    let q = by("quick-clone");
    assert_eq!(q["source"], "user");
    assert_eq!(q["path"], over.display().to_string());
    assert_eq!(q["overrides_builtin"], true);
    assert_eq!(q["description"], "ours: verified");
    assert_eq!(q["settings"]["verify"], true);
    assert_eq!(
        list.iter().filter(|p| p["name"] == "quick-clone").count(),
        1
    );
    let m = by("migration");
    assert_eq!(m["source"], "built-in");
    assert_eq!(m["path"], Value::Null);
    assert_eq!(m["kind"], "clone");
    assert_eq!(m["settings"]["live"], "require-shutdown");
    let n = by("nightly");
    assert_eq!(
        (n["kind"].clone(), n["source"].clone()),
        ("export".into(), "user".into())
    );
    assert_eq!(n["settings"]["retention"]["keep_daily"], 3);
    assert_eq!(list[0]["name"], "default");

    let out = run(home.path(), &["profiles"]);
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    let line = text
        .lines()
        .find(|l| l.starts_with("quick-clone "))
        .unwrap();
    assert!(line.contains(&over.display().to_string()), "{line}");
    assert!(line.contains("overrides built-in"), "{line}");
    assert!(
        text.lines()
            .any(|l| l.starts_with("archival ") && l.ends_with("built-in"))
    );
}

#[test]
fn a_bad_user_profile_fails_with_file_line_and_reason() {
    let home = tempfile::tempdir().unwrap();
    let file = user_dir(home.path()).join("typo.toml");
    std::fs::write(&file, "name = \"typo\"\n\nverfy = false\n").unwrap();
    let out = run(home.path(), &["profiles"]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains(&format!("{}:3:", file.display())), "{err}");
    assert!(err.contains("unknown field verfy"), "{err}");
}

/// KVM_CLONE_PROFILE_DIR moves the profiles directory (docs/profiles.md),
/// e.g. beside a config file named with --config.
#[test]
fn the_profiles_directory_can_be_set() {
    let home = tempfile::tempdir().unwrap();
    let elsewhere = home.path().join("site/profiles");
    std::fs::create_dir_all(&elsewhere).unwrap();
    std::fs::write(
        elsewhere.join("site.toml"),
        "name = \"site-clone\"\ndescription = \"from the site dir\"\n",
    )
    .unwrap();
    // A file in the default place is not read then.
    std::fs::write(
        user_dir(home.path()).join("home.toml"),
        "name = \"home-clone\"\n",
    )
    .unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_kvm-clone"))
        .arg("profiles")
        .env("HOME", home.path())
        .env("XDG_CONFIG_HOME", home.path().join(".config"))
        .env("KVM_CLONE_DATA_DIR", home.path().join("data"))
        .env("KVM_CLONE_PROFILE_DIR", &elsewhere)
        .output()
        .expect("run kvm-clone");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}");
    assert!(text.contains("site-clone"), "{text}");
    assert!(!text.contains("home-clone"), "{text}");
}
