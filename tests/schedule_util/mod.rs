//! The no-lab set-up of the schedule tests: the binary on a config, data
//! directory and profiles of its own, a local repository without
//! encryption and two export profiles, `keep3` (`[retention] keep_last =
//! 3`) and `all` (no retention).
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;

/// The binary with everything under `dir`; its daemon's socket is
/// `dir/run/d.sock`.
pub fn kvm_clone(dir: &Path) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_kvm-clone"));
    c.env("KVM_CLONE_CONFIG", dir.join("config.toml"))
        .env("KVM_CLONE_DATA_DIR", dir.join("data"))
        .env("XDG_CONFIG_HOME", dir)
        .env("KVM_CLONE_SOCKET", dir.join("run/d.sock"));
    c
}

/// `repo init --no-encryption dir/repo` and the two profiles; returns the
/// repository's path.
pub fn repo_and_profiles(dir: &Path) -> PathBuf {
    let repo = dir.join("repo");
    let out = kvm_clone(dir)
        .args(["repo", "init", "--no-encryption"])
        .arg(&repo)
        .output()
        .expect("repo init");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let profiles = dir.join("kvm-clone/profiles");
    std::fs::create_dir_all(&profiles).expect("profiles dir");
    std::fs::write(
        profiles.join("keep3.toml"),
        "name = \"keep3\"\nkind = \"export\"\n[retention]\nkeep_last = 3\n",
    )
    .expect("profile keep3");
    std::fs::write(
        profiles.join("all.toml"),
        "name = \"all\"\nkind = \"export\"\n",
    )
    .expect("profile all");
    repo
}
