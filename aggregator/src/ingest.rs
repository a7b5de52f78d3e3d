//! The ingest listener: enrollment, hello, and batches from agents.
//!
//! Every refusal is a JSON [`ErrorBody`] with a stable code and a counter;
//! nothing an agent sends can crash the service or reach the store
//! unchecked. Per-request problems refuse the whole request (`400`, `401`,
//! `403`, `409`, `413`, `415`, `429`); per-record problems (bad names or tags,
//! timestamps out of range, the series cap) drop those records and are
//! counted in the [`Ack`].

use std::collections::{BTreeMap, HashMap};
use std::io::Read;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use axum::Router;
use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use p2pmon_common::rules::{MAX_FIELD_VALUE, MAX_MESSAGE, MAX_NAME, check_tag, is_name};
use p2pmon_common::wire::{
    Ack, Batch, EnrollRequest, EventRecord, Hello, HelloAnswer, MetricRecord, Record, RefusalCode,
    paths,
};

use crate::after_store::{self, Source};
use crate::auth::{self, AuthError};
use crate::clock::now_ms;
use crate::config::IngestConfig;
use crate::feed::{FeedMessage, Status};
use crate::refusal::Refusal;
use crate::state::Shared;
use crate::store::{WriteJob, WriteOutcome};

/// Per-host token buckets, in records.
#[derive(Default)]
pub struct RateLimits {
    buckets: Mutex<HashMap<String, (f64, Instant)>>,
}

impl RateLimits {
    /// Take `cost` records from `host`'s bucket, or say how many seconds
    /// until there are enough.
    fn take(&self, host: &str, cost: u64, rate: u64, burst: u64) -> Result<(), u64> {
        let Ok(mut buckets) = self.buckets.lock() else {
            return Ok(());
        };
        let now = Instant::now();
        let (tokens, last) = buckets
            .entry(host.to_string())
            .or_insert((burst as f64, now));
        *tokens =
            (*tokens + now.duration_since(*last).as_secs_f64() * rate as f64).min(burst as f64);
        *last = now;
        let cost = cost as f64;
        if *tokens >= cost {
            *tokens -= cost;
            Ok(())
        } else {
            Err(((cost - *tokens) / rate as f64).ceil().max(1.0) as u64)
        }
    }
}

pub struct IngestState {
    pub shared: Arc<Shared>,
    pub rates: RateLimits,
}

pub fn router(state: Arc<IngestState>) -> Router {
    Router::new()
        .route(paths::ENROLL, post(enroll))
        .route(paths::HELLO, post(hello))
        .route(paths::BATCHES, post(batches))
        .fallback(|| async {
            Refusal::new(
                StatusCode::NOT_FOUND,
                RefusalCode::NotFound,
                "no such ingest path",
            )
        })
        .layer(axum::middleware::from_fn(crate::access_log::log_request))
        .with_state(state)
}

fn refuse(state: &IngestState, refusal: Refusal) -> Response {
    state.shared.ingest.count_refusal(refusal.code, 1);
    tracing::debug!(code = refusal.code, message = %refusal.message, "Ingest request refused.");
    refusal.into_response()
}

