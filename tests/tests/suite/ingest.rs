//! The aggregator's ingest path against hostile and broken input: each case
//! gets a clear error or is dropped and counted, and nothing stored before
//! is lost.

use std::io::{Read, Write};
use std::time::Duration;

use p2pmon_common::wire::{EventRecord, HostType, Record, Severity, paths};
use p2pmon_tests::aggregator::{TestAggregator, batch, metric, metric_from, now_ms};
use p2pmon_tests::wait::eventually;
use reqwest::StatusCode;

#[tokio::test]
async fn stores_a_batch_once_however_often_it_arrives() -> anyhow::Result<()> {
    let agg = TestAggregator::start().await?;
    let cred = agg.enroll("host-a").await?;
    let now = now_ms();
    let first = batch("host-a", "s1", 1, vec![metric("cpu_usage", 10.0, &[], now)]);
    let (status, ack) = agg.post_batch(&cred, &first).await?;
    assert_eq!(status, StatusCode::OK, "{ack}");
    assert_eq!(ack["stored"], 1);
    assert_eq!(ack["duplicate"], false);

    // A replay (retransmission or attacker) is acknowledged but not stored again.
    let (status, ack) = agg.post_batch(&cred, &first).await?;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(ack["duplicate"], true);
    assert_eq!(ack["stored"], 0);
    // An older sequence of the same stream too.
    let (_, ack) = agg
        .post_batch(
            &cred,
            &batch("host-a", "s1", 0, vec![metric("cpu_usage", 99.0, &[], now)]),
        )
        .await?;
    assert_eq!(ack["duplicate"], true);
    // A new stream (a wiped spool) starts its own count.
    let (_, ack) = agg
        .post_batch(
            &cred,
            &batch(
                "host-a",
                "s2",
                1,
                vec![metric("cpu_usage", 20.0, &[], now + 1)],
            ),
        )
        .await?;
    assert_eq!(ack["stored"], 1);
    assert_eq!(agg.stored_values("host-a", "cpu_usage")?, vec![10.0, 20.0]);
    Ok(())
}

#[tokio::test]
async fn a_batch_claiming_another_host_is_refused() -> anyhow::Result<()> {
    let agg = TestAggregator::start().await?;
    let mallory = agg.enroll("mallory").await?;
    agg.enroll("victim").await?;
    let forged = batch(
        "victim",
        "s",
        1,
        vec![metric("cpu_usage", 100.0, &[], now_ms())],
    );
    let (status, body) = agg.post_batch(&mallory, &forged).await?;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(body["code"], "forged_host");
    // A record that names another host in a tag is dropped too.
    let tagged = batch(
        "mallory",
        "s",
        1,
        vec![
            metric("cpu_usage", 100.0, &[("host", "victim")], now_ms()),
            metric("cpu_usage", 5.0, &[], now_ms()),
        ],
    );
    let (status, ack) = agg.post_batch(&mallory, &tagged).await?;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(ack["rejected"]["reserved_tag"], 1);
    assert!(agg.stored_values("victim", "cpu_usage")?.is_empty());
    assert_eq!(agg.stored_values("mallory", "cpu_usage")?, vec![5.0]);
    Ok(())
}

#[tokio::test]
async fn unknown_credentials_and_join_tokens_are_refused() -> anyhow::Result<()> {
    let agg = TestAggregator::start().await?;
    let b = batch("x", "s", 1, vec![metric("cpu_usage", 1.0, &[], now_ms())]);
    let (status, body) = agg.post_batch("p2ph_forged", &b).await?;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(body["code"], "unauthorized");
    let (status, body) = agg
        .post_json(
            paths::ENROLL,
            None,
            &serde_json::json!({"join_token": "p2pj_guess", "host_id": "x"}),
        )
        .await?;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(body["code"], "invalid_join_token");
    // A hostile host name never gets enrolled.
    let token = agg.token(p2pmon_aggregator::auth::TokenKind::Join)?;
    let (status, body) = agg
        .post_json(
            paths::ENROLL,
            None,
            &serde_json::json!({"join_token": token, "host_id": "<script>alert(1)</script>"}),
        )
        .await?;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["code"], "invalid_host_id");
    Ok(())
}

