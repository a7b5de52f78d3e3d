//! How the HTTP listeners (ingest, the API, the coordinator's pushes) say
//! no: a status, a stable machine-readable code and a message, as the
//! JSON [`ErrorBody`], with `Retry-After` when the caller should wait.

use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use p2pmon_common::wire::ErrorBody;

/// A refusal: status, code, message.
#[derive(Debug)]
pub struct Refusal {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
    pub retry_after_s: Option<u64>,
}

impl Refusal {
    /// `code` is a [`p2pmon_common::wire::RefusalCode`] (what agents read) or another stable
    /// code of the API.
    pub fn new(
        status: StatusCode,
        code: impl Into<&'static str>,
        message: impl Into<String>,
    ) -> Self {
        Self {
            status,
            code: code.into(),
            message: message.into(),
            retry_after_s: None,
        }
    }

    /// 503 for a store that failed a read or write (logged here with what
    /// failed; the client learns only that the store did not answer).
    pub fn store_unavailable(error: &dyn std::fmt::Display) -> Self {
        tracing::error!(%error, "API store access failed.");
        Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "store_unavailable",
            "the store could not be read",
        )
    }
}

impl IntoResponse for Refusal {
    fn into_response(self) -> Response {
        let body = axum::Json(ErrorBody {
            code: self.code.to_string(),
            message: self.message,
        });
        let mut response = (self.status, body).into_response();
        if let Some(seconds) = self.retry_after_s
            && let Ok(value) = seconds.to_string().parse()
        {
            response.headers_mut().insert(header::RETRY_AFTER, value);
        }
        response
    }
}
