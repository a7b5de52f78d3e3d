//! What the live feed says: every message the aggregator publishes to
//! WebSocket clients, as one enum, turned into JSON here and nowhere else
//! (the hub in [`crate::fanout`] sends what [`FeedMessage::encode`] gives).
//!
//! Three message types, as the original monitoring design document's
//! client snippet reads them:
//!
//! - `{"type": "metrics", "host", "stored_ms", "metrics": [..]}`: a stored
//!   batch;
//! - `{"type": "status", "status": {"kind": .., ..}}`: a [`Status`];
//! - `{"type": "alert", "alert": {.., "change"}}`: an alert transition.
//!
//! Alerting's own types (an alert, an action's audit entry) travel as a
//! [`Payload`]: the feed says where they go without knowing their fields.

use std::collections::BTreeMap;

use p2pmon_common::wire::EventRecord;
use serde::{Deserialize, Serialize};

use crate::live::HostState;

/// One metric in a `metrics` message.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct WsMetric {
    pub name: String,
    pub value: f64,
    pub unit: String,
    pub tags: BTreeMap<String, String>,
    pub timestamp_ms: u64,
    pub plugin: String,
    /// metrics.yml group (system, game, network), if listed there.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub group: Option<String>,
}

/// A value another module serialises (alerting's alert and audit entry).
pub trait Payload: Send + Sync {
    fn to_json(&self) -> serde_json::Value;
}

impl<T: Serialize + Send + Sync> Payload for T {
    fn to_json(&self) -> serde_json::Value {
        serde_json::to_value(self).unwrap_or_default()
    }
}

/// A [`Payload`], boxed so messages own what they carry.
pub struct Dynamic(Box<dyn Payload>);

impl Dynamic {
    pub fn new(value: impl Payload + 'static) -> Self {
        Self(Box::new(value))
    }
}

impl Serialize for Dynamic {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.0.to_json().serialize(serializer)
    }
}

/// The body of a `status` message, told apart by `kind`.
#[derive(Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Status {
    /// Online, degraded or offline from the age of its last batch.
    HostState {
        host: String,
        state: HostState,
        previous: HostState,
        last_seen_ms: Option<i64>,
    },
    HostEnrolled {
        host: String,
    },
    HostRevoked {
        host: String,
    },
    /// An event a host's plugin sent.
    Event {
        host: String,
        event: EventRecord,
    },
    /// An event the coordinator pushed or the poll derived.
    CoordinatorEvent {
        host: String,
        event: EventRecord,
    },
    CoordinatorUnreachable {
        error: String,
    },
    /// Registered at the coordinator and online there, no agent here.
    UnmonitoredHost {
        host: String,
        message: String,
    },
    /// Reporting here, not listed by the coordinator.
    UnknownToCoordinator {
        host: String,
        message: String,
    },
    /// A map the coordinator assigns to a host whose map-server does not
    /// serve it.
    MapNotServed {
        host: String,
        message: String,
    },
    /// A row of FluxCP's settings table that does not read (the last good
    /// value stays).
    SettingsInvalid {
        setting: String,
        error: String,
    },
    /// An automatic action's audit log entry, its fields beside `kind`.
    Action {
        #[serde(skip)]
        host: String,
        #[serde(flatten)]
        entry: Dynamic,
    },
}

impl Status {
    /// The host the message is about (subscriptions filter on it).
    pub fn host(&self) -> Option<&str> {
        match self {
            Status::HostState { host, .. }
            | Status::HostEnrolled { host }
            | Status::HostRevoked { host }
            | Status::Event { host, .. }
            | Status::CoordinatorEvent { host, .. }
            | Status::UnmonitoredHost { host, .. }
            | Status::UnknownToCoordinator { host, .. }
            | Status::MapNotServed { host, .. }
            | Status::Action { host, .. } => Some(host.as_str()),
            Status::CoordinatorUnreachable { .. } | Status::SettingsInvalid { .. } => None,
        }
    }
}

/// Everything the feed publishes.
pub enum FeedMessage {
    /// The metrics of one stored batch.
    Metrics {
        host: String,
        /// When the aggregator stored the batch (Unix ms).
        stored_ms: u64,
        metrics: Vec<WsMetric>,
    },
    Status(Status),
    /// An alert transition: the alert with its `change` beside its fields.
    Alert {
        host: String,
        alert: Dynamic,
        change: Dynamic,
    },
}

#[derive(Serialize)]
struct MetricsMessage<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    host: &'a str,
    stored_ms: u64,
    metrics: &'a [WsMetric],
}

/// A message as sent, and what subscriptions filter on.
pub struct Encoded {
    pub text: String,
    pub host: Option<String>,
    /// For `metrics` messages: when stored, and the metrics.
    pub metrics: Option<(u64, Vec<WsMetric>)>,
}

