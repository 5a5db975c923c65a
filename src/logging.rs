//! Logs go to a file in the data directory, never to the screen (the TUI owns it).

use color_eyre::eyre::{Result, WrapErr};
use tracing_appender::non_blocking::WorkerGuard;
use tracing_subscriber::EnvFilter;

/// Starts file logging; keep the guard alive until exit so the last lines are flushed.
/// `KVM_CLONE_LOG` sets the filter (default `info`).
pub fn init(_tui: bool) -> Result<Option<WorkerGuard>> {
    let Some(dir) = kvm_clone::paths::data_dir() else {
        return Ok(None);
    };
    std::fs::create_dir_all(&dir)
        .wrap_err_with(|| format!("cannot create the data directory {}", dir.display()))?;
    let file = tracing_appender::rolling::never(&dir, "kvm-clone.log");
    let (writer, guard) = tracing_appender::non_blocking(file);
    let filter =
        EnvFilter::try_from_env("KVM_CLONE_LOG").unwrap_or_else(|_| EnvFilter::new("info"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(writer)
        .with_ansi(false)
        .try_init()
        .map_err(|e| color_eyre::eyre::eyre!("cannot install the logger: {e}"))?;
    Ok(Some(guard))
}