#[tokio::test]
async fn batches_need_a_hello_first() -> anyhow::Result<()> {
    let agg = TestAggregator::start().await?;
    let token = agg.token(p2pmon_aggregator::auth::TokenKind::Join)?;
    let (_, body) = agg
        .post_json(
            paths::ENROLL,
            None,
            &serde_json::json!({"join_token": token, "host_id": "quiet"}),
        )
        .await?;
    let cred = body["credential"].as_str().unwrap_or_default().to_string();
    let b = batch(
        "quiet",
        "s",
        1,
        vec![metric("cpu_usage", 1.0, &[], now_ms())],
    );
    let (status, body) = agg.post_batch(&cred, &b).await?;
    assert_eq!(status, StatusCode::CONFLICT);
    assert_eq!(body["code"], "hello_required");
    let (status, _) = agg.hello(&cred, HostType::Vps).await?;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = agg.post_batch(&cred, &b).await?;
    assert_eq!(status, StatusCode::OK);
    Ok(())
}

#[tokio::test]
async fn plugins_off_the_allowlist_are_refused_at_hello() -> anyhow::Result<()> {
    let allowed = "a".repeat(64);
    let agg =
        TestAggregator::start_with(&format!("ingest: {{plugin_allowlist: ['{allowed}']}}")).await?;
    let token = agg.token(p2pmon_aggregator::auth::TokenKind::Join)?;
    let (_, body) = agg
        .post_json(
            paths::ENROLL,
            None,
            &serde_json::json!({"join_token": token, "host_id": "h"}),
        )
        .await?;
    let cred = body["credential"].as_str().unwrap_or_default().to_string();
    let hello = |sha: &str| {
        serde_json::json!({"agent_version": "1", "host_type": "p2p",
            "plugins": [{"name": "system", "version": "1", "sha256": sha}]})
    };
    let (status, body) = agg
        .post_json(paths::HELLO, Some(&cred), &hello(&"b".repeat(64)))
        .await?;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(body["code"], "plugin_not_allowed");
    assert!(body["message"].as_str().unwrap_or("").contains("system"));
    let (_, shown) = agg.api("/api/v1/hosts/h").await?;
    assert_eq!(shown["refused_plugins"].as_array().map(Vec::len), Some(1));
    let (status, _) = agg
        .post_json(paths::HELLO, Some(&cred), &hello(&allowed))
        .await?;
    assert_eq!(status, StatusCode::OK);
    let (_, shown) = agg.api("/api/v1/hosts/h").await?;
    assert_eq!(shown["plugins"][0]["sha256"], allowed);
    Ok(())
}

/// Send the headers of a request with a huge Content-Length and no body;
/// the answer must come without the body ever being sent.
#[tokio::test]
async fn an_oversized_body_is_refused_before_it_is_read() -> anyhow::Result<()> {
    let agg = TestAggregator::start().await?;
    let cred = agg.enroll("big").await?;
    let addr = agg.server.as_ref().map(|s| s.ingest_addr).expect("running");
    let response = tokio::task::spawn_blocking(move || -> anyhow::Result<String> {
        let mut stream = std::net::TcpStream::connect(addr)?;
        stream.set_read_timeout(Some(Duration::from_secs(5)))?;
        write!(
            stream,
            "POST {} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {cred}\r\nContent-Type: application/json\r\nContent-Length: 500000000\r\n\r\n",
            paths::BATCHES
        )?;
        let mut buffer = [0u8; 4096];
        let n = stream.read(&mut buffer)?;
        Ok(String::from_utf8_lossy(&buffer[..n]).to_string())
    })
    .await??;
    assert!(response.starts_with("HTTP/1.1 413"), "{response}");
    assert!(response.contains("body_too_large"), "{response}");
    Ok(())
}

