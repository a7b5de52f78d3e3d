//! An aggregator in a temporary directory, started in-process on ephemeral
//! ports, with a client that speaks the ingest protocol and the API.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context, Result, bail};
use p2pmon_aggregator::auth::{self, TokenKind};
use p2pmon_aggregator::config::AggregatorConfig;
use p2pmon_aggregator::server::Server;
use p2pmon_aggregator::store::schema;
use p2pmon_common::wire::{Batch, Hello, HostType, MetricKind, MetricRecord, Record, paths};
use reqwest::StatusCode;
use serde_json::Value;

use crate::workspace_root;

pub fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// A gauge record.
pub fn metric(name: &str, value: f64, tags: &[(&str, &str)], timestamp_ms: u64) -> Record {
    Record::Metric(MetricRecord {
        plugin: "test".to_string(),
        name: name.to_string(),
        value,
        unit: String::new(),
        kind: MetricKind::Gauge,
        tags: tags
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect::<BTreeMap<_, _>>(),
        timestamp_ms,
    })
}

/// A metric as `plugin` sends it (a metric metrics.yml gives to a plugin
/// that the host's hello lists is refused from any other).
pub fn metric_from(
    plugin: &str,
    name: &str,
    value: f64,
    tags: &[(&str, &str)],
    timestamp_ms: u64,
) -> Record {
    let mut record = metric(name, value, tags, timestamp_ms);
    if let Record::Metric(m) = &mut record {
        m.plugin = plugin.to_string();
    }
    record
}

pub fn batch(host: &str, stream: &str, seq: u64, records: Vec<Record>) -> Batch {
    Batch {
        host_id: host.to_string(),
        stream: stream.to_string(),
        seq,
        created_ms: now_ms(),
        records,
    }
}

/// Merge `overlay` into `base`, mappings key by key.
pub fn merge(base: &mut serde_yaml::Value, overlay: serde_yaml::Value) {
    match (base, overlay) {
        (serde_yaml::Value::Mapping(base), serde_yaml::Value::Mapping(overlay)) => {
            for (key, value) in overlay {
                match base.get_mut(&key) {
                    Some(existing) => merge(existing, value),
                    None => {
                        base.insert(key, value);
                    }
                }
            }
        }
        (base, overlay) => *base = overlay,
    }
}

/// Write an aggregator.yml (ephemeral ports, store in `dir`) with `overrides`
/// merged in, plus a copy of the shipped metrics.yml; return the config path.
pub fn write_config(dir: &Path, overrides: &str) -> Result<PathBuf> {
    let mut config: serde_yaml::Value = serde_yaml::from_str(
        "data_dir: data\nmetrics_file: metrics.yml\ningest: {listen: 127.0.0.1:0}\napi: {listen: 127.0.0.1:0}\nwebsocket: {listen: 127.0.0.1:0}\n",
    )?;
    if !overrides.trim().is_empty() {
        merge(&mut config, serde_yaml::from_str(overrides)?);
    }
    std::fs::write(dir.join("aggregator.yml"), serde_yaml::to_string(&config)?)?;
    std::fs::copy(
        workspace_root().join("conf/p2p/metrics.yml"),
        dir.join("metrics.yml"),
    )?;
    Ok(dir.join("aggregator.yml"))
}

pub struct TestAggregator {
    pub dir: tempfile::TempDir,
    pub config: AggregatorConfig,
    pub server: Option<Server>,
    pub api_token: String,
    pub http: reqwest::Client,
}

impl TestAggregator {
    pub async fn start() -> Result<Self> {
        Self::start_with("").await
    }

    /// Start with `overrides` (YAML) merged into the test config.
    pub async fn start_with(overrides: &str) -> Result<Self> {
        Self::start_in(tempfile::tempdir()?, overrides).await
    }

    /// Start with `alerts` as its alerts.yml.
    pub async fn start_with_alerts(alerts: &str) -> Result<Self> {
        Self::start_with_alerts_and(alerts, "").await
    }

