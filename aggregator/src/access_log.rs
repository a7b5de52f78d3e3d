//! The access log of the HTTP listeners (ingest and the API).

use std::net::SocketAddr;
use std::time::Instant;

/// One `access` line per HTTP request (ingest and API): who, what, the
/// answer and how long it took. The path only: queries can carry tickets.
pub async fn log_request(
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    let started = Instant::now();
    let method = request.method().clone();
    let path = request.uri().path().to_string();
    let peer = request
        .extensions()
        .get::<axum::extract::ConnectInfo<SocketAddr>>()
        .map(|info| info.0.to_string())
        .unwrap_or_default();
    let response = next.run(request).await;
    tracing::info!(
        target: p2pmon_common::logging::ACCESS,
        %peer,
        %method,
        %path,
        status = response.status().as_u16(),
        ms = started.elapsed().as_millis() as u64,
        "request"
    );
    response
}
