//! Answers: JSON bodies, and errors as `{"error": "…"}` with a 4xx (or a
//! 5xx only when the backend is gone), never a bare status.

use axum::http::{StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

pub(super) fn json<T: Serialize>(status: StatusCode, body: &T) -> Response {
    match serde_json::to_vec_pretty(body) {
        Ok(bytes) => (
            status,
            [(axum::http::header::CONTENT_TYPE, "application/json")],
            bytes,
        )
            .into_response(),
        Err(e) => error(
            StatusCode::INTERNAL_SERVER_ERROR,
            &format!("encoding the answer: {e}"),
        ),
    }
}

pub(super) fn ok<T: Serialize>(body: &T) -> Response {
    json(StatusCode::OK, body)
}

pub(super) fn error(status: StatusCode, message: &str) -> Response {
    #[derive(Serialize)]
    struct Error<'a> {
        error: &'a str,
    }
    json(status, &Error { error: message })
}

/// The backend has stopped (the daemon is shutting down).
pub(super) fn gone() -> Response {
    error(StatusCode::SERVICE_UNAVAILABLE, "the backend is stopping")
}

pub(super) async fn not_found(uri: Uri) -> Response {
    error(
        StatusCode::NOT_FOUND,
        &format!("no such endpoint: {}; see docs/api.md", uri.path()),
    )
}

/// A job id in a path: digits.
pub(super) fn job_id(text: &str) -> Result<u64, Box<Response>> {
    text.parse().map_err(|_| {
        Box::new(error(
            StatusCode::BAD_REQUEST,
            &format!("{text:?} is not a job id (digits, as in GET /api/jobs)"),
        ))
    })
}