    /// Start with `alerts` as its alerts.yml and `overrides` (YAML, block
    /// style) merged into the test config.
    pub async fn start_with_alerts_and(alerts: &str, overrides: &str) -> Result<Self> {
        let dir = tempfile::tempdir()?;
        std::fs::write(dir.path().join("alerts.yml"), alerts)?;
        Self::start_in(dir, &format!("alerts_file: alerts.yml\n{overrides}")).await
    }

    async fn start_in(dir: tempfile::TempDir, overrides: &str) -> Result<Self> {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let path = write_config(dir.path(), overrides)?;
        let config = AggregatorConfig::load(&path)?;
        let server = Server::start(config.clone()).await?;
        let mut this = Self {
            dir,
            config,
            server: Some(server),
            api_token: String::new(),
            http: reqwest::Client::builder()
                .timeout(std::time::Duration::from_secs(30))
                .build()?,
        };
        this.api_token = this.token(TokenKind::Api)?;
        Ok(this)
    }

    fn server(&self) -> Result<&Server> {
        self.server.as_ref().context("server stopped")
    }

    pub fn ingest_url(&self, path: &str) -> Result<String> {
        Ok(format!("http://{}{path}", self.server()?.ingest_addr))
    }

    pub fn api_url(&self, path: &str) -> Result<String> {
        Ok(format!("http://{}{path}", self.server()?.api_addr))
    }

    pub fn ws_url(&self) -> Result<String> {
        Ok(format!("ws://{}/monitor", self.server()?.ws_addr))
    }

    /// A new token, as `token create` makes it.
    pub fn token(&self, kind: TokenKind) -> Result<String> {
        let conn = schema::open(&self.config.store_path())?;
        Ok(auth::create_token(
            &conn,
            kind,
            "test",
            Some(3_600_000),
            now_ms() as i64,
        )?)
    }

    /// A read-only connection to the store, for assertions.
    pub fn db(&self) -> Result<rusqlite::Connection> {
        Ok(schema::open_read_only(&self.config.store_path())?)
    }

    pub async fn post_json(
        &self,
        path: &str,
        credential: Option<&str>,
        body: &Value,
    ) -> Result<(StatusCode, Value)> {
        let mut request = self.http.post(self.ingest_url(path)?).json(body);
        if let Some(credential) = credential {
            request = request.bearer_auth(credential);
        }
        let response = request.send().await?;
        let status = response.status();
        Ok((status, response.json().await.unwrap_or(Value::Null)))
    }

    /// Enroll `host` with a fresh join token and say hello; the credential.
    pub async fn enroll(&self, host: &str) -> Result<String> {
        let token = self.token(TokenKind::Join)?;
        let (status, body) = self
            .post_json(
                paths::ENROLL,
                None,
                &serde_json::json!({ "join_token": token, "host_id": host }),
            )
            .await?;
        if status != StatusCode::OK {
            bail!("enroll {host}: {status} {body}");
        }
        let credential = body["credential"]
            .as_str()
            .context("no credential")?
            .to_string();
        let (status, body) = self.hello(&credential, HostType::P2p).await?;
        if status != StatusCode::OK {
            bail!("hello {host}: {status} {body}");
        }
        Ok(credential)
    }

    pub async fn hello(
        &self,
        credential: &str,
        host_type: HostType,
    ) -> Result<(StatusCode, Value)> {
        self.hello_with(credential, host_type, vec![]).await
    }

    /// A hello announcing `plugins` (as the agent lists what it loaded).
    pub async fn hello_with(
        &self,
        credential: &str,
        host_type: HostType,
        plugins: Vec<p2pmon_common::wire::PluginIdentity>,
    ) -> Result<(StatusCode, Value)> {
        let hello = Hello {
            agent_version: "test".to_string(),
            host_type,
            plugins,
        };
        self.post_json(
            paths::HELLO,
            Some(credential),
            &serde_json::to_value(hello)?,
        )
        .await
    }

    /// POST a batch, zstd-compressed as agents send it.
    pub async fn post_batch(&self, credential: &str, batch: &Batch) -> Result<(StatusCode, Value)> {
        let body = zstd::encode_all(&serde_json::to_vec(batch)?[..], 3)?;
        self.post_raw(credential, body, Some("zstd")).await
    }

