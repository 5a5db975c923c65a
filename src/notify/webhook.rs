//! The webhook: a JSON POST (docs/profiles.md) to the URL a job's profile
//! names, sent from its own task when the job ends, retried with backoff.
//! A delivery that keeps failing is logged and dropped; the job's result
//! never depends on it.
//!
//! HTTP is ureq (blocking, rustls) on the blocking pool: one small request
//! per job does not justify an async HTTP stack.

use serde::Serialize;
use std::time::Duration;

/// What is POSTed. Field names are part of the documented format.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Notice {
    /// "clone", "export" or "restore".
    pub kind: crate::model::JobKind,
    pub job_id: u64,
    pub vm: String,
    /// Source and destination host names.
    pub from: String,
    pub to: String,
    pub profile: String,
    /// "done", "failed" or "cancelled".
    pub result: String,
    pub duration_secs: f64,
    /// Bytes of data moved (holes excluded).
    pub bytes: u64,
    pub error: Option<String>,
}

/// How a notice is delivered.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Delivery {
    /// Attempts in all, the first included.
    pub attempts: u32,
    pub initial: Duration,
    pub max: Duration,
    /// Bound of one request, connect to response.
    pub timeout: Duration,
}

impl Default for Delivery {
    fn default() -> Self {
        Delivery {
            attempts: 5,
            initial: Duration::from_secs(1),
            max: Duration::from_secs(30),
            timeout: Duration::from_secs(10),
        }
    }
}

/// One POST; Ok for any 2xx answer.
fn post(url: &str, body: &[u8], timeout: Duration) -> Result<u16, String> {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .timeout_global(Some(timeout))
        .http_status_as_error(true)
        .user_agent(concat!("kvm-clone/", env!("CARGO_PKG_VERSION")))
        .build()
        .into();
    agent
        .post(url)
        .content_type("application/json")
        .send(body)
        .map(|r| r.status().as_u16())
        .map_err(|e| e.to_string())
}

/// Delivers `notice` to `url`, retrying failures with exponential backoff
/// and jitter. Returns the attempts made, or the last error.
pub async fn send(url: &str, notice: &Notice, delivery: &Delivery) -> Result<u32, String> {
    let body = serde_json::to_vec(notice).map_err(|e| e.to_string())?;
    let body = std::sync::Arc::new(body);
    super::with_retries("webhook", delivery, || {
        let (u, b, t) = (url.to_string(), body.clone(), delivery.timeout);
        async move {
            tokio::task::spawn_blocking(move || post(&u, &b, t))
                .await
                .unwrap_or_else(|e| Err(e.to_string()))
                .map(|_| ())
                .map_err(|e| (false, e))
        }
    })
    .await
}

/// Sends `notice` to `url` (if any) from a task of its own and returns at
/// once. The URL is not logged: it may carry a token.
pub fn job_finished(url: Option<String>, notice: Notice) {
    let Some(url) = url else {
        return;
    };
    super::tracker().spawn(async move {
        match send(&url, &notice, &Delivery::default()).await {
            Ok(n) => tracing::info!(job = notice.job_id, attempts = n, "webhook delivered"),
            Err(e) => tracing::warn!(job = notice.job_id, "webhook not delivered: {e}"),
        }
    });
}

#[cfg(test)]
mod tests;