#[tokio::test]
async fn malformed_payloads_get_400_and_leave_the_store_intact() -> anyhow::Result<()> {
    let agg = TestAggregator::start().await?;
    let cred = agg.enroll("h").await?;
    let good = batch("h", "s", 1, vec![metric("cpu_usage", 1.0, &[], now_ms())]);
    assert_eq!(agg.post_batch(&cred, &good).await?.0, StatusCode::OK);

    let cases: Vec<(Vec<u8>, Option<&str>, StatusCode, &str)> = vec![
        (
            b"{not json".to_vec(),
            None,
            StatusCode::BAD_REQUEST,
            "malformed",
        ),
        (b"[]".to_vec(), None, StatusCode::BAD_REQUEST, "malformed"),
        (
            br#"{"host_id":"h","seq":"two","created_ms":0,"records":[]}"#.to_vec(),
            None,
            StatusCode::BAD_REQUEST,
            "malformed",
        ),
        (
            br#"{"host_id":"h","seq":2,"created_ms":0,"records":[{"type":"bogus"}]}"#.to_vec(),
            None,
            StatusCode::BAD_REQUEST,
            "malformed",
        ),
        (
            b"garbage".to_vec(),
            Some("zstd"),
            StatusCode::BAD_REQUEST,
            "bad_encoding",
        ),
        (
            b"{}".to_vec(),
            Some("br"),
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_encoding",
        ),
    ];
    for (body, encoding, expected, code) in cases {
        let (status, answer) = agg.post_raw(&cred, body, encoding).await?;
        assert_eq!(status, expected, "{answer}");
        assert_eq!(answer["code"], code);
    }
    // A compression bomb: 64 MiB of zeros compresses to a few KB.
    let bomb = zstd::encode_all(&vec![b' '; 64 << 20][..], 19)?;
    let (status, answer) = agg.post_raw(&cred, bomb, Some("zstd")).await?;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE, "{answer}");

    // Records that break the rules are dropped one by one, the rest stored.
    let now = now_ms();
    let mixed = batch(
        "h",
        "s",
        2,
        vec![
            metric("Bad Name", 1.0, &[], now),
            metric("cpu_usage", 2.0, &[("k", "line\nbreak")], now),
            metric("cpu_usage", 3.0, &[], now - 30 * 86_400_000),
            metric("cpu_usage", 4.0, &[], now + 3_600_000),
            metric("cpu_usage", 5.0, &[], now + 1),
            Record::Event(EventRecord {
                plugin: "anticheat".to_string(),
                kind: "speed_violation".to_string(),
                severity: Severity::Warning,
                message: "x".repeat(10_000),
                fields: Default::default(),
                timestamp_ms: now,
            }),
        ],
    );
    let (status, ack) = agg.post_batch(&cred, &mixed).await?;
    assert_eq!(status, StatusCode::OK, "{ack}");
    assert_eq!(ack["stored"], 1);
    for reason in [
        "invalid_name",
        "invalid_tag",
        "timestamp_too_old",
        "timestamp_in_future",
        "invalid_event",
    ] {
        assert_eq!(ack["rejected"][reason], 1, "{reason}: {ack}");
    }
    assert_eq!(agg.stored_values("h", "cpu_usage")?, vec![1.0, 5.0]);
    let (_, health) = agg.api("/api/v1/health").await?;
    assert_eq!(health["ingest"]["refused"]["malformed"], 4);
    assert_eq!(health["ingest"]["refused"]["timestamp_too_old"], 1);
    Ok(())
}

