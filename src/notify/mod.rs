//! Notifications sent when a job ends. They run beside the job and can
//! neither fail it nor hold it up.

pub mod email;
pub mod webhook;

use std::sync::OnceLock;
use std::time::Duration;
use tokio_util::task::TaskTracker;

/// Tells everyone who should hear of a job's end: the profile's webhook
/// (if any) and the configured e-mail (if its result is one asked for).
pub fn job_finished(webhook_url: Option<String>, notice: webhook::Notice) {
    email::job_finished(&notice);
    webhook::job_finished(webhook_url, notice);
}

/// Runs `attempt` until it succeeds, fails for good (`Err((true, _))`),
/// or the delivery's attempts are spent, sleeping the backoff (doubling,
/// with jitter) between tries. Returns the attempts made, or the last
/// error.
async fn with_retries<F, Fut>(
    what: &str,
    delivery: &webhook::Delivery,
    mut attempt: F,
) -> Result<u32, String>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<(), (bool, String)>>,
{
    let mut delays = crate::pipeline::RetryPolicy {
        attempts: delivery.attempts.saturating_sub(1),
        initial: delivery.initial,
        max: delivery.max,
        ..crate::pipeline::RetryPolicy::default()
    }
    .backoff();
    let mut made = 0;
    loop {
        made += 1;
        match attempt().await {
            Ok(()) => return Ok(made),
            Err((true, e)) => return Err(format!("refused for good: {e}")),
            Err((false, e)) => match delays.next() {
                Some(wait) => {
                    tracing::info!(
                        attempt = made,
                        "{what} delivery failed, retrying in {wait:?}: {e}"
                    );
                    tokio::time::sleep(wait).await;
                }
                None => return Err(format!("after {made} attempts: {e}")),
            },
        }
    }
}

/// Deliveries under way, so a stopping backend can wait for them.
fn tracker() -> &'static TaskTracker {
    static T: OnceLock<TaskTracker> = OnceLock::new();
    T.get_or_init(TaskTracker::new)
}

/// Waits up to `bound` for deliveries still under way (the backend calls
/// it while stopping, so a headless run's notice is not cut off).
pub async fn drain(bound: Duration) {
    let t = tracker();
    t.close();
    let _ = tokio::time::timeout(bound, t.wait()).await;
    t.reopen();
}
