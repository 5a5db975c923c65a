//! `kvm-clone completions SHELL`, `kvm-clone man`, and the dynamic
//! completion of host, VM and profile names (`COMPLETE=bash kvm-clone`,
//! clap_complete's `CompleteEnv`; docs/completions.md).

use clap::builder::PossibleValue;
use clap::{Command, ValueEnum};
use clap_complete::engine::{ArgValueCandidates, CompletionCandidate};
use color_eyre::eyre::{Result, WrapErr};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The shells `kvm-clone completions` writes a script for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shell(pub clap_complete::Shell);

impl ValueEnum for Shell {
    fn value_variants<'a>() -> &'a [Self] {
        use clap_complete::Shell as S;
        &[
            Shell(S::Bash),
            Shell(S::Zsh),
            Shell(S::Fish),
            Shell(S::Elvish),
            Shell(S::PowerShell),
        ]
    }

    fn to_possible_value(&self) -> Option<PossibleValue> {
        self.0.to_possible_value()
    }
}

/// Prints the static completion script for `shell` on stdout.
pub fn completions(shell: Shell) -> Result<()> {
    let mut cmd = super::command();
    let mut script = Vec::new();
    clap_complete::generate(shell.0, &mut cmd, BIN, &mut script);
    let mut script = String::from_utf8_lossy(&script).into_owned();
    if shell.0 == clap_complete::Shell::Bash {
        script = fix_bash_hyphen(&script);
    }
    std::io::Write::write_all(&mut std::io::stdout().lock(), script.as_bytes())
        .wrap_err("cannot write the completion script")
}

const BIN: &str = "kvm-clone";

/// clap_complete's bash script spells the subcommand states of a binary
/// with a hyphen in its name two ways (`kvm__clone__subcmd__clone` where it
/// sets them, `kvm__subcmd__clone__subcmd__clone` where it matches them),
/// so nothing after the subcommand completes (clap-rs/clap#6421). The
/// matching side is respelled; once clap fixes it this changes nothing.
fn fix_bash_hyphen(script: &str) -> String {
    script.replace(&BIN.replace('-', "__subcmd__"), &BIN.replace('-', "__"))
}

/// `kvm-clone man`: the main page on stdout, or with `out` every page
/// (`kvm-clone.1`, `kvm-clone-clone.1`, …) written into that directory.
pub fn man(out: Option<&Path>) -> Result<()> {
    // As generate_to does: `help` is not a page of its own.
    let cmd = super::command().disable_help_subcommand(true);
    match out {
        None => clap_mangen::Man::new(cmd)
            .render(&mut std::io::stdout().lock())
            .wrap_err("cannot write the man page"),
        Some(dir) => {
            std::fs::create_dir_all(dir)
                .wrap_err_with(|| format!("cannot create {}", dir.display()))?;
            clap_mangen::generate_to(cmd, dir)
                .wrap_err_with(|| format!("cannot write the man pages into {}", dir.display()))?;
            println!("man pages written to {}", dir.display());
            Ok(())
        }
    }
}

/// Gives every `--from`, `--to` and `--host` host-name candidates, every
/// `--vm` VM names and every `--profile` profile names, in all subcommands.
pub fn with_candidates(cmd: Command) -> Command {
    let names: Vec<String> = cmd
        .get_arguments()
        .map(|a| a.get_id().as_str().to_string())
        .collect();
    let mut cmd = cmd;
    for id in names {
        let add = match id.as_str() {
            "from" | "to" | "host" => ArgValueCandidates::new(host_names),
            "vm" => ArgValueCandidates::new(vm_names),
            "profile" => ArgValueCandidates::new(profile_names),
            _ => continue,
        };
        cmd = cmd.mut_arg(id, |a| a.add(add));
    }
    cmd.mut_subcommands(with_candidates)
}

/// `--config FILE` or `--config=FILE` on the line being completed: the
/// completer sees the words typed so far as its own arguments.
fn config_arg() -> Option<PathBuf> {
    let args: Vec<std::ffi::OsString> = std::env::args_os().collect();
    args.iter().enumerate().find_map(|(i, a)| {
        let s = a.to_str()?;
        if s == "--config" {
            return args.get(i + 1).map(PathBuf::from);
        }
        s.strip_prefix("--config=").map(PathBuf::from)
    })
}

fn host_names() -> Vec<CompletionCandidate> {
    // A config that cannot be read completes nothing: a Tab press has no
    // place to show the error.
    let Ok(loaded) = kvm_clone::config::load(config_arg().as_deref()) else {
        return Vec::new();
    };
    loaded
        .config
        .hosts
        .iter()
        .map(|h| {
            let shown = h.address.clone().or_else(|| h.ssh_alias.clone());
            CompletionCandidate::new(&h.name).help(shown.map(Into::into))
        })
        .collect()
}

fn profile_names() -> Vec<CompletionCandidate> {
    let dir = kvm_clone::config::profile::user_profile_dir();
    let Ok(all) = kvm_clone::config::profile::load_profiles(dir.as_deref()) else {
        return Vec::new();
    };
    all.iter()
        .map(|p| {
            CompletionCandidate::new(&p.profile.name)
                .help(Some(p.profile.description.clone().into()))
        })
        .collect()
}

/// VM names come from a running daemon, which already holds every host's
/// VMs: asking the hosts themselves would mean SSH connections on every Tab.
/// Without a daemon there are none.
fn vm_names() -> Vec<CompletionCandidate> {
    let explicit = std::env::var_os("KVM_CLONE_SOCKET")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from);
    let Ok(socket) = kvm_clone::daemon::socket::resolve(explicit.as_deref()) else {
        return Vec::new();
    };
    let Ok(runtime) = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    else {
        return Vec::new();
    };
    let names = runtime.block_on(async {
        let ask = async {
            let mut link = kvm_clone::daemon::client::connect(&socket, "completion")
                .await
                .ok()?;
            let first = link.events.recv().await;
            let _ = link
                .actions
                .send(kvm_clone::backend::messages::Action::Quit);
            match first? {
                kvm_clone::backend::messages::Event::Snapshot(s) => Some(s.vms),
                _ => None,
            }
        };
        tokio::time::timeout(Duration::from_secs(2), ask)
            .await
            .ok()
            .flatten()
    });
    let mut out: Vec<CompletionCandidate> = Vec::new();
    for (host, vms) in names.unwrap_or_default() {
        for vm in vms {
            out.push(CompletionCandidate::new(&vm.name).help(Some(format!("on {host}").into())));
        }
    }
    out
}
