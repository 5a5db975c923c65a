//! Command-line interface: argument parsing and the glue between the
//! backend and each front end (TUI or headless output).

use clap::{Parser, Subcommand};
use color_eyre::eyre::{Result, WrapErr, eyre};
use kvm_clone::backend;
use kvm_clone::config;
use std::path::Path;
use std::time::Duration;

/// Unless `name` is a configured host: an error naming the config file and
/// the hosts it has, so the operator sees the right spelling at once.
pub(crate) fn require_host(
    loaded: &kvm_clone::config::LoadedConfig,
    name: &str,
) -> color_eyre::eyre::Result<()> {
    if loaded.config.hosts.iter().any(|h| h.name == name) {
        return Ok(());
    }
    let known: Vec<&str> = loaded
        .config
        .hosts
        .iter()
        .map(|h| h.name.as_str())
        .collect();
    let known = if known.is_empty() {
        "none yet: add one with `a` in the TUI or see docs/config.md".to_string()
    } else {
        known.join(", ")
    };
    Err(color_eyre::eyre::eyre!(
        "no host named {name:?} in {} (configured: {known})",
        loaded.path.display()
    ))
}

/// The command line as clap knows it: every subcommand's `--help` ends with
/// the exit codes too, and host, VM and profile arguments complete
/// dynamically. Parsing, completion scripts and man pages all use it.
pub fn command() -> clap::Command {
    use clap::CommandFactory;
    fn with_codes(c: clap::Command) -> clap::Command {
        c.after_help(EXIT_CODES).mut_subcommands(with_codes)
    }
    complete::with_candidates(Cli::command().mut_subcommands(with_codes))
}

/// Parses the command line.
pub fn parse() -> Cli {
    use clap::FromArgMatches;
    let mut cmd = command();
    let matches = cmd.get_matches_mut();
    // KVM_CLONE_NO_DAEMON yields to --daemon; the two flags together do not.
    let typed = |id| matches.value_source(id) == Some(clap::parser::ValueSource::CommandLine);
    if typed("daemon") && typed("no_daemon") {
        cmd.error(
            clap::error::ErrorKind::ArgumentConflict,
            "--daemon and --no-daemon contradict each other; give one",
        )
        .exit();
    }
    Cli::from_arg_matches(&matches).unwrap_or_else(|e| e.exit())
}

/// Exit codes, as docs/json.md lists them; shown under every `--help`.
const EXIT_CODES: &str = "Exit codes:
  0   success
  1   an error: the message says what and where
  2   bad command-line usage
  3   clone, export, restore: a pre-flight check failed; nothing was changed
  4   clone, export, restore, extract: cancelled; what the job made was removed
  5   verify: damage found; snapshots: a manifest cannot be read
  75  clone, export, restore: a host could not be reached or needs the operator;
      hosts, vms: some host is not up; prune, verify --repair: the repository is busy;
      --daemon: no daemon answers on the socket";