/// Read, decompress and bound a request body. The declared length is checked
/// before a byte is read; the actual and decompressed lengths while reading.
async fn read_body(
    state: &IngestState,
    headers: &HeaderMap,
    body: Body,
) -> Result<Vec<u8>, Refusal> {
    let config = &state.shared.config.ingest;
    let max = config.max_body_kb * 1024;
    let too_large = |what: String| {
        Refusal::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            RefusalCode::BodyTooLarge,
            format!(
                "{what} is over ingest.max_body_kb ({} KiB)",
                config.max_body_kb
            ),
        )
    };
    if let Some(length) = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok())
        && length > max
    {
        return Err(too_large(format!("the declared body of {length} bytes")));
    }
    let bytes = axum::body::to_bytes(body, max).await.map_err(|error| {
        if crate::limits::is_body_timeout(&error) {
            Refusal::new(
                StatusCode::REQUEST_TIMEOUT,
                RefusalCode::BodyTimeout,
                error.to_string(),
            )
        } else {
            too_large("the body".to_string())
        }
    })?;
    let encoding = headers
        .get(header::CONTENT_ENCODING)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("identity");
    match encoding {
        "identity" => Ok(bytes.to_vec()),
        "zstd" => {
            let limit = config.max_decompressed_kb * 1024;
            let bad = |e: std::io::Error| {
                Refusal::new(
                    StatusCode::BAD_REQUEST,
                    RefusalCode::BadEncoding,
                    format!("zstd: {e}"),
                )
            };
            let out = unzstd(&bytes, limit).map_err(bad)?;
            if out.len() > limit {
                return Err(Refusal::new(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    RefusalCode::BodyTooLarge,
                    format!(
                        "the body decompresses to over ingest.max_decompressed_kb ({} KiB)",
                        config.max_decompressed_kb
                    ),
                ));
            }
            Ok(out)
        }
        other => Err(Refusal::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            RefusalCode::UnsupportedEncoding,
            format!("Content-Encoding {other:?} is not supported (use zstd or identity)"),
        )),
    }
}

thread_local! {
    /// A zstd context per thread, kept: making one costs more than
    /// decoding a batch (each use starts a new session).
    static ZSTD: std::cell::RefCell<Option<zstd::zstd_safe::DCtx<'static>>> =
        const { std::cell::RefCell::new(None) };
}

/// `compressed` decoded, up to one byte past `limit` (the caller refuses
/// more). The output starts as large as the frame says it is, within the
/// limit and 32 times the body (a frame may lie; it then grows as read).
fn unzstd(compressed: &[u8], limit: usize) -> std::io::Result<Vec<u8>> {
    let declared = zstd::zstd_safe::get_frame_content_size(compressed)
        .ok()
        .flatten()
        .map_or(compressed.len().saturating_mul(4), |n| {
            usize::try_from(n).unwrap_or(usize::MAX)
        });
    let mut out = Vec::with_capacity(
        declared
            .min(limit + 1)
            .min(compressed.len().saturating_mul(32)),
    );
    ZSTD.with_borrow_mut(|slot| {
        let context = match slot {
            Some(context) => context,
            None => slot.insert(
                zstd::zstd_safe::DCtx::try_create()
                    .ok_or_else(|| std::io::Error::other("no memory for a zstd context"))?,
            ),
        };
        zstd::stream::read::Decoder::with_context(compressed, context)
            .take(limit as u64 + 1)
            .read_to_end(&mut out)
    })?;
    Ok(out)
}

fn parse<T: serde::de::DeserializeOwned>(bytes: &[u8], what: &str) -> Result<T, Refusal> {
    serde_json::from_slice(bytes).map_err(|e| {
        Refusal::new(
            StatusCode::BAD_REQUEST,
            RefusalCode::Malformed,
            p2pmon_common::rules::truncate(format!("{what} is not valid: {e}"), 300),
        )
    })
}

fn bearer(headers: &HeaderMap) -> Option<&str> {
    headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
}

async fn authenticate(state: &IngestState, headers: &HeaderMap) -> Result<String, Refusal> {
    let unauthorized = || {
        Refusal::new(
            StatusCode::UNAUTHORIZED,
            RefusalCode::Unauthorized,
            "missing, unknown or revoked host credential; enroll the host again",
        )
    };
    let credential = bearer(headers).ok_or_else(unauthorized)?;
    state
        .shared
        .host_for(credential)
        .await
        .ok_or_else(unauthorized)
}

