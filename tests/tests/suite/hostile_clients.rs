//! Hostile clients of the aggregator's listeners: slow-header and
//! slow-body floods, idle connections, handshakes that never finish. Each
//! test holds the attack while a fresh agent delivers and the API answers,
//! and checks that the server closes what the attacker holds within its
//! limits (aggregator.yml `limits:`).

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use p2pmon_tests::aggregator::{TestAggregator, batch, metric, now_ms};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};

/// Short limits so the test takes seconds; the per-address cap well below
/// the attack's size.
const LIMITS: &str = "
limits:
  ingest: {header_timeout_s: 2, body_timeout_s: 2, idle_timeout_s: 3, max_connections: 400, max_per_address: 20}
  api: {header_timeout_s: 2, body_timeout_s: 2, idle_timeout_s: 3, max_connections: 400, max_per_address: 20}
  websocket: {handshake_timeout_s: 2, max_per_address: 20}
";

/// The attacker's own address: another loopback address than the agent's
/// and the admin's (127.0.0.1), as a remote attacker's would be.
const ATTACKER: [u8; 4] = [127, 0, 0, 2];

async fn connect_from(source: [u8; 4], to: SocketAddr) -> Result<TcpStream> {
    let socket = TcpSocket::new_v4()?;
    socket.bind(SocketAddr::from((source, 0)))?;
    Ok(socket.connect(to).await?)
}

/// Whether the server has closed `stream` (EOF, reset, or a response
/// followed by EOF) within `wait`.
async fn closed_within(stream: &mut TcpStream, wait: Duration) -> bool {
    let deadline = tokio::time::Instant::now() + wait;
    let mut buf = [0u8; 1024];
    loop {
        match tokio::time::timeout_at(deadline, stream.read(&mut buf)).await {
            Err(_) => return false,
            Ok(Ok(0)) | Ok(Err(_)) => return true,
            // A 408 or similar answer; the close follows.
            Ok(Ok(_)) => continue,
        }
    }
}

/// `count` connections from the attacker, each sending the start of a
/// request and then a byte every 500 ms for as long as it is open.
async fn slow_loris(to: SocketAddr, count: usize, start: &'static [u8]) -> Result<Vec<TcpStream>> {
    let mut held = Vec::new();
    for _ in 0..count {
        let mut stream = connect_from(ATTACKER, to).await?;
        // Refused connections may already be closed: a failed write is fine.
        let _ = stream.write_all(start).await;
        held.push(stream);
    }
    Ok(held)
}

