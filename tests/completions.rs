//! `kvm-clone completions` and `kvm-clone man` through the binary: the bash
//! scripts are sourced in a real bash and their completion function called
//! as bash would (COMP_WORDS, COMP_CWORD); the man pages go through `man -l`
//! with warnings on (man-db: tests/lab/install-deps).

use std::path::Path;
use std::process::{Command, Output};

const BIN: &str = env!("CARGO_BIN_EXE_kvm-clone");

fn kvm_clone(home: &Path, args: &[&str], env: &[(&str, &str)]) -> Output {
    Command::new(BIN)
        .args(args)
        .env("HOME", home)
        .env("XDG_CONFIG_HOME", home.join(".config"))
        .env("KVM_CLONE_DATA_DIR", home.join("data"))
        .env("KVM_CLONE_CONFIG", home.join("config.toml"))
        // No daemon answers here: VM names complete to nothing.
        .env("KVM_CLONE_SOCKET", home.join("no-daemon.sock"))
        .envs(env.iter().copied())
        .output()
        .expect("run kvm-clone")
}

fn stdout(out: &Output) -> String {
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// What bash's completion for `kvm-clone` offers for `words`, the last one
/// being the word under the cursor: the script in `script` is sourced and
/// the function `complete -p` names is called with bash's arguments.
fn complete(home: &Path, script: &Path, words: &[&str]) -> Vec<String> {
    let quoted: Vec<String> = words
        .iter()
        .map(|w| format!("'{}'", w.replace('\'', r"'\''")))
        .collect();
    let program = format!(
        r#"source "$1" || exit 9
f=$(complete -p kvm-clone | sed -E 's/.*-F ([^ ]+).*/\1/')
COMP_WORDS=({words})
COMP_CWORD=$(( ${{#COMP_WORDS[@]}} - 1 ))
COMP_LINE="${{COMP_WORDS[*]}}"
COMP_POINT=${{#COMP_LINE}}
COMP_TYPE=9
prev=""
[ "$COMP_CWORD" -gt 0 ] && prev=${{COMP_WORDS[COMP_CWORD-1]}}
"$f" kvm-clone "${{COMP_WORDS[COMP_CWORD]}}" "$prev"
printf '%s\n' "${{COMPREPLY[@]}}"
"#,
        words = quoted.join(" ")
    );
    let out = Command::new("bash")
        .args(["--norc", "--noprofile", "-c", &program, "bash"])
        .arg(script)
        .env("HOME", home)
        .env("XDG_CONFIG_HOME", home.join(".config"))
        .env("KVM_CLONE_CONFIG", home.join("config.toml"))
        .env("KVM_CLONE_SOCKET", home.join("no-daemon.sock"))
        .output()
        .expect("run bash");
    assert!(
        out.status.success(),
        "bash: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut got: Vec<String> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| l.trim().to_string())
        .filter(|l| !l.is_empty())
        .collect();
    got.sort();
    got
}

fn home_with_hosts() -> tempfile::TempDir {
    let home = tempfile::tempdir().unwrap();
    std::fs::write(
        home.path().join("config.toml"),
        "[[hosts]]\nname = \"alpha\"\naddress = \"127.0.0.1\"\n\n\
         [[hosts]]\nname = \"beta\"\naddress = \"127.0.0.2\"\n",
    )
    .unwrap();
    home
}

/// The script kvm-clone prints with `args` and `env`, in a file.
fn write_script(home: &Path, args: &[&str], env: &[(&str, &str)]) -> std::path::PathBuf {
    let script = home.join(format!("script-{}.bash", args.len()));
    std::fs::write(&script, stdout(&kvm_clone(home, args, env))).unwrap();
    script
}

/// What the issue asks of either script.
fn subcommands_and_options(home: &Path, script: &Path) {
    assert_eq!(complete(home, script, &["kvm-clone", "cl"]), ["clone"]);
    assert_eq!(
        complete(home, script, &["kvm-clone", "clone", "--pro"]),
        ["--profile"]
    );
}

#[test]
fn static_bash_script_completes_subcommands_and_options() {
    let home = home_with_hosts();
    let script = write_script(home.path(), &["completions", "bash"], &[]);

    subcommands_and_options(home.path(), &script);
    // Past the subcommand too, which clap_complete alone gets wrong for a
    // hyphenated binary name (clap-rs/clap#6421).
    assert_eq!(
        complete(home.path(), &script, &["kvm-clone", "history", "st"]),
        ["stats"]
    );
    assert_eq!(
        complete(home.path(), &script, &["kvm-clone", "export", "--incr"]),
        Vec::<String>::new(),
        "export has no --incr… option"
    );
}

#[test]
fn every_shell_gets_a_script() {
    let home = tempfile::tempdir().unwrap();
    for shell in ["bash", "zsh", "fish", "elvish", "powershell"] {
        let text = stdout(&kvm_clone(home.path(), &["completions", shell], &[]));
        assert!(text.contains("kvm-clone"), "{shell}: {text}");
        assert!(text.contains("profile"), "{shell}");
    }
    let bad = kvm_clone(home.path(), &["completions", "tcsh"], &[]);
    assert_eq!(bad.status.code(), Some(2));
}

#[test]
fn dynamic_bash_completion_offers_hosts_and_profiles() {
    let home = home_with_hosts();
    let script = write_script(home.path(), &[], &[("COMPLETE", "bash")]);
    let text = std::fs::read_to_string(&script).unwrap();
    assert!(text.contains(BIN), "the script calls this binary: {text}");

    subcommands_and_options(home.path(), &script);
    assert_eq!(
        complete(home.path(), &script, &["kvm-clone", "clone", "--from", ""]),
        ["alpha", "beta"]
    );
    assert_eq!(
        complete(home.path(), &script, &["kvm-clone", "vms", "--host", "b"]),
        ["beta"]
    );
    assert_eq!(
        complete(
            home.path(),
            &script,
            &["kvm-clone", "export", "--profile", "quick"]
        ),
        ["quick-backup", "quick-clone"]
    );
    // No daemon: no VM names, and no error on the terminal.
    assert_eq!(
        complete(home.path(), &script, &["kvm-clone", "clone", "--vm", ""]),
        Vec::<String>::new()
    );
}

#[test]
fn man_pages_render_without_warnings() {
    let home = tempfile::tempdir().unwrap();
    let dir = home.path().join("man");
    stdout(&kvm_clone(
        home.path(),
        &["man", "--out", dir.to_str().unwrap()],
        &[],
    ));
    let mut pages: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    pages.sort();
    for want in [
        "kvm-clone.1",
        "kvm-clone-clone.1",
        "kvm-clone-export.1",
        "kvm-clone-completions.1",
        "kvm-clone-man.1",
        "kvm-clone-history-stats.1",
    ] {
        assert!(pages.iter().any(|p| p == want), "{want} in {pages:?}");
    }
    // The main page on stdout is the same page.
    let main = stdout(&kvm_clone(home.path(), &["man"], &[]));
    assert_eq!(
        main,
        std::fs::read_to_string(dir.join("kvm-clone.1")).unwrap()
    );

    for page in &pages {
        let out = Command::new("man")
            .args(["--warnings", "-l"])
            .arg(dir.join(page))
            .env("LC_ALL", "C.UTF-8")
            .env("MANWIDTH", "80")
            .env("MAN_KEEP_FORMATTING", "0")
            .env_remove("MANPAGER")
            .env_remove("PAGER")
            .output()
            .expect("run man (package man-db; tests/lab/install-deps installs it)");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "{page}: {err}");
        assert!(err.trim().is_empty(), "{page} warns: {err}");
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(text.contains("kvm-clone"), "{page}: {text}");
    }
    let clone = Command::new("man")
        .args(["-l"])
        .arg(dir.join("kvm-clone-clone.1"))
        .env("MANWIDTH", "80")
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&clone.stdout).contains("--profile"));
}