async fn enroll(State(state): State<Arc<IngestState>>, headers: HeaderMap, body: Body) -> Response {
    let request: EnrollRequest = match read_body(&state, &headers, body)
        .await
        .and_then(|bytes| parse(&bytes, "the enroll request"))
    {
        Ok(request) => request,
        Err(refusal) => return refuse(&state, refusal),
    };
    let host_id = request.host_id.to_ascii_lowercase();
    let token = request.join_token;
    let result = state
        .shared
        .store
        .exec(move |conn| Ok(auth::enroll(conn, &token, &host_id, now_ms())))
        .await;
    match result {
        Ok(Ok(response)) => {
            tracing::info!(host = %response.host_id, "Host enrolled.");
            state
                .shared
                .live
                .write()
                .entry(response.host_id.clone())
                .or_default();
            state
                .shared
                .hub
                .publish(FeedMessage::Status(Status::HostEnrolled {
                    host: response.host_id.clone(),
                }));
            axum::Json(response).into_response()
        }
        Ok(Err(error)) => {
            let (status, code) = match &error {
                AuthError::InvalidJoinToken => {
                    (StatusCode::UNAUTHORIZED, RefusalCode::InvalidJoinToken)
                }
                AuthError::HostExists(_) => (StatusCode::CONFLICT, RefusalCode::HostExists),
                AuthError::InvalidHostId(_) => {
                    (StatusCode::BAD_REQUEST, RefusalCode::InvalidHostId)
                }
                AuthError::Store(_) => (
                    StatusCode::SERVICE_UNAVAILABLE,
                    RefusalCode::StoreUnavailable,
                ),
            };
            refuse(&state, Refusal::new(status, code, error.to_string()))
        }
        Err(error) => refuse(
            &state,
            Refusal::new(
                StatusCode::SERVICE_UNAVAILABLE,
                RefusalCode::StoreUnavailable,
                error.to_string(),
            ),
        ),
    }
}

async fn hello(State(state): State<Arc<IngestState>>, headers: HeaderMap, body: Body) -> Response {
    let host = match authenticate(&state, &headers).await {
        Ok(host) => host,
        Err(refusal) => return refuse(&state, refusal),
    };
    let hello: Hello = match read_body(&state, &headers, body)
        .await
        .and_then(|bytes| parse(&bytes, "the hello"))
    {
        Ok(hello) => hello,
        Err(refusal) => return refuse(&state, refusal),
    };
    let allow = &state.shared.config.ingest.plugin_allowlist;
    let refused: Vec<String> = if allow.is_empty() {
        Vec::new()
    } else {
        hello
            .plugins
            .iter()
            .filter(|p| !allow.iter().any(|a| a.eq_ignore_ascii_case(&p.sha256)))
            .map(|p| format!("{} ({})", p.name, p.sha256))
            .collect()
    };
    let recorded = {
        let (host, hello, refused) = (host.clone(), hello.clone(), refused.clone());
        state
            .shared
            .store
            .exec(move |conn| auth::record_hello(conn, &host, &hello, &refused, now_ms()))
            .await
    };
    if let Err(error) = recorded {
        return refuse(
            &state,
            Refusal::new(
                StatusCode::SERVICE_UNAVAILABLE,
                RefusalCode::StoreUnavailable,
                error.to_string(),
            ),
        );
    }
    {
        let mut live = state.shared.live.write();
        let entry = live.entry(host.clone()).or_default();
        entry.host_type = hello.host_type;
        entry.hello_ok = refused.is_empty();
        entry.plugin_files = Arc::new(
            hello
                .plugins
                .iter()
                .map(|p| (p.name.clone(), p.sha256.to_ascii_lowercase()))
                .collect(),
        );
    }
    tracing::info!(
        %host,
        agent_version = %hello.agent_version,
        plugins = hello.plugins.len(),
        refused = refused.len(),
        "Agent connected."
    );
    if !refused.is_empty() {
        return refuse(
            &state,
            Refusal::new(
                StatusCode::FORBIDDEN,
                RefusalCode::PluginNotAllowed,
                format!(
                    "plugins not on ingest.plugin_allowlist: {}",
                    refused.join(", ")
                ),
            ),
        );
    }
    // The agent leaves out, before spooling, what metrics.yml does not collect.
    axum::Json(HelloAnswer {
        host_id: host,
        metrics: Some(state.shared.metrics.metrics.clone()),
        batch_formats: vec![p2pmon_common::compact::FORMAT.to_string()],
    })
    .into_response()
}

