//! The network plugin on an impaired network. Three hosts (a, b, c) and the
//! aggregator's address each live in a network namespace of their own, joined
//! by a link emulator in this test: the kernel here has no netem, so every
//! IPv4 packet leaves a namespace through a TUN device, and the emulator
//! delays, drops or forwards it to the TUN device of the namespace it is
//! addressed to. Links (one way, like netem on one interface):
//!
//! - a -> b: 80 ms +- 10 ms (uniform), 10 % loss; b -> a: nothing added;
//! - a -> c: 20 ms; everything else, the aggregator's link included: nothing.
//!
//! Each host runs a real agent (its echo responder, the network plugin at a
//! 2 s interval under the default 2 s time limit and the plugin's default
//! probe timeouts) and a stand-in for its map-server's port (a listener that
//! accepts and closes). The test runs the lossy network for two minutes,
//! then cuts b off for 60 s, restores it, and stops c's agent with c's
//! map-server still up. `ping` in the namespaces is the reference.
//!
//! Needs root, `ip` (iproute2) and /dev/net/tun; without them it says so and
//! passes without running (the addresses exist only inside the namespaces it
//! creates, which are deleted at the end).

// The namespaces and TUN devices need three system calls with no safe
// wrapper in the dependencies: setns, the TUNSETIFF ioctl and geteuid. Each
// is one line with its SAFETY note; nothing else here is unsafe.
#![allow(unsafe_code)]

use std::collections::{BinaryHeap, HashMap, HashSet};
use std::fs::File;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::os::fd::AsRawFd;
use std::path::Path;
use std::process::Command;
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use p2pmon_aggregator::auth::TokenKind;
use p2pmon_tests::agent_process::AgentProcess;
use p2pmon_tests::aggregator::{TestAggregator, now_ms, raw_history};
use p2pmon_tests::build_wasm;
use p2pmon_tests::wait::eventually;
use serde_json::Value;

/// Test-only addresses; they exist only inside the test's namespaces.
const NET: &str = "10.27.0";
const AGGREGATOR: u8 = 100;
const HOSTS: [(&str, u8); 3] = [("a", 1), ("b", 2), ("c", 3)];
const INTERVAL_MS: u64 = 2_000;
/// The agent's default time limit of a plugin call.
const CALL_LIMIT_MS: i64 = 2_000;
/// How long b is cut off (the outage).
const OUTAGE_MS: i64 = 60_000;
/// The agent's default ceiling between delivery attempts (agent.yml
/// `aggregator.backoff.max_ms`): after an outage the spool gets through
/// within it.
const DELIVERY_BACKOFF_MAX_MS: i64 = 5_000;
const INGEST_PORT: u16 = 5123;
const ECHO_PORT: u16 = 5124;
const MAP_PORT: u16 = 5121;

