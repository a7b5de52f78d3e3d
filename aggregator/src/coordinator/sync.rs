//! Database synchronisation per host, from the coordinator's events:
//! `db_sync` (a sync succeeded; field `lag_s`, how far behind the host's
//! copy was, default 0), `db_sync_failed` and `db_checksum_mismatch`.
//!
//! For each host: when the last sync succeeded, the lag, and the failures
//! and checksum mismatches since then. The lag feeds alert rules as the
//! gauge `db_sync_lag_s`: the reported lag on a success, and on a failure
//! the time since the last success (the copy falls further behind with
//! every failed sync). The events themselves are stored like any other, and
//! the status is rebuilt from them when the aggregator starts.

use std::collections::BTreeMap;
use std::sync::{Arc, RwLock};

use p2pmon_common::wire::EventRecord;
use serde::Serialize;

use crate::store::{Store, StoreError};

/// The gauge alert rules see.
pub const LAG: &str = "db_sync_lag_s";
pub const SYNCED: &str = "db_sync";
pub const FAILED: &str = "db_sync_failed";
pub const MISMATCH: &str = "db_checksum_mismatch";
/// How far back the status is rebuilt from stored events.
const REBUILD_MS: i64 = 7 * 86_400 * 1000;

#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct SyncStatus {
    pub host: String,
    pub last_success_ms: Option<i64>,
    pub lag_s: Option<f64>,
    /// Failed syncs since the last success.
    pub failures: u64,
    /// Checksum mismatches since the last success.
    pub checksum_mismatches: u64,
    pub last_problem_ms: Option<i64>,
    pub last_problem: Option<String>,
}

/// The `lag_s` field of a `db_sync` event: absent, or seconds (finite, >= 0).
pub fn lag_field(fields: &BTreeMap<String, String>) -> Result<Option<f64>, String> {
    match fields.get("lag_s") {
        None => Ok(None),
        Some(text) => match text.parse::<f64>() {
            Ok(lag) if lag.is_finite() && lag >= 0.0 => Ok(Some(lag)),
            _ => Err(format!("lag_s {text:?} is not a number of seconds")),
        },
    }
}

#[derive(Default)]
pub struct SyncBook {
    hosts: RwLock<BTreeMap<String, SyncStatus>>,
}

impl SyncBook {
    /// Take one event into account; returns the lag to show alert rules,
    /// if the event changes it.
    pub fn apply(&self, host: &str, event: &EventRecord) -> Option<f64> {
        let ts = event.timestamp_ms as i64;
        let Ok(mut hosts) = self.hosts.write() else {
            return None;
        };
        let status = hosts.entry(host.to_string()).or_insert_with(|| SyncStatus {
            host: host.to_string(),
            ..SyncStatus::default()
        });
        let problem = |status: &mut SyncStatus, default: &str| {
            status.last_problem_ms = Some(ts);
            status.last_problem = Some(if event.message.is_empty() {
                default.to_string()
            } else {
                event.message.clone()
            });
        };
        match event.kind.as_str() {
            SYNCED => {
                if status.last_success_ms.is_some_and(|last| last > ts) {
                    return None;
                }
                let lag = lag_field(&event.fields).ok().flatten().unwrap_or(0.0);
                status.last_success_ms = Some(ts);
                status.lag_s = Some(lag);
                status.failures = 0;
                status.checksum_mismatches = 0;
                Some(lag)
            }
            FAILED => {
                status.failures += 1;
                problem(status, "sync failed");
                let since = status.last_success_ms?;
                let behind = ((ts - since).max(0) as f64) / 1000.0;
                let lag = status.lag_s.unwrap_or(0.0).max(behind);
                status.lag_s = Some(lag);
                Some(lag)
            }
            MISMATCH => {
                status.checksum_mismatches += 1;
                problem(status, "checksum mismatch");
                None
            }
            _ => None,
        }
    }

    pub fn all(&self) -> Vec<SyncStatus> {
        self.hosts
            .read()
            .map(|h| h.values().cloned().collect())
            .unwrap_or_default()
    }

    pub fn get(&self, host: &str) -> Option<SyncStatus> {
        self.hosts.read().ok()?.get(host).cloned()
    }
}