/// Why a record was refused (the keys of `Ack::rejected`).
fn check_metric(
    metric: &MetricRecord,
    max_tags: usize,
    max_tag_value: usize,
    oldest: u64,
    newest: u64,
) -> Result<(), (&'static str, String)> {
    if !is_name(&metric.name, MAX_NAME) {
        return Err((
            "invalid_name",
            format!(
                "metric name {:?}",
                p2pmon_common::rules::truncate(metric.name.clone(), 64)
            ),
        ));
    }
    if !metric.value.is_finite() {
        return Err((
            "invalid_value",
            format!("{}: non-finite value", metric.name),
        ));
    }
    if !p2pmon_common::rules::is_clean_value(&metric.plugin, 64)
        || !p2pmon_common::rules::is_clean_value(&metric.unit, 32)
    {
        return Err(("invalid_name", format!("{}: plugin or unit", metric.name)));
    }
    check_tags(&metric.tags, max_tags, max_tag_value)
        .map_err(|(code, m)| (code, format!("{}: {m}", metric.name)))?;
    check_time(metric.timestamp_ms, oldest, newest).map_err(|code| {
        (
            code,
            format!("{}: timestamp {}", metric.name, metric.timestamp_ms),
        )
    })
}

fn check_tags(
    tags: &BTreeMap<String, String>,
    max_tags: usize,
    max_value: usize,
) -> Result<(), (&'static str, String)> {
    if tags.len() > max_tags {
        return Err((
            "too_many_tags",
            format!("{} tags (at most {max_tags})", tags.len()),
        ));
    }
    if tags.contains_key("host") {
        // The host is who authenticated, never what a record says.
        return Err(("reserved_tag", "the tag `host` is reserved".to_string()));
    }
    for (key, value) in tags {
        check_tag(key, value, max_value).map_err(|m| ("invalid_tag", m))?;
    }
    Ok(())
}

fn check_time(ts: u64, oldest: u64, newest: u64) -> Result<(), &'static str> {
    if ts < oldest {
        Err("timestamp_too_old")
    } else if ts > newest {
        Err("timestamp_in_future")
    } else {
        Ok(())
    }
}

fn check_event(
    event: &EventRecord,
    max_tags: usize,
    oldest: u64,
    newest: u64,
) -> Result<(), (&'static str, String)> {
    if !is_name(&event.kind, MAX_NAME) || !p2pmon_common::rules::is_clean_value(&event.plugin, 64) {
        return Err((
            "invalid_name",
            format!(
                "event kind {:?}",
                p2pmon_common::rules::truncate(event.kind.clone(), 64)
            ),
        ));
    }
    if event.message.len() > MAX_MESSAGE {
        return Err((
            "invalid_event",
            format!("{}: message over {MAX_MESSAGE} bytes", event.kind),
        ));
    }
    check_tags(&event.fields, max_tags, MAX_FIELD_VALUE)
        .map_err(|(code, m)| (code, format!("{}: {m}", event.kind)))?;
    check_time(event.timestamp_ms, oldest, newest).map_err(|code| {
        (
            code,
            format!("{}: timestamp {}", event.kind, event.timestamp_ms),
        )
    })
}

const MAX_PROBLEMS: usize = 5;

async fn batches(
    State(state): State<Arc<IngestState>>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    match accept_batch(&state, &headers, body).await {
        Ok(ack) => axum::Json(ack).into_response(),
        Err(refusal) => refuse(&state, refusal),
    }
}