#[tokio::test]
async fn too_many_records_in_one_batch_is_413() -> anyhow::Result<()> {
    let agg =
        TestAggregator::start_with("ingest: {max_records_per_batch: 10, burst_per_host: 100}")
            .await?;
    let cred = agg.enroll("h").await?;
    let now = now_ms();
    let records = (0..11).map(|i| metric("m", i as f64, &[], now)).collect();
    let (status, body) = agg.post_batch(&cred, &batch("h", "s", 1, records)).await?;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(body["code"], "too_many_records");
    Ok(())
}

#[tokio::test]
async fn a_host_over_its_rate_gets_429_with_retry_after() -> anyhow::Result<()> {
    let agg = TestAggregator::start_with(
        "ingest: {rate_per_host: 10, burst_per_host: 20, max_records_per_batch: 20}",
    )
    .await?;
    let cred = agg.enroll("busy").await?;
    let other = agg.enroll("calm").await?;
    let now = now_ms();
    let records = |n: usize| (0..n).map(|i| metric("m", i as f64, &[], now)).collect();
    assert_eq!(
        agg.post_batch(&cred, &batch("busy", "s", 1, records(20)))
            .await?
            .0,
        StatusCode::OK
    );
    let (status, body) = agg
        .post_batch(&cred, &batch("busy", "s", 2, records(20)))
        .await?;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(body["code"], "rate_limited");
    let wait: u64 = body["retry_after"].as_str().unwrap_or("0").parse()?;
    assert!((1..=2).contains(&wait), "Retry-After {wait}");
    // Other hosts are not held back.
    assert_eq!(
        agg.post_batch(&other, &batch("calm", "s", 1, records(20)))
            .await?
            .0,
        StatusCode::OK
    );
    Ok(())
}

#[tokio::test]
async fn one_host_creating_100k_series_hits_its_cap_and_nothing_else_breaks() -> anyhow::Result<()>
{
    let agg = TestAggregator::start_with(
        "ingest: {max_series_per_host: 1000, max_records_per_batch: 10000, rate_per_host: 1000000, burst_per_host: 1000000}",
    )
    .await?;
    let noisy = agg.enroll("noisy").await?;
    let quiet = agg.enroll("quiet").await?;
    let now = now_ms();
    let mut series_limited = 0u64;
    let mut stored = 0u64;
    for seq in 0..10u64 {
        let records = (0..10_000u64)
            .map(|i| {
                let id = (seq * 10_000 + i).to_string();
                metric("player_count", 1.0, &[("session", id.as_str())], now)
            })
            .collect();
        let (status, ack) = agg
            .post_batch(&noisy, &batch("noisy", "s", seq + 1, records))
            .await?;
        assert_eq!(status, StatusCode::OK, "{ack}");
        series_limited += ack["rejected"]["series_limit"].as_u64().unwrap_or(0);
        stored += ack["stored"].as_u64().unwrap_or(0);
    }
    assert_eq!(stored, 1000);
    assert_eq!(series_limited, 99_000);
    // Existing series of the noisy host still take points; other hosts are fine.
    let again = batch(
        "noisy",
        "s",
        11,
        vec![metric("player_count", 2.0, &[("session", "0")], now + 1)],
    );
    assert_eq!(agg.post_batch(&noisy, &again).await?.1["stored"], 1);
    let (status, ack) = agg
        .post_batch(
            &quiet,
            &batch("quiet", "s", 1, vec![metric("cpu_usage", 1.0, &[], now)]),
        )
        .await?;
    assert_eq!((status, ack["stored"].as_u64()), (StatusCode::OK, Some(1)));
    let series: i64 = agg.db()?.query_row(
        "SELECT COUNT(*) FROM series WHERE host_id = 'noisy'",
        [],
        |r| r.get(0),
    )?;
    assert_eq!(series, 1000);
    Ok(())
}

