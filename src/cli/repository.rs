//! `kvm-clone repo init`, `snapshots`, `verify` and `prune`: commands on a
//! repository alone (no host is contacted).

use super::unlock::{RepoArgs, given_passphrase, interactive, prompt, unlock};
use clap::{Args, Subcommand};
use color_eyre::eyre::{Result, WrapErr, eyre};
use kvm_clone::headless::repository as render;
use kvm_clone::repo::prune::{PruneOptions, prune as run_prune};
use kvm_clone::repo::retention::Policy;
use kvm_clone::repo::verify::{remove_damaged, verify_with_progress};
use kvm_clone::repo::{DEFAULT_CHUNK_SIZE, InitEncryption, InitOptions, Repo, RepoError};
use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;

pub mod exit {
    /// `verify` found damage.
    pub const DAMAGED: u8 = 5;
    /// The repository is locked by another run: try again later (EX_TEMPFAIL).
    pub const BUSY: u8 = 75;
}

#[derive(Args, Debug)]
pub struct RepoCommand {
    #[command(subcommand)]
    pub action: RepoAction,
}

#[derive(Subcommand, Debug)]
pub enum RepoAction {
    /// Create a repository: encrypted with a passphrase (asked twice, or
    /// KVM_CLONE_PASSPHRASE / --passphrase-file) unless --recipient or
    /// --no-encryption is given.
    Init(InitArgs),
}

#[derive(Args, Debug)]
pub struct InitArgs {
    /// The directory to create (or an empty one).
    pub path: PathBuf,
    /// Store chunks and manifests in the clear (integrity is still checked).
    #[arg(long, conflicts_with_all = ["recipient", "passphrase_file"])]
    pub no_encryption: bool,
    /// Encrypt for this age recipient (age1…) instead of a passphrase; repeatable.
    #[arg(long, value_name = "AGE1…", conflicts_with = "passphrase_file")]
    pub recipient: Vec<String>,
    /// Read the passphrase from the first line of this file.
    #[arg(long, value_name = "FILE")]
    pub passphrase_file: Option<PathBuf>,
    /// Chunk size: a power of two from 64K to 64M ("4M", "1M", "262144").
    #[arg(long, value_name = "SIZE", value_parser = parse_chunk_size)]
    pub chunk_size: Option<u32>,
    /// Passphrase key derivation cost: scrypt N = 2^LOG_N (128 MiB × 2^(LOG_N-17)
    /// of memory per unlock). Default 17; 14 to 20.
    #[arg(long, value_name = "LOG_N", value_parser = clap::value_parser!(u8).range(14..=20),
          conflicts_with_all = ["recipient", "no_encryption"])]
    pub scrypt_log_n: Option<u8>,
}

#[derive(Args, Debug)]
pub struct SnapshotsArgs {
    #[command(flatten)]
    pub repo: RepoArgs,
    /// Only this VM's snapshots.
    #[arg(long, value_name = "NAME")]
    pub vm: Option<String>,
    /// Print JSON (docs/json.md) instead of a table.
    #[arg(long)]
    pub json: bool,
}

#[derive(Args, Debug)]
pub struct VerifyArgs {
    #[command(flatten)]
    pub repo: RepoArgs,
    /// Only this snapshot (id, or a unique prefix of 4+ characters).
    #[arg(long, value_name = "ID")]
    pub snapshot: Option<String>,
    /// Also read, decrypt, decompress and check the id of every chunk.
    #[arg(long)]
    pub read_data: bool,
    /// Remove the chunk files found damaged, so that the next export of the
    /// VM stores that data again (which heals every snapshot sharing it).
    #[arg(long, requires = "read_data")]
    pub repair: bool,
    /// Print JSON (docs/json.md).
    #[arg(long)]
    pub json: bool,
}