fn run(program: &str, args: &[&str]) -> Result<String> {
    let output = Command::new(program).args(args).output()?;
    if !output.status.success() {
        bail!(
            "{program} {args:?}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
    Ok(String::from_utf8_lossy(&output.stdout).into_owned())
}

/// A network namespace, deleted on drop.
struct Namespace {
    name: String,
}

impl Namespace {
    fn create(name: String) -> Result<Self> {
        let _ = run("ip", &["netns", "del", &name]);
        run("ip", &["netns", "add", &name])?;
        let ns = Self { name };
        ns.ip(&["link", "set", "lo", "up"])?;
        Ok(ns)
    }

    fn ip(&self, args: &[&str]) -> Result<String> {
        let mut all = vec!["-n", self.name.as_str()];
        all.extend_from_slice(args);
        run("ip", &all)
    }

    /// Run `f` on a thread that has joined the namespace: sockets and
    /// devices it creates belong to the namespace and stay there.
    fn enter<T: Send>(&self, f: impl FnOnce() -> std::io::Result<T> + Send) -> Result<T> {
        let path = format!("/var/run/netns/{}", self.name);
        std::thread::scope(|scope| {
            scope
                .spawn(|| -> Result<T> {
                    let ns = File::open(&path)?;
                    // SAFETY: setns on this thread only, with a namespace fd
                    // that stays open for the call.
                    if unsafe { libc::setns(ns.as_raw_fd(), libc::CLONE_NEWNET) } != 0 {
                        return Err(std::io::Error::last_os_error()).context("setns");
                    }
                    Ok(f()?)
                })
                .join()
                .map_err(|_| anyhow::anyhow!("namespace thread panicked"))?
        })
    }
}

impl Drop for Namespace {
    fn drop(&mut self) {
        let _ = run("ip", &["netns", "del", &self.name]);
    }
}

/// A TUN device (no packet information header) named `name`.
fn open_tun(name: &str) -> std::io::Result<File> {
    const TUNSETIFF: libc::c_ulong = 0x4004_54ca;
    const IFF_TUN: libc::c_short = 0x0001;
    const IFF_NO_PI: libc::c_short = 0x1000;
    #[repr(C)]
    struct IfReq {
        name: [u8; 16],
        flags: libc::c_short,
        pad: [u8; 22],
    }
    let file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/net/tun")?;
    let mut request = IfReq {
        name: [0; 16],
        flags: IFF_TUN | IFF_NO_PI,
        pad: [0; 22],
    };
    request.name[..name.len()].copy_from_slice(name.as_bytes());
    // SAFETY: TUNSETIFF reads and writes an ifreq, which IfReq lays out.
    if unsafe { libc::ioctl(file.as_raw_fd(), TUNSETIFF, &mut request) } < 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(file)
}

/// What one direction of a link does to a packet.
#[derive(Clone, Copy, Default)]
struct Impairment {
    delay_ms: f64,
    jitter_ms: f64,
    loss: f64,
}

#[derive(Default)]
struct Links {
    /// (from, to) by the last octet of the address.
    rules: HashMap<(u8, u8), Impairment>,
    cut: HashSet<u8>,
}

type Due = std::cmp::Reverse<(Instant, u64, u8, Vec<u8>)>;

/// The link emulator: reads every packet from every TUN device, applies the
/// link's impairment, writes it to the addressee's device when it is due.
struct Emulator {
    links: Arc<Mutex<Links>>,
}

impl Emulator {
    fn start(devices: Vec<(u8, File)>) -> Result<Self> {
        let links = Arc::new(Mutex::new(Links::default()));
        let queue = Arc::new((Mutex::new(BinaryHeap::<Due>::new()), Condvar::new()));
        let mut writers = HashMap::new();
        for (octet, device) in &devices {
            writers.insert(*octet, device.try_clone()?);
        }
        for (_, mut device) in devices {
            let links = links.clone();
            let queue = queue.clone();
            std::thread::spawn(move || {
                let mut buffer = vec![0u8; 65_536];
                let mut seq = 0u64;
                while let Ok(n) = device.read(&mut buffer) {
                    if n < 20 || buffer[0] >> 4 != 4 {
                        continue; // IPv4 only
                    }
                    let (from, to) = (buffer[15], buffer[19]);
                    let rule = {
                        let Ok(links) = links.lock() else { return };
                        if links.cut.contains(&from) || links.cut.contains(&to) {
                            continue;
                        }
                        links.rules.get(&(from, to)).copied().unwrap_or_default()
                    };
                    if fastrand::f64() < rule.loss {
                        continue;
                    }
                    let delay = rule.delay_ms + rule.jitter_ms * (fastrand::f64() * 2.0 - 1.0);
                    let at = Instant::now() + Duration::from_secs_f64(delay.max(0.0) / 1000.0);
                    seq += 1;
                    let (heap, wake) = &*queue;
                    if let Ok(mut heap) = heap.lock() {
                        heap.push(std::cmp::Reverse((at, seq, to, buffer[..n].to_vec())));
                        wake.notify_one();
                    }
                }
            });
        }
        std::thread::spawn(move || {
            let (heap, wake) = &*queue;
            let Ok(mut heap) = heap.lock() else { return };
            loop {
                let now = Instant::now();
                match heap.peek() {
                    Some(std::cmp::Reverse((at, ..))) if *at <= now => {
                        if let Some(std::cmp::Reverse((_, _, to, packet))) = heap.pop()
                            && let Some(device) = writers.get_mut(&to)
                        {
                            let _ = device.write(&packet);
                        }
                    }
                    Some(std::cmp::Reverse((at, ..))) => {
                        let wait = at.saturating_duration_since(now);
                        let Ok((next, _)) = wake.wait_timeout(heap, wait) else {
                            return;
                        };
                        heap = next;
                    }
                    None => {
                        let Ok(next) = wake.wait(heap) else { return };
                        heap = next;
                    }
                }
            }
        });
        Ok(Self { links })
    }

    fn set(&self, from: u8, to: u8, impairment: Impairment) {
        if let Ok(mut links) = self.links.lock() {
            links.rules.insert((from, to), impairment);
        }
    }

    fn cut(&self, host: u8, cut: bool) {
        if let Ok(mut links) = self.links.lock() {
            if cut {
                links.cut.insert(host);
            } else {
                links.cut.remove(&host);
            }
        }
    }
}

/// Accept and close connections forever (a map-server's open port).
fn serve_port(listener: TcpListener) {
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            drop(stream);
        }
    });
}

