//! Ctrl-C while a headless command follows a job.

use color_eyre::eyre::{Result, WrapErr};
use tokio::signal::unix::{Signal, SignalKind, signal};

/// SIGINT as a stream, made once before the loop that follows a job. A
/// `tokio::signal::ctrl_c()` made anew on each turn of the loop misses a
/// signal that arrives while an event is being handled (it only sees
/// signals after it was made): the Ctrl-C was lost and the job ran on.
pub fn interrupts() -> Result<Signal> {
    signal(SignalKind::interrupt()).wrap_err("cannot catch Ctrl-C")
}
