//! An aggregator in a temporary directory, started in-process on ephemeral
//! ports, with a client that speaks the ingest protocol and the API.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

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
fn merge(base: &mut serde_yaml::Value, overlay: serde_yaml::Value) {
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
        let _ = rustls::crypto::ring::default_provider().install_default();
        let dir = tempfile::tempdir()?;
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

    pub async fn hello(&self, credential: &str, host_type: HostType) -> Result<(StatusCode, Value)> {
        let hello = Hello {
            agent_version: "test".to_string(),
            host_type,
            plugins: vec![],
        };
        self.post_json(paths::HELLO, Some(credential), &serde_json::to_value(hello)?)
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
        let mut request = self
            .http
            .post(self.ingest_url(paths::BATCHES)?)
            .bearer_auth(credential)
            .header("content-type", "application/json")
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
        let conn = self.db()?;
        let mut statement = conn.prepare(
            "SELECT p.value FROM points p JOIN series s ON s.id = p.series_id
             WHERE s.host_id = ?1 AND s.name = ?2 ORDER BY p.ts, p.id",
        )?;
        let values = statement
            .query_map([host, name], |r| r.get(0))?
            .collect::<Result<Vec<f64>, _>>()?;
        Ok(values)
    }

    pub async fn stop(&mut self) -> Result<()> {
        if let Some(server) = self.server.take() {
            server.shutdown().await?;
        }
        Ok(())
    }
}
