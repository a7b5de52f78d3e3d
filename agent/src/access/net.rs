//! The `net` capability: TCP connect probes and UDP echo probes to granted
//! targets, and the echo responder that answers other hosts' probes.
//!
//! An echo packet is `P2PMECHO`, a 4-byte sequence number and an 8-byte
//! nonce (20 bytes). The responder sends back exactly what it received, only
//! for packets of that shape and at most `echo_max_per_second` a second, so it
//! can be neither an amplifier nor a general reflector.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::net::{TcpStream, UdpSocket};
use tokio::task::JoinSet;

use crate::runtime::bindings::p2pmon::plugin::net::{TcpProbe, UdpProbe};
use crate::runtime::bindings::p2pmon::plugin::types::HostError;

const MAGIC: &[u8; 8] = b"P2PMECHO";
const PACKET_LEN: usize = 20;
/// Targets one call may probe.
pub const MAX_TARGETS: usize = 64;
const MAX_COUNT: u32 = 100;
const MAX_SPACING_MS: u32 = 1_000;
const MAX_TIMEOUT_MS: u32 = 10_000;

/// A granted target (`host:port` or `host:*`) or a requested one.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Target {
    host: String,
    /// `None` is `*`: every port.
    port: Option<u16>,
}

impl Target {
    fn split(text: &str) -> Result<(String, &str), String> {
        let (host, port) = text
            .rsplit_once(':')
            .ok_or_else(|| format!("{text:?} is not host:port"))?;
        let host = host.trim_start_matches('[').trim_end_matches(']');
        if host.is_empty() {
            return Err(format!("{text:?} has no host"));
        }
        Ok((host.to_ascii_lowercase(), port))
    }

    /// A grant from agent.yml: `host:port` or `host:*`.
    pub fn parse_grant(text: &str) -> Result<Self, String> {
        let (host, port) = Self::split(text)?;
        let port = match port {
            "*" => None,
            p => Some(
                p.parse::<u16>()
                    .ok()
                    .filter(|p| *p != 0)
                    .ok_or_else(|| format!("{text:?}: port must be 1-65535 or *"))?,
            ),
        };
        Ok(Self { host, port })
    }

    /// A target a plugin asks for: always `host:port`.
    fn parse_request(text: &str) -> Result<Self, String> {
        let target = Self::parse_grant(text)?;
        if target.port.is_none() {
            return Err(format!("{text:?}: a probe needs a port"));
        }
        Ok(target)
    }

    fn covers(&self, request: &Target) -> bool {
        self.host == request.host && (self.port.is_none() || self.port == request.port)
    }

    fn address(&self) -> String {
        let port = self.port.unwrap_or(0);
        if self.host.contains(':') {
            format!("[{}]:{port}", self.host)
        } else {
            format!("{}:{port}", self.host)
        }
    }
}

/// One plugin's probe targets.
#[derive(Default)]
pub struct NetAccess {
    grants: Vec<Target>,
}

impl NetAccess {
    pub fn new(grants: Vec<Target>) -> Self {
        Self { grants }
    }

    /// Every requested target parsed and granted, or the first that is not.
    fn check(&self, targets: &[String]) -> Result<Vec<(String, Target)>, HostError> {
        if targets.len() > MAX_TARGETS {
            return Err(HostError::Invalid(format!(
                "{} targets; at most {MAX_TARGETS} per call",
                targets.len()
            )));
        }
        targets
            .iter()
            .map(|text| {
                let target = Target::parse_request(text).map_err(HostError::Invalid)?;
                if self.grants.iter().any(|g| g.covers(&target)) {
                    Ok((text.clone(), target))
                } else {
                    Err(HostError::Denied(format!(
                        "net: target {text} is not granted to this plugin"
                    )))
                }
            })
            .collect()
    }

    pub async fn tcp_connect(
        &self,
        targets: Vec<String>,
        timeout_ms: u32,
    ) -> Result<Vec<TcpProbe>, HostError> {
        let checked = self.check(&targets)?;
        let timeout = Duration::from_millis(u64::from(timeout_ms.clamp(1, MAX_TIMEOUT_MS)));
        let mut set = JoinSet::new();
        for (index, (text, target)) in checked.into_iter().enumerate() {
            set.spawn(async move { (index, tcp_probe(text, target.address(), timeout).await) });
        }
        Ok(in_order(set).await)
    }