#[derive(Args, Debug)]
pub struct PruneArgs {
    #[command(flatten)]
    pub repo: RepoArgs,
    /// Keep the N newest snapshots of each VM.
    #[arg(long, value_name = "N", default_value_t = 0)]
    pub keep_last: u32,
    /// Keep the newest snapshot of each of the last N days that have one (UTC).
    #[arg(long, value_name = "N", default_value_t = 0)]
    pub keep_daily: u32,
    /// The same per ISO week.
    #[arg(long, value_name = "N", default_value_t = 0)]
    pub keep_weekly: u32,
    /// The same per month.
    #[arg(long, value_name = "N", default_value_t = 0)]
    pub keep_monthly: u32,
    /// The same per year.
    #[arg(long, value_name = "N", default_value_t = 0)]
    pub keep_yearly: u32,
    /// Only consider this VM's snapshots; others are kept.
    #[arg(long, value_name = "NAME")]
    pub vm: Option<String>,
    /// Show what would be removed and freed; change nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Print JSON (docs/json.md).
    #[arg(long)]
    pub json: bool,
}

fn parse_chunk_size(s: &str) -> Result<u32, String> {
    let t = s.trim();
    let (num, mult) = match t.to_ascii_uppercase() {
        u if u.ends_with("MIB") || u.ends_with('M') => (
            t.trim_end_matches(|c: char| c.is_ascii_alphabetic()),
            1u64 << 20,
        ),
        u if u.ends_with("KIB") || u.ends_with('K') => (
            t.trim_end_matches(|c: char| c.is_ascii_alphabetic()),
            1u64 << 10,
        ),
        _ => (t, 1),
    };
    let n: u64 = num
        .trim()
        .parse()
        .map_err(|_| format!("{s:?} is not a size (e.g. 4M, 1M, 262144)"))?;
    u32::try_from(n.saturating_mul(mult)).map_err(|_| format!("{s} is too large"))
}

/// Runs blocking repository work off the async runtime.
async fn blocking<T: Send + 'static>(f: impl FnOnce() -> Result<T> + Send + 'static) -> Result<T> {
    tokio::task::spawn_blocking(f)
        .await
        .wrap_err("the repository task failed")?
}

fn open(args: &RepoArgs) -> Result<Repo> {
    let how = unlock(args)?;
    Ok(Repo::open(&args.repo, &how)?)
}

pub async fn repo(cmd: RepoCommand) -> Result<()> {
    match cmd.action {
        RepoAction::Init(args) => blocking(move || init(args)).await,
    }
}

fn init(args: InitArgs) -> Result<()> {
    let encryption = if args.no_encryption {
        InitEncryption::None
    } else if !args.recipient.is_empty() {
        InitEncryption::Recipients(args.recipient.clone())
    } else if let Some(p) = given_passphrase(args.passphrase_file.as_deref())? {
        InitEncryption::Passphrase(p)
    } else if interactive() {
        let first = prompt("New repository passphrase: ")?;
        if first.is_empty() {
            return Err(eyre!("the passphrase is empty"));
        }
        let again = prompt("Repeat the passphrase: ")?;
        if *first != *again {
            return Err(eyre!("the passphrases differ; nothing was created"));
        }
        InitEncryption::Passphrase(first)
    } else {
        return Err(eyre!(
            "no passphrase: set KVM_CLONE_PASSPHRASE or --passphrase-file, give --recipient age1…, or ask for --no-encryption"
        ));
    };
    let opts = InitOptions {
        encryption,
        chunk_size: args.chunk_size.unwrap_or(DEFAULT_CHUNK_SIZE),
        scrypt_log_n: args.scrypt_log_n,
    };
    let repo = Repo::init(&args.path, &opts)?;
    let how = match repo.config().encryption.as_str() {
        "passphrase" => {
            "encrypted with a passphrase (keep it safe: without it nothing can be restored)"
        }
        "recipients" => "encrypted for the given age recipients",
        _ => "NOT encrypted",
    };
    println!(
        "created repository {} at {}: {how}, chunk size {}",
        repo.id(),
        repo.path().display(),
        kvm_clone::headless::size(u64::from(repo.chunk_size()))
    );
    Ok(())
}