/// Refuse a batch whole: another host's, before a hello, too big, or over
/// the host's rate.
fn check_batch(state: &IngestState, host: &str, batch: &Batch) -> Result<(), Refusal> {
    let config = &state.shared.config.ingest;
    if batch.host_id != host {
        return Err(Refusal::new(
            StatusCode::FORBIDDEN,
            RefusalCode::ForgedHost,
            format!(
                "the batch claims host {:?} but the credential is {host:?}'s",
                p2pmon_common::rules::truncate(batch.host_id.clone(), 64)
            ),
        ));
    }
    if !p2pmon_common::rules::is_clean_value(&batch.stream, 64) {
        return Err(Refusal::new(
            StatusCode::BAD_REQUEST,
            RefusalCode::Malformed,
            "stream id over 64 bytes or with control characters",
        ));
    }
    let hello_ok = state
        .shared
        .live
        .read()
        .get(host)
        .is_some_and(|h| h.hello_ok);
    if !hello_ok {
        return Err(Refusal::new(
            StatusCode::CONFLICT,
            RefusalCode::HelloRequired,
            "send a hello before batches (after every reconnect)",
        ));
    }
    if batch.records.len() > config.max_records_per_batch {
        return Err(Refusal::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            RefusalCode::TooManyRecords,
            format!(
                "{} records in one batch (ingest.max_records_per_batch is {})",
                batch.records.len(),
                config.max_records_per_batch
            ),
        ));
    }
    if let Err(seconds) = state.rates.take(
        host,
        batch.records.len() as u64,
        config.rate_per_host,
        config.burst_per_host,
    ) {
        let mut refusal = Refusal::new(
            StatusCode::TOO_MANY_REQUESTS,
            RefusalCode::RateLimited,
            format!(
                "host over ingest.rate_per_host ({} records/s); retry in {seconds} s",
                config.rate_per_host
            ),
        );
        refusal.retry_after_s = Some(seconds);
        return Err(refusal);
    }

    Ok(())
}