    pub async fn udp_echo(
        &self,
        targets: Vec<String>,
        count: u32,
        spacing_ms: u32,
        timeout_ms: u32,
    ) -> Result<Vec<UdpProbe>, HostError> {
        let checked = self.check(&targets)?;
        let plan = EchoPlan {
            count: count.clamp(1, MAX_COUNT),
            spacing: Duration::from_millis(u64::from(spacing_ms.min(MAX_SPACING_MS))),
            timeout: Duration::from_millis(u64::from(timeout_ms.clamp(1, MAX_TIMEOUT_MS))),
        };
        let mut set = JoinSet::new();
        for (index, (text, target)) in checked.into_iter().enumerate() {
            set.spawn(async move { (index, udp_probe(text, target.address(), plan).await) });
        }
        Ok(in_order(set).await)
    }
}

async fn in_order<T: 'static>(mut set: JoinSet<(usize, T)>) -> Vec<T> {
    let mut results = Vec::new();
    while let Some(joined) = set.join_next().await {
        if let Ok(pair) = joined {
            results.push(pair);
        }
    }
    results.sort_by_key(|(index, _)| *index);
    results.into_iter().map(|(_, r)| r).collect()
}

async fn tcp_probe(target: String, address: String, timeout: Duration) -> TcpProbe {
    let started = Instant::now();
    let outcome = tokio::time::timeout(timeout, TcpStream::connect(address)).await;
    let connect_ms = started.elapsed().as_secs_f64() * 1000.0;
    let error = match outcome {
        Ok(Ok(_stream)) => None,
        Ok(Err(e)) => Some(e.to_string()),
        Err(_) => Some(format!("no connection within {} ms", timeout.as_millis())),
    };
    TcpProbe {
        target,
        connected: error.is_none(),
        connect_ms,
        error,
    }
}

#[derive(Clone, Copy)]
struct EchoPlan {
    count: u32,
    spacing: Duration,
    timeout: Duration,
}

async fn udp_probe(target: String, address: String, plan: EchoPlan) -> UdpProbe {
    let mut probe = UdpProbe {
        target,
        sent: 0,
        received: 0,
        min_ms: 0.0,
        avg_ms: 0.0,
        max_ms: 0.0,
        jitter_ms: 0.0,
        error: None,
    };
    match run_echo(&address, plan, &mut probe).await {
        Ok(rtts) => summarise(&rtts, &mut probe),
        Err(e) => probe.error = Some(e.to_string()),
    }
    probe
}

/// Send the packets and collect round trips, in sequence order.
async fn run_echo(
    address: &str,
    plan: EchoPlan,
    probe: &mut UdpProbe,
) -> std::io::Result<Vec<f64>> {
    let remote = tokio::net::lookup_host(address)
        .await?
        .next()
        .ok_or_else(|| std::io::Error::other("the name resolved to no address"))?;
    let local: SocketAddr = if remote.is_ipv4() {
        "0.0.0.0:0".parse().map_err(std::io::Error::other)?
    } else {
        "[::]:0".parse().map_err(std::io::Error::other)?
    };
    let socket = UdpSocket::bind(local).await?;
    socket.connect(remote).await?;
    let nonce = fastrand::u64(..);
    let mut sent_at: Vec<Option<Instant>> = vec![None; plan.count as usize];
    let mut rtts: Vec<Option<f64>> = vec![None; plan.count as usize];
    let mut buffer = [0u8; 64];
    let mut next_send = Instant::now();
    let mut seq = 0u32;
    let mut deadline = None;
    loop {
        if seq < plan.count && Instant::now() >= next_send {
            let mut packet = [0u8; PACKET_LEN];
            packet[..8].copy_from_slice(MAGIC);
            packet[8..12].copy_from_slice(&seq.to_be_bytes());
            packet[12..20].copy_from_slice(&nonce.to_be_bytes());
            sent_at[seq as usize] = Some(Instant::now());
            // A send error (no route, refused by ICMP) counts as loss.
            if socket.send(&packet).await.is_ok() {
                probe.sent += 1;
            }
            seq += 1;
            next_send += plan.spacing;
            if seq == plan.count {
                deadline = Some(Instant::now() + plan.timeout);
            }
            continue;
        }
        let wake = match deadline {
            Some(deadline) => deadline,
            None => next_send,
        };
        if deadline.is_some_and(|d| Instant::now() >= d) {
            break;
        }
        let wait = wake.saturating_duration_since(Instant::now());
        match tokio::time::timeout(wait, socket.recv(&mut buffer)).await {
            Ok(Ok(n)) if n == PACKET_LEN && &buffer[..8] == MAGIC => {
                let got_seq = u32::from_be_bytes([buffer[8], buffer[9], buffer[10], buffer[11]]);
                let mut nonce_bytes = [0u8; 8];
                nonce_bytes.copy_from_slice(&buffer[12..20]);
                let index = got_seq as usize;
                if u64::from_be_bytes(nonce_bytes) == nonce
                    && index < rtts.len()
                    && rtts[index].is_none()
                    && let Some(at) = sent_at[index]
                {
                    rtts[index] = Some(at.elapsed().as_secs_f64() * 1000.0);
                    probe.received += 1;
                    if probe.received == plan.count {
                        break;
                    }
                }
            }
            // Stray packets and ICMP errors (connection refused) are ignored:
            // what did not come back is loss.
            Ok(_) | Err(_) => {}
        }
    }
    Ok(rtts.into_iter().flatten().collect())
}

