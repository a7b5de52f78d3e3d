//! The `net` capability: TCP connect probes and UDP echo probes to granted
//! targets, and the echo responder that answers other hosts' probes.
//!
//! An echo packet is `P2PMECHO`, a 4-byte sequence number, an 8-byte nonce
//! and 8 bytes the responder fills with how long it held the packet, in
//! nanoseconds from the kernel's receive stamp to its send (28 bytes, all
//! big-endian). The prober takes the round trip from its send to the kernel's
//! receive stamp of the answer, less that hold: neither end's scheduling
//! delay counts as network (see [`stamped`]). The responder answers only
//! packets of that shape, or of the 20-byte shape without the hold (agents
//! before it, echoed unchanged), with a packet of the same size, at most
//! `echo_max_per_second` a second: it can be neither an amplifier nor a
//! general reflector.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use tokio::net::{TcpStream, UdpSocket};
use tokio::task::JoinSet;

use super::stamped::{self, Received};

use crate::bindings::p2pmon::plugin::net::{TcpProbe, UdpProbe};
use crate::bindings::p2pmon::plugin::types::HostError;
pub use crate::config::grants::Target;

const MAGIC: &[u8; 8] = b"P2PMECHO";
const PACKET_LEN: usize = 28;
/// The packet of agents whose responder reports no hold.
const LEGACY_LEN: usize = 20;
/// Where the responder writes its hold.
const HOLD: std::ops::Range<usize> = 20..28;
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
    stamped::enable(&socket);
    let nonce = fastrand::u64(..);
    let mut buffer = [0u8; 64];
    let len = prime(&socket, nonce, plan.prime, &mut buffer).await;
    let mut sent_at: Vec<Option<(Instant, SystemTime)>> = vec![None; plan.count as usize];
    let mut rtts: Vec<Option<f64>> = vec![None; plan.count as usize];
    let mut next_send = Instant::now();
    let mut seq = 0u32;
    let mut deadline = None;
    loop {
        if seq < plan.count && Instant::now() >= next_send {
            let packet = echo_packet(seq, nonce);
            sent_at[seq as usize] = Some((Instant::now(), SystemTime::now()));
            // A send error (no route, refused by ICMP) counts as loss.
            if socket.send(&packet[..len]).await.is_ok() {
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
        // Stray packets and ICMP errors (connection refused) are ignored:
        // what did not come back is loss.
        let Ok(Ok(got)) = tokio::time::timeout(wait, stamped::recv(&socket, &mut buffer)).await
        else {
            continue;
        };
        let read = Instant::now();
        let Some((got_seq, hold)) = answer(&buffer[..got.len], len, nonce) else {
            continue;
        };
        let index = got_seq as usize;
        if index < rtts.len()
            && rtts[index].is_none()
            && let Some(sent) = sent_at[index]
        {
            rtts[index] = Some(round_trip(sent, read, &got, hold));
            probe.received += 1;
            if probe.received == plan.count {
                break;
            }
        }
    }
    Ok(rtts.into_iter().flatten().collect())
}

fn echo_packet(seq: u32, nonce: u64) -> [u8; PACKET_LEN] {
    let mut packet = [0u8; PACKET_LEN];
    packet[..8].copy_from_slice(MAGIC);
    packet[8..12].copy_from_slice(&seq.to_be_bytes());
    packet[12..20].copy_from_slice(&nonce.to_be_bytes());
    packet
}

/// An answer to this probe in the packet size it uses: its sequence number
/// and the responder's hold (none in the 20-byte packet).
fn answer(packet: &[u8], len: usize, nonce: u64) -> Option<(u32, Duration)> {
    if packet.len() != len || packet[..8] != *MAGIC || packet[12..20] != nonce.to_be_bytes() {
        return None;
    }
    let seq = u32::from_be_bytes(packet[8..12].try_into().ok()?);
    let hold = packet
        .get(HOLD)
        .and_then(|b| b.try_into().ok())
        .map_or(0, u64::from_be_bytes);
    Some((seq, Duration::from_nanos(hold)))
}

/// One unmeasured echo first, its answer awaited briefly: what the first
/// packet of a flow costs (neighbour resolution after an outage, a NAT or
/// firewall entry) is set-up, not a round trip. Lost, it costs the wait.
/// It goes in both packet sizes; the size this probe uses is the full one,
/// unless only the 20-byte echo came back (an agent whose responder knows no
/// other).
async fn prime(socket: &UdpSocket, nonce: u64, wait: Duration, buffer: &mut [u8]) -> usize {
    if wait.is_zero() {
        return PACKET_LEN;
    }
    let packet = echo_packet(PRIME_SEQ, nonce);
    let full = socket.send(&packet).await.is_ok();
    let legacy = socket.send(&packet[..LEGACY_LEN]).await.is_ok();
    if !full && !legacy {
        return PACKET_LEN;
    }
    let until = tokio::time::Instant::now() + wait;
    let mut legacy_answered = false;
    while let Ok(Ok(got)) = tokio::time::timeout_at(until, socket.recv(buffer)).await {
        for len in [PACKET_LEN, LEGACY_LEN] {
            if answer(&buffer[..got], len, nonce).is_some_and(|(seq, _)| seq == PRIME_SEQ) {
                if len == PACKET_LEN {
                    return PACKET_LEN;
                }
                legacy_answered = true;
            }
        }
    }
    if legacy_answered {
        LEGACY_LEN
    } else {
        PACKET_LEN
    }
}

/// A round trip in ms: from the send to the kernel's receive stamp of the
/// answer (to the read when there is no stamp, or when the stamp is after
/// the read or before the send: the wall clock was stepped in between),
/// less the responder's hold when it is shorter than that (a longer one
/// cannot be true and is ignored).
fn round_trip(sent: (Instant, SystemTime), read: Instant, got: &Received, hold: Duration) -> f64 {
    let by_read = read.duration_since(sent.0);
    let arrival = got
        .at
        .and_then(|at| at.duration_since(sent.1).ok())
        .filter(|d| *d <= by_read)
        .unwrap_or(by_read);
    let rtt = if hold < arrival {
        arrival - hold
    } else {
        arrival
    };
    rtt.as_secs_f64() * 1000.0
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
    stamped::enable(&socket);
    let mut buffer = [0u8; 64];
    let mut window = Instant::now();
    let mut answered = 0u32;
    loop {
        let Ok(got) = stamped::recv(&socket, &mut buffer).await else {
            continue;
        };
        let (n, Some(from)) = (got.len, got.from) else {
            continue;
        };
        if !(n == PACKET_LEN || n == LEGACY_LEN) || &buffer[..8] != MAGIC {
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
        if n == PACKET_LEN {
            // Without a kernel stamp the hold is unknown: 0, the prober
            // then counts it as network.
            let hold = got
                .at
                .and_then(|at| SystemTime::now().duration_since(at).ok())
                .map_or(0, |d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX));
            buffer[HOLD].copy_from_slice(&hold.to_be_bytes());
        }
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

    /// A responder on a runtime of its own that is blocked for `stall`, free
    /// for 20 ms, blocked again, and so on from when the responder waits for
    /// packets: what a busy host's scheduler does to it.
    fn stalled_responder(stall: Duration) -> (String, std::sync::mpsc::Receiver<()>) {
        let socket = std::net::UdpSocket::bind("127.0.0.1:0").expect("bind");
        let address = socket.local_addr().expect("addr").to_string();
        let (ready, stalled) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime");
            runtime.block_on(async move {
                socket.set_nonblocking(true).expect("nonblocking");
                let socket = Arc::new(UdpSocket::from_std(socket).expect("socket"));
                let responder = tokio::spawn(run_echo_responder(socket, 1000));
                tokio::task::yield_now().await;
                let _ = ready.send(());
                while !responder.is_finished() {
                    std::thread::sleep(stall);
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
            });
        });
        (address, stalled)
    }

    #[tokio::test]
    async fn a_responder_late_to_read_does_not_lengthen_the_round_trip() {
        // Four fifths of the time blocked for 80 ms: a packet landing at a
        // random instant waits 32 ms on average, up to 80 ms, to be read.
        let (address, ready) = stalled_responder(Duration::from_millis(80));
        ready.recv().expect("responder started");
        let net = access(&["127.0.0.1:*"]);
        let probes = net
            .udp_echo(vec![address], 20, 7, 1_000, Duration::from_secs(2))
            .await
            .expect("probe");
        assert_eq!(probes[0].received, 20, "{:?}", probes[0]);
        if cfg!(target_os = "linux") {
            assert!(
                probes[0].avg_ms < 10.0 && probes[0].max_ms < 40.0,
                "the responder's stalls counted as network: {:?}",
                probes[0]
            );
        }
    }

    #[tokio::test]
    async fn the_responder_reports_its_hold_and_echoes_older_packets_unchanged() {
        let (address, ready) = stalled_responder(Duration::from_millis(100));
        ready.recv().expect("responder started");
        let client = UdpSocket::bind("127.0.0.1:0").await.expect("bind");
        client.connect(&address).await.expect("connect");
        let packet = echo_packet(7, 42);
        client.send(&packet).await.expect("send");
        client.send(&packet[..LEGACY_LEN]).await.expect("send");
        // Neither a shorter, a longer nor a foreign packet gets an answer.
        client.send(&packet[..LEGACY_LEN - 1]).await.expect("send");
        client
            .send(&[packet.as_slice(), &[0]].concat())
            .await
            .expect("send");
        client.send(&[b'X'; PACKET_LEN]).await.expect("send");
        let mut buffer = [0u8; 64];
        let mut answers = Vec::new();
        while let Ok(Ok(n)) =
            tokio::time::timeout(Duration::from_millis(400), client.recv(&mut buffer)).await
        {
            answers.push(buffer[..n].to_vec());
        }
        assert_eq!(answers.len(), 2, "{answers:?}");
        assert_eq!(answers[1], packet[..LEGACY_LEN], "the older packet as sent");
        let (seq, hold) = answer(&answers[0], PACKET_LEN, 42).expect("an answer");
        assert_eq!(seq, 7);
        assert_eq!(answers[0][..20], packet[..20], "only the hold is written");
        if cfg!(target_os = "linux") {
            assert!(
                (Duration::from_millis(60)..Duration::from_secs(1)).contains(&hold),
                "hold {hold:?} for a 100 ms stall"
            );
        }
    }

    #[tokio::test]
    async fn an_older_responder_is_probed_with_the_packet_it_knows() {
        // What agents before the hold answer: 20-byte packets only, as sent.
        let socket = UdpSocket::bind("127.0.0.1:0").await.expect("bind");
        let address = socket.local_addr().expect("addr").to_string();
        let responder = tokio::spawn(async move {
            let mut buffer = [0u8; 64];
            while let Ok((n, from)) = socket.recv_from(&mut buffer).await {
                if n == LEGACY_LEN && buffer[..8] == *MAGIC {
                    let _ = socket.send_to(&buffer[..n], from).await;
                }
            }
        });
        let net = access(&["127.0.0.1:*"]);
        let probes = net
            .udp_echo(vec![address], 5, 5, 500, Duration::from_secs(2))
            .await
            .expect("probe");
        assert_eq!(
            (probes[0].sent, probes[0].received),
            (5, 5),
            "{:?}",
            probes[0]
        );
        responder.abort();
    }

    #[test]
    fn a_round_trip_runs_from_the_send_to_the_stamp_less_the_hold() {
        let sent = (Instant::now(), SystemTime::now());
        let read = sent.0 + Duration::from_millis(30);
        let stamped = |ms: i64| Received {
            len: PACKET_LEN,
            from: None,
            at: Some(if ms >= 0 {
                sent.1 + Duration::from_millis(ms as u64)
            } else {
                sent.1 - Duration::from_millis((-ms) as u64)
            }),
        };
        let unstamped = Received {
            at: None,
            ..stamped(0)
        };
        let ms = |d: u64| Duration::from_millis(d);
        let close = |a: f64, b: f64| (a - b).abs() < 1e-6;
        assert!(close(round_trip(sent, read, &stamped(20), ms(0)), 20.0));
        assert!(close(round_trip(sent, read, &stamped(20), ms(5)), 15.0));
        assert!(close(round_trip(sent, read, &unstamped, ms(5)), 25.0));
        // The wall clock stepped: the read's time, not a negative or a
        // too long round trip.
        assert!(close(round_trip(sent, read, &stamped(-10), ms(0)), 30.0));
        assert!(close(round_trip(sent, read, &stamped(500), ms(0)), 30.0));
        // A hold longer than the whole round trip is not believed.
        assert!(close(round_trip(sent, read, &stamped(20), ms(25)), 20.0));
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