    pub async fn post_raw(
        &self,
        credential: &str,
        body: Vec<u8>,
        encoding: Option<&str>,
    ) -> Result<(StatusCode, Value)> {
        self.post_typed(credential, body, "application/json", encoding)
            .await
    }

    /// POST `batch` in the compact encoding, zstd-compressed, as an agent
    /// sends it to an aggregator that takes it.
    pub async fn post_compact(
        &self,
        credential: &str,
        batch: &Batch,
    ) -> Result<(StatusCode, Value)> {
        let body = zstd::encode_all(&p2pmon_common::compact::encode(batch)[..], 3)?;
        self.post_typed(
            credential,
            body,
            p2pmon_common::compact::CONTENT_TYPE,
            Some("zstd"),
        )
        .await
    }

    /// POST a batch body of `content_type`, optionally `encoding`-encoded.
    pub async fn post_typed(
        &self,
        credential: &str,
        body: Vec<u8>,
        content_type: &str,
        encoding: Option<&str>,
    ) -> Result<(StatusCode, Value)> {
        let mut request = self
            .http
            .post(self.ingest_url(paths::BATCHES)?)
            .bearer_auth(credential)
            .header("content-type", content_type)
            .body(body);
        if let Some(encoding) = encoding {
            request = request.header("content-encoding", encoding);
        }
        let response = request.send().await?;
        let status = response.status();
        let retry_after = response
            .headers()
            .get("retry-after")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        let mut body: Value = response.json().await.unwrap_or(Value::Null);
        if let (Some(seconds), Value::Object(map)) = (retry_after, &mut body) {
            map.insert("retry_after".to_string(), seconds.into());
        }
        Ok((status, body))
    }

    /// GET an API path with the test's API token.
    pub async fn api(&self, path: &str) -> Result<(StatusCode, Value)> {
        let response = self
            .http
            .get(self.api_url(path)?)
            .bearer_auth(&self.api_token)
            .send()
            .await?;
        let status = response.status();
        Ok((status, response.json().await.unwrap_or(Value::Null)))
    }

    /// Points stored for `host`'s series `name`, by value, in time order.
    pub fn stored_values(&self, host: &str, name: &str) -> Result<Vec<f64>> {
        stored_values(&self.db()?, host, name)
    }

    /// Wait until everything accepted so far is in the store file.
    pub async fn flush(&self) -> Result<()> {
        Ok(self.server()?.shared.store.flush().await?)
    }

    /// Run `f` on the store's writer connection, in order with batches.
    pub async fn exec<R: Send + 'static>(
        &self,
        f: impl FnOnce(&mut rusqlite::Connection) -> Result<R, p2pmon_aggregator::store::StoreError>
        + Send
        + 'static,
    ) -> Result<R> {
        Ok(self.server()?.shared.store.exec(f).await?)
    }

    /// Write pending rollups, then build the status page now (as its
    /// minute tick would).
    pub async fn refresh_status_page(&self) -> Result<()> {
        self.flush().await?;
        let shared = &self.server()?.shared;
        Ok(p2pmon_aggregator::status_page::refresh(shared).await?)
    }

    pub async fn stop(&mut self) -> Result<()> {
        if let Some(server) = self.server.take() {
            server.shutdown().await?;
        }
        Ok(())
    }

    /// Deliveries of notification `channel` so far: (sent, failed, retried).
    pub fn channel_counts(&self, channel: &str) -> (u64, u64, u64) {
        self.server
            .as_ref()
            .map(|s| s.shared.alerting.channel_stats())
            .unwrap_or_default()
            .iter()
            .find(|(name, _)| *name == channel)
            .map(|(_, s)| (s.sent.get(), s.failed.get(), s.retried.get()))
            .unwrap_or_default()
    }

    /// Shut down (flushing everything) and start again on the same store;
    /// the listeners get new ports.
    pub async fn restart(&mut self) -> Result<()> {
        self.stop().await?;
        self.server = Some(Server::start(self.config.clone()).await?);
        Ok(())
    }
}

