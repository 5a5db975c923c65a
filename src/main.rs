//! The kvm-clone binary: the TUI by default, headless commands for scripts.

mod cli;
mod logging;

use clap::Parser;
use cli::{Cli, Command};
use color_eyre::eyre::{Result, WrapErr};

fn main() -> Result<()> {
    color_eyre::install()?;
    let cli = Cli::parse();
    let _log = logging::init(cli.command.is_none()).wrap_err("cannot set up logging")?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .wrap_err("cannot start the async runtime")?;
    runtime.block_on(async move {
        match cli.command {
            None => cli::run_tui(cli.config.as_deref()).await,
            Some(Command::Hosts { json }) => cli::hosts(cli.config.as_deref(), json).await,
            Some(Command::Vms { host, json }) => {
                cli::vms(cli.config.as_deref(), host.as_deref(), json).await
            }
        }
    })
}