#[tokio::test]
async fn a_revoked_host_is_refused_within_seconds() -> anyhow::Result<()> {
    let agg = TestAggregator::start().await?;
    let cred = agg.enroll("gone").await?;
    let b = |seq| {
        batch(
            "gone",
            "s",
            seq,
            vec![metric("cpu_usage", 1.0, &[], now_ms())],
        )
    };
    assert_eq!(agg.post_batch(&cred, &b(1)).await?.0, StatusCode::OK);
    // Revoked from another process (the CLI writes the store directly).
    let conn = p2pmon_aggregator::store::schema::open(&agg.config.store_path())?;
    assert!(p2pmon_aggregator::auth::revoke_host(
        &conn,
        "gone",
        now_ms() as i64
    )?);
    let mut seq = 1;
    eventually(Duration::from_secs(5), async || {
        seq += 1;
        let (status, _) = agg.post_batch(&cred, &b(seq)).await?;
        anyhow::ensure!(
            status == StatusCode::UNAUTHORIZED,
            "still accepted: {status}"
        );
        Ok(())
    })
    .await?;
    Ok(())
}

#[tokio::test]
async fn a_taken_port_names_the_setting() -> anyhow::Result<()> {
    let taken = std::net::TcpListener::bind("127.0.0.1:0")?;
    let port = taken.local_addr()?.port();
    let dir = tempfile::tempdir()?;
    let path = p2pmon_tests::aggregator::write_config(
        dir.path(),
        &format!("api: {{listen: '127.0.0.1:{port}'}}"),
    )?;
    let config = p2pmon_aggregator::config::AggregatorConfig::load(&path)?;
    let error = match p2pmon_aggregator::server::Server::start(config).await {
        Ok(_) => anyhow::bail!("started on a taken port"),
        Err(error) => error.to_string(),
    };
    assert!(error.contains("api.listen"), "{error}");
    assert!(error.contains(&port.to_string()), "{error}");
    Ok(())
}

/// metrics.yml groups: the hello answer tells the agent what to collect, and
/// what an agent sends anyway (an older one, or one that connected before a
/// change) is refused as `not_collected` and never stored.
#[tokio::test]
async fn metrics_outside_the_collected_groups_are_announced_and_not_stored() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let metrics_file = dir.path().join("metrics.yml");
    std::fs::write(
        &metrics_file,
        "metrics:\n  system: {include: [cpu_usage]}\n  game: {enabled: false, include: [player_count]}\n",
    )?;
    let agg =
        TestAggregator::start_with(&format!("metrics_file: '{}'", metrics_file.display())).await?;
    let cred = agg.enroll("host-a").await?;
    let (status, answer) = agg.hello(&cred, HostType::P2p).await?;
    assert_eq!(status, StatusCode::OK, "{answer}");
    assert_eq!(answer["metrics"]["system"]["include"][0], "cpu_usage");
    assert_eq!(answer["metrics"]["game"]["enabled"], false);

    let now = now_ms();
    let from = |plugin: &str, name: &str, value: f64| metric_from(plugin, name, value, &[], now);
    // Runs of one metric (ingest asks metrics.yml once a run), and the same
    // name from another plugin right after a refused one: asked again.
    let records = vec![
        from("system", "cpu_usage", 1.0),
        from("system", "swap_usage", 2.0),
        from("system", "swap_usage", 2.5),
        from("custom", "swap_usage", 6.0),
        from("game", "player_count", 3.0),
        from("custom", "queue_depth", 4.0),
    ];
    let (status, ack) = agg
        .post_batch(&cred, &batch("host-a", "s1", 1, records))
        .await?;
    assert_eq!(status, StatusCode::OK, "{ack}");
    assert_eq!(ack["stored"], 3, "{ack}");
    assert_eq!(ack["rejected"]["not_collected"], 3, "{ack}");
    assert_eq!(agg.stored_values("host-a", "cpu_usage")?, vec![1.0]);
    assert_eq!(agg.stored_values("host-a", "queue_depth")?, vec![4.0]);
    assert_eq!(agg.stored_values("host-a", "swap_usage")?, vec![6.0]);
    assert!(agg.stored_values("host-a", "player_count")?.is_empty());
    Ok(())
}