/// Rebuild `book` from the last week's stored sync events.
pub async fn rebuild(
    book: &SyncBook,
    store: &Arc<Store>,
    now_ms: i64,
) -> Result<usize, StoreError> {
    let since = now_ms - REBUILD_MS;
    let events = store
        .read(move |conn| crate::store::events_of_kinds(conn, since, &[SYNCED, FAILED, MISMATCH]))
        .await?;
    let count = events.len();
    for stored in events {
        let event = EventRecord {
            plugin: "coordinator".to_string(),
            kind: stored.kind,
            severity: p2pmon_common::wire::Severity::Info,
            message: stored.message,
            fields: stored.fields,
            timestamp_ms: stored.timestamp_ms as u64,
        };
        book.apply(&stored.host, &event);
    }
    Ok(count)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(kind: &str, ts: u64, fields: &[(&str, &str)]) -> EventRecord {
        EventRecord {
            plugin: "coordinator".to_string(),
            kind: kind.to_string(),
            severity: p2pmon_common::wire::Severity::Info,
            message: String::new(),
            fields: fields
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            timestamp_ms: ts,
        }
    }

    #[test]
    fn failures_grow_the_lag_and_a_success_clears_them() {
        let book = SyncBook::default();
        assert_eq!(
            book.apply("a", &event(FAILED, 1_000, &[])),
            None,
            "no success yet"
        );
        assert_eq!(
            book.apply("a", &event(SYNCED, 10_000, &[("lag_s", "2.5")])),
            Some(2.5)
        );
        assert_eq!(book.apply("a", &event(FAILED, 70_000, &[])), Some(60.0));
        assert_eq!(book.apply("a", &event(MISMATCH, 71_000, &[])), None);
        let status = book.get("a").expect("status");
        assert_eq!(status.failures, 1);
        assert_eq!(status.checksum_mismatches, 1);
        assert_eq!(status.last_problem.as_deref(), Some("checksum mismatch"));
        // An older success arriving late changes nothing.
        assert_eq!(book.apply("a", &event(SYNCED, 5_000, &[])), None);
        assert_eq!(book.apply("a", &event(SYNCED, 80_000, &[])), Some(0.0));
        let status = book.get("a").expect("status");
        assert_eq!((status.failures, status.checksum_mismatches), (0, 0));
        assert_eq!(status.last_success_ms, Some(80_000));
    }

    #[tokio::test]
    async fn the_status_is_rebuilt_from_the_last_weeks_stored_sync_events() {
        let dir = tempfile::tempdir().expect("dir");
        let store = Store::open(&dir.path().join("store.db")).expect("store");
        let now = 30 * 86_400_000;
        let at =
            |days_ago: i64, minutes: i64| (now - days_ago * 86_400_000 + minutes * 60_000) as u64;
        let mut job = crate::store::WriteJob::new(Arc::from("a"), "s".to_string(), 1, now);
        job.events = vec![
            // Over a week old: left out, so its failure does not count.
            event(FAILED, at(8, 0), &[]),
            event(SYNCED, at(2, 0), &[("lag_s", "4")]),
            event(FAILED, at(1, 0), &[]),
            event(MISMATCH, at(1, 1), &[]),
            // Not a sync event.
            event("host_state", at(1, 2), &[]),
        ];
        store.write(job).await.expect("write");
        let book = SyncBook::default();
        assert_eq!(rebuild(&book, &store, now).await.expect("rebuild"), 3);
        let status = book.get("a").expect("status");
        assert_eq!(status.last_success_ms, Some(at(2, 0) as i64));
        assert_eq!((status.failures, status.checksum_mismatches), (1, 1));
        assert_eq!(status.last_problem.as_deref(), Some("checksum mismatch"));
        store.close().await.expect("close");
    }

    #[test]
    fn lag_must_be_seconds() {
        let fields = |v: &str| BTreeMap::from([("lag_s".to_string(), v.to_string())]);
        assert_eq!(lag_field(&fields("3")), Ok(Some(3.0)));
        assert!(lag_field(&fields("-1")).is_err());
        assert!(lag_field(&fields("NaN")).is_err());
        assert!(lag_field(&fields("soon")).is_err());
        assert_eq!(lag_field(&BTreeMap::new()), Ok(None));
    }
}
