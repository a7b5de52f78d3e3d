//! The road to the aggregator, lossless: every batch goes to the on-disk
//! [`spool`] first, and the [`sender`] deletes it only once the aggregator has
//! acknowledged it as stored. The aggregator deduplicates by (host, stream,
//! seq), so at-least-once on the wire is exactly-once in storage.
//!
//! - [`spool`]: numbered, compressed batches on disk, bounded, oldest dropped
//!   (and counted) when full.
//! - [`credential`]: the host credential from enrollment, kept mode 0600.
//! - [`client`]: HTTP(S) to the aggregator's ingest port.
//! - [`sender`]: the delivery loop, backoff, and what each answer means.
//! - [`collection`]: which metrics the aggregator's metrics.yml collects.

pub mod client;
pub mod collection;
pub mod credential;
pub mod sender;
pub mod spool;

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::config::AgentConfig;
use client::{Client, ClientError, Reply};
use collection::CollectionFilter;
use credential::{Credential, CredentialError};
use p2pmon_common::wire::PluginIdentity;
use sender::{Backoff, Identity, Sender, SenderSettings, TransportStats};
use spool::{Spool, SpoolError};

/// Environment variable that supplies a join token (instead of agent.yml).
pub const JOIN_TOKEN_ENV: &str = "P2PMON_JOIN_TOKEN";

#[derive(Debug, thiserror::Error)]
pub enum TransportError {
    #[error(transparent)]
    Client(#[from] ClientError),
    #[error(transparent)]
    Spool(#[from] SpoolError),
    #[error(transparent)]
    Credential(#[from] CredentialError),
    #[error("enrollment refused: {0}")]
    EnrollRefused(String),
    #[error("aggregator unreachable: {0}")]
    Unreachable(String),
    #[error(
        "this host is already enrolled ({0}); pass --force to replace the credential with a new one"
    )]
    AlreadyEnrolled(String),
}

/// The join token: `P2PMON_JOIN_TOKEN` if set, else `aggregator.join_token`.
pub fn join_token(config: &AgentConfig) -> String {
    std::env::var(JOIN_TOKEN_ENV)
        .ok()
        .filter(|t| !t.trim().is_empty())
        .unwrap_or_else(|| config.aggregator.join_token.clone())
        .trim()
        .to_string()
}

/// What the spool sink and the self-metrics share with the sender.
#[derive(Clone)]
pub struct Handles {
    pub spool: Arc<Spool>,
    pub stats: Arc<TransportStats>,
    /// Set by every hello answer; the spool sink applies it.
    pub collection: Arc<CollectionFilter>,
}

/// Their self-metrics: the spool's, the sender's, the collection filter's.
impl p2pmon_common::telemetry::Telemetry for Handles {
    fn readings(&self) -> Vec<p2pmon_common::telemetry::Reading> {
        let mut readings = self.spool.readings();
        readings.extend(self.stats.readings());
        readings.push(self.collection.left_out.reading());
        readings
    }
}

/// The spool, its counters, and the running sender.
pub struct Transport {
    pub handles: Handles,
    stop: watch::Sender<bool>,
    task: JoinHandle<()>,
}

impl Transport {
    /// Open the spool and start the sender for `config`'s aggregator.
    pub fn start(
        config: &AgentConfig,
        plugins: Vec<PluginIdentity>,
    ) -> Result<Self, TransportError> {
        let link = &config.aggregator;
        let client = Client::new(link, &config.base_dir)?;
        let spool = Arc::new(Spool::open(
            &config.resolve(&link.spool.dir),
            link.spool.max_mb << 20,
        )?);
        let figures = spool.figures();
        if figures.batches > 0 {
            tracing::info!(
                batches = figures.batches,
                bytes = figures.bytes,
                "Spooled batches from an earlier run will be sent first."
            );
        }
        let stats = Arc::new(TransportStats::default());
        let collection = Arc::new(CollectionFilter::open(
            config
                .resolve(&link.spool.dir)
                .join(collection::GROUPS_FILE),
        ));
        let (stop, stopped) = watch::channel(false);
        let sender = Sender::new(
            spool.clone(),
            client,
            stats.clone(),
            collection.clone(),
            Identity {
                host_id: config.aggregator_host_id(),
                host_type: link.host_type,
                plugins,
            },
            SenderSettings {
                credential_file: config.resolve(&link.credential_file),
                join_token: join_token(config),
                backoff: Backoff::new(
                    Duration::from_millis(link.backoff.initial_ms),
                    Duration::from_millis(link.backoff.max_ms),
                ),
                drain_timeout: Duration::from_millis(link.drain_timeout_ms),
            },
            stopped,
        );
        let task = tokio::spawn(sender.run());
        Ok(Self {
            handles: Handles {
                spool,
                stats,
                collection,
            },
            stop,
            task,
        })
    }

    /// Stop after sending what is spooled (bounded by the drain timeout).
    pub async fn finish(self) {
        let _ = self.stop.send(true);
        if let Err(error) = self.task.await {
            tracing::error!(%error, "The sender stopped abnormally.");
        }
    }
}

/// `p2pmon-agent enroll`: exchange `token` for a credential and save it.
/// Refuses to replace an existing credential unless `force`.
pub async fn enroll(
    config: &AgentConfig,
    token: &str,
    force: bool,
) -> Result<Credential, TransportError> {
    let link = &config.aggregator;
    let path = config.resolve(&link.credential_file);
    if !force && let Some(existing) = Credential::load(&path)? {
        return Err(TransportError::AlreadyEnrolled(format!(
            "host {:?}, {}",
            existing.host_id,
            path.display()
        )));
    }
    let client = Client::new(link, &config.base_dir)?;
    match client.enroll(token, &config.aggregator_host_id()).await {
        Reply::Ok(response) => {
            let credential = Credential {
                host_id: response.host_id,
                credential: response.credential,
                aggregator: client.base().to_string(),
            };
            credential.save(&path)?;
            Ok(credential)
        }
        Reply::Refused(refused) => Err(TransportError::EnrollRefused(refused.to_string())),
        Reply::Unreachable(error) => Err(TransportError::Unreachable(error)),
    }
}