/// A `metrics` message's text (a subscription's filtered copy too).
pub fn metrics_text(host: &str, stored_ms: u64, metrics: &[WsMetric]) -> String {
    serde_json::to_string(&MetricsMessage {
        kind: "metrics",
        host,
        stored_ms,
        metrics,
    })
    .unwrap_or_default()
}

/// The answer to one client message the feed cannot read:
/// `{"type": "error", "error": ...}`.
pub fn error_reply(error: &str) -> String {
    #[derive(Serialize)]
    struct Reply<'a> {
        r#type: &'static str,
        error: &'a str,
    }
    serde_json::to_string(&Reply {
        r#type: "error",
        error,
    })
    .unwrap_or_default()
}

impl FeedMessage {
    /// The JSON text clients get, serialised once.
    pub fn encode(self) -> Encoded {
        match self {
            FeedMessage::Metrics {
                host,
                stored_ms,
                metrics,
            } => Encoded {
                text: metrics_text(&host, stored_ms, &metrics),
                host: Some(host),
                metrics: Some((stored_ms, metrics)),
            },
            FeedMessage::Status(status) => Encoded {
                host: status.host().map(str::to_string),
                text: serde_json::json!({ "type": "status", "status": status }).to_string(),
                metrics: None,
            },
            FeedMessage::Alert {
                host,
                alert,
                change,
            } => {
                let mut body = alert.0.to_json();
                if let Some(object) = body.as_object_mut() {
                    object.insert("change".to_string(), change.0.to_json());
                }
                Encoded {
                    text: serde_json::json!({ "type": "alert", "alert": body }).to_string(),
                    host: Some(host),
                    metrics: None,
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{Value, json};

    fn sent(message: FeedMessage) -> (Value, Option<String>) {
        let encoded = message.encode();
        (
            serde_json::from_str(&encoded.text).expect("JSON"),
            encoded.host,
        )
    }

    #[test]
    fn an_error_reply_carries_any_text_as_a_json_string() {
        let hostile = "unknown message: \"}\n{\"type\": \"alert\"";
        let reply: Value = serde_json::from_str(&error_reply(hostile)).expect("JSON");
        assert_eq!(reply, json!({"type": "error", "error": hostile}));
    }

    #[test]
    fn status_messages_carry_their_kind_beside_their_fields() {
        let (value, host) = sent(FeedMessage::Status(Status::HostState {
            host: "a".to_string(),
            state: HostState::Degraded,
            previous: HostState::Online,
            last_seen_ms: Some(5),
        }));
        assert_eq!(
            value,
            json!({"type": "status", "status": {"kind": "host_state", "host": "a",
                "state": "degraded", "previous": "online", "last_seen_ms": 5}})
        );
        assert_eq!(host.as_deref(), Some("a"));
        let (value, host) = sent(FeedMessage::Status(Status::CoordinatorUnreachable {
            error: "timeout".to_string(),
        }));
        assert_eq!(
            value,
            json!({"type": "status", "status": {"kind": "coordinator_unreachable", "error": "timeout"}})
        );
        assert_eq!(host, None);
    }

    #[test]
    fn payloads_are_flattened_where_the_feed_puts_them() {
        #[derive(Serialize)]
        struct Entry {
            id: i64,
            host: String,
        }
        let (value, host) = sent(FeedMessage::Status(Status::Action {
            host: "b".to_string(),
            entry: Dynamic::new(Entry {
                id: 3,
                host: "b".to_string(),
            }),
        }));
        assert_eq!(
            value,
            json!({"type": "status", "status": {"kind": "action", "id": 3, "host": "b"}})
        );
        assert_eq!(host.as_deref(), Some("b"));
        let (value, _) = sent(FeedMessage::Alert {
            host: "b".to_string(),
            alert: Dynamic::new(json!({"id": 1, "rule": "cpu_usage"})),
            change: Dynamic::new("fired"),
        });
        assert_eq!(
            value,
            json!({"type": "alert", "alert": {"id": 1, "rule": "cpu_usage", "change": "fired"}})
        );
    }

    #[test]
    fn metrics_keep_what_subscriptions_filter_on() {
        let metric = WsMetric {
            name: "cpu_usage".to_string(),
            value: 1.5,
            unit: "percent".to_string(),
            tags: BTreeMap::new(),
            timestamp_ms: 9,
            plugin: "system".to_string(),
            group: None,
        };
        let encoded = FeedMessage::Metrics {
            host: "c".to_string(),
            stored_ms: 10,
            metrics: vec![metric.clone()],
        }
        .encode();
        let value: Value = serde_json::from_str(&encoded.text).expect("JSON");
        assert_eq!(value["type"], "metrics");
        assert_eq!(value["stored_ms"], 10);
        assert_eq!(value["metrics"][0]["name"], "cpu_usage");
        assert!(value["metrics"][0].get("group").is_none());
        assert_eq!(encoded.metrics, Some((10, vec![metric])));
        assert_eq!(encoded.host.as_deref(), Some("c"));
    }
}