/// Forward every connection to `listener` to `target` (the aggregator's
/// ingest port on loopback, outside the namespaces).
fn forward(listener: TcpListener, target: std::net::SocketAddr) {
    std::thread::spawn(move || {
        for inbound in listener.incoming().flatten() {
            let Ok(outbound) = TcpStream::connect(target) else {
                continue;
            };
            for (mut from, mut to) in [
                (inbound.try_clone(), outbound.try_clone()),
                (outbound.try_clone(), inbound.try_clone()),
            ]
            .into_iter()
            .filter_map(|(a, b)| Some((a.ok()?, b.ok()?)))
            {
                std::thread::spawn(move || {
                    let _ = std::io::copy(&mut from, &mut to);
                    let _ = to.shutdown(std::net::Shutdown::Both);
                });
            }
        }
    });
}

fn address(octet: u8) -> String {
    format!("{NET}.{octet}")
}

/// What `ping` saw: the round trips that came back (ms), and the loss in
/// percent.
type Pinged = (Vec<f64>, f64);

/// ICMP echo from inside `ns` to `octet`, `count` requests 50 ms apart, a
/// reply awaited up to 1 s (what `ping -i 0.05 -W 1` does; iputils is not
/// installed everywhere).
fn ping(ns: &Namespace, octet: u8, count: u16) -> Result<Pinged> {
    use socket2::{Domain, Protocol, Socket, Type};
    let socket: std::net::UdpSocket = ns
        .enter(|| Socket::new(Domain::IPV4, Type::RAW, Some(Protocol::ICMPV4)))?
        .into();
    socket.set_read_timeout(Some(Duration::from_millis(5)))?;
    let to: std::net::SocketAddr = format!("{}:0", address(octet)).parse()?;
    let id = (std::process::id() & 0xffff) as u16 ^ u16::from(octet);
    let mut sent: HashMap<u16, Instant> = HashMap::new();
    let mut rtts = Vec::new();
    let mut buffer = [0u8; 1500];
    let mut next = Instant::now();
    let mut seq = 0u16;
    let end_of_sending = Instant::now() + Duration::from_millis(50 * u64::from(count));
    while Instant::now() < end_of_sending + Duration::from_secs(1) {
        if seq < count && Instant::now() >= next {
            let mut packet = [0u8; 16];
            packet[0] = 8; // echo request
            packet[4..6].copy_from_slice(&id.to_be_bytes());
            packet[6..8].copy_from_slice(&seq.to_be_bytes());
            let checksum = icmp_checksum(&packet);
            packet[2..4].copy_from_slice(&checksum.to_be_bytes());
            sent.insert(seq, Instant::now());
            socket.send_to(&packet, to)?;
            seq += 1;
            next += Duration::from_millis(50);
        }
        let Ok(n) = socket.recv(&mut buffer) else {
            continue;
        };
        // A raw socket hands over the IP header too.
        let header = usize::from(buffer[0] & 0x0f) * 4;
        let icmp = &buffer[header.min(n)..n];
        if icmp.len() >= 8 && icmp[0] == 0 && icmp[4..6] == id.to_be_bytes() {
            let got = u16::from_be_bytes([icmp[6], icmp[7]]);
            if let Some(at) = sent.remove(&got)
                && at.elapsed() <= Duration::from_secs(1)
            {
                rtts.push(at.elapsed().as_secs_f64() * 1000.0);
            }
        }
    }
    let loss = 100.0 * (1.0 - rtts.len() as f64 / f64::from(count));
    Ok((rtts, loss))
}