#[test]
fn a_metric_in_two_groups_is_a_config_error() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("metrics.yml");
    std::fs::write(
        &path,
        "metrics:\n  system: {include: [cpu_usage]}\n  game: {include: [cpu_usage], plugins: ['Bad Name']}\n",
    )?;
    let error = p2pmon_aggregator::config::MetricsConfig::load(&path)
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    // Groups are checked in name order: game first, then system.
    assert!(error.contains("metrics.system.include[0]"), "{error}");
    assert!(error.contains("listed in metrics.game too"), "{error}");
    assert!(error.contains("metrics.game.plugins[0]"), "{error}");
    Ok(())
}

/// A tmpfs of `megabytes` mounted at `dir` for the test's life (the
/// machine's tests run as root; `umount` on drop).
struct SmallDisk(std::path::PathBuf);

impl SmallDisk {
    fn mount(dir: &std::path::Path, megabytes: u32) -> anyhow::Result<Self> {
        std::fs::create_dir_all(dir)?;
        let status = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={megabytes}m"), "tmpfs"])
            .arg(dir)
            .status()?;
        anyhow::ensure!(
            status.success(),
            "mounting a {megabytes} MiB tmpfs failed ({status}): this test needs root"
        );
        Ok(Self(dir.to_path_buf()))
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount")
            .arg("-l")
            .arg(&self.0)
            .status();
    }
}

/// The store's disk fills up: ingest answers 503 `store_unavailable` (the
/// agent keeps the batch and retries it), the API keeps answering, and once
/// there is room again the same batches are stored; every acknowledged
/// point is there exactly once.
#[tokio::test]
async fn a_full_disk_answers_503_and_recovers_without_losing_an_acked_point() -> anyhow::Result<()>
{
    let root = tempfile::tempdir()?;
    let disk = root.path().join("disk");
    let _mounted = SmallDisk::mount(&disk, 8)?;
    let agg = TestAggregator::start_with(&format!("data_dir: {}\n", disk.display())).await?;
    let cred = agg.enroll("host-a").await?;
    // Fill the disk but for about 1 MiB.
    let filler = disk.join("filler");
    let free = || -> anyhow::Result<u64> {
        let out = std::process::Command::new("df")
            .args(["--output=avail", "-B1"])
            .arg(&disk)
            .output()?;
        let text = String::from_utf8_lossy(&out.stdout);
        Ok(text.lines().nth(1).unwrap_or("0").trim().parse()?)
    };
    std::fs::write(&filler, vec![0u8; (free()? - 1_048_576) as usize])?;

    let now = now_ms();
    let records = |seq: u64| -> Vec<Record> {
        (0..500)
            .map(|i| {
                metric(
                    "test_sequence",
                    (seq * 500 + i) as f64,
                    &[("n", &(i % 10).to_string())],
                    now + seq * 500 + i,
                )
            })
            .collect()
    };
    let mut seq = 0;
    let mut acked = 0u64;
    let refused = loop {
        seq += 1;
        anyhow::ensure!(seq < 2_000, "the disk never filled up");
        let (status, ack) = agg
            .post_batch(&cred, &batch("host-a", "s", seq, records(seq)))
            .await?;
        if status == StatusCode::OK {
            assert_eq!(ack["stored"], 500, "{ack}");
            acked += 500;
            continue;
        }
        break (status, ack);
    };
    assert_eq!(refused.0, StatusCode::SERVICE_UNAVAILABLE, "{}", refused.1);
    assert_eq!(refused.1["code"], "store_unavailable", "{}", refused.1);
    assert!(acked > 0, "some batches went in before the disk filled");
    println!("disk full at batch {seq}: {acked} points acknowledged before");
    // Still full: the same batch is refused again, and the API still answers.
    let (status, _) = agg
        .post_batch(&cred, &batch("host-a", "s", seq, records(seq)))
        .await?;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    let (status, hosts) = agg.api("/api/v1/hosts").await?;
    assert_eq!(status, StatusCode::OK, "{hosts}");

    // Room again: the refused batch and the next ones are stored.
    std::fs::remove_file(&filler)?;
    for retry in seq..seq + 5 {
        let (status, ack) = eventually(Duration::from_secs(30), async || {
            let (status, ack) = agg
                .post_batch(&cred, &batch("host-a", "s", retry, records(retry)))
                .await?;
            anyhow::ensure!(status == StatusCode::OK, "{status} {ack}");
            Ok((status, ack))
        })
        .await?;
        assert_eq!(
            (status, ack["stored"].as_u64()),
            (StatusCode::OK, Some(500)),
            "{ack}"
        );
        acked += 500;
    }
    agg.flush().await?;
    let mut values = agg.stored_values("host-a", "test_sequence")?;
    values.sort_by(f64::total_cmp);
    let expected: Vec<f64> = (500..500 + acked).map(|v| v as f64).collect();
    assert_eq!(
        values.len(),
        expected.len(),
        "every acknowledged point, once"
    );
    assert!(values == expected, "the acknowledged values, each once");
    Ok(())
}

