//! The export's pre-flight against the lab: a checklist like a clone's,
//! `--dry-run` that exports nothing, and exit code 3 when a check fails
//! (docs/export.md, docs/json.md).

mod clone_util;
mod export_util;

use clone_util::{Env, serial};
use export_util::{PASS, assert_clean, open, repo};
use serde_json::Value;

fn item<'a>(checklist: &'a Value, id: &str) -> &'a Value {
    checklist["items"]
        .as_array()
        .and_then(|items| items.iter().find(|i| i["id"] == id))
        .unwrap_or_else(|| panic!("no {id} in {checklist:#}"))
}

fn export_args<'a>(vm: &'a str, repo: &'a str) -> Vec<&'a str> {
    vec!["export", "--from", "alpha", "--vm", vm, "--repo", repo]
}

#[test]
fn dry_run_prints_the_checklist_and_exports_nothing() {
    let _serial = serial();
    let env = Env::new();
    let dir = tempfile::tempdir().unwrap();
    let path = repo(dir.path());
    let p = path.to_str().unwrap();
    let mut args = export_args("archive01", p);
    args.push("--dry-run");
    let (code, doc) = env.json_with(&args, &[("KVM_CLONE_PASSPHRASE", PASS)]);
    assert_eq!(code, 0, "{doc:#}");
    assert_eq!(doc["ok"], true, "{doc:#}");
    for id in [
        "options_valid",
        "repository",
        "source_vm_exists",
        "source_disks",
    ] {
        assert_ne!(item(&doc, id)["status"], "fail", "{doc:#}");
    }
    assert!(
        item(&doc, "repository")["message"]
            .as_str()
            .unwrap()
            .contains("encrypted"),
        "{doc:#}"
    );
    assert!(open(&path).snapshots().unwrap().is_empty());
    // As text: the checklist and the verdict, same exit code.
    let out = env
        .command(&args)
        .env("KVM_CLONE_PASSPHRASE", PASS)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{text}");
    assert!(text.contains("the export can start"), "{text}");
    assert_clean("archive01");
}

#[test]
fn every_failed_check_is_listed_and_exits_3() {
    let _serial = serial();
    let env = Env::new();
    let dir = tempfile::tempdir().unwrap();
    let path = repo(dir.path());
    let p = path.to_str().unwrap();
    // A wrong passphrase and a VM that does not exist: both are reported,
    // not only the first.
    let mut args = export_args("no-such-vm-for-export", p);
    args.push("--dry-run");
    let (code, doc) = env.json_with(&args, &[("KVM_CLONE_PASSPHRASE", "not it")]);
    assert_eq!(code, 3, "{doc:#}");
    assert_eq!(doc["ok"], false, "{doc:#}");
    let repo_item = item(&doc, "repository");
    assert_eq!(repo_item["status"], "fail", "{doc:#}");
    assert!(
        repo_item["message"]
            .as_str()
            .unwrap()
            .contains("passphrase"),
        "{doc:#}"
    );
    assert_eq!(item(&doc, "source_vm_exists")["status"], "fail", "{doc:#}");
    assert!(!doc.to_string().contains("not it"), "the passphrase leaked");
}

#[test]
fn an_export_stopped_by_a_check_exits_3_with_its_checklist() {
    let _serial = serial();
    let env = Env::new();
    let dir = tempfile::tempdir().unwrap();
    // A directory that is not a repository.
    let plain = dir.path().join("plain");
    std::fs::create_dir(&plain).unwrap();
    let args = export_args("archive01", plain.to_str().unwrap());
    let (code, doc) = env.json_with(&args, &[("KVM_CLONE_PASSPHRASE", PASS)]);
    assert_eq!(code, 3, "{doc:#}");
    assert_eq!(doc["ok"], false, "{doc:#}");
    let error = doc["error"].as_str().unwrap();
    assert!(error.contains("pre-flight checks failed"), "{doc:#}");
    let repo_item = item(&doc["validation"], "repository");
    assert_eq!(repo_item["status"], "fail", "{doc:#}");
    assert!(
        repo_item["message"]
            .as_str()
            .unwrap()
            .contains("not a kvm-clone repository"),
        "{doc:#}"
    );
    assert!(repo_item["hint"].as_str().unwrap().contains("repo init"));
    assert_eq!(
        std::fs::read_dir(&plain).unwrap().count(),
        0,
        "wrote into it"
    );
    // The history row carries the checklist, like a clone's.
    let (code, rows) = env.json(&["history", "--kind", "export", "--limit", "1"]);
    assert_eq!(code, 0, "{rows:#}");
    let row = &rows["jobs"][0];
    assert_eq!(row["result"], "failed", "{rows:#}");
    assert_eq!(row["validation"]["ok"], false, "{rows:#}");
    assert_clean("archive01");
}

/// Issue: a pre-flight hint gave a command that fails (`kvm-clone vms
/// alpha`). Every `kvm-clone …` command in the hints of failed checks runs
/// as written (those with a placeholder such as PATH excepted).
#[test]
fn the_commands_hints_give_run() {
    let _serial = serial();
    let env = Env::new();
    let dir = tempfile::tempdir().unwrap();
    let path = repo(dir.path());
    let p = path.to_str().unwrap();
    let mut docs = Vec::new();
    let mut export = export_args("no-such-vm-for-hints", p);
    export.push("--dry-run");
    docs.push(
        env.json_with(&export, &[("KVM_CLONE_PASSPHRASE", "not it")])
            .1,
    );
    let clone = [
        "clone",
        "--from",
        "alpha",
        "--vm",
        "no-such-vm-for-hints",
        "--to",
        "beta",
        "--dry-run",
    ];
    docs.push(env.json(&clone).1);
    let mut commands = Vec::new();
    for doc in &docs {
        for i in doc["items"].as_array().expect("items") {
            let hint = i["hint"].as_str().unwrap_or_default();
            for (n, part) in hint.split('`').enumerate() {
                if n % 2 == 1 && part.starts_with("kvm-clone ") {
                    commands.push(part.to_string());
                }
            }
        }
    }
    assert!(
        commands.iter().any(|c| c.starts_with("kvm-clone vms")),
        "{commands:?}"
    );
    for c in commands {
        let words: Vec<&str> = c.split_whitespace().skip(1).collect();
        if words
            .iter()
            .any(|w| w.chars().all(|ch| ch.is_ascii_uppercase()))
        {
            continue;
        }
        let out = env.command(&words).output().expect("run the hint");
        assert!(
            out.status.success(),
            "{c}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

/// A profile of the wrong kind is the operator's mistake: one clean line
/// (or a JSON error), exit 1, no report or backtrace.
#[test]
fn a_clone_profile_for_an_export_is_one_clean_line() {
    let _serial = serial();
    let env = Env::new();
    let dir = tempfile::tempdir().unwrap();
    let path = repo(dir.path());
    let mut args = export_args("archive01", path.to_str().unwrap());
    args.extend(["--profile", "default", "--dry-run"]);
    let out = env
        .command(&args)
        .env("KVM_CLONE_PASSPHRASE", PASS)
        .env("RUST_BACKTRACE", "1")
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("clone profile"), "{err}");
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    assert!(
        !err.contains("Location") && !err.contains("BACKTRACE"),
        "{err}"
    );
    let (code, doc) = env.json_with(&args, &[("KVM_CLONE_PASSPHRASE", PASS)]);
    assert_eq!(code, 1, "{doc:#}");
    assert!(
        doc["error"].as_str().unwrap().contains("clone profile"),
        "{doc:#}"
    );
}