/// Keep dribbling one byte every 500 ms into each of `streams` while
/// checking which the server closes; return how long until all were closed
/// (or None if some were still open after `wait`), and how many were
/// closed within the first 500 ms.
async fn dribble_until_closed(
    mut streams: Vec<TcpStream>,
    wait: Duration,
) -> (Option<Duration>, usize) {
    let started = Instant::now();
    let mut closed_at_once = 0;
    let mut first_round = true;
    while !streams.is_empty() && started.elapsed() < wait {
        let mut open = Vec::new();
        for mut stream in streams {
            if closed_within(&mut stream, Duration::from_millis(1)).await {
                if first_round {
                    closed_at_once += 1;
                }
                continue;
            }
            let _ = stream.write_all(b"X").await;
            open.push(stream);
        }
        streams = open;
        if first_round {
            // Give refused connections their close before the next round.
            first_round = false;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    (
        streams.is_empty().then(|| started.elapsed()),
        closed_at_once,
    )
}

/// A fresh agent (new connections only) enrolls, says hello and delivers
/// a batch; the API answers the host list. Both within `within`.
async fn fresh_agent_and_admin_served(
    agg: &mut TestAggregator,
    host: &str,
    within: Duration,
) -> Result<()> {
    agg.http = reqwest::Client::builder()
        .pool_max_idle_per_host(0)
        .timeout(within)
        .build()?;
    let started = Instant::now();
    let credential = agg
        .enroll(host)
        .await
        .context("a fresh agent could not enroll")?;
    let (status, body) = agg
        .post_batch(
            &credential,
            &batch(host, "s", 1, vec![metric("cpu_usage", 12.0, &[], now_ms())]),
        )
        .await
        .context("a fresh agent could not deliver")?;
    anyhow::ensure!(status.is_success(), "batch: {status} {body}");
    let (status, hosts) = agg
        .api("/api/v1/hosts")
        .await
        .context("the API did not answer")?;
    anyhow::ensure!(status.is_success(), "hosts: {status} {hosts}");
    anyhow::ensure!(
        hosts.to_string().contains(host),
        "the new host is listed: {hosts}"
    );
    anyhow::ensure!(
        started.elapsed() < within,
        "served in {:?}",
        started.elapsed()
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_header_flood_cannot_lock_out_agents_or_the_api() -> Result<()> {
    let mut agg = TestAggregator::start_with(LIMITS).await?;
    let server = agg.server.as_ref().context("server")?;
    let (ingest, api) = (server.ingest_addr, server.api_addr);
    // 300 slow connections to each listener from one address.
    let mut held = slow_loris(
        ingest,
        300,
        b"POST /ingest/v1/batches HTTP/1.1\r\nHost: x\r\n",
    )
    .await?;
    held.extend(slow_loris(api, 300, b"GET /api/v1/hosts HTTP/1.1\r\nHost: x\r\n").await?);
    let attack = tokio::spawn(dribble_until_closed(held, Duration::from_secs(8)));
    tokio::time::sleep(Duration::from_millis(300)).await;

    // While the attack is held: agents and the admin are served.
    let served = Instant::now();
    fresh_agent_and_admin_served(&mut agg, "fresh-1", Duration::from_secs(3)).await?;
    let served = served.elapsed();
    let server = agg.server.as_ref().context("server")?;
    let from_attacker = server.connections[0].open() + server.connections[1].open();
    assert!(
        from_attacker <= 2 * 20 + 4,
        "the per-address cap holds: {from_attacker} open"
    );

    let (all_closed, closed_at_once) = attack.await?;
    // 280 of each 300 are over the per-address cap of 20: closed unread.
    assert!(
        closed_at_once >= 2 * 280,
        "refused at once: {closed_at_once}"
    );
    let all_closed = all_closed.context("some slow connections were never closed")?;
    // The 20 admitted on each listener: closed at the header timeout (2 s).
    assert!(
        all_closed < Duration::from_secs(5),
        "the last slow connection closed after {all_closed:?}"
    );
    let refused = agg.server.as_ref().context("server")?.connections[0]
        .refused_total
        .load(std::sync::atomic::Ordering::Relaxed);
    assert!(refused >= 280, "refusals counted: {refused}");
    eprintln!(
        "600 slow connections: {closed_at_once} closed on accept, the rest closed after {all_closed:?}; enroll+hello+batch+API during the attack took {served:?}"
    );
    // And after the attack, as before.
    fresh_agent_and_admin_served(&mut agg, "fresh-2", Duration::from_secs(3)).await?;
    agg.stop().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_body_is_cut_at_the_body_timeout() -> Result<()> {
    let mut agg = TestAggregator::start_with(LIMITS).await?;
    let ingest = agg.server.as_ref().context("server")?.ingest_addr;
    let mut stream = connect_from(ATTACKER, ingest).await?;
    stream
        .write_all(
            b"POST /ingest/v1/enroll HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{",
        )
        .await?;
    let started = Instant::now();
    let mut answer = Vec::new();
    let mut buf = [0u8; 1024];
    // Dribble the body a byte every 300 ms, reading whatever comes back.
    loop {
        anyhow::ensure!(
            started.elapsed() < Duration::from_secs(6),
            "still open after {:?}",
            started.elapsed()
        );
        match tokio::time::timeout(Duration::from_millis(300), stream.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) => break,
            Ok(Ok(n)) => answer.extend_from_slice(&buf[..n]),
            Err(_) => {
                let _ = stream.write_all(b" ").await;
            }
        }
    }
    let elapsed = started.elapsed();
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.starts_with("HTTP/1.1 408"), "answer: {answer}");
    assert!(answer.contains("body_timeout"), "answer: {answer}");
    assert!(
        elapsed >= Duration::from_millis(1800) && elapsed < Duration::from_secs(4),
        "cut after {elapsed:?} (body_timeout_s: 2)"
    );
    agg.stop().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_kept_alive_connections_are_closed() -> Result<()> {
    let mut agg = TestAggregator::start_with(LIMITS).await?;
    let api = agg.server.as_ref().context("server")?.api_addr;
    let mut stream = connect_from(ATTACKER, api).await?;
    stream
        .write_all(b"GET /api/v1/hosts HTTP/1.1\r\nHost: x\r\n\r\n")
        .await?;
    let mut buf = [0u8; 4096];
    let n = tokio::time::timeout(Duration::from_secs(2), stream.read(&mut buf)).await??;
    assert!(buf[..n].starts_with(b"HTTP/1.1 "), "an answer first");
    // Kept alive, then nothing: open through the header timeout (2 s),
    // closed at the idle timeout (3 s).
    let started = Instant::now();
    assert!(
        closed_within(&mut stream, Duration::from_secs(6)).await,
        "never closed"
    );
    let idle = started.elapsed();
    assert!(
        idle >= Duration::from_millis(2500) && idle < Duration::from_millis(4500),
        "closed after {idle:?} idle (idle_timeout_s: 3)"
    );
    agg.stop().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unfinished_websocket_handshakes_are_capped_and_closed() -> Result<()> {
    let mut agg = TestAggregator::start_with(LIMITS).await?;
    let ws = agg.server.as_ref().context("server")?.ws_addr;
    let held = slow_loris(ws, 100, b"GET /monitor HTTP/1.1\r\nHost: x\r\n").await?;
    let attack = tokio::spawn(dribble_until_closed(held, Duration::from_secs(8)));
    tokio::time::sleep(Duration::from_millis(300)).await;
    // A dashboard client still gets the feed.
    let feed = tokio::time::timeout(Duration::from_secs(3), agg.feed())
        .await
        .context("the feed did not answer")??;
    drop(feed);
    let (all_closed, closed_at_once) = attack.await?;
    assert!(closed_at_once >= 80, "refused at once: {closed_at_once}");
    let all_closed = all_closed.context("some handshakes were never closed")?;
    assert!(
        all_closed < Duration::from_secs(5),
        "last closed after {all_closed:?}"
    );
    agg.stop().await
}

/// `p2pmon-aggregator ARGS --config` of `agg` (the binary built from this
/// tree); its stdout.
fn cli(agg: &TestAggregator, args: &[&str]) -> Result<String> {
    let output = std::process::Command::new(crate::bins::aggregator())
        .args(args)
        .arg("--config")
        .arg(agg.dir.path().join("aggregator.yml"))
        .output()?;
    anyhow::ensure!(
        output.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    Ok(String::from_utf8_lossy(&output.stdout).into_owned())
}

/// A stolen dashboard session dies with its token: `token revoke` ends it
/// within a second, for reads and changes alike; the session's lifetime is
/// the configured one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_revoked_token_ends_its_dashboard_sessions() -> Result<()> {
    use reqwest::header::{COOKIE, SET_COOKIE};
    let agg = TestAggregator::start_with("tokens: {session_ttl_s: 600}").await?;
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()?;
    let login = http
        .post(agg.api_url("/p2p/login")?)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!("token={}&next=%2Fp2p%2Fmonitoring", agg.api_token))
        .send()
        .await?;
    let set_cookie = login.headers()[SET_COOKIE].to_str()?.to_string();
    assert!(set_cookie.contains("Max-Age=600"), "{set_cookie}");
    let cookie = set_cookie.split(';').next().context("cookie")?.to_string();
    let page = http
        .get(agg.api_url("/p2p/monitoring")?)
        .header(COOKIE, &cookie)
        .send()
        .await?
        .text()
        .await?;
    let csrf = page
        .split("name=\"p2pmon-csrf\" content=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .context("the CSRF token in the page")?
        .to_string();
    let read = |cookie: String| {
        let http = http.clone();
        let url = agg.api_url("/api/v1/hosts");
        async move {
            Ok::<_, anyhow::Error>(http.get(url?).header(COOKIE, cookie).send().await?.status())
        }
    };
    assert_eq!(read(cookie.clone()).await?, reqwest::StatusCode::OK);
    // Two live feeds: the session's, through a ticket, and the token's own.
    let ticket: serde_json::Value = http
        .post(agg.api_url("/api/v1/ws-ticket")?)
        .header(COOKIE, &cookie)
        .header("x-csrf-token", &csrf)
        .send()
        .await?
        .json()
        .await?;
    let ticket = ticket["ticket"].as_str().context("a ticket")?;
    let (session_feed, _) =
        tokio_tungstenite::connect_async(format!("{}?token={ticket}", agg.ws_url()?)).await?;
    let token_feed = agg.feed().await?;

    // The token, as `token list` shows it: an id, never the secret.
    let listed = cli(&agg, &["token", "list"])?;
    assert!(!listed.contains(&agg.api_token), "{listed}");
    let id = listed
        .lines()
        .find(|l| l.contains(" api ") && l.trim_end().ends_with(" test"))
        .and_then(|l| l.split_whitespace().next())
        .context("the test token in the list")?
        .to_string();
    assert!(listed.contains("live"), "{listed}");
    cli(&agg, &["token", "revoke", &id])?;
    let relisted = cli(&agg, &["token", "list"])?;
    assert!(
        relisted
            .lines()
            .any(|l| l.starts_with(&id) && l.contains("revoked")),
        "{relisted}"
    );

    // Within a second (the credential cache), the session is over.
    tokio::time::sleep(Duration::from_millis(1200)).await;
    assert_eq!(
        read(cookie.clone()).await?,
        reqwest::StatusCode::UNAUTHORIZED
    );
    let change = http
        .delete(agg.api_url("/api/v1/hosts/some-host")?)
        .header(COOKIE, &cookie)
        .header("x-csrf-token", &csrf)
        .send()
        .await?;
    assert_eq!(change.status(), reqwest::StatusCode::UNAUTHORIZED);
    let (status, _) = agg.api("/api/v1/hosts").await?;
    assert_eq!(
        status,
        reqwest::StatusCode::UNAUTHORIZED,
        "the token itself"
    );
    // Both feeds are closed too, within a few seconds.
    for (name, mut feed) in [("session", session_feed), ("token", token_feed)] {
        use futures_util::StreamExt;
        let closed = tokio::time::timeout(Duration::from_secs(6), async {
            loop {
                match feed.next().await {
                    None | Some(Err(_)) => break,
                    Some(Ok(tokio_tungstenite::tungstenite::Message::Close(_))) => break,
                    Some(Ok(_)) => {}
                }
            }
        })
        .await;
        assert!(closed.is_ok(), "the {name} feed is still open");
    }
    // Revoking twice says so.
    assert!(cli(&agg, &["token", "revoke", &id]).is_err());
    Ok(())
}