/// Lists what reads back; a manifest that does not is named on stderr and
/// makes the exit code 5 (as `verify` would).
pub async fn snapshots(args: SnapshotsArgs) -> Result<ExitCode> {
    let (text, damaged) = blocking(move || {
        let repo = open(&args.repo)?;
        let scan = repo.scan_snapshots()?;
        let mut list = scan.snapshots;
        if let Some(vm) = &args.vm {
            list.retain(|s| &s.manifest.vm == vm);
        }
        let text = if args.json {
            render::render_snapshots_json(&list)? + "\n"
        } else {
            render::render_snapshots(&list, chrono::Utc::now().timestamp(), false)
        };
        Ok((text, scan.damaged))
    })
    .await?;
    print!("{text}");
    for d in &damaged {
        eprintln!(
            "warning: snapshot {}: the manifest cannot be read: {} (see kvm-clone verify)",
            d.id, d.reason
        );
    }
    Ok(if damaged.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(exit::DAMAGED)
    })
}

pub async fn verify(args: VerifyArgs) -> Result<ExitCode> {
    let report = blocking(move || {
        let repo = open(&args.repo)?;
        // A progress line on a terminal; scripts get only the result.
        let tty = std::io::stderr().is_terminal();
        let progress = |done: u64, total: u64| {
            if tty && (done % (total / 200).max(1) == 0 || done == total) {
                eprint!("\rverifying: {done}/{total} chunks");
            }
        };
        let report =
            verify_with_progress(&repo, args.snapshot.as_deref(), args.read_data, &progress);
        if tty {
            eprint!("\r\x1b[2K");
        }
        let mut report = report?;
        // Busy: another export or prune holds the repository; the damage is
        // still reported, and nothing is removed.
        let busy = if args.repair {
            match remove_damaged(&repo, &mut report) {
                Ok(_) => None,
                Err(e @ RepoError::Busy { .. }) => Some(e),
                Err(e) => return Err(e.into()),
            }
        } else {
            None
        };
        Ok((report, args.json, busy))
    })
    .await?;
    let (report, json, busy) = report;
    if let Some(e) = &busy {
        eprintln!("Error: {e}; no damaged chunk was removed, try --repair again later");
    }
    if json {
        println!("{}", render::render_verify_json(&report)?);
    } else {
        print!("{}", render::render_verify(&report));
    }
    Ok(if busy.is_some() {
        ExitCode::from(exit::BUSY)
    } else if report.is_ok() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(exit::DAMAGED)
    })
}

pub async fn prune(args: PruneArgs) -> Result<ExitCode> {
    let opts = PruneOptions {
        policy: Policy {
            last: args.keep_last,
            daily: args.keep_daily,
            weekly: args.keep_weekly,
            monthly: args.keep_monthly,
            yearly: args.keep_yearly,
        },
        vm: args.vm.clone(),
        dry_run: args.dry_run,
        confirmed: None,
    };
    let json = args.json;
    let result = blocking(move || {
        let repo = open(&args.repo)?;
        Ok(run_prune(&repo, &opts))
    })
    .await?;
    let report = match result {
        Ok(r) => r,
        Err(e @ RepoError::Busy { .. }) => {
            eprintln!("Error: {e}");
            return Ok(ExitCode::from(exit::BUSY));
        }
        Err(e @ RepoError::ManifestDamaged { .. }) => {
            return Err(eyre!(
                "{e}\nprune needs every manifest to know which chunks are in use: run kvm-clone verify, and move a manifest that cannot be repaired out of snapshots/"
            ));
        }
        Err(e) => return Err(e.into()),
    };
    if json {
        println!("{}", render::render_prune_json(&report)?);
    } else {
        print!("{}", render::render_prune(&report, false));
    }
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::parse_chunk_size;

    #[test]
    fn chunk_sizes() {
        assert_eq!(parse_chunk_size("4M"), Ok(4 << 20));
        assert_eq!(parse_chunk_size("64KiB"), Ok(64 << 10));
        assert_eq!(parse_chunk_size("262144"), Ok(262144));
        assert!(parse_chunk_size("big").is_err());
        assert!(parse_chunk_size("8192M").is_err());
    }
}
