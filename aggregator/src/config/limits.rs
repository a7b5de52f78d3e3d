//! `limits:` in aggregator.yml: per listener timeouts and connection caps
//! (enforced by [`crate::limits`]).

use std::net::IpAddr;
use std::time::Duration;

use p2pmon_common::yaml_config::Findings;
use serde::Deserialize;

/// The `limits:` section of aggregator.yml, one entry per listener.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LimitsConfig {
    #[serde(default)]
    pub ingest: HttpLimits,
    #[serde(default)]
    pub api: HttpLimits,
    #[serde(default)]
    pub websocket: WebSocketLimits,
    /// Addresses `max_per_address` does not count: a TLS proxy in front of
    /// a listener carries every client over its own address (the listener's
    /// `max_connections` still applies to them).
    #[serde(default = "default_proxies")]
    pub proxies: Vec<IpAddr>,
}

fn default_proxies() -> Vec<IpAddr> {
    vec![
        IpAddr::from([127, 0, 0, 1]),
        IpAddr::from(std::net::Ipv6Addr::LOCALHOST),
    ]
}

impl Default for LimitsConfig {
    fn default() -> Self {
        Self {
            ingest: HttpLimits::default(),
            api: HttpLimits::default(),
            websocket: WebSocketLimits::default(),
            proxies: default_proxies(),
        }
    }
}

/// Limits of an HTTP listener (ingest, API).
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HttpLimits {
    /// From accepting a connection to the end of its first request's
    /// headers (after the TLS handshake, which has the same bound).
    #[serde(default = "default_header_timeout_s")]
    pub header_timeout_s: u64,
    /// From the end of a request's headers to the end of its body.
    #[serde(default = "default_body_timeout_s")]
    pub body_timeout_s: u64,
    /// How long a kept-alive HTTP/1.1 connection may wait for (and send the
    /// headers of) its next request. HTTP/2 connections are pinged this
    /// often and closed when the peer stops answering.
    #[serde(default = "default_idle_timeout_s")]
    pub idle_timeout_s: u64,
    /// Connections open at once on this listener.
    #[serde(default = "default_max_connections")]
    pub max_connections: usize,
    /// Connections open at once from one client address.
    #[serde(default = "default_max_per_address")]
    pub max_per_address: usize,
}

/// Limits of the WebSocket listener. Clients stay connected by design, so
/// there is no idle limit; `websocket.max_clients` caps the admitted ones.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebSocketLimits {
    /// From accepting a connection to the end of the upgrade handshake.
    #[serde(default = "default_header_timeout_s")]
    pub handshake_timeout_s: u64,
    /// Connections open at once from one client address (handshaking or
    /// admitted).
    #[serde(default = "default_max_per_address")]
    pub max_per_address: usize,
}

fn default_header_timeout_s() -> u64 {
    10
}
fn default_body_timeout_s() -> u64 {
    30
}
fn default_idle_timeout_s() -> u64 {
    60
}
fn default_max_connections() -> usize {
    4096
}
fn default_max_per_address() -> usize {
    64
}

impl Default for HttpLimits {
    fn default() -> Self {
        Self {
            header_timeout_s: default_header_timeout_s(),
            body_timeout_s: default_body_timeout_s(),
            idle_timeout_s: default_idle_timeout_s(),
            max_connections: default_max_connections(),
            max_per_address: default_max_per_address(),
        }
    }
}

impl Default for WebSocketLimits {
    fn default() -> Self {
        Self {
            handshake_timeout_s: default_header_timeout_s(),
            max_per_address: default_max_per_address(),
        }
    }
}

impl HttpLimits {
    pub fn header_timeout(&self) -> Duration {
        Duration::from_secs(self.header_timeout_s)
    }
    pub fn body_timeout(&self) -> Duration {
        Duration::from_secs(self.body_timeout_s)
    }
    pub fn idle_timeout(&self) -> Duration {
        Duration::from_secs(self.idle_timeout_s)
    }
}

impl LimitsConfig {
    pub fn validate(&self, findings: &mut Findings) {
        for (name, limits) in [("ingest", &self.ingest), ("api", &self.api)] {
            let field = |f: &str| format!("limits.{name}.{f}");
            findings.in_range(field("header_timeout_s"), limits.header_timeout_s, 1..=600);
            findings.in_range(field("body_timeout_s"), limits.body_timeout_s, 1..=3600);
            findings.in_range(field("idle_timeout_s"), limits.idle_timeout_s, 1..=3600);
            findings.in_range(
                field("max_connections"),
                limits.max_connections,
                1..=1_000_000,
            );
            findings.in_range(
                field("max_per_address"),
                limits.max_per_address,
                1..=1_000_000,
            );
            if limits.max_per_address > limits.max_connections {
                findings.error(
                    field("max_per_address"),
                    format!("must not exceed limits.{name}.max_connections"),
                );
            }
        }
        findings.in_range(
            "limits.websocket.handshake_timeout_s",
            self.websocket.handshake_timeout_s,
            1..=600,
        );
        findings.in_range(
            "limits.websocket.max_per_address",
            self.websocket.max_per_address,
            1..=1_000_000,
        );
    }
}
