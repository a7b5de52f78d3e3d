//! Delivery with retries, shared by notification channels and automatic
//! actions: a 429 waits for `retry_after` (body, as Discord sends it) or
//! `Retry-After` (header); a 5xx or no answer retries with a doubling
//! backoff; any other 4xx is not retried. Errors never carry the URL (it may
//! hold a webhook's secret).

use p2pmon_common::telemetry::Figure;
use std::time::Duration;

/// Longest wait a 429 may ask for before the message is given up.
const MAX_RETRY_AFTER: Duration = Duration::from_secs(300);
/// Longest backoff between two attempts.
const MAX_BACKOFF: Duration = Duration::from_secs(60);

/// How one delivery attempt went.
pub enum Outcome {
    Delivered,
    /// Try again after the wait given (429), or the backoff (`None`).
    Retry(Option<Duration>, String),
    /// Refused for good (a 4xx other than 429, a permanent SMTP error).
    Refused(String),
}

/// Why a delivery did not happen (the reasons never carry the URL).
#[derive(Debug, PartialEq, thiserror::Error)]
pub enum DeliveryError {
    /// Refused for good on an attempt.
    #[error("{0}")]
    Refused(String),
    #[error("gave up after {attempts} attempts: {last}")]
    GaveUp { attempts: u32, last: String },
}

/// How many attempts, and the first backoff (it doubles each time).
#[derive(Clone, Copy, Debug)]
pub struct Policy {
    pub max_attempts: u32,
    pub base: Duration,
}

/// What a 429 means at a service.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum On429 {
    /// Slow down: wait as asked, then try again (most services).
    Wait,
    /// A quota is used up (Pushover's monthly limit): retrying cannot help.
    Refuse,
}

/// One HTTP attempt, classified.
pub async fn http_attempt(request: &reqwest::RequestBuilder, on_429: On429) -> Outcome {
    let Some(request) = request.try_clone() else {
        return Outcome::Refused("request cannot be repeated".to_string());
    };
    match request.send().await {
        Ok(response) if response.status().is_success() => Outcome::Delivered,
        Ok(response)
            if response.status() == reqwest::StatusCode::TOO_MANY_REQUESTS
                && on_429 == On429::Refuse =>
        {
            Outcome::Refused("refused with 429: quota used up".to_string())
        }
        Ok(response) if response.status() == reqwest::StatusCode::TOO_MANY_REQUESTS => {
            let header = response
                .headers()
                .get(reqwest::header::RETRY_AFTER)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.trim().parse::<f64>().ok());
            // Discord says how long in the body (seconds, fractional),
            // Telegram in the body's `parameters` (whole seconds).
            let body: Option<serde_json::Value> = response.json().await.ok();
            let seconds = body
                .as_ref()
                .and_then(|b| {
                    b.get("retry_after")
                        .or_else(|| b.get("parameters").and_then(|p| p.get("retry_after")))
                })
                .and_then(serde_json::Value::as_f64)
                .or(header)
                .unwrap_or(1.0);
            let wait = Duration::from_secs_f64(seconds.clamp(0.0, MAX_RETRY_AFTER.as_secs_f64()));
            Outcome::Retry(Some(wait), "rate limited (429)".to_string())
        }
        Ok(response) if response.status().is_server_error() => {
            Outcome::Retry(None, format!("server error {}", response.status().as_u16()))
        }
        Ok(response) => Outcome::Refused(format!("refused with {}", response.status().as_u16())),
        Err(error) => Outcome::Retry(None, format!("not reachable: {}", error.without_url())),
    }
}

/// Run `attempt` until it delivers, is refused, or `policy.max_attempts` is
/// reached. `name` and `alert` label the log lines; `retried` counts the
/// retries. The error is the last reason (callers report it).
pub async fn with_retries<F, Fut>(
    name: &str,
    alert: i64,
    policy: Policy,
    retried: Option<&Figure>,
    mut attempt: F,
) -> Result<(), DeliveryError>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Outcome>,
{
    let mut backoff = policy.base;
    let mut last = String::new();
    for number in 1..=policy.max_attempts {
        let wait = match attempt().await {
            Outcome::Delivered => return Ok(()),
            Outcome::Refused(why) => {
                tracing::error!(target_name = name, alert, %why, "Refused; not retrying.");
                return Err(DeliveryError::Refused(why));
            }
            Outcome::Retry(wait, why) => {
                let wait = wait.unwrap_or(backoff);
                tracing::warn!(target_name = name, alert, attempt = number, wait_ms = wait.as_millis() as u64, %why, "Delivery failed; retrying.");
                last = why;
                wait
            }
        };
        if number == policy.max_attempts {
            break;
        }
        if let Some(retried) = retried {
            retried.inc();
        }
        tokio::time::sleep(wait).await;
        backoff = (backoff * 2).min(MAX_BACKOFF);
    }
    Err(DeliveryError::GaveUp {
        attempts: policy.max_attempts,
        last,
    })
}
