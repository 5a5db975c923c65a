//! Logs go to a file in the data directory, never to the screen (the TUI
//! owns it); lines logged inside a job also go to that job's own log
//! (kvm_clone::jobs::log), which the job detail view shows.

use color_eyre::eyre::{Result, WrapErr};
use kvm_clone::jobs::log::JobLogLayer;
use tracing_appender::non_blocking::WorkerGuard;
use tracing_subscriber::filter::LevelFilter;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Layer};

/// Starts logging; keep the guard alive until exit so the last lines are
/// flushed. `KVM_CLONE_LOG` sets the file's filter (default `info`); job
/// logs always keep `info` and above. `stderr`: the daemon's lines also go
/// to stderr (its journal under systemd).
pub fn init(stderr: bool) -> Result<Option<WorkerGuard>> {
    let Some(dir) = kvm_clone::paths::data_dir() else {
        tracing_subscriber::registry()
            .with(job_logs())
            .try_init()
            .map_err(|e| color_eyre::eyre::eyre!("cannot install the logger: {e}"))?;
        return Ok(None);
    };
    std::fs::create_dir_all(&dir)
        .wrap_err_with(|| format!("cannot create the data directory {}", dir.display()))?;
    let file = tracing_appender::rolling::never(&dir, "kvm-clone.log");
    let (writer, guard) = tracing_appender::non_blocking(file);
    let filter =
        EnvFilter::try_from_env("KVM_CLONE_LOG").unwrap_or_else(|_| EnvFilter::new("info"));
    let to_file = tracing_subscriber::fmt::layer()
        .with_writer(writer)
        .with_ansi(false)
        .with_filter(filter);
    let to_stderr = stderr.then(|| {
        tracing_subscriber::fmt::layer()
            .with_writer(std::io::stderr)
            .with_ansi(false)
            .with_filter(
                EnvFilter::try_from_env("KVM_CLONE_LOG").unwrap_or_else(|_| EnvFilter::new("info")),
            )
    });
    tracing_subscriber::registry()
        .with(to_file)
        .with(to_stderr)
        .with(job_logs())
        .try_init()
        .map_err(|e| color_eyre::eyre::eyre!("cannot install the logger: {e}"))?;
    Ok(Some(guard))
}

/// The per-job log layer, with its own level whatever the file's filter.
fn job_logs<S>() -> impl Layer<S>
where
    S: tracing::Subscriber + for<'a> tracing_subscriber::registry::LookupSpan<'a>,
{
    JobLogLayer::global().with_filter(LevelFilter::INFO)
}
