//! The live feed: `ws://HOST:5122/monitor`, messages `{"type": "metrics" |
//! "alert" | "status", ...}` as in the monitoring design document's client example.
//!
//! Every client has a bounded queue. Publishing never waits: a message that
//! does not fit in a client's queue disconnects that client (it stopped
//! reading), and the others are unaffected. A message is serialised once and
//! shared by every client that takes it whole; clients with subscriptions
//! (hosts, maps, metric groups) get their own filtered copy, built in their
//! own task.
//!
//! Clients authenticate with an API token (`?token=` or `Authorization:
//! Bearer`) or a single-use ticket from `POST /api/v1/ws-ticket` (also as
//! `?token=`); browsers are also held to the configured origins.

use std::collections::{HashMap, HashSet};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use futures_util::{SinkExt, StreamExt};
use p2pmon_common::telemetry::HealthKey;
use serde::Deserialize;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, watch};
use tokio_tungstenite::tungstenite::handshake::server::{ErrorResponse, Request, Response};
use tokio_tungstenite::tungstenite::http::StatusCode;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig as WsProtocolConfig;
use tokio_tungstenite::tungstenite::{Message, Utf8Bytes};

use crate::config::WebSocketConfig;
use crate::feed::FeedMessage;
use crate::limits::{ConnectionCounter, Counted};

pub use crate::feed::WsMetric;

/// What is published; cheap to share between clients.
pub struct Outgoing {
    /// The whole message, serialised once.
    text: Utf8Bytes,
    /// For filtering: the host it is about, and for metrics the metrics.
    host: Option<String>,
    metrics: Option<(u64, Vec<WsMetric>)>,
}

/// A client's subscription; empty sets mean everything.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Subscription {
    #[serde(default)]
    pub hosts: HashSet<String>,
    #[serde(default)]
    pub maps: HashSet<String>,
    #[serde(default)]
    pub groups: HashSet<String>,
}

impl Subscription {
    fn is_everything(&self) -> bool {
        self.hosts.is_empty() && self.maps.is_empty() && self.groups.is_empty()
    }

    fn wants_metric(&self, metric: &WsMetric) -> bool {
        (self.groups.is_empty()
            || metric
                .group
                .as_ref()
                .is_some_and(|g| self.groups.contains(g))
            || self.groups.contains(&metric.plugin))
            && (self.maps.is_empty()
                || metric
                    .tags
                    .get("map")
                    .is_some_and(|m| self.maps.contains(m)))
    }

    fn from_query(query: &str) -> Self {
        let mut sub = Subscription::default();
        for pair in query.split('&') {
            let Some((key, value)) = pair.split_once('=') else {
                continue;
            };
            let set = match key {
                "hosts" => &mut sub.hosts,
                "maps" => &mut sub.maps,
                "groups" => &mut sub.groups,
                _ => continue,
            };
            set.extend(
                value
                    .split(',')
                    .filter(|v| !v.is_empty())
                    .map(str::to_string),
            );
        }
        sub
    }
}

/// A message from a client.
#[derive(Debug, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
enum ClientMessage {
    Subscribe {
        #[serde(flatten)]
        subscription: Subscription,
    },
}

struct ClientSlot {
    queue: mpsc::Sender<Arc<Outgoing>>,
    /// The API token the client came in with (directly or through a
    /// ticket), by hash: when it is revoked the client is closed.
    token_hash: String,
}

p2pmon_common::figures! {
    /// The feed's figures, for `/metrics` and the health answer.
    pub struct HubStats in "websocket" {
        connected: Gauge, "clients", "count", HealthKey::Name,
            "Connected WebSocket clients.";
        accepted: Counter, "accepted", "count", HealthKey::Sample,
            "WebSocket clients accepted.";
        refused: Counter, "refused", "count", HealthKey::Sample,
            "WebSocket handshakes refused.";
        dropped_slow: Counter, "dropped_slow", "count", HealthKey::Sample,
            "Clients disconnected for falling behind.";
        messages: Counter, "messages", "count", HealthKey::Sample,
            "Messages published on the feed.";
    }
}

/// The registry of connected clients.
pub struct Hub {
    clients: Mutex<HashMap<u64, ClientSlot>>,
    next_id: AtomicU64,
    queue_size: usize,
    pub stats: HubStats,
}

