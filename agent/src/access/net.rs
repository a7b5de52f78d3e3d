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

use crate::bindings::p2pmon::plugin::net::{TcpProbe, UdpProbe};
use crate::bindings::p2pmon::plugin::types::HostError;
pub use crate::config::grants::Target;

const MAGIC: &[u8; 8] = b"P2PMECHO";
const PACKET_LEN: usize = 20;
/// Targets one call may probe.
pub const MAX_TARGETS: usize = 64;
const MAX_COUNT: u32 = 100;
const MAX_SPACING_MS: u32 = 1_000;
const MAX_TIMEOUT_MS: u32 = 10_000;
/// The longest wait for the unmeasured first echo (see [`run_echo`]).
const PRIME_MAX: Duration = Duration::from_millis(200);
/// The sequence number of that first echo.
const PRIME_SEQ: u32 = u32::MAX;
/// Left of a call's time for the plugin's own work after a probe returns.
const RESERVE_MIN: Duration = Duration::from_millis(100);

/// How long one probe call may take when the plugin's call has `remaining`:
/// all of it but a reserve (an eighth, at least 100 ms), so the plugin can
/// still report what it measured before its time limit.
pub fn probe_budget(remaining: Duration) -> Duration {
    remaining.saturating_sub((remaining / 8).max(RESERVE_MIN))
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

    /// Connect to every target at once. No probe outlives `budget` (what the
    /// plugin's call has left, less a reserve for the rest of its collect):
    /// a target that has not answered by then is reported as not connected.
    pub async fn tcp_connect(
        &self,
        targets: Vec<String>,
        timeout_ms: u32,
        budget: Duration,
    ) -> Result<Vec<TcpProbe>, HostError> {
        let checked = self.check(&targets)?;
        let timeout = Duration::from_millis(u64::from(timeout_ms.clamp(1, MAX_TIMEOUT_MS)))
            .min(budget)
            .max(Duration::from_millis(1));
        let mut set = JoinSet::new();
        for (index, (text, target)) in checked.into_iter().enumerate() {
            set.spawn(async move { (index, tcp_probe(text, target.address(), timeout).await) });
        }
        Ok(in_order(set).await)
    }

    /// Echo probes to every target at once. The whole exchange fits in
    /// `budget` (see [`Self::tcp_connect`]): the wait after the last packet
    /// is shortened first, then the spacing, so a lossy or dead link costs
    /// loss in the answer, never the plugin's call.
    pub async fn udp_echo(
        &self,
        targets: Vec<String>,
        count: u32,
        spacing_ms: u32,
        timeout_ms: u32,
        budget: Duration,
    ) -> Result<Vec<UdpProbe>, HostError> {
        let checked = self.check(&targets)?;
        let timeout = Duration::from_millis(u64::from(timeout_ms.clamp(1, MAX_TIMEOUT_MS)));
        let prime = (timeout / 4).min(PRIME_MAX).min(budget / 5);
        let mut plan = EchoPlan::fitted(
            count.clamp(1, MAX_COUNT),
            Duration::from_millis(u64::from(spacing_ms.min(MAX_SPACING_MS))),
            timeout,
            budget.saturating_sub(prime),
        );
        plan.prime = prime;
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
    let deadline = tokio::time::Instant::now() + timeout;
    // The name is resolved before the clock starts: a slow resolver is not
    // a slow link. Resolution shares the same deadline.
    let resolved = tokio::time::timeout_at(deadline, tokio::net::lookup_host(address)).await;
    let remote = match resolved {
        Ok(Ok(mut addresses)) => addresses.next(),
        Ok(Err(e)) => return tcp_failed(target, e.to_string()),
        Err(_) => {
            return tcp_failed(
                target,
                format!("no address within {} ms", timeout.as_millis()),
            );
        }
    };
    let Some(remote) = remote else {
        return tcp_failed(target, "the name resolved to no address".to_string());
    };
    let started = Instant::now();
    let outcome = tokio::time::timeout_at(deadline, TcpStream::connect(remote)).await;
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

fn tcp_failed(target: String, error: String) -> TcpProbe {
    TcpProbe {
        target,
        connected: false,
        connect_ms: 0.0,
        error: Some(error),
    }
}

#[derive(Clone, Copy, Debug, PartialEq)]
struct EchoPlan {
    count: u32,
    spacing: Duration,
    timeout: Duration,
    /// How long to wait for the unmeasured first echo.
    prime: Duration,
}

impl EchoPlan {
    /// The plan asked for, shortened to end within `budget`: sending takes
    /// `(count - 1) * spacing`, then the wait for the last answer. The wait
    /// gives way first (down to a quarter of the budget), then the spacing.
    fn fitted(count: u32, spacing: Duration, timeout: Duration, budget: Duration) -> Self {
        let gaps = count.saturating_sub(1);
        let sending = spacing * gaps;
        if sending + timeout <= budget {
            return Self {
                count,
                spacing,
                timeout,
                prime: Duration::ZERO,
            };
        }
        let wait = budget.saturating_sub(sending).max(budget / 4).min(timeout);
        let spacing = if gaps == 0 {
            spacing
        } else {
            spacing.min(budget.saturating_sub(wait) / gaps)
        };
        Self {
            count,
            spacing,
            timeout: wait.max(Duration::from_millis(1)),
            prime: Duration::ZERO,
        }
    }
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
    let remote = tokio::time::timeout(plan.timeout, tokio::net::lookup_host(address))
        .await
        .map_err(|_| std::io::Error::other("the name did not resolve in time"))??
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
    let packet_for = |seq: u32| {
        let mut packet = [0u8; PACKET_LEN];
        packet[..8].copy_from_slice(MAGIC);
        packet[8..12].copy_from_slice(&seq.to_be_bytes());
        packet[12..20].copy_from_slice(&nonce.to_be_bytes());
        packet
    };
    let mut buffer = [0u8; 64];
    // One unmeasured echo first, its answer awaited briefly: what the first
    // packet of a flow costs (neighbour resolution after an outage, a NAT or
    // firewall entry) is set-up, not a round trip. Lost, it costs the wait.
    if !plan.prime.is_zero() && socket.send(&packet_for(PRIME_SEQ)).await.is_ok() {
        let until = tokio::time::Instant::now() + plan.prime;
        while let Ok(Ok(n)) = tokio::time::timeout_at(until, socket.recv(&mut buffer)).await {
            if n == PACKET_LEN && buffer[..8] == *MAGIC && buffer[8..12] == PRIME_SEQ.to_be_bytes()
            {
                break;
            }
        }
    }
    let mut sent_at: Vec<Option<Instant>> = vec![None; plan.count as usize];
    let mut rtts: Vec<Option<f64>> = vec![None; plan.count as usize];
    let mut next_send = Instant::now();
    let mut seq = 0u32;
    let mut deadline = None;
    loop {
        if seq < plan.count && Instant::now() >= next_send {
            let packet = packet_for(seq);
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
            .tcp_connect(
                vec![open.clone(), closed.clone()],
                1000,
                Duration::from_secs(1),
            )
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
            .udp_echo(
                vec![address.clone(), silent_address.clone()],
                5,
                2,
                200,
                Duration::from_secs(2),
            )
            .await
            .expect("probe");
        assert_eq!((probes[0].sent, probes[0].received), (5, 5));
        assert!(probes[0].avg_ms > 0.0 && probes[0].max_ms >= probes[0].min_ms);
        assert_eq!((probes[1].sent, probes[1].received), (5, 0));

        // A dead target with a long timeout: the call still ends within the
        // budget, the live target's answers kept, the dead one all loss.
        let started = Instant::now();
        let probes = net
            .udp_echo(
                vec![address, silent_address],
                5,
                20,
                5_000,
                Duration::from_millis(300),
            )
            .await
            .expect("probe");
        let took = started.elapsed();
        assert!(took < Duration::from_millis(450), "took {took:?}");
        assert_eq!(probes[0].received, 5, "{:?}", probes[0]);
        assert_eq!((probes[1].sent, probes[1].received), (5, 0));
        responder.abort();
    }

    #[tokio::test]
    async fn the_first_packet_of_a_flow_is_not_a_round_trip() {
        // A path whose first packet costs 60 ms of set-up (say, neighbour
        // resolution after an outage), the rest nothing.
        let socket = UdpSocket::bind("127.0.0.1:0").await.expect("bind");
        let address = socket.local_addr().expect("addr").to_string();
        let responder = tokio::spawn(async move {
            let mut buffer = [0u8; 64];
            let mut first = true;
            while let Ok((n, from)) = socket.recv_from(&mut buffer).await {
                if std::mem::take(&mut first) {
                    tokio::time::sleep(Duration::from_millis(60)).await;
                }
                let _ = socket.send_to(&buffer[..n], from).await;
            }
        });
        let net = access(&["127.0.0.1:*"]);
        let probes = net
            .udp_echo(vec![address], 5, 5, 500, Duration::from_secs(2))
            .await
            .expect("probe");
        assert_eq!((probes[0].sent, probes[0].received), (5, 5));
        assert!(probes[0].max_ms < 30.0, "set-up counted: {:?}", probes[0]);
        responder.abort();
    }

    #[test]
    fn echo_plans_fit_their_budget() {
        let ms = Duration::from_millis;
        // Fits: unchanged.
        let plan = EchoPlan::fitted(5, ms(20), ms(500), ms(1_000));
        assert_eq!((plan.spacing, plan.timeout), (ms(20), ms(500)));
        // The wait gives way first.
        let plan = EchoPlan::fitted(5, ms(20), ms(1_000), ms(700));
        assert_eq!((plan.spacing, plan.timeout), (ms(20), ms(620)));
        // Then the spacing; the wait keeps a quarter of the budget.
        let plan = EchoPlan::fitted(11, ms(100), ms(1_000), ms(400));
        assert_eq!(plan.timeout, ms(100));
        assert_eq!(plan.spacing, ms(30));
        for (count, spacing, timeout, budget) in [(1, 0, 10_000, 5), (100, 1_000, 10_000, 1_750)] {
            let plan = EchoPlan::fitted(count, ms(spacing), ms(timeout), ms(budget));
            let total = plan.spacing * (count - 1) + plan.timeout;
            assert!(total <= ms(budget).max(ms(1)), "{plan:?} over {budget} ms");
        }
        assert_eq!(probe_budget(ms(2_000)), ms(1_750));
        assert_eq!(probe_budget(ms(400)), ms(300));
        assert_eq!(probe_budget(ms(50)), Duration::ZERO);
    }
}
