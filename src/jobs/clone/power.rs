//! Shutting the source VM down for an offline copy and starting it again
//! after, for profiles whose live policy asks for it (docs/profiles.md).
//! Graceful only: the guest is asked (ACPI power button) and never forced.

use crate::jobs::error::JobError;
use crate::jobs::hosts::HostLink;
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;

/// How often the state is polled while waiting for the guest to stop.
const POLL: Duration = Duration::from_millis(500);
/// Guests that were still booting can miss the first request: repeat it.
const RESEND: Duration = Duration::from_secs(10);
const STEP: &str = "shutting down the source";

/// Whether the domain is active, and running / paused.
#[derive(Clone, Copy, PartialEq, Eq)]
enum St {
    Running,
    Paused,
    Other,
}

async fn state(src: &HostLink, vm: &str) -> Result<(bool, St), JobError> {
    use virt::domain::DomainState;
    use virt::enumutil::Enum;
    let name = vm.to_string();
    src.fresh()
        .await?
        .worker
        .call(move |c| {
            let d = c.lookup_domain_by_name(&name)?;
            let st = match d.state()?.0 {
                Enum::Known(DomainState::Running) => St::Running,
                Enum::Known(DomainState::Paused) => St::Paused,
                _ => St::Other,
            };
            Ok((d.is_active()?, st))
        })
        .await
        .map_err(|e| JobError::Step {
            step: STEP,
            message: e.to_string(),
        })
}

async fn request_shutdown(src: &HostLink, vm: &str) -> Result<(), JobError> {
    let name = vm.to_string();
    src.fresh()
        .await?
        .worker
        .call(move |c| c.lookup_domain_by_name(&name)?.shutdown().map(|_| ()))
        .await
        .map_err(|e| JobError::Step {
            step: STEP,
            message: e.to_string(),
        })
}

/// Asks `vm` to shut down and waits until it is off, at most `timeout`.
/// A guest that does not stop in time is left running and the job fails.
pub(super) async fn shut_down(
    src: &HostLink,
    vm: &str,
    timeout: Duration,
    cancel: &CancellationToken,
) -> Result<(), JobError> {
    let (active, st) = state(src, vm).await?;
    if !active {
        return Ok(());
    }
    if st == St::Paused {
        return Err(JobError::Step {
            step: STEP,
            message: format!(
                "{vm} on {} is paused and cannot act on a shutdown request; resume it \
                 (`virsh resume {vm}`) or shut it down yourself",
                src.name
            ),
        });
    }
    tracing::info!(vm, host = %src.name, ?timeout, "asking the source to shut down");
    request_shutdown(src, vm).await?;
    let start = Instant::now();
    let mut sent = Instant::now();
    loop {
        tokio::time::sleep(POLL).await;
        let (active, st) = state(src, vm).await?;
        // A guest that is shutting down cannot be stopped from doing so: on
        // cancel, wait for it to be off so the restart that follows works.
        if !active {
            tracing::info!(vm, host = %src.name, "source is shut off");
            return if cancel.is_cancelled() {
                Err(JobError::Cancelled)
            } else {
                Ok(())
            };
        }
        if start.elapsed() >= timeout && cancel.is_cancelled() {
            return Err(JobError::Cancelled);
        }
        if start.elapsed() >= timeout {
            return Err(JobError::Step {
                step: STEP,
                message: format!(
                    "{vm} on {} did not shut down within {} (does the guest act on the ACPI \
                     power button?); it was not forced off and nothing was copied. Shut it \
                     down yourself, or raise shutdown_timeout in the profile",
                    src.name,
                    crate::config::format_duration(timeout)
                ),
            });
        }
        if st == St::Running && sent.elapsed() >= RESEND {
            request_shutdown(src, vm).await?;
            sent = Instant::now();
        }
    }
}

/// Starts `vm` again unless it is already running. True when it was started.
pub(super) async fn start_again(src: &HostLink, vm: &str) -> Result<bool, String> {
    let src = src.fresh().await.map_err(|e| e.to_string())?;
    let name = vm.to_string();
    src.worker
        .call(move |c| {
            let d = c.lookup_domain_by_name(&name)?;
            if d.is_active()? {
                return Ok(false);
            }
            d.create()?;
            Ok(true)
        })
        .await
        .map_err(|e| e.to_string())
}