/// A batch in the compact encoding is stored as its JSON twin would be
/// (records checked the same way); a forged compact body is refused with
/// 400 `malformed` saying why, and nothing of it is stored.
#[tokio::test]
async fn compact_batches_are_stored_and_forged_ones_refused() -> anyhow::Result<()> {
    let agg = TestAggregator::start().await?;
    let cred = agg.enroll("host-a").await?;
    let (status, answer) = agg
        .post_json(
            paths::HELLO,
            Some(&cred),
            &serde_json::json!({"agent_version": "0", "host_type": "p2p", "plugins": []}),
        )
        .await?;
    assert_eq!(status, StatusCode::OK, "{answer}");
    assert_eq!(answer["batch_formats"], serde_json::json!(["compact-1"]));
    let now = now_ms();
    let records = vec![
        metric("cpu_usage", 12.5, &[], now),
        metric("player_count", 3.0, &[("map", "prontera")], now + 1),
        // Checked after decoding as for JSON: a name that is not one.
        metric("Bad Name!", 1.0, &[], now + 2),
    ];
    let (status, ack) = agg
        .post_compact(&cred, &batch("host-a", "s", 1, records))
        .await?;
    assert_eq!(status, StatusCode::OK, "{ack}");
    assert_eq!(ack["stored"], 2, "{ack}");
    assert_eq!(ack["rejected"]["invalid_name"], 1, "{ack}");
    assert_eq!(agg.stored_values("host-a", "cpu_usage")?, [12.5]);
    // The same batch again is a duplicate, however it is encoded.
    let (_, ack) = agg
        .post_batch(
            &cred,
            &batch("host-a", "s", 1, vec![metric("cpu_usage", 1.0, &[], now)]),
        )
        .await?;
    assert_eq!(ack["duplicate"], true, "{ack}");

    let mut forged = p2pmon_common::compact::encode(&batch(
        "host-a",
        "s",
        2,
        vec![metric("cpu_usage", 99.0, &[], now + 5)],
    ));
    forged.truncate(forged.len() - 3);
    let (status, body) = agg
        .post_typed(
            &cred,
            zstd::encode_all(&forged[..], 3)?,
            p2pmon_common::compact::CONTENT_TYPE,
            Some("zstd"),
        )
        .await?;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(body["code"], "malformed", "{body}");
    assert!(
        body["message"]
            .as_str()
            .unwrap_or("")
            .contains("ends early"),
        "{body}"
    );
    assert_eq!(agg.stored_values("host-a", "cpu_usage")?, [12.5]);
    Ok(())
}