impl Hub {
    pub fn new(queue_size: usize) -> Arc<Self> {
        Arc::new(Self {
            clients: Mutex::new(HashMap::new()),
            next_id: AtomicU64::new(1),
            queue_size,
            stats: HubStats::default(),
        })
    }

    pub fn client_count(&self) -> usize {
        self.clients.lock().map(|c| c.len()).unwrap_or(0)
    }

    fn register(&self, token_hash: String) -> (u64, mpsc::Receiver<Arc<Outgoing>>) {
        let (queue, receiver) = mpsc::channel(self.queue_size);
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        if let Ok(mut clients) = self.clients.lock() {
            clients.insert(id, ClientSlot { queue, token_hash });
        }
        self.stats.connected.inc();
        (id, receiver)
    }

    /// Close every client whose token `live` no longer accepts (revoked or
    /// expired); returns how many. Each distinct token is asked once.
    pub fn end_revoked(&self, live: impl Fn(&str) -> bool) -> usize {
        let hashes: std::collections::BTreeSet<String> = match self.clients.lock() {
            Ok(clients) => clients.values().map(|c| c.token_hash.clone()).collect(),
            Err(_) => return 0,
        };
        let dead: std::collections::BTreeSet<String> =
            hashes.into_iter().filter(|h| !live(h)).collect();
        if dead.is_empty() {
            return 0;
        }
        let Ok(mut clients) = self.clients.lock() else {
            return 0;
        };
        let before = clients.len();
        // Dropping a client's sender ends its task and closes the connection.
        clients.retain(|_, slot| !dead.contains(&slot.token_hash));
        let ended = before - clients.len();
        self.stats.connected.sub(ended as u64);
        if ended > 0 {
            tracing::info!(
                clients = ended,
                "Closed WebSocket clients whose token was revoked."
            );
        }
        ended
    }

    fn unregister(&self, id: u64) {
        if let Ok(mut clients) = self.clients.lock()
            && clients.remove(&id).is_some()
        {
            self.stats.connected.sub(1);
        }
    }

    fn send(&self, outgoing: Outgoing) {
        let outgoing = Arc::new(outgoing);
        self.stats.messages.inc();
        let Ok(mut clients) = self.clients.lock() else {
            return;
        };
        let before = clients.len();
        // A full queue means the client stopped reading: drop its sender,
        // which ends its task and closes the connection.
        clients.retain(|_, slot| slot.queue.try_send(outgoing.clone()).is_ok());
        let dropped = before - clients.len();
        if dropped > 0 {
            self.stats.connected.sub(dropped as u64);
            p2pmon_common::count!(
                self.stats.dropped_slow,
                dropped as u64,
                warn,
                clients = dropped,
                "Disconnected WebSocket clients that stopped reading."
            );
        }
    }

    /// Publish `message` to every client; serialised once (see
    /// [`crate::feed`]). A `metrics` message without metrics is not sent.
    pub fn publish(&self, message: FeedMessage) {
        if let FeedMessage::Metrics { metrics, .. } = &message
            && metrics.is_empty()
        {
            return;
        }
        let encoded = message.encode();
        self.send(Outgoing {
            text: encoded.text.into(),
            host: encoded.host,
            metrics: encoded.metrics,
        });
    }
}

/// What a client is allowed to do once connected, decided at the handshake.
struct Admission {
    subscription: Subscription,
    token_hash: String,
}

/// Checks a client's token (an API token or a ticket), answering the hash of
/// the API token behind it; the API's check, passed in by the server.
pub type TokenCheck = Arc<dyn Fn(&str) -> Option<String> + Send + Sync>;

/// Accept WebSocket clients on `listener` until `shutdown`.
/// What the listener admits: connections under the caps, handshakes
/// within their time.
#[derive(Clone)]
pub struct Gate {
    connections: Arc<ConnectionCounter>,
    handshake: std::time::Duration,
}

impl Gate {
    pub fn new(connections: Arc<ConnectionCounter>, handshake_timeout_s: u64) -> Self {
        Self {
            connections,
            handshake: std::time::Duration::from_secs(handshake_timeout_s),
        }
    }
}