/// A host enrolled on a [`TestAggregator`] (join token, enrollment, hello as
/// a P2P host), sending on one stream with sequence numbers from 1 up.
pub struct TestHost {
    pub id: String,
    pub credential: String,
    pub stream: String,
    last_seq: std::sync::atomic::AtomicU64,
}

impl TestHost {
    /// This host's next batch on its stream, holding `records`.
    pub fn next_batch(&self, records: Vec<Record>) -> Batch {
        let seq = self
            .last_seq
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed)
            + 1;
        batch(&self.id, &self.stream, seq, records)
    }
}

impl TestAggregator {
    /// Enroll `id` and say hello (as [`TestAggregator::enroll`]).
    pub async fn host(&self, id: &str) -> Result<TestHost> {
        Ok(TestHost {
            id: id.to_string(),
            credential: self.enroll(id).await?,
            stream: "s".to_string(),
            last_seq: Default::default(),
        })
    }

    /// POST `host`'s next batch holding `records`: the status and the ack.
    pub async fn send(&self, host: &TestHost, records: Vec<Record>) -> Result<(StatusCode, Value)> {
        self.post_batch(&host.credential, &host.next_batch(records))
            .await
    }

    /// POST `host`'s next batch holding `records`, which must be accepted
    /// whole (200, nothing rejected): the ack.
    pub async fn send_ok(&self, host: &TestHost, records: Vec<Record>) -> Result<Value> {
        let count = records.len();
        let (status, ack) = self.send(host, records).await?;
        if status != StatusCode::OK || ack["stored"] != count {
            bail!(
                "batch of {count} from {} not stored whole: {status} {ack}",
                host.id
            );
        }
        Ok(ack)
    }

    /// `host` reports gauge `name` = `value` now (plugin `test`); it must be
    /// stored.
    pub async fn gauge(&self, host: &TestHost, name: &str, value: f64) -> Result<Value> {
        self.send_ok(host, vec![metric(name, value, &[], now_ms())])
            .await
    }
}

/// Points stored for `host`'s series `name`: (timestamp, value) in time order.
/// Read through the store's own raw tier (head rows and sealed chunks), as
/// the API reads it.
pub fn stored_points(
    conn: &rusqlite::Connection,
    host: &str,
    name: &str,
) -> Result<Vec<(i64, f64)>> {
    let mut points: Vec<(i64, f64)> = raw_history(conn, host, name)?
        .into_iter()
        .flat_map(|series| series.points)
        .map(|p| (p.t, p.avg))
        .collect();
    points.sort_by_key(|p| p.0);
    Ok(points)
}

/// Every series of `host`'s metric `name` with all its raw points (head
/// and chunks), as the API's raw tier reads them.
pub fn raw_history(
    conn: &rusqlite::Connection,
    host: &str,
    name: &str,
) -> Result<Vec<p2pmon_aggregator::store::HistorySeries>> {
    let ask = p2pmon_aggregator::store::HistoryAsk {
        metric: name.to_string(),
        host: Some(host.to_string()),
        tier: p2pmon_aggregator::store::Tier::Raw,
        from_ms: i64::MIN,
        to_ms: i64::MAX,
        max_series: usize::MAX >> 1,
    };
    Ok(p2pmon_aggregator::store::history(conn, &ask)?)
}

/// The values of [`stored_points`].
pub fn stored_values(conn: &rusqlite::Connection, host: &str, name: &str) -> Result<Vec<f64>> {
    Ok(stored_points(conn, host, name)?
        .into_iter()
        .map(|(_, v)| v)
        .collect())
}