#[derive(Parser, Debug)]
#[command(
    name = "kvm-clone",
    version,
    about = "Clone, export, back up and restore KVM VMs between libvirt hosts over SSH",
    after_help = EXIT_CODES,
    after_long_help = EXIT_CODES
)]
pub struct Cli {
    /// Config file (default: ~/.config/kvm-clone/config.toml; also KVM_CLONE_CONFIG).
    #[arg(long, global = true, value_name = "FILE")]
    pub config: Option<std::path::PathBuf>,
    /// Require the daemon (`kvm-clone daemon`) and use it: the TUI shows
    /// its hosts and jobs, and quitting leaves them running; clone, restore
    /// and export hand their job to it: the job goes on if this command is
    /// killed; Ctrl-C still cancels it. Fails when no daemon answers
    /// (exit 75) or it serves another config file. Without it they attach
    /// to a daemon of the same config when one answers, and the TUI starts
    /// one when none does (docs/daemon.md).
    #[arg(long, global = true)]
    pub daemon: bool,
    /// Never use a daemon: run the TUI's and the commands' jobs in this
    /// process, which ends them when it ends (also KVM_CLONE_NO_DAEMON=1).
    #[arg(
        long,
        global = true,
        env = "KVM_CLONE_NO_DAEMON",
        value_parser = clap::builder::FalseyValueParser::new()
    )]
    pub no_daemon: bool,
    /// The daemon's socket (default: $XDG_RUNTIME_DIR/kvm-clone/daemon.sock,
    /// or /run/kvm-clone/daemon.sock for root).
    #[arg(long, global = true, value_name = "PATH", env = "KVM_CLONE_SOCKET")]
    pub socket: Option<std::path::PathBuf>,
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Show every configured host: connection state, versions, CPUs, memory, pools.
    Hosts {
        /// Print JSON (docs/json.md) instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Clone a VM to another host: validate, copy, verify, define.
    Clone {
        /// Source host.
        #[arg(long, value_name = "HOST")]
        from: String,
        /// The VM to clone.
        #[arg(long, value_name = "NAME")]
        vm: String,
        /// Destination host.
        #[arg(long, value_name = "HOST")]
        to: String,
        /// Name of the clone (default: <vm>-clone).
        #[arg(long, value_name = "NEW")]
        name: Option<String>,
        /// Profile (docs/profiles.md).
        #[arg(long, value_name = "P", default_value = "default")]
        profile: String,
        /// Start the clone once it is defined.
        #[arg(long)]
        start: bool,
        /// Only run the pre-flight checks and print them; change nothing.
        #[arg(long)]
        dry_run: bool,
        /// Print the result and the validation report as JSON (docs/json.md).
        #[arg(long)]
        json: bool,
    },
    /// Export a VM into a repository (incremental, deduplicated, encrypted; docs/export.md).
    Export(export::ExportArgs),
    /// List the job profiles (built-in and yours) with their source.
    Profiles {
        /// Print JSON (docs/json.md) instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Jobs run so far, newest first; `stats`, `delete` and `compact` (docs/history.md).
    History(history::HistoryArgs),
    /// Repository commands: `repo init PATH` (docs/repository-format.md).
    Repo(repository::RepoCommand),
    /// List a repository's snapshots, newest first.
    Snapshots(repository::SnapshotsArgs),
    /// Check a repository: every referenced chunk exists; with --read-data,
    /// each one decrypts and matches its id. Exit code 5 on damage.
    Verify(repository::VerifyArgs),
    /// Remove snapshots outside a retention policy, then unreferenced chunks.
    Prune(repository::PruneArgs),
    /// Restore a repository snapshot onto a host as a new VM (or, with
    /// --keep-identity, as the same VM): validate, write, verify, define.
    Restore(restore::RestoreArgs),
    /// Write one disk of a repository snapshot to a local raw or qcow2 file.
    Extract(restore::ExtractArgs),
    /// Run the backend as a daemon in the foreground: hosts, jobs and
    /// history live on while front ends attach and leave (docs/daemon.md).
    /// SIGTERM or SIGINT stops it (running jobs are cancelled and cleaned up).
    Daemon {
        /// Exit after this long with no client attached and no job running
        /// ("30m", "1h"); by default it runs until stopped.
        #[arg(long, value_name = "DURATION", value_parser = idle_duration)]
        idle_exit: Option<Duration>,
    },
    /// The daemon's schedules: next run, and how the last one went
    /// (docs/schedules.md).
    Schedules {
        /// Print JSON (docs/json.md) instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Print a shell completion script (static; `COMPLETE=bash kvm-clone`
    /// prints one that also completes host, VM and profile names;
    /// docs/completions.md).
    Completions {
        /// The shell: bash, zsh, fish, elvish or powershell.
        shell: complete::Shell,
    },
    /// Print the man page, or with --out write one per subcommand.
    Man {
        /// Write kvm-clone.1 and kvm-clone-<subcommand>.1 into this directory.
        #[arg(long, value_name = "DIR")]
        out: Option<std::path::PathBuf>,
    },
    /// Show the VMs of one host, or of every host.
    Vms {
        /// Only this host.
        #[arg(long, value_name = "NAME")]
        host: Option<String>,
        /// Print JSON (docs/json.md) instead of a table.
        #[arg(long)]
        json: bool,
    },
}

/// How long headless commands wait for hosts to answer before reporting them as they are.
const HEADLESS_TIMEOUT: Duration = Duration::from_secs(30);

fn load(config: Option<&Path>) -> Result<config::LoadedConfig> {
    // The error already names the file, line and reason.
    config::load(config).map_err(|e| eyre!("{e}"))
}

impl Cli {
    /// Where jobs run: this process, or the daemon.
    pub fn via(&self) -> link::Via {
        let attach = match (self.daemon, self.no_daemon) {
            (true, _) => link::Attach::Require,
            (false, true) => link::Attach::Never,
            (false, false) => link::Attach::Auto,
        };
        link::Via {
            attach,
            socket: self.socket.clone(),
            // The TUI starts a daemon when none answers; commands do not.
            start: self.command.is_none(),
        }
    }
}

fn idle_duration(text: &str) -> std::result::Result<Duration, String> {
    kvm_clone::config::parse_duration(text)
}

pub use schedules::schedules;

/// `kvm-clone daemon`.
pub async fn daemon(
    config: Option<&Path>,
    socket: Option<&Path>,
    idle_exit: Option<Duration>,
) -> Result<()> {
    let loaded = load(config)?;
    let socket = kvm_clone::daemon::socket::resolve(socket)?;
    let options = kvm_clone::backend::Options {
        run_schedules: true,
        ..Default::default()
    };
    kvm_clone::daemon::run::run(loaded, &socket, options, idle_exit).await?;
    Ok(())
}

pub async fn run_tui(config: Option<&Path>, via: &link::Via) -> Result<()> {
    let loaded = load(config)?;
    let keys = kvm_clone::tui::KeyMap::from_config(&loaded.config.keys)
        .map_err(|e| eyre!("{}: [keys]: {e}", loaded.path.display()))?;
    let mut state = kvm_clone::tui::AppState::new(
        &keys,
        kvm_clone::tui::Theme::from_env(),
        Some(loaded.path.clone()),
    );
    // The repository used last, else the configured one.
    state.remember_in = kvm_clone::tui::remembered::file();
    let last = state
        .remember_in
        .as_deref()
        .and_then(|f| kvm_clone::tui::remembered::load(f).repository);
    state.repository = last.or_else(|| {
        loaded
            .config
            .export
            .as_ref()
            .and_then(|e| e.repository.clone())
    });
    let link::Link {
        actions,
        events,
        task,
        daemon,
        note,
        ..
    } = link::open(via, loaded, backend::Options::default()).await?;
    state.daemon = daemon;
    if let Some(note) = note {
        state.set_status(note);
    }
    kvm_clone::tui::run(state, keys, actions, events)
        .await
        .wrap_err("the terminal UI failed")?;
    // The TUI sent Action::Quit; let the backend close connections.
    let _ = tokio::time::timeout(Duration::from_secs(5), task).await;
    Ok(())
}

mod clone;
mod complete;
mod export;
mod history;
mod interrupt;
mod inventory;
pub mod link;
mod profiles;
mod repository;
mod restore;
mod schedules;
mod unlock;
mod wait;
pub use clone::clone;
pub use complete::{completions, man};
pub use export::export;
pub use history::history;
pub use inventory::{hosts, vms};
pub use profiles::profiles;
pub use repository::{prune, repo, snapshots, verify};
pub use restore::{extract, restore};
