//! `repo init`, `snapshots`, `verify` and `prune` through the binary, on
//! repositories in temp dirs (no lab host is involved).

mod repo_util;
mod tmux_util;

use kvm_clone::repo::{Repo, Unlock};
use repo_util::{CHUNK, PASS, block, commit};
use serde_json::Value;
use std::path::PathBuf;
use std::process::{Command, Output};

/// A private HOME and data dir, and the repository path inside them.
struct Env {
    home: tempfile::TempDir,
}

impl Env {
    fn new() -> Env {
        Env {
            home: tempfile::tempdir().unwrap(),
        }
    }

    fn repo_path(&self) -> PathBuf {
        self.home.path().join("repo")
    }

    /// Runs the binary; `pass` goes in KVM_CLONE_PASSPHRASE when given.
    fn kvm_clone(&self, pass: Option<&str>, args: &[&str]) -> Output {
        let mut c = Command::new(env!("CARGO_BIN_EXE_kvm-clone"));
        c.args(args)
            .env("HOME", self.home.path())
            .env("KVM_CLONE_DATA_DIR", self.home.path().join("data"))
            .env("KVM_CLONE_CONFIG", self.home.path().join("none.toml"))
            .env_remove("KVM_CLONE_PASSPHRASE");
        if let Some(p) = pass {
            c.env("KVM_CLONE_PASSPHRASE", p);
        }
        c.output().unwrap()
    }

    /// An encrypted repository made through the library, with a fast scrypt.
    fn lib_repo(&self) -> Repo {
        repo_util::encrypted_repo(&self.repo_path())
    }
}