/// A refused record: its code in the ack, and the problem in words.
type Problem = (&'static str, String);

/// Count one refused record under `code`, keeping the first problems in words.
fn reject(ack: &mut Ack, (code, problem): Problem) {
    *ack.rejected.entry(code.to_string()).or_default() += 1;
    if ack.problems.len() < MAX_PROBLEMS {
        ack.problems.push(problem);
    }
}

/// Why `metric`'s plugin may not send its name to this host, if it may
/// not: `agent_*` names are the agent's alone, metrics.yml may assign the
/// name to another plugin of the host, or not collect it.
fn name_refusal(
    groups: &p2pmon_common::collection::MetricGroups,
    metric: &MetricRecord,
    job: &WriteJob,
) -> Option<Problem> {
    if metric.name.starts_with("agent_") != (metric.plugin == "agent") {
        return Some((
            "not_owner",
            format!(
                "{} from {}: agent_* names are the agent's own, and the agent sends no other",
                metric.name, metric.plugin
            ),
        ));
    }
    if groups.assigned_elsewhere(&metric.plugin, &metric.name, |p| {
        job.plugin_files.contains_key(p)
    }) {
        return Some((
            "not_owner",
            format!(
                "{} from {}: metrics.yml assigns it to another plugin of this host",
                metric.name, metric.plugin
            ),
        ));
    }
    if !groups.allows(&metric.plugin, &metric.name) {
        return Some((
            "not_collected",
            format!(
                "{} from {} is not collected (metrics.yml)",
                metric.name, metric.plugin
            ),
        ));
    }
    None
}

/// Sort a batch's records into the write job, or into the ack's refusals
/// (names the host's plugins do not own, what metrics.yml does not
/// collect, bad names, tags, values and timestamps).
fn admit_records(
    shared: &Shared,
    records: Vec<Record>,
    received: i64,
    job: &mut WriteJob,
    ack: &mut Ack,
) {
    let config = &shared.config.ingest;
    let oldest = (received - config.max_age_s as i64 * 1000).max(0) as u64;
    let newest = (received + config.max_future_s as i64 * 1000) as u64;
    let groups = &shared.metrics.metrics;
    job.metrics.reserve(records.len());
    // What metrics.yml and the agent's names say of a (plugin, name) depends
    // on nothing else in the batch: a run of records of one metric asks once.
    let mut last: Option<(String, String, Option<Problem>)> = None;
    for record in records {
        match record {
            Record::Metric(metric) => {
                let refusal = match &last {
                    Some((plugin, name, refusal))
                        if *plugin == metric.plugin && *name == metric.name =>
                    {
                        refusal.clone()
                    }
                    _ => {
                        let refusal = name_refusal(groups, &metric, job);
                        last = Some((metric.plugin.clone(), metric.name.clone(), refusal.clone()));
                        refusal
                    }
                };
                if let Some(problem) = refusal {
                    reject(ack, problem);
                    continue;
                }
                match check_metric(
                    &metric,
                    config.max_tags,
                    config.max_tag_value,
                    oldest,
                    newest,
                ) {
                    Ok(()) => job.metrics.push(metric),
                    Err(problem) => reject(ack, problem),
                }
            }
            Record::Event(mut event) => {
                match check_event(&event, config.max_tags, oldest, newest) {
                    Ok(()) => {
                        // Free text is kept, escaped: stored, shown and sent
                        // on as one line that reads as it was sent.
                        if let std::borrow::Cow::Owned(escaped) =
                            p2pmon_common::rules::escape_text(&event.message)
                        {
                            event.message = p2pmon_common::rules::truncate(escaped, MAX_MESSAGE);
                        }
                        job.events.push(event)
                    }
                    Err(problem) => reject(ack, problem),
                }
            }
        }
    }
}

/// What the writer dropped (series caps, names owned by another plugin),
/// counted in the ack.
fn count_dropped(config: &IngestConfig, outcome: &WriteOutcome, ack: &mut Ack) {
    if outcome.series_limited > 0 {
        reject(
            ack,
            (
                "series_limit",
                format!(
                    "host reached ingest.max_series_per_host ({}); points of new series dropped",
                    config.max_series_per_host
                ),
            ),
        );
        *ack.rejected.entry("series_limit".to_string()).or_default() += outcome.series_limited - 1;
    }
    if outcome.plugin_series_limited > 0 {
        reject(
            ack,
            (
                "plugin_series_limit",
                format!(
                    "a plugin reached ingest.max_series_per_plugin ({}); points of its new series dropped",
                    config.max_series_per_plugin
                ),
            ),
        );
        *ack.rejected
            .entry("plugin_series_limit".to_string())
            .or_default() += outcome.plugin_series_limited - 1;
    }
    if outcome.not_owner > 0 {
        reject(
            ack,
            (
                "not_owner",
                "another plugin of this host owns the metric's name; its points were dropped"
                    .to_string(),
            ),
        );
        *ack.rejected.entry("not_owner".to_string()).or_default() += outcome.not_owner - 1;
    }
}

async fn accept_batch(
    state: &IngestState,
    headers: &HeaderMap,
    body: Body,
) -> Result<Ack, Refusal> {
    let shared = &state.shared;
    let config = &shared.config.ingest;
    let host = authenticate(state, headers).await?;
    let bytes = read_body(state, headers, body).await?;
    let compact = headers
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes() == p2pmon_common::compact::CONTENT_TYPE.as_bytes());
    let batch: Batch = if compact {
        shared.ingest.compact_batches.inc();
        p2pmon_common::compact::decode(&bytes).map_err(|e| {
            Refusal::new(
                StatusCode::BAD_REQUEST,
                RefusalCode::Malformed,
                format!("the batch is not valid: {e}"),
            )
        })?
    } else {
        parse(&bytes, "the batch")?
    };
    drop(bytes);
    check_batch(state, &host, &batch)?;

    let received = now_ms();
    let mut ack = Ack {
        seq: batch.seq,
        ..Ack::default()
    };
    let host_id: Arc<str> = Arc::from(host.as_str());
    let mut job = WriteJob::new(host_id, batch.stream, batch.seq, received);
    job.max_series = config.max_series_per_host;
    job.max_series_per_plugin = config.max_series_per_plugin;
    if let Some(live) = shared.live.read().get(host.as_str()) {
        job.plugin_files = Arc::clone(&live.plugin_files);
    }
    admit_records(shared, batch.records, received, &mut job, &mut ack);
    let outcome = shared.store.write(job).await.map_err(|error| {
        tracing::error!(%host, %error, "Batch not stored.");
        Refusal::new(
            StatusCode::SERVICE_UNAVAILABLE,
            RefusalCode::StoreUnavailable,
            "the store could not write the batch; retry later",
        )
    })?;
    shared.ingest.batches.inc();
    if outcome.duplicate {
        shared.ingest.duplicate_batches.inc();
        ack.duplicate = true;
        ack.rejected.clear();
        ack.problems.clear();
        return Ok(ack);
    }
    count_dropped(config, &outcome, &mut ack);
    for (code, n) in &ack.rejected {
        shared.ingest.count_refusal(code, *n);
    }
    shared.ingest.points.add(outcome.points);
    shared.ingest.events.add(outcome.events);
    ack.stored = outcome.points + outcome.events;
    after_store::stored(shared, &host, Source::Agent { received }, outcome);
    Ok(ack)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The kept zstd context decodes body after body on one thread, a
    /// broken or cut body between them spoiling nothing, and stops one byte
    /// past the limit.
    #[test]
    fn one_zstd_context_decodes_every_body_after_a_broken_one() {
        let text: Vec<u8> = (0..200_000u32)
            .flat_map(|i| (i % 251).to_le_bytes())
            .collect();
        let good = zstd::encode_all(&text[..], 3).expect("zstd");
        assert_eq!(unzstd(&good, text.len()).expect("first"), text);
        assert!(unzstd(b"not zstd at all", text.len()).is_err());
        assert!(unzstd(&good[..good.len() / 2], text.len()).is_err());
        assert_eq!(
            unzstd(&good, text.len()).expect("after the broken ones"),
            text
        );
        let cut = unzstd(&good, 1_000).expect("over the limit");
        assert_eq!(cut.len(), 1_001, "one byte past the limit, no more");
        // A streamed frame does not declare its size.
        let mut streamed = zstd::stream::write::Encoder::new(Vec::new(), 3).expect("encoder");
        std::io::Write::write_all(&mut streamed, &text).expect("write");
        let streamed = streamed.finish().expect("finish");
        assert_eq!(unzstd(&streamed, text.len()).expect("streamed"), text);
    }

    #[test]
    fn buckets_refill_at_the_rate() {
        let limits = RateLimits::default();
        assert!(limits.take("h", 100, 10, 100).is_ok());
        // Empty: 50 more records need 5 s at 10/s.
        assert_eq!(limits.take("h", 50, 10, 100), Err(5));
        // Another host has its own bucket.
        assert!(limits.take("other", 100, 10, 100).is_ok());
    }

    #[test]
    fn record_checks() {
        let metric = MetricRecord {
            plugin: "system".to_string(),
            name: "cpu_usage".to_string(),
            value: 1.0,
            unit: "percent".to_string(),
            kind: p2pmon_common::wire::MetricKind::Gauge,
            tags: BTreeMap::new(),
            timestamp_ms: 1_000,
        };
        assert!(check_metric(&metric, 32, 256, 0, 2_000).is_ok());
        assert_eq!(
            check_metric(&metric, 32, 256, 1_500, 2_000).map_err(|e| e.0),
            Err("timestamp_too_old")
        );
        assert_eq!(
            check_metric(&metric, 32, 256, 0, 500).map_err(|e| e.0),
            Err("timestamp_in_future")
        );
        let mut forged = metric.clone();
        forged.tags.insert("host".to_string(), "victim".to_string());
        assert_eq!(
            check_metric(&forged, 32, 256, 0, 2_000).map_err(|e| e.0),
            Err("reserved_tag")
        );
        let mut bad = metric.clone();
        bad.name = "DROP TABLE".to_string();
        assert_eq!(
            check_metric(&bad, 32, 256, 0, 2_000).map_err(|e| e.0),
            Err("invalid_name")
        );
        let mut many = metric;
        many.tags = (0..3).map(|i| (format!("t{i}"), "v".to_string())).collect();
        assert_eq!(
            check_metric(&many, 2, 256, 0, 2_000).map_err(|e| e.0),
            Err("too_many_tags")
        );
    }
}