/// A store at `path` with `steps` points at 10 s ending at `end_ms` for
/// each of `series` series of `host` (`test_sequence{n="0"}`...; values 0,
/// 1, 2...), all in its head: written by the store's own writer with
/// sealing off, as an aggregator of schema 1 left its stores.
pub fn unsealed_store(
    path: &Path,
    host: &str,
    series: usize,
    steps: i64,
    end_ms: i64,
) -> Result<()> {
    use p2pmon_aggregator::store::{Options, Store, WriteJob};
    let runtime = tokio::runtime::Runtime::new()?;
    runtime.block_on(async {
        let store = Store::open_with(
            path,
            Options {
                sealing: false,
                ..Options::default()
            },
        )?;
        for (seq, first) in (0..steps).step_by(500).enumerate() {
            let mut job = WriteJob::new(Arc::from(host), "s".to_string(), seq as u64 + 1, 0);
            for step in first..(first + 500).min(steps) {
                let ts = end_ms - steps * 10_000 + step * 10_000;
                for n in 0..series {
                    let mut record = MetricRecord {
                        plugin: "test".to_string(),
                        name: "test_sequence".to_string(),
                        value: step as f64,
                        unit: "count".to_string(),
                        kind: MetricKind::Gauge,
                        tags: Default::default(),
                        timestamp_ms: ts as u64,
                    };
                    record.tags.insert("n".to_string(), n.to_string());
                    job.metrics.push(record);
                }
            }
            store.write(job).await?;
        }
        store.close().await?;
        anyhow::Ok(())
    })
}

pub use crate::ports::{free_port, free_ports};

/// The aggregator as a real process, on fixed ports (from [`free_ports`])
/// so that it can be killed and restarted at the same address.
pub struct AggregatorProcess {
    pub dir: PathBuf,
    pub config_path: PathBuf,
    pub config: AggregatorConfig,
    pub binary: PathBuf,
    pub child: Option<std::process::Child>,
}

impl AggregatorProcess {
    /// Write a config into `dir` (fixed free ports, `overrides` merged in).
    pub fn configure(binary: &Path, dir: &Path, overrides: &str) -> Result<Self> {
        std::fs::create_dir_all(dir)?;
        let [ingest, api, websocket] = free_ports()?;
        let ports = format!(
            "ingest: {{listen: '127.0.0.1:{ingest}'}}\napi: {{listen: '127.0.0.1:{api}'}}\nwebsocket: {{listen: '127.0.0.1:{websocket}'}}\n"
        );
        let path = write_config(dir, &ports)?;
        if !overrides.trim().is_empty() {
            let mut config: serde_yaml::Value =
                serde_yaml::from_str(&std::fs::read_to_string(&path)?)?;
            merge(&mut config, serde_yaml::from_str(overrides)?);
            std::fs::write(&path, serde_yaml::to_string(&config)?)?;
        }
        let config = AggregatorConfig::load(&path)?;
        Ok(Self {
            dir: dir.to_path_buf(),
            config_path: path,
            config,
            binary: binary.to_path_buf(),
            child: None,
        })
    }

    /// Run `p2pmon-aggregator ARGS --config ...` to completion; stdout.
    pub fn command(&self, args: &[&str]) -> Result<String> {
        let output = std::process::Command::new(&self.binary)
            .args(args)
            .arg("--config")
            .arg(&self.config_path)
            .output()?;
        if !output.status.success() {
            bail!(
                "{args:?} failed: {}",
                String::from_utf8_lossy(&output.stderr)
            );
        }
        Ok(String::from_utf8_lossy(&output.stdout).trim().to_string())
    }

    /// Start `serve` and wait until the API answers.
    pub fn start(&mut self) -> Result<()> {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.join("aggregator.log"))?;
        let child = std::process::Command::new(&self.binary)
            .args(["serve", "--config"])
            .arg(&self.config_path)
            .env("P2PMON_LOG", "info")
            .stdout(std::process::Stdio::null())
            .stderr(log)
            .spawn()?;
        self.child = Some(child);
        let health = format!("{}/api/v1/health", self.api_url());
        let log = self.dir.join("aggregator.log");
        crate::wait::eventually_blocking(std::time::Duration::from_secs(30), || {
            if let Some(child) = self.child.as_mut()
                && let Some(status) = child.try_wait()?
            {
                // Exited: no use waiting.
                return Ok(Err(anyhow::anyhow!(
                    "aggregator exited at start ({status}); see {}",
                    log.display()
                )));
            }
            anyhow::ensure!(
                http_ok(&health).unwrap_or(false),
                "aggregator did not come up"
            );
            Ok(Ok(()))
        })?
    }

    pub fn api_url(&self) -> String {
        format!("http://{}", self.config.api.listen)
    }

    pub fn ingest_url(&self) -> String {
        format!("http://{}", self.config.ingest.listen)
    }

    pub fn ws_url(&self) -> String {
        format!(
            "ws://{}{}",
            self.config.websocket.listen, self.config.websocket.path
        )
    }

    /// SIGKILL: no shutdown, no flush.
    pub fn kill9(&mut self) -> Result<()> {
        if let Some(mut child) = self.child.take() {
            child.kill()?;
            child.wait()?;
        }
        Ok(())
    }

    /// SIGTERM and wait for a clean exit.
    pub fn stop(&mut self) -> Result<std::process::ExitStatus> {
        crate::terminate(&mut self.child)
    }

    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(std::process::Child::id)
    }

    pub fn db(&self) -> Result<rusqlite::Connection> {
        Ok(schema::open_read_only(&self.config.store_path())?)
    }
}

