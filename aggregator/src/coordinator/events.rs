//! Events the coordinator pushes (`POST /api/v1/events`, API token):
//! hosts registered or removed, map migrations started, finished or failed,
//! failovers, network partitions, security events from its own anti-cheat,
//! database syncs (see [`super::sync`]). A push is checked whole: one bad event refuses it all
//! (400) and nothing is stored; a body over [`MAX_BODY`] is refused (413)
//! unread. Accepted events are stored under the host they name (or
//! `coordinator` when none), go to alert rules (`events:` in alerts.yml)
//! and to WebSocket clients as `status` messages with kind
//! `coordinator_event`. They never count as data from the host itself, so
//! a silent agent still raises `no_data`.
//!
//! ```json
//! {"seq": 42, "events": [{"kind": "map_migration_failed", "host_id": "p2p-7",
//!   "message": "prt_fild08 could not move", "fields": {"map": "prt_fild08", "to": "vps-1"}}]}
//! ```
//!
//! `seq`, when sent, makes a push exactly-once: a push with a `seq` not
//! above the last one stored is acknowledged as a duplicate and not stored
//! again (a coordinator can retry safely). Without it, events are stored
//! at least once.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use axum::http::StatusCode;
use p2pmon_common::rules::{
    MAX_FIELD_VALUE, MAX_MESSAGE, MAX_NAME, MAX_TAGS, check_tag, is_host_id, is_name,
};
use p2pmon_common::wire::{EventRecord, Severity};
use serde::Deserialize;

use super::sync;
use crate::after_store::{self, Source};
use crate::clock::now_ms;
use crate::refusal::Refusal;
use crate::state::Shared;
use crate::store::WriteJob;

/// The event for a quarantined host registered again.
pub const RETURNED: &str = "quarantined_host_returned";

/// Largest push body.
pub const MAX_BODY: usize = 256 * 1024;
/// Most events in one push.
pub const MAX_EVENTS: usize = 1000;
/// The host events are stored under when they name none.
pub const NO_HOST: &str = "coordinator";
/// How far back and ahead an event's timestamp may be.
const MAX_AGE_MS: i64 = 7 * 86_400 * 1000;
const MAX_FUTURE_MS: i64 = 300 * 1000;