fn icmp_checksum(packet: &[u8]) -> u16 {
    let mut sum: u32 = packet
        .chunks(2)
        .map(|c| u32::from(u16::from_be_bytes([c[0], *c.get(1).unwrap_or(&0)])))
        .sum();
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

/// Stored points of `host`'s series `name` tagged `target=...`: (ts, value).
fn points(agg: &TestAggregator, host: &str, name: &str, target: &str) -> Result<Vec<(i64, f64)>> {
    Ok(raw(agg, host, name, ("target", target))?
        .into_iter()
        .map(|p| (p.t, p.avg))
        .collect())
}

/// Raw points of `host`'s series `name` with the tag `tag`, through the
/// store's raw tier (head and chunks), in time order.
fn raw(
    agg: &TestAggregator,
    host: &str,
    name: &str,
    tag: (&str, &str),
) -> Result<Vec<p2pmon_aggregator::store::HistoryPoint>> {
    let mut points: Vec<_> = raw_history(&agg.db()?, host, name)?
        .into_iter()
        .filter(|s| s.tags.get(tag.0).map(String::as_str) == Some(tag.1))
        .flat_map(|s| s.points)
        .collect();
    points.sort_by_key(|p| p.t);
    Ok(points)
}

/// The last stored value of the agent's self-metric `name` for the network
/// plugin on `host`.
fn self_metric(agg: &TestAggregator, host: &str, name: &str) -> Result<f64> {
    raw(agg, host, name, ("plugin", "network"))?
        .last()
        .map(|p| p.avg)
        .context("no such self-metric")
}

fn mean(values: &[f64]) -> f64 {
    values.iter().sum::<f64>() / values.len().max(1) as f64
}

/// The mean change between consecutive round trips, as the plugin reports
/// its jitter.
fn jitter_of(rtts: &[f64]) -> f64 {
    let diffs: Vec<f64> = rtts.windows(2).map(|w| (w[1] - w[0]).abs()).collect();
    mean(&diffs)
}

/// The standard error of the mean of `values`.
fn standard_error(values: &[f64]) -> f64 {
    let n = values.len().max(2) as f64;
    let m = mean(values);
    let variance = values.iter().map(|v| (v - m).powi(2)).sum::<f64>() / (n - 1.0);
    (variance / n).sqrt()
}

fn in_window(points: &[(i64, f64)], from: i64, to: i64) -> Vec<f64> {
    points
        .iter()
        .filter(|(ts, _)| (from..to).contains(ts))
        .map(|(_, v)| *v)
        .collect()
}

fn link<'a>(matrix: &'a Value, from: &str, to: &str) -> Option<&'a Value> {
    matrix["links"]
        .as_array()?
        .iter()
        .find(|l| l["from"] == from && l["to"] == to)
}

async fn wait_for<T>(
    what: &str,
    timeout: Duration,
    mut check: impl AsyncFnMut() -> Result<Option<T>>,
) -> Result<T> {
    eventually(timeout, async || {
        check().await?.with_context(|| format!("{what}: not yet"))
    })
    .await
}