impl Drop for AggregatorProcess {
    fn drop(&mut self) {
        let _ = self.kill9();
    }
}

/// Whether GET `url` answers 200: a blocking HTTP/1.1 probe over loopback,
/// usable outside an async runtime.
pub fn http_ok(url: &str) -> std::io::Result<bool> {
    use std::io::{Read, Write};
    let rest = url.trim_start_matches("http://");
    let (host, path) = rest.split_once('/').unwrap_or((rest, ""));
    let mut stream = std::net::TcpStream::connect(host)?;
    stream.set_read_timeout(Some(std::time::Duration::from_secs(2)))?;
    write!(
        stream,
        "GET /{path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n"
    )?;
    let mut head = [0u8; 12];
    stream.read_exact(&mut head)?;
    Ok(head.starts_with(b"HTTP/1.1 200"))
}

/// A WebSocket client of the live feed.
pub type Feed =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

impl TestAggregator {
    /// Connect to the live feed with the API token.
    pub async fn feed(&self) -> Result<Feed> {
        let url = format!("{}?token={}", self.ws_url()?, self.api_token);
        Ok(tokio_tungstenite::connect_async(url).await?.0)
    }
}

/// The `alert` objects of the feed's alert messages received within `wait`.
pub async fn alerts_within(feed: &mut Feed, wait: std::time::Duration) -> Result<Vec<Value>> {
    use futures_util::StreamExt;
    let mut found = Vec::new();
    let deadline = tokio::time::Instant::now() + wait;
    while let Ok(Some(message)) = tokio::time::timeout_at(deadline, feed.next()).await {
        if let tokio_tungstenite::tungstenite::Message::Text(text) = message? {
            let value: Value = serde_json::from_str(&text)?;
            if value["type"] == "alert" {
                found.push(value["alert"].clone());
            }
        }
    }
    Ok(found)
}

/// The `alert` objects the feed carries before the `metrics` message that
/// holds `host`'s point at `timestamp_ms`. The aggregator publishes what a
/// batch raises before that batch's metrics message, so this is what the
/// batch raised, read without a fixed wait for nothing to happen; an error
/// if the batch's message does not come within `wait`.
pub async fn alerts_until(
    feed: &mut Feed,
    host: &str,
    timestamp_ms: u64,
    wait: std::time::Duration,
) -> Result<Vec<Value>> {
    use futures_util::StreamExt;
    let mut found = Vec::new();
    let deadline = tokio::time::Instant::now() + wait;
    loop {
        let message = tokio::time::timeout_at(deadline, feed.next())
            .await
            .with_context(|| {
                format!("no metrics message of {host} at {timestamp_ms} within {wait:?}; alerts: {found:?}")
            })?
            .context("feed closed")??;
        let tokio_tungstenite::tungstenite::Message::Text(text) = message else {
            continue;
        };
        let value: Value = serde_json::from_str(&text)?;
        if value["type"] == "alert" {
            found.push(value["alert"].clone());
        } else if value["type"] == "metrics"
            && value["host"] == host
            && value["metrics"]
                .as_array()
                .is_some_and(|m| m.iter().any(|m| m["timestamp_ms"] == timestamp_ms))
        {
            return Ok(found);
        }
    }
}
