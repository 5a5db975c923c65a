//! How the headless commands get a repository's key: `KVM_CLONE_PASSPHRASE`,
//! `--passphrase-file`, `--identity`, or a prompt on the terminal without
//! echo. Never a command-line argument holding the passphrase itself.

use clap::Args;
use color_eyre::eyre::{Result, WrapErr, eyre};
use kvm_clone::repo::Unlock;
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use zeroize::Zeroizing;

pub const PASSPHRASE_ENV: &str = "KVM_CLONE_PASSPHRASE";

#[derive(Args, Debug, Clone)]
pub struct RepoArgs {
    /// The repository directory.
    #[arg(long, value_name = "PATH")]
    pub repo: PathBuf,
    /// Read the passphrase from the first line of this file.
    #[arg(long, value_name = "FILE")]
    pub passphrase_file: Option<PathBuf>,
    /// An age identity file (AGE-SECRET-KEY-1…) for a repository shared with
    /// recipients; repeatable.
    #[arg(long, value_name = "FILE")]
    pub identity: Vec<PathBuf>,
}

/// The passphrase from the environment or a file, if either is given.
pub fn given_passphrase(passphrase_file: Option<&Path>) -> Result<Option<Zeroizing<String>>> {
    if let Some(p) = std::env::var_os(PASSPHRASE_ENV) {
        let p = p
            .into_string()
            .map_err(|_| eyre!("{PASSPHRASE_ENV} is not valid UTF-8"))?;
        return Ok(Some(Zeroizing::new(p)));
    }
    let Some(file) = passphrase_file else {
        return Ok(None);
    };
    let text = Zeroizing::new(
        std::fs::read_to_string(file)
            .wrap_err_with(|| format!("cannot read the passphrase file {}", file.display()))?,
    );
    let line = text.lines().next().unwrap_or("");
    if line.is_empty() {
        return Err(eyre!("the passphrase file {} is empty", file.display()));
    }
    Ok(Some(Zeroizing::new(line.to_string())))
}

/// Asks on the terminal without echo.
pub fn prompt(label: &str) -> Result<Zeroizing<String>> {
    rpassword::prompt_password(label)
        .map(Zeroizing::new)
        .wrap_err("cannot read the passphrase from the terminal")
}

pub fn interactive() -> bool {
    std::io::stdin().is_terminal()
}

/// How to open the repository of `args` (see the module doc for the order).
pub fn unlock(args: &RepoArgs) -> Result<Unlock> {
    if let Some(p) = given_passphrase(args.passphrase_file.as_deref())? {
        return Ok(Unlock::Passphrase(p));
    }
    if !args.identity.is_empty() {
        return Ok(Unlock::Identities(args.identity.clone()));
    }
    if interactive() && repo_needs_passphrase(&args.repo) {
        let label = format!("Passphrase for {}: ", args.repo.display());
        return Ok(Unlock::Passphrase(prompt(&label)?));
    }
    Ok(Unlock::None)
}

/// Only prompt for repositories that use a passphrase; for others (or no
/// repository at all) opening reports what is needed.
fn repo_needs_passphrase(repo: &Path) -> bool {
    std::fs::read(repo.join(kvm_clone::repo::CONFIG_FILE))
        .ok()
        .and_then(|b| {
            kvm_clone::repo::RepoConfig::parse(&b, &repo.join(kvm_clone::repo::CONFIG_FILE)).ok()
        })
        .is_some_and(|c| c.encryption == "passphrase")
}