async fn alerts(agg: &TestAggregator, rule: &str, host: &str) -> Result<Vec<Value>> {
    let (_, body) = agg.api("/api/v1/alerts").await?;
    Ok(body["alerts"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .into_iter()
        .filter(|a| a["rule"] == rule && a["host"] == host)
        .collect())
}

fn available() -> bool {
    // SAFETY: geteuid has no preconditions.
    let root = unsafe { libc::geteuid() } == 0;
    root && Path::new("/dev/net/tun").exists() && run("ip", &["netns", "list"]).is_ok()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn network_figures_hold_under_loss_outage_and_a_stopped_agent() -> Result<()> {
    if !available() {
        eprintln!("skipped: needs root, iproute2 and /dev/net/tun for network namespaces");
        return Ok(());
    }
    let agg = TestAggregator::start_with_alerts("no_data: { intervals: 2 }\n").await?;
    let ingest: std::net::SocketAddr = agg.ingest_url("")?.trim_start_matches("http://").parse()?;

    // The namespaces, their TUN devices and addresses.
    let tag = std::process::id();
    let mut namespaces = HashMap::new();
    let mut devices = Vec::new();
    for (name, octet) in HOSTS.iter().copied().chain([("agg", AGGREGATOR)]) {
        let ns = Namespace::create(format!("p2pm27-{tag}-{name}"))?;
        devices.push((octet, ns.enter(|| open_tun("p2p0"))?));
        ns.ip(&[
            "addr",
            "add",
            &format!("{}/24", address(octet)),
            "dev",
            "p2p0",
        ])?;
        ns.ip(&["link", "set", "p2p0", "up"])?;
        namespaces.insert(name, ns);
    }
    let emulator = Emulator::start(devices)?;
    let jittery = Impairment {
        delay_ms: 80.0,
        jitter_ms: 10.0,
        loss: 0.10,
    };
    emulator.set(1, 2, jittery);
    emulator.set(
        1,
        3,
        Impairment {
            delay_ms: 20.0,
            ..Impairment::default()
        },
    );
    let ingest_here = format!("{}:{INGEST_PORT}", address(AGGREGATOR));
    forward(
        namespaces["agg"].enter(|| TcpListener::bind(&ingest_here))?,
        ingest,
    );

    // An agent and a map-server port per host.
    let root = tempfile::tempdir()?;
    let network_wasm = build_wasm("p2pmon-plugin-network")?;
    let agent_binary = crate::bins::agent();
    let grants: Vec<String> = HOSTS
        .iter()
        .map(|(_, o)| *o)
        .chain([AGGREGATOR])
        .map(|o| format!("'{}:*'", address(o)))
        .collect();
    let mut agents = HashMap::new();
    for (name, octet) in HOSTS {
        let ns = &namespaces[name];
        let here = format!("{}:{MAP_PORT}", address(octet));
        serve_port(ns.enter(|| TcpListener::bind(&here))?);
        let wrapper = root.path().join(format!("agent-in-{name}.sh"));
        std::fs::write(
            &wrapper,
            format!(
                "#!/bin/sh\nexec ip netns exec {} {} \"$@\"\n",
                ns.name,
                agent_binary.display()
            ),
        )?;
        std::fs::set_permissions(
            &wrapper,
            std::os::unix::fs::PermissionsExt::from_mode(0o755),
        )?;
        let peers: Vec<String> = HOSTS
            .iter()
            .filter(|(other, _)| *other != name)
            .map(|(other, o)| format!("{other}={}:{ECHO_PORT}", address(*o)))
            .collect();
        let extra = format!(
            "aggregator: {{ insecure_http: true }}\n\
             net: {{ echo_listen: '{}:{ECHO_PORT}', echo_max_per_second: 500 }}\n\
             restart: {{ quarantine_ms: 4000 }}\n\
             plugins:\n\
             \x20 - name: network\n\
             \x20   file: network.wasm\n\
             \x20   capabilities: [net, system, config, clock]\n\
             \x20   interval_ms: {INTERVAL_MS}\n\
             \x20   grants: {{ net: [{}] }}\n\
             \x20   config: {{ aggregator: '{ingest_here}', peers: '{}', peer_service_port: {MAP_PORT} }}\n",
            address(octet),
            grants.join(", "),
            peers.join(","),
        );
        let mut agent = AgentProcess::configure(
            &wrapper,
            &root.path().join(name),
            name,
            &format!("http://{ingest_here}"),
            &agg.token(TokenKind::Join)?,
            &[],
            &extra,
        )?;
        std::fs::copy(&network_wasm, agent.dir.join("plugins/network.wasm"))?;
        agent.start()?;
        agents.insert(name, agent);
    }

    // Phase 1: two minutes of the lossy network.
    let started = now_ms() as i64;
    wait_for(
        "first network points from every host",
        Duration::from_secs(60),
        async || {
            let (_, matrix) = agg.api("/api/v1/network/matrix").await?;
            Ok(HOSTS
                .iter()
                .all(|(h, _)| {
                    matrix["links"]
                        .as_array()
                        .is_some_and(|l| l.iter().any(|l| l["from"] == *h))
                })
                .then_some(()))
        },
    )
    .await
    .map_err(|e| {
        let logs: Vec<String> = agents.values().map(AgentProcess::log).collect();
        anyhow::anyhow!("{e}\n{}", logs.join("\n---\n"))
    })?;
    let lossy_from = now_ms() as i64;
    // The reference, while the agents probe: a -> b twice as long, its loss
    // being the figure with the most noise.
    let reference = tokio::task::block_in_place(|| {
        std::thread::scope(|scope| -> Result<Vec<(&str, Pinged)>> {
            let pings = [
                ("a->b", "a", 2, 400),
                ("a->c", "a", 3, 200),
                ("b->c", "b", 3, 200),
            ]
            .map(|(pair, from, to, count)| {
                let ns = &namespaces[from];
                (pair, scope.spawn(move || ping(ns, to, count)))
            });
            pings
                .into_iter()
                .map(|(pair, handle)| {
                    let result = handle
                        .join()
                        .map_err(|_| anyhow::anyhow!("ping panicked"))??;
                    Ok((pair, result))
                })
                .collect()
        })
    })?;
    let pinged_for = Duration::from_millis((now_ms() as i64 - lossy_from) as u64);
    tokio::time::sleep(Duration::from_secs(120).saturating_sub(pinged_for)).await;
    let lossy_to = now_ms() as i64;

    for (host, _) in HOSTS {
        let crashes = self_metric(&agg, host, "agent_plugin_crashes")?;
        let errors = self_metric(&agg, host, "agent_plugin_errors")?;
        let calls = self_metric(&agg, host, "agent_plugin_calls")?;
        assert_eq!(
            (crashes, errors),
            (0.0, 0.0),
            "{host}: crashed or failed collects"
        );
        assert!(calls >= 55.0, "{host}: only {calls} collects");
    }

    // Per pair: the configured truth against the plugin's figures.
    let truth: [(&str, &str, f64, f64, f64); 6] = [
        // (from, to, round trip ms, loss %, jitter ms)
        ("a", "b", 80.0, 10.0, 20.0 / 3.0),
        ("b", "a", 80.0, 10.0, 20.0 / 3.0),
        ("a", "c", 20.0, 0.0, 0.0),
        ("c", "a", 20.0, 0.0, 0.0),
        ("b", "c", 0.0, 0.0, 0.0),
        ("c", "b", 0.0, 0.0, 0.0),
    ];
    eprintln!(
        "pair   truth rtt/loss/jitter   p2pmon rtt/loss/jitter   ping rtt/loss/jitter   service up"
    );
    for (from, to, rtt, loss, jitter) in truth {
        let window = |name| -> Result<Vec<f64>> {
            Ok(in_window(
                &points(&agg, from, name, to)?,
                lossy_from,
                lossy_to,
            ))
        };
        let latency = window("network_latency")?;
        let lost = window("packet_loss")?;
        let jitters = window("network_jitter")?;
        let service = window("peer_service_up")?;
        let pair = format!("{from}->{to}");
        let ping = reference
            .iter()
            .find(|(p, _)| *p == pair || *p == format!("{to}->{from}"))
            .map(|(_, (rtts, lost))| (rtts.as_slice(), *lost));
        eprintln!(
            "{pair}   {rtt:6.2} {loss:5.1} {jitter:5.2}   {:6.2} {:5.1} {:5.2}   {}   {:.0} of {}",
            mean(&latency),
            mean(&lost),
            mean(&jitters),
            ping.map_or("-".to_string(), |(r, l)| format!(
                "{:6.2} {l:5.1} {:5.2}",
                mean(r),
                jitter_of(r)
            )),
            service.iter().sum::<f64>(),
            service.len()
        );
        assert!(lost.len() >= 50, "{pair}: {} loss figures", lost.len());
        let measured = mean(&latency);
        // Both sides are means of jittered samples: they may differ by the
        // noise of those means (four standard errors) plus 1 ms, what a
        // connect through the plugin's host call costs over a raw echo. A
        // real bias (a probe timed from the wrong instant, a lost sample
        // counted as zero) is larger than both.
        if let Some((ping_rtts, _)) = ping {
            let noise =
                4.0 * (standard_error(&latency).powi(2) + standard_error(ping_rtts).powi(2)).sqrt();
            assert!(
                (measured - mean(ping_rtts)).abs() <= noise + 1.0,
                "{pair}: {measured:.2} ms against ping's {:.2} ms (noise {noise:.2} ms)",
                mean(ping_rtts)
            );
        }
        let noise = 4.0 * standard_error(&latency);
        assert!(
            (measured - rtt).abs() <= noise + 1.5,
            "{pair}: {measured:.2} ms against {rtt} ms configured (noise {noise:.2} ms)"
        );
        assert!(
            (mean(&lost) - loss).abs() <= 6.0,
            "{pair}: {:.1} % lost against {loss} %",
            mean(&lost)
        );
        // What the path showed ping beyond its configured jitter (the
        // emulator's threads are late now and then on a busy machine) is
        // path jitter the plugin sees too.
        let excess = ping.map_or(0.0, |(r, _)| (jitter_of(r) - jitter).max(0.0));
        assert!(
            (mean(&jitters) - jitter).abs() <= 2.0 + excess,
            "{pair}: jitter {:.2} ms against {jitter:.2} ms (ping saw {excess:.2} ms more)",
            mean(&jitters)
        );
        if loss > 0.0 {
            // A lost SYN or SYN-ACK: that collect says "down", it does not crash.
            assert!(
                service.contains(&0.0),
                "{pair}: no lost handshake in {} probes",
                service.len()
            );
        } else {
            assert!(service.iter().all(|v| *v == 1.0), "{pair}: {service:?}");
        }
    }

    // Phase 2: b cut off, everything it sends or is sent lost.
    emulator.cut(2, true);
    let cut_at = now_ms() as i64;
    let offline = wait_for("no_data for b", Duration::from_secs(25), async || {
        Ok(alerts(&agg, "no_data", "b")
            .await?
            .into_iter()
            .find(|a| a["status"] == "firing"))
    })
    .await?;
    assert_eq!(offline["labels"]["cause"], "host_offline", "{offline}");
    assert_eq!(offline["labels"]["evidence"], "service_port", "{offline}");
    let (_, matrix) = agg.api("/api/v1/network/matrix").await?;
    let dark = link(&matrix, "a", "b").context("a->b in the matrix")?;
    assert_eq!(dark["answering"], false, "{dark}");
    assert_eq!(dark["latency_ms"], Value::Null, "{dark}");
    assert_eq!(dark["packet_loss_percent"], 100.0, "{dark}");
    // The last answer came before the cut; its point is stamped when the
    // plugin's call ends, which can be up to one call's time limit (the
    // agent's default 2 s) after an answer that arrived just before it.
    assert!(
        dark["last_answer_ms"]
            .as_i64()
            .is_some_and(|t| t < cut_at + CALL_LIMIT_MS),
        "{dark}"
    );
    assert!(
        dark["timestamp_ms"].as_i64().is_some_and(|t| t > cut_at),
        "{dark}"
    );
    let remaining = Duration::from_millis((cut_at + OUTAGE_MS - now_ms() as i64).max(0) as u64);
    tokio::time::sleep(remaining).await;

    // Recovery: b's network figures flow again within two intervals.
    emulator.cut(2, false);
    let back_at = now_ms() as i64;
    wait_for(
        "a->b answering again",
        Duration::from_secs(20),
        async || {
            let (_, matrix) = agg.api("/api/v1/network/matrix").await?;
            let answering = ["a->b", "b->a"].iter().all(|pair| {
                let (from, to) = pair.split_once("->").unwrap_or_default();
                link(&matrix, from, to).is_some_and(|l| {
                    l["answering"] == true
                        && l["timestamp_ms"].as_i64().is_some_and(|t| t > back_at)
                })
            });
            Ok(answering.then_some(()))
        },
    )
    .await?;
    let arrived = now_ms() as i64 - back_at;
    eprintln!(
        "after the outage: b's figures at the aggregator {arrived} ms after the link came back"
    );
    assert!(
        arrived <= 2 * INTERVAL_MS as i64 + DELIVERY_BACKOFF_MAX_MS,
        "b's figures arrived {arrived} ms after the link came back"
    );
    let first_back = points(&agg, "b", "packet_loss", "a")?
        .into_iter()
        .find(|(ts, v)| *ts > back_at && *v < 100.0)
        .context("b's echo to a after recovery")?;
    let after = first_back.0 - back_at;
    eprintln!("after the outage: b's first answered probe {after} ms after the link came back");
    assert!(
        after <= 2 * INTERVAL_MS as i64,
        "first answered probe after {after} ms"
    );
    let resolved = wait_for(
        "no_data for b resolved",
        Duration::from_secs(10),
        async || {
            Ok(alerts(&agg, "no_data", "b")
                .await?
                .into_iter()
                .find(|a| a["status"] == "resolved"))
        },
    )
    .await?;
    // Its value is how long b was silent (the cut, plus the time its sender
    // took to get through again), not the 10 s threshold it crossed.
    let silent = resolved["value"].as_f64().unwrap_or(0.0);
    let resolved_after = (resolved["resolved_ms"].as_i64().unwrap_or(0) - cut_at) as f64 / 1000.0;
    eprintln!(
        "no_data for b resolved with value {silent} s (cut for {} s, resolved {resolved_after:.1} s after the cut)",
        OUTAGE_MS / 1000
    );
    assert!(
        silent >= (OUTAGE_MS / 1000 - 2) as f64 && silent <= resolved_after + 1.0,
        "{resolved}"
    );
    assert_eq!(self_metric(&agg, "b", "agent_plugin_crashes")?, 0.0);
    // Nothing was quarantined; had it been, the alert would be resolved.
    for (host, _) in HOSTS {
        let open: Vec<Value> = alerts(&agg, "plugin_quarantined", host)
            .await?
            .into_iter()
            .filter(|a| a["status"] != "resolved")
            .collect();
        assert!(open.is_empty(), "{open:?}");
    }

    // Phase 3: c's agent stops; its host (and map-server port) stays up.
    agents.get_mut("c").context("agent c")?.stop()?;
    let down = wait_for("no_data for c", Duration::from_secs(25), async || {
        Ok(alerts(&agg, "no_data", "c")
            .await?
            .into_iter()
            .find(|a| a["status"] == "firing"))
    })
    .await?;
    assert_eq!(down["labels"]["cause"], "agent_down", "{down}");
    assert_eq!(down["labels"]["evidence"], "service_port", "{down}");
    eprintln!("stopped agent on c: {}", down["message"]);
    for (_, agent) in agents.iter_mut() {
        if agent.child.is_some() {
            agent.stop()?;
        }
    }
    eprintln!("total {} s", (now_ms() as i64 - started) / 1000);
    drop(namespaces);
    Ok(())
}