fn text(o: &Output) -> (String, String) {
    (
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

fn json(o: &Output) -> Value {
    serde_json::from_slice(&o.stdout).unwrap_or_else(|e| panic!("{e}: {:?}", text(o)))
}

#[test]
fn init_with_env_passphrase_then_wrong_and_missing_passphrase() {
    let env = Env::new();
    let path = env.repo_path();
    let p = path.to_str().unwrap();
    let o = env.kvm_clone(Some(PASS), &["repo", "init", p, "--chunk-size", "1M"]);
    let (out, err) = text(&o);
    assert!(o.status.success(), "{out}{err}");
    assert!(out.contains("encrypted with a passphrase"), "{out}");
    let cfg: Value = serde_json::from_slice(&std::fs::read(path.join("config")).unwrap()).unwrap();
    assert_eq!(cfg["encryption"], "passphrase");
    assert_eq!(cfg["chunk_size"], 1 << 20);
    assert!(path.join("keys").exists());

    let o = env.kvm_clone(Some(PASS), &["snapshots", "--repo", p]);
    assert!(o.status.success(), "{:?}", text(&o));
    assert!(text(&o).0.starts_with("ID "), "{:?}", text(&o));

    let o = env.kvm_clone(Some("not it"), &["snapshots", "--repo", p]);
    let (out, err) = text(&o);
    assert_eq!(o.status.code(), Some(1), "{out}{err}");
    assert!(err.contains("wrong passphrase"), "{err}");
    assert!(!err.contains("not it") && !out.contains("not it"));

    // No passphrase and no terminal: says how to give one.
    let o = env.kvm_clone(None, &["verify", "--repo", p]);
    let (_, err) = text(&o);
    assert_eq!(o.status.code(), Some(1));
    assert!(err.contains("KVM_CLONE_PASSPHRASE"), "{err}");

    // A second init on the same directory is refused.
    let o = env.kvm_clone(Some(PASS), &["repo", "init", p]);
    assert_eq!(o.status.code(), Some(1));
    assert!(text(&o).1.contains("already exists"), "{:?}", text(&o));
}

/// The age stanza's work factor: `-> scrypt <salt> <log2 N>`.
fn scrypt_log_n(repo: &std::path::Path) -> String {
    let keys = std::fs::read(repo.join("keys")).unwrap();
    let head = String::from_utf8_lossy(&keys[..keys.len().min(200)]).into_owned();
    let line = head
        .lines()
        .find(|l| l.starts_with("-> scrypt "))
        .unwrap_or_else(|| panic!("no scrypt stanza in {head:?}"));
    line.rsplit(' ').next().unwrap().to_string()
}

#[test]
fn scrypt_cost_is_2_pow_17_unless_chosen_and_bounded() {
    let env = Env::new();
    let base = env.repo_path();
    let default = base.with_file_name("default");
    let o = env.kvm_clone(Some(PASS), &["repo", "init", default.to_str().unwrap()]);
    assert!(o.status.success(), "{:?}", text(&o));
    assert_eq!(scrypt_log_n(&default), "17");

    let cheap = base.with_file_name("cheap");
    let c = cheap.to_str().unwrap();
    let o = env.kvm_clone(Some(PASS), &["repo", "init", c, "--scrypt-log-n", "15"]);
    assert!(o.status.success(), "{:?}", text(&o));
    assert_eq!(scrypt_log_n(&cheap), "15");
    // It opens with the passphrase, and only with it.
    assert!(
        env.kvm_clone(Some(PASS), &["snapshots", "--repo", c])
            .status
            .success()
    );
    let o = env.kvm_clone(Some("not it"), &["snapshots", "--repo", c]);
    assert!(text(&o).1.contains("wrong passphrase"), "{:?}", text(&o));

    for (args, says) in [
        (vec!["--scrypt-log-n", "21"], "14..=20"),
        (vec!["--scrypt-log-n", "x"], "invalid"),
        (
            vec!["--scrypt-log-n", "15", "--no-encryption"],
            "cannot be used with",
        ),
    ] {
        let bad = base.with_file_name("bad");
        let mut argv = vec!["repo", "init", bad.to_str().unwrap()];
        argv.extend(args.iter().copied());
        let o = env.kvm_clone(Some(PASS), &argv);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {:?}", text(&o));
        assert!(text(&o).1.contains(says), "{args:?}: {:?}", text(&o));
        assert!(!bad.exists(), "{args:?} created the repository");
    }
}

#[test]
fn init_needs_a_key_or_an_explicit_no_encryption() {
    let env = Env::new();
    let p = env.repo_path();
    let o = env.kvm_clone(None, &["repo", "init", p.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1));
    assert!(text(&o).1.contains("--no-encryption"), "{:?}", text(&o));
    assert!(!p.join("config").exists());

    let o = env.kvm_clone(
        None,
        &["repo", "init", p.to_str().unwrap(), "--no-encryption"],
    );
    assert!(o.status.success(), "{:?}", text(&o));
    assert!(text(&o).0.contains("NOT encrypted"));
    let repo = Repo::open(&p, &Unlock::None).unwrap();
    assert!(!repo.encrypted());
}

#[test]
fn passphrase_file_unlocks() {
    let env = Env::new();
    let repo = env.lib_repo();
    commit(&repo, "web01", 1_750_000_000, &[1]);
    let file = env.home.path().join("pass.txt");
    std::fs::write(&file, format!("{PASS}\n")).unwrap();
    let o = env.kvm_clone(
        None,
        &[
            "snapshots",
            "--repo",
            env.repo_path().to_str().unwrap(),
            "--passphrase-file",
            file.to_str().unwrap(),
            "--json",
        ],
    );
    assert!(o.status.success(), "{:?}", text(&o));
    assert_eq!(json(&o)["snapshots"][0]["vm"], "web01");
}

#[test]
fn verify_repair_removes_damaged_chunks_unless_the_repository_is_busy() {
    let env = Env::new();
    let repo = env.lib_repo();
    let s1 = commit(&repo, "web01", 1_750_000_000, &[1, 2]);
    let p = env.repo_path();
    let p = p.to_str().unwrap();
    let two = repo.chunk_id(&block(2));
    let file = repo.chunk_path(&two);
    let mut bytes = std::fs::read(&file).unwrap();
    bytes[100] ^= 0xff;
    std::fs::write(&file, &bytes).unwrap();

    // --repair only makes sense after reading the data.
    let o = env.kvm_clone(Some(PASS), &["verify", "--repo", p, "--repair"]);
    assert_eq!(o.status.code(), Some(2), "{:?}", text(&o));
    assert!(text(&o).1.contains("--read-data"), "{:?}", text(&o));

    // An export holding the repository: the damage is reported, nothing goes.
    let held = repo.lock_shared().unwrap();
    let o = env.kvm_clone(
        Some(PASS),
        &["verify", "--repo", p, "--read-data", "--repair", "--json"],
    );
    assert_eq!(o.status.code(), Some(75), "{:?}", text(&o));
    assert!(text(&o).1.contains("busy"), "{:?}", text(&o));
    assert_eq!(json(&o)["damage"][0]["chunk"], two.to_string());
    assert_eq!(json(&o)["repaired"], serde_json::json!([]));
    assert!(file.exists());
    drop(held);

    let o = env.kvm_clone(
        Some(PASS),
        &["verify", "--repo", p, "--read-data", "--repair"],
    );
    let (out, err) = text(&o);
    assert_eq!(o.status.code(), Some(5), "{out}{err}");
    assert!(out.contains(&format!("DAMAGED snapshot {s1}")), "{out}");
    assert!(out.contains("removed 1 damaged chunk file"), "{out}");
    assert!(!file.exists());
    // Now reported missing; storing the same data again heals it.
    let o = env.kvm_clone(Some(PASS), &["verify", "--repo", p, "--read-data"]);
    assert!(text(&o).0.contains("missing"), "{:?}", text(&o));
    repo.store_chunk(&block(2)).unwrap();
    let o = env.kvm_clone(Some(PASS), &["verify", "--repo", p, "--read-data"]);
    assert!(o.status.success(), "{:?}", text(&o));
}

#[test]
fn snapshots_verify_and_prune_on_a_repository() {
    let env = Env::new();
    let repo = env.lib_repo();
    let day = 86400;
    let t0 = 1_750_000_000;
    let s1 = commit(&repo, "web01", t0, &[1, 2]);
    let s2 = commit(&repo, "web01", t0 + day, &[1, 3]);
    let s3 = commit(&repo, "web01", t0 + 2 * day, &[1, 4]);
    let db = commit(&repo, "db01", t0, &[9]);
    let p = env.repo_path();
    let p = p.to_str().unwrap();

    let o = env.kvm_clone(
        Some(PASS),
        &["snapshots", "--repo", p, "--vm", "web01", "--json"],
    );
    assert!(o.status.success(), "{:?}", text(&o));
    let ids: Vec<String> = json(&o)["snapshots"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["id"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(ids, [&s3, &s2, &s1].map(|s| s.to_string()));

    let o = env.kvm_clone(Some(PASS), &["verify", "--repo", p, "--read-data"]);
    let (out, err) = text(&o);
    assert!(o.status.success(), "{out}{err}");
    assert!(out.starts_with("ok: 4 snapshots, 5 chunks read"), "{out}");

    // Damage chunk 3 (index 1 of s2): only s2 is named, at offset 64 KiB.
    let three = repo.chunk_id(&block(3));
    let file = repo.chunk_path(&three);
    let mut bytes = std::fs::read(&file).unwrap();
    bytes[100] ^= 0xff;
    std::fs::write(&file, &bytes).unwrap();
    let o = env.kvm_clone(Some(PASS), &["verify", "--repo", p]);
    assert!(
        o.status.success(),
        "without --read-data the file is only present"
    );
    let o = env.kvm_clone(Some(PASS), &["verify", "--repo", p, "--read-data"]);
    let (out, _) = text(&o);
    assert_eq!(o.status.code(), Some(5), "{out}");
    let line =
        format!("DAMAGED snapshot {s2} vm web01 disk vda offset {CHUNK}: chunk {three} damaged");
    assert!(out.contains(&line), "{out}");
    assert_eq!(out.matches("DAMAGED").count(), 1, "{out}");
    let o = env.kvm_clone(
        Some(PASS),
        &[
            "verify",
            "--repo",
            p,
            "--read-data",
            "--snapshot",
            &s2.as_str()[..8],
            "--json",
        ],
    );
    assert_eq!(o.status.code(), Some(5));
    let v = json(&o);
    assert_eq!(v["ok"], false);
    assert_eq!(v["damage"][0]["snapshot"], s2.as_str());
    assert_eq!(v["damage"][0]["offset"], CHUNK);
    std::fs::remove_file(&file).unwrap();

    // Keep the newest web01 snapshot; db01 is not selected and stays.
    let prune = ["prune", "--repo", p, "--keep-last", "1", "--vm", "web01"];
    let o = env.kvm_clone(Some(PASS), &[&prune[..], &["--dry-run", "--json"]].concat());
    assert!(o.status.success(), "{:?}", text(&o));
    let plan = json(&o);
    assert_eq!(plan["dry_run"], true);
    assert_eq!(
        (plan["kept"].as_u64(), plan["removed"].as_u64()),
        (Some(1), Some(2))
    );
    // Chunk 2 goes; chunk 3 is already gone; 1 and 4 stay referenced.
    assert_eq!(plan["chunks_removed"], 1);
    assert_eq!(repo.snapshot_ids().unwrap().len(), 4);

    // Not while an export holds the shared lock.
    let held = repo.lock_shared().unwrap();
    let o = env.kvm_clone(Some(PASS), &prune);
    assert_eq!(o.status.code(), Some(75), "{:?}", text(&o));
    assert!(text(&o).1.contains("busy"), "{:?}", text(&o));
    drop(held);

    let o = env.kvm_clone(Some(PASS), &prune);
    let (out, err) = text(&o);
    assert!(o.status.success(), "{out}{err}");
    assert!(
        out.contains("removed 2 snapshots (keeping 1), 1 chunk"),
        "{out}"
    );
    let mut left = repo.snapshot_ids().unwrap();
    left.sort();
    let mut want = vec![s3, db];
    want.sort();
    assert_eq!(left, want);
    let o = env.kvm_clone(Some(PASS), &["verify", "--repo", p, "--read-data"]);
    assert!(o.status.success(), "{:?}", text(&o));

    let o = env.kvm_clone(Some(PASS), &["prune", "--repo", p]);
    assert_eq!(o.status.code(), Some(1));
    assert!(text(&o).1.contains("--keep-"), "{:?}", text(&o));
}

#[test]
fn commands_on_a_directory_that_is_no_repository() {
    let env = Env::new();
    let o = env.kvm_clone(
        Some(PASS),
        &["snapshots", "--repo", env.home.path().to_str().unwrap()],
    );
    assert_eq!(o.status.code(), Some(1));
    assert!(
        text(&o).1.contains("not a kvm-clone repository"),
        "{:?}",
        text(&o)
    );
}

#[test]
fn recipients_repository_opens_with_an_identity_file() {
    use age::secrecy::ExposeSecret;
    let env = Env::new();
    let path = env.repo_path();
    let p = path.to_str().unwrap();
    let alice = age::x25519::Identity::generate();
    let stranger = age::x25519::Identity::generate();
    let key_file = |name: &str, id: &age::x25519::Identity| {
        let f = env.home.path().join(name);
        std::fs::write(
            &f,
            format!("# test key\n{}\n", id.to_string().expose_secret()),
        )
        .unwrap();
        f
    };
    let (alice_key, stranger_key) = (key_file("alice.txt", &alice), key_file("s.txt", &stranger));
    let recipient = alice.to_public().to_string();
    let o = env.kvm_clone(None, &["repo", "init", p, "--recipient", &recipient]);
    assert!(o.status.success(), "{:?}", text(&o));
    assert!(text(&o).0.contains("age recipients"));

    let o = env.kvm_clone(
        None,
        &[
            "snapshots",
            "--repo",
            p,
            "--identity",
            alice_key.to_str().unwrap(),
        ],
    );
    assert!(o.status.success(), "{:?}", text(&o));
    let o = env.kvm_clone(
        None,
        &[
            "snapshots",
            "--repo",
            p,
            "--identity",
            stranger_key.to_str().unwrap(),
        ],
    );
    assert_eq!(o.status.code(), Some(1));
    assert!(
        text(&o).1.contains("none of the given age identities"),
        "{:?}",
        text(&o)
    );
    // A passphrase is the wrong kind of key here, and says so.
    let o = env.kvm_clone(Some(PASS), &["snapshots", "--repo", p]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        text(&o).1.contains("unlocked with an age identity"),
        "{:?}",
        text(&o)
    );
}

#[test]
fn snapshots_lists_what_reads_and_names_a_damaged_manifest() {
    let env = Env::new();
    let repo = env.lib_repo();
    let good = commit(&repo, "web01", 1_750_000_000, &[1]);
    let bad = commit(&repo, "web01", 1_750_000_100, &[2]);
    let m = repo.manifest_path(&bad);
    let mut bytes = std::fs::read(&m).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 1;
    std::fs::write(&m, bytes).unwrap();
    let o = env.kvm_clone(
        Some(PASS),
        &[
            "snapshots",
            "--repo",
            env.repo_path().to_str().unwrap(),
            "--json",
        ],
    );
    let (_, err) = text(&o);
    assert_eq!(o.status.code(), Some(5), "{err}");
    assert!(err.contains(&format!("snapshot {bad}")), "{err}");
    let listed = json(&o)["snapshots"].as_array().unwrap().clone();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0]["id"], good.as_str());
    // Prune refuses: the damaged manifest's chunks cannot be known.
    let o = env.kvm_clone(
        Some(PASS),
        &[
            "prune",
            "--repo",
            env.repo_path().to_str().unwrap(),
            "--keep-last",
            "1",
        ],
    );
    assert_eq!(o.status.code(), Some(1));
    assert!(
        text(&o).1.contains("prune needs every manifest"),
        "{:?}",
        text(&o)
    );
    assert!(repo.has_chunk(&repo.chunk_id(&block(2))).unwrap());
}

/// On a terminal the passphrase is asked for (twice at init) and never
/// shown; opening asks once.
#[test]
fn terminal_prompts_do_not_echo() {
    let env = Env::new();
    let path = env.repo_path();
    let shell = |args: &str| {
        format!(
            "sh -c 'env -u KVM_CLONE_PASSPHRASE -u RUST_BACKTRACE -u RUST_LIB_BACKTRACE NO_COLOR=1 HOME={home} KVM_CLONE_DATA_DIR={home}/data {bin} {args}; echo EXIT=$?; sleep 120'",
            home = env.home.path().display(),
            bin = env!("CARGO_BIN_EXE_kvm-clone"),
        )
    };
    let typed = "typed-secret-42";
    let t = tmux_util::Tmux::start(120, 40, &shell(&format!("repo init {}", path.display())));
    t.wait_for("the first prompt", |s| {
        s.contains("New repository passphrase:")
    });
    t.keys(&[typed, "Enter"]);
    t.wait_for("the second prompt", |s| {
        s.contains("Repeat the passphrase:")
    });
    t.keys(&[typed, "Enter"]);
    let screen = t.wait_for("init to end", |s| s.contains("EXIT="));
    assert!(
        screen.contains("EXIT=0") && screen.contains("created repository"),
        "{screen}"
    );
    assert!(
        !screen.contains(typed),
        "the passphrase was echoed:\n{screen}"
    );
    drop(t);

    let t = tmux_util::Tmux::start(
        120,
        40,
        &shell(&format!("snapshots --repo {}", path.display())),
    );
    t.wait_for("the prompt", |s| s.contains("Passphrase for"));
    t.keys(&[typed, "Enter"]);
    let screen = t.wait_for("the listing", |s| s.contains("EXIT="));
    assert!(
        screen.contains("EXIT=0") && screen.contains("ID "),
        "{screen}"
    );
    assert!(!screen.contains(typed), "{screen}");
    drop(t);

    // Two different entries create nothing.
    let other = env.home.path().join("other");
    let t = tmux_util::Tmux::start(120, 40, &shell(&format!("repo init {}", other.display())));
    t.wait_for("the first prompt", |s| {
        s.contains("New repository passphrase:")
    });
    t.keys(&["one", "Enter"]);
    t.wait_for("the second prompt", |s| {
        s.contains("Repeat the passphrase:")
    });
    t.keys(&["two", "Enter"]);
    let screen = t.wait_for("init to end", |s| s.contains("EXIT="));
    assert!(
        screen.contains("EXIT=1") && screen.contains("differ"),
        "{screen}"
    );
    assert!(!other.join("config").exists());
}

/// Issue: exit codes were documented only in docs/json.md. Every `--help`
/// (top level, a command, a nested command) ends with them.
#[test]
fn every_help_lists_the_exit_codes() {
    for args in [
        &["--help"][..],
        &["export", "--help"],
        &["repo", "init", "--help"],
    ] {
        let o = std::process::Command::new(env!("CARGO_BIN_EXE_kvm-clone"))
            .args(args)
            .output()
            .unwrap();
        assert!(o.status.success(), "{args:?}");
        let out = String::from_utf8_lossy(&o.stdout);
        assert!(out.contains("Exit codes:"), "{args:?}: {out}");
        for code in ["  0 ", "  1 ", "  2 ", "  3 ", "  4 ", "  5 ", "  75 "] {
            assert!(out.contains(code), "{args:?} lacks {code:?}");
        }
    }
}
