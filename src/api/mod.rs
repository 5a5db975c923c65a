//! The daemon's REST API and Prometheus metrics (docs/api.md): another
//! front end over the backend's own messages. Reads come from the event
//! bus's state snapshot (and the history database); jobs are started and
//! cancelled with the same `Action`s the TUI sends. Off unless the config
//! has an `[api]` table; every call but a token-free `/metrics` needs the
//! bearer token.
//!
//! - [`auth`]: the token file and the constant-time check;
//! - [`read`]: hosts, VMs, jobs, history;
//! - [`start`]: `POST /api/jobs` (validate, then start) and cancel;
//! - [`metrics`]: counters and gauges folded from the event stream.
//!
//! Beside `daemon` (which starts it); above `backend`.

pub mod auth;
pub mod metrics;
mod read;
mod reply;
mod start;

use std::path::PathBuf;
use std::sync::Arc;

use axum::Router;
use axum::routing::get;
use tokio::sync::mpsc::UnboundedSender;
use tokio_util::sync::CancellationToken;

use crate::backend::bus::Attach;
use crate::backend::messages::Action;
use crate::config::ApiSettings;

/// Why the API cannot start.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("[api] token_file {path}: {why}")]
    Token { path: PathBuf, why: String },
    #[error("[api] cannot listen on {addr}: {source}")]
    Listen {
        addr: std::net::SocketAddr,
        #[source]
        source: std::io::Error,
    },
}

/// What every handler reaches.
#[derive(Clone)]
struct Api {
    attach: Attach,
    actions: UnboundedSender<Action>,
    token: Arc<auth::Token>,
    metrics: Arc<metrics::Metrics>,
    metrics_without_token: bool,
    /// Where the history database is.
    data_dir: Option<PathBuf>,
}

/// A bound API, ready to serve.
pub struct Bound {
    listener: tokio::net::TcpListener,
    router: Router,
}

impl Bound {
    /// Where it listens (the port the OS chose for port 0).
    pub fn local_addr(&self) -> std::io::Result<std::net::SocketAddr> {
        self.listener.local_addr()
    }

    /// Serves until `stop`.
    pub async fn serve(self, stop: CancellationToken) {
        let served = axum::serve(self.listener, self.router)
            .with_graceful_shutdown(async move { stop.cancelled().await })
            .await;
        if let Err(e) = served {
            tracing::warn!("api: {e}");
        }
    }
}

/// Reads the token, binds the address and starts the metrics fold; the
/// errors are an operator's (a bad token file, a port in use).
pub async fn bind(
    settings: &ApiSettings,
    attach: Attach,
    actions: UnboundedSender<Action>,
) -> Result<Bound, ApiError> {
    let token = auth::Token::load(&settings.token_file)?;
    let listener = tokio::net::TcpListener::bind(settings.listen)
        .await
        .map_err(|source| ApiError::Listen {
            addr: settings.listen,
            source,
        })?;
    let metrics = Arc::new(metrics::Metrics::new());
    tokio::spawn(metrics::follow(
        metrics.clone(),
        attach.attach(),
        crate::paths::data_dir(),
    ));
    let api = Api {
        attach,
        actions,
        token: Arc::new(token),
        metrics,
        metrics_without_token: settings.metrics_without_token,
        data_dir: crate::paths::data_dir(),
    };
    Ok(Bound {
        listener,
        router: router(api),
    })
}

/// How a job ended, in the words history uses.
fn result_label(result: &crate::backend::messages::JobResult) -> &'static str {
    use crate::backend::messages::JobResult;
    match result {
        JobResult::Cloned(_) | JobResult::Exported(_) | JobResult::Restored(_) => "done",
        JobResult::Failed { .. } => "failed",
        JobResult::Cancelled => "cancelled",
    }
}

fn router(api: Api) -> Router {
    Router::new()
        .route("/api/hosts", get(read::hosts))
        .route("/api/vms", get(read::vms))
        .route("/api/jobs", get(read::jobs).post(start::post))
        .route("/api/jobs/{id}", get(read::job).delete(start::cancel))
        .route("/api/history", get(read::history))
        .route("/api/schedules", get(read::schedules))
        .route("/metrics", get(metrics::scrape))
        .fallback(reply::not_found)
        .layer(axum::middleware::from_fn_with_state(
            api.clone(),
            auth::check,
        ))
        .with_state(api)
}