fn summarise(rtts: &[f64], probe: &mut UdpProbe) {
    if rtts.is_empty() {
        return;
    }
    probe.min_ms = rtts.iter().copied().fold(f64::INFINITY, f64::min);
    probe.max_ms = rtts.iter().copied().fold(0.0, f64::max);
    probe.avg_ms = rtts.iter().sum::<f64>() / rtts.len() as f64;
    if rtts.len() > 1 {
        let diffs: f64 = rtts.windows(2).map(|w| (w[1] - w[0]).abs()).sum();
        probe.jitter_ms = diffs / (rtts.len() - 1) as f64;
    }
}

/// Answer echo probes on `listen` until the task is dropped.
pub async fn run_echo_responder(socket: Arc<UdpSocket>, max_per_second: u32) {
    let mut buffer = [0u8; 64];
    let mut window = Instant::now();
    let mut answered = 0u32;
    loop {
        let Ok((n, from)) = socket.recv_from(&mut buffer).await else {
            continue;
        };
        if n != PACKET_LEN || &buffer[..8] != MAGIC {
            continue;
        }
        if window.elapsed() >= Duration::from_secs(1) {
            window = Instant::now();
            answered = 0;
        }
        if answered >= max_per_second {
            continue;
        }
        answered += 1;
        let _ = socket.send_to(&buffer[..n], from).await;
    }
}

/// Bind the responder's socket (so a taken port is an error at start-up).
pub async fn bind_echo_responder(listen: &str) -> std::io::Result<Arc<UdpSocket>> {
    Ok(Arc::new(UdpSocket::bind(listen).await?))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn access(grants: &[&str]) -> NetAccess {
        NetAccess::new(
            grants
                .iter()
                .map(|g| Target::parse_grant(g).expect("grant"))
                .collect(),
        )
    }

    #[test]
    fn grants_parse_and_cover() {
        assert!(Target::parse_grant("127.0.0.1").is_err());
        assert!(Target::parse_grant("host:0").is_err());
        assert!(Target::parse_grant("host:http").is_err());
        assert!(Target::parse_grant("[::1]:5124").is_ok());
        let net = access(&["127.0.0.1:6121", "Peer.Example:*"]);
        assert!(net.check(&["127.0.0.1:6121".into()]).is_ok());
        assert!(net.check(&["peer.example:9".into()]).is_ok());
        match net.check(&["127.0.0.1:22".into()]) {
            Err(HostError::Denied(m)) => assert!(m.contains("127.0.0.1:22 is not granted"), "{m}"),
            other => panic!("expected denial, got {other:?}"),
        }
        assert!(matches!(
            net.check(&["127.0.0.1:*".into()]),
            Err(HostError::Invalid(_))
        ));
    }

    #[tokio::test]
    async fn tcp_probe_connects_and_reports_refusal() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let open = listener.local_addr().expect("addr").to_string();
        let closed = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
            l.local_addr().expect("addr").to_string()
        };
        let net = access(&["127.0.0.1:*"]);
        let probes = net
            .tcp_connect(vec![open.clone(), closed.clone()], 1000)
            .await
            .expect("probe");
        assert_eq!(probes[0].target, open);
        assert!(probes[0].connected, "{:?}", probes[0]);
        assert!(!probes[1].connected);
        assert!(probes[1].error.is_some());
    }

    #[tokio::test]
    async fn udp_echo_measures_round_trips_and_loss() {
        let socket = bind_echo_responder("127.0.0.1:0").await.expect("bind");
        let address = socket.local_addr().expect("addr").to_string();
        let responder = tokio::spawn(run_echo_responder(socket, 1000));
        let silent = tokio::net::UdpSocket::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let silent_address = silent.local_addr().expect("addr").to_string();
        let net = access(&["127.0.0.1:*"]);
        let probes = net
            .udp_echo(vec![address, silent_address], 5, 2, 200)
            .await
            .expect("probe");
        assert_eq!((probes[0].sent, probes[0].received), (5, 5));
        assert!(probes[0].avg_ms > 0.0 && probes[0].max_ms >= probes[0].min_ms);
        assert_eq!((probes[1].sent, probes[1].received), (5, 0));
        responder.abort();
    }
}