/// Kinds the coordinator sends or the poll derives ([`super::derive`]),
/// with the severity each gets when the push does not say. Other kinds are
/// accepted with an explicit severity.
const KNOWN: [(&str, Severity); 18] = [
    ("host_registered", Severity::Info),
    ("host_removed", Severity::Warning),
    ("host_reregistered", Severity::Warning),
    ("host_status_changed", Severity::Info),
    ("host_zones_changed", Severity::Info),
    ("session_started", Severity::Info),
    ("session_ended", Severity::Info),
    ("session_failed", Severity::Warning),
    (RETURNED, Severity::Critical),
    ("map_migration_started", Severity::Info),
    ("map_migration_finished", Severity::Info),
    ("map_migration_failed", Severity::Critical),
    ("failover_performed", Severity::Warning),
    ("network_partition", Severity::Critical),
    ("security_event", Severity::Warning),
    ("db_sync", Severity::Info),
    ("db_sync_failed", Severity::Critical),
    ("db_checksum_mismatch", Severity::Critical),
];

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Push {
    #[serde(default)]
    pub seq: Option<u64>,
    pub events: Vec<PushedEvent>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PushedEvent {
    pub kind: String,
    #[serde(default)]
    pub host_id: Option<String>,
    #[serde(default)]
    pub severity: Option<Severity>,
    #[serde(default)]
    pub message: String,
    #[serde(default)]
    pub fields: BTreeMap<String, String>,
    /// Default: when received.
    #[serde(default)]
    pub timestamp_ms: Option<i64>,
}

/// Check one event; the error says which and why.
fn check(index: usize, event: PushedEvent, now: i64) -> Result<(String, EventRecord), String> {
    let at = |why: String| format!("events[{index}]: {why}");
    if !is_name(&event.kind, MAX_NAME) {
        return Err(at("kind must be a name ([a-z][a-z0-9_.]*)".to_string()));
    }
    let host = event.host_id.unwrap_or_else(|| NO_HOST.to_string());
    if !is_host_id(&host) {
        return Err(at("host_id is not a host id".to_string()));
    }
    let severity = match event.severity {
        Some(severity) => severity,
        None => severity_of(&event.kind).ok_or_else(|| {
            at(format!(
                "{} is not a known kind: give its severity",
                event.kind
            ))
        })?,
    };
    if event.message.len() > MAX_MESSAGE {
        return Err(at(format!("message over {MAX_MESSAGE} bytes")));
    }
    if event.fields.len() > MAX_TAGS {
        return Err(at(format!("more than {MAX_TAGS} fields")));
    }
    for (key, value) in &event.fields {
        check_tag(key, value, MAX_FIELD_VALUE).map_err(&at)?;
    }
    if event.kind == sync::SYNCED {
        sync::lag_field(&event.fields).map_err(&at)?;
    }
    let ts = event.timestamp_ms.unwrap_or(now);
    if ts < now - MAX_AGE_MS || ts > now + MAX_FUTURE_MS {
        return Err(at(format!(
            "timestamp_ms {ts} is over a week old or in the future"
        )));
    }
    Ok((
        host,
        EventRecord {
            plugin: "coordinator".to_string(),
            kind: event.kind,
            severity,
            message: event.message,
            fields: event.fields,
            timestamp_ms: ts as u64,
        },
    ))
}

/// The severity a known kind gets when none is given.
pub fn severity_of(kind: &str) -> Option<Severity> {
    KNOWN.iter().find(|(k, _)| *k == kind).map(|(_, s)| *s)
}

/// Stream ids for pushes without `seq`: above any `seq` a clock could give.
static UNSEQUENCED: AtomicU64 = AtomicU64::new(0);

/// The next id of a stream without `seq`: microseconds since the epoch,
/// strictly increasing.
pub fn next_unsequenced(now: i64) -> u64 {
    let floor = (now as u64).saturating_mul(1000);
    let next = |last: u64| last.max(floor) + 1;
    let last = UNSEQUENCED
        .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |last| {
            Some(next(last))
        })
        .unwrap_or(floor);
    next(last)
}

/// Store and publish a push; returns (events stored, duplicate).
pub async fn accept(shared: &Arc<Shared>, body: &[u8]) -> Result<(usize, bool), Refusal> {
    let bad = |message: String| Refusal::new(StatusCode::BAD_REQUEST, "bad_request", message);
    let push: Push = serde_json::from_slice(body).map_err(|e| bad(format!("not a push: {e}")))?;
    if push.events.is_empty() || push.events.len() > MAX_EVENTS {
        return Err(bad(format!("events holds 1 to {MAX_EVENTS} events")));
    }
    let now = now_ms();
    let mut by_host: BTreeMap<String, Vec<EventRecord>> = BTreeMap::new();
    for (index, event) in push.events.into_iter().enumerate() {
        let (host, record) = check(index, event, now).map_err(bad)?;
        by_host.entry(host).or_default().push(record);
    }
    let (stream, seq) = match push.seq {
        Some(seq) => ("coordinator", seq),
        None => ("coordinator-unsequenced", next_unsequenced(now)),
    };
    store(shared, by_host, stream, seq, now).await.map_err(|_| {
        Refusal::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "store_unavailable",
            "the store could not write the events; retry later",
        )
    })
}

/// Store events per host under (`stream`, `seq`), then hand them on
/// ([`crate::after_store`]); returns (stored, duplicate).
pub async fn store(
    shared: &Shared,
    by_host: BTreeMap<String, Vec<EventRecord>>,
    stream: &str,
    seq: u64,
    now: i64,
) -> Result<(usize, bool), crate::store::StoreError> {
    let mut stored = 0;
    let mut duplicate = false;
    for (host, events) in by_host {
        let mut job = WriteJob::new(Arc::from(host.as_str()), stream.to_string(), seq, now);
        job.events = events;
        let outcome = shared.store.write(job).await.inspect_err(|error| {
            tracing::error!(%error, "Coordinator events not stored.");
        })?;
        if outcome.duplicate {
            duplicate = true;
            continue;
        }
        stored += outcome.events as usize;
        after_store::stored(shared, &host, Source::Coordinator, outcome);
    }
    Ok((stored, duplicate))
}