pub async fn serve(
    listener: TcpListener,
    config: WebSocketConfig,
    gate: Gate,
    hub: Arc<Hub>,
    check_token: TokenCheck,
    mut shutdown: watch::Receiver<bool>,
) {
    let config = Arc::new(config);
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let Ok((stream, peer)) = accepted else { continue };
                if hub.client_count() >= config.max_clients {
                    hub.stats.refused.inc();
                    continue;
                }
                // Over the per-address or pending caps: closed unread.
                let Ok(stream) = crate::limits::admit(&gate.connections, stream) else {
                    hub.stats.refused.inc();
                    continue;
                };
                tokio::spawn(client(
                    stream,
                    peer,
                    gate.handshake,
                    config.clone(),
                    hub.clone(),
                    check_token.clone(),
                    shutdown.clone(),
                ));
            }
            _ = shutdown.changed() => break,
        }
    }
}

fn refuse(status: StatusCode, message: &str) -> ErrorResponse {
    let mut response = ErrorResponse::new(Some(message.to_string()));
    *response.status_mut() = status;
    response
}

fn bearer(request: &Request) -> Option<String> {
    let query_token = request.uri().query().and_then(|q| {
        q.split('&')
            .filter_map(|p| p.split_once('='))
            .find(|(k, _)| *k == "token")
            .map(|(_, v)| v.to_string())
    });
    query_token.or_else(|| {
        request
            .headers()
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .map(str::to_string)
    })
}

async fn client(
    stream: Counted<TcpStream>,
    peer: SocketAddr,
    handshake_timeout: std::time::Duration,
    config: Arc<WebSocketConfig>,
    hub: Arc<Hub>,
    check_token: TokenCheck,
    mut shutdown: watch::Receiver<bool>,
) {
    let Some((mut ws, admission)) =
        admit(stream, peer, handshake_timeout, &config, &hub, &check_token).await
    else {
        return;
    };
    let Admission {
        mut subscription,
        token_hash,
    } = admission;
    hub.stats.accepted.inc();
    let (id, mut queue) = hub.register(token_hash);
    loop {
        tokio::select! {
            outgoing = queue.recv() => {
                let Some(outgoing) = outgoing else {
                    // Dropped by the hub: too slow.
                    let _ = ws.close(None).await;
                    break;
                };
                let Some(text) = render(&outgoing, &subscription) else { continue };
                if ws.send(Message::Text(text)).await.is_err() {
                    break;
                }
            }
            incoming = ws.next() => match incoming {
                Some(Ok(Message::Text(text))) => {
                    match serde_json::from_str::<ClientMessage>(&text) {
                        Ok(ClientMessage::Subscribe { subscription: new }) => subscription = new,
                        Err(error) => {
                            let reply = crate::feed::error_reply(&format!("unknown message: {error}"));
                            if ws.send(Message::Text(reply.into())).await.is_err() {
                                break;
                            }
                        }
                    }
                }
                Some(Ok(Message::Close(_))) | None | Some(Err(_)) => break,
                Some(Ok(_)) => {}
            },
            _ = shutdown.changed() => {
                let _ = ws.close(None).await;
                break;
            }
        }
    }
    hub.unregister(id);
}

/// The handshake: the path, the origin and the token checked, within
/// `handshake_timeout`; the connection and what it may do, or `None`.
async fn admit(
    stream: Counted<TcpStream>,
    peer: SocketAddr,
    handshake_timeout: std::time::Duration,
    config: &WebSocketConfig,
    hub: &Hub,
    check_token: &TokenCheck,
) -> Option<(
    tokio_tungstenite::WebSocketStream<Counted<TcpStream>>,
    Admission,
)> {
    let mut admission = None;
    // The callback's error type is tungstenite's own response; it cannot be boxed.
    #[allow(clippy::result_large_err)]
    let callback = |request: &Request, response: Response| {
        if request.uri().path() != config.path {
            return Err(refuse(StatusCode::NOT_FOUND, "no such path"));
        }
        if let Some(origin) = request.headers().get("origin") {
            let origin = origin.to_str().unwrap_or("");
            if !config
                .allowed_origins
                .iter()
                .any(|allowed| allowed == "*" || allowed == origin)
            {
                return Err(refuse(StatusCode::FORBIDDEN, "origin not allowed"));
            }
        }
        let Some(token_hash) = bearer(request).and_then(|token| check_token(&token)) else {
            return Err(refuse(StatusCode::UNAUTHORIZED, "missing or invalid token"));
        };
        admission = Some(Admission {
            subscription: Subscription::from_query(request.uri().query().unwrap_or("")),
            token_hash,
        });
        Ok(response)
    };
    // Small buffers: an idle client should cost a few KB, not the 128 KiB
    // read buffer tungstenite allocates by default.
    let ws_config = WsProtocolConfig::default()
        .read_buffer_size(4096)
        .write_buffer_size(0)
        .max_message_size(Some(64 * 1024))
        .max_frame_size(Some(64 * 1024));
    let handshake =
        tokio_tungstenite::accept_hdr_async_with_config(stream, callback, Some(ws_config));
    let ws = match tokio::time::timeout(handshake_timeout, handshake).await {
        Ok(Ok(ws)) => ws,
        Ok(Err(error)) => {
            hub.stats.refused.inc();
            tracing::debug!(%peer, %error, "WebSocket handshake refused.");
            return None;
        }
        Err(_) => return None,
    };
    Some((ws, admission?))
}

/// The text to send `subscription`'s client for `outgoing`, if any.
fn render(outgoing: &Outgoing, subscription: &Subscription) -> Option<Utf8Bytes> {
    if subscription.is_everything() {
        return Some(outgoing.text.clone());
    }
    if let Some(host) = &outgoing.host
        && !subscription.hosts.is_empty()
        && !subscription.hosts.contains(host)
    {
        return None;
    }
    match &outgoing.metrics {
        None => Some(outgoing.text.clone()),
        Some((stored_ms, metrics)) => {
            if subscription.groups.is_empty() && subscription.maps.is_empty() {
                return Some(outgoing.text.clone());
            }
            let wanted: Vec<WsMetric> = metrics
                .iter()
                .filter(|m| subscription.wants_metric(m))
                .cloned()
                .collect();
            if wanted.is_empty() {
                return None;
            }
            let host = outgoing.host.as_deref().unwrap_or("");
            Some(crate::feed::metrics_text(host, *stored_ms, &wanted).into())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn metric(name: &str, group: Option<&str>, map: Option<&str>) -> WsMetric {
        WsMetric {
            name: name.to_string(),
            value: 1.0,
            unit: String::new(),
            tags: map
                .map(|m| [("map".to_string(), m.to_string())].into())
                .unwrap_or_default(),
            timestamp_ms: 1,
            plugin: "p".to_string(),
            group: group.map(str::to_string),
        }
    }

    #[test]
    fn subscriptions_filter_hosts_groups_and_maps() {
        let outgoing = Outgoing {
            text: "{}".into(),
            host: Some("h1".to_string()),
            metrics: Some((
                5,
                vec![
                    metric("cpu_usage", Some("system"), None),
                    metric("player_count", Some("game"), Some("prontera")),
                    metric("player_count", Some("game"), Some("geffen")),
                ],
            )),
        };
        assert!(render(&outgoing, &Subscription::default()).is_some());
        assert!(render(&outgoing, &Subscription::from_query("hosts=h2")).is_none());
        let game = render(
            &outgoing,
            &Subscription::from_query("groups=game&maps=geffen"),
        )
        .expect("one metric");
        let parsed: serde_json::Value = serde_json::from_str(&game).expect("json");
        assert_eq!(parsed["metrics"].as_array().map(Vec::len), Some(1));
        assert_eq!(parsed["metrics"][0]["tags"]["map"], "geffen");
    }

    #[tokio::test]
    async fn a_full_queue_disconnects_only_that_client() {
        let hub = Hub::new(2);
        let (_slow, _slow_queue) = hub.register("a".to_string());
        let (_fast, mut fast_queue) = hub.register("b".to_string());
        for i in 0..3 {
            hub.publish(FeedMessage::Status(
                crate::feed::Status::CoordinatorUnreachable {
                    error: format!("poll {i}"),
                },
            ));
            // The fast client keeps up.
            assert!(fast_queue.recv().await.is_some());
        }
        assert_eq!(hub.client_count(), 1);
        assert_eq!(hub.stats.dropped_slow.get(), 1);
    }
}
