//! The sender: takes the oldest spooled batch, sends it, and deletes it once
//! the aggregator acknowledged it as stored. One batch in flight, so batches
//! arrive in order. What each answer means:
//!
//! | answer                              | what the sender does                          |
//! |-------------------------------------|-----------------------------------------------|
//! | 200 with an ack                     | delete the batch; count rejected records      |
//! | 409 `hello_required`                | hello again (the aggregator restarted), resend|
//! | 401                                 | credential refused (revoked?): wait, reload   |
//! | 429                                 | wait `Retry-After`, resend                    |
//! | other 4xx (forged, too large, ...)  | the batch can never be stored: drop, count    |
//! | 5xx, no answer                      | back off (exponential, full jitter), resend   |

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;
use tokio::time::Instant;

use p2pmon_common::wire::{Hello, HostType, PluginIdentity, RefusalCode};

use super::client::{Client, Refused, Reply};
use super::collection::CollectionFilter;
use super::credential::Credential;
use super::spool::Spool;
use p2pmon_common::telemetry::HealthKey;

p2pmon_common::figures! {
    /// Counters of the sender, reported as self-metrics.
    pub struct TransportStats in "agent" {
        batches_sent: Counter, "batches_sent", "count", HealthKey::None,
            "Batches the aggregator acknowledged.";
        records_sent: Counter, "records_sent", "count", HealthKey::None,
            "Records the aggregator stored.";
        /// Whole batches the aggregator refused for good (and the agent dropped).
        batches_rejected: Counter, "batches_rejected", "count", HealthKey::None,
            "Batches the aggregator refused for good; dropped.";
        /// Records refused: in dropped batches and record by record in acks.
        records_rejected: Counter, "records_rejected", "count", HealthKey::None,
            "Records the aggregator refused, in refused batches and one by one.";
        /// Attempts that failed and will be retried.
        send_failures: Counter, "send_failures", "count", HealthKey::None,
            "Requests to the aggregator that failed and are retried.";
        /// 1 while the last request got an answer, 0 otherwise.
        connected: Gauge, "aggregator_connected", "count", HealthKey::None,
            "1 while the last request to the aggregator got an answer.";
    }
}

/// Exponential backoff with full jitter: the n-th wait is uniform in
/// `[0, min(max, initial * 2^n)]`, so many agents coming back at once spread out.
#[derive(Debug)]
pub struct Backoff {
    initial: Duration,
    max: Duration,
    attempt: u32,
}

impl Backoff {
    pub fn new(initial: Duration, max: Duration) -> Self {
        Self {
            initial,
            max,
            attempt: 0,
        }
    }

    pub fn next_wait(&mut self) -> Duration {
        let ceiling = self
            .initial
            .saturating_mul(1u32 << self.attempt.min(20))
            .min(self.max);
        self.attempt = self.attempt.saturating_add(1);
        Duration::from_millis(fastrand::u64(0..=ceiling.as_millis() as u64))
    }

    pub fn reset(&mut self) {
        self.attempt = 0;
    }

    pub fn max(&self) -> Duration {
        self.max
    }
}

/// Who this agent is, for enrollment and the hello.
#[derive(Clone, Debug)]
pub struct Identity {
    pub host_id: String,
    pub host_type: HostType,
    pub plugins: Vec<PluginIdentity>,
}

pub struct SenderSettings {
    pub credential_file: PathBuf,
    /// Used to enroll when there is no credential file yet; may be empty.
    pub join_token: String,
    pub backoff: Backoff,
    pub drain_timeout: Duration,
}

/// Longest `Retry-After` honoured as given; longer ones are capped here.
const MAX_RETRY_AFTER: Duration = Duration::from_secs(3600);

/// A spooled body (zstd) as it is sent: compact batches as they are to an
/// aggregator that takes them, else as JSON (also JSON files of an older
/// spool, as they are). `true` when the body is compact.
fn body_for(body: Vec<u8>, compact_ok: bool) -> Result<(Vec<u8>, bool), String> {
    use std::io::Read;
    let mut head = [0u8; 4];
    let mut decoder = zstd::stream::read::Decoder::new(&body[..]).map_err(|e| e.to_string())?;
    let is_compact =
        decoder.read_exact(&mut head).is_ok() && p2pmon_common::compact::is_compact(&head);
    if !is_compact {
        return Ok((body, false));
    }
    if compact_ok {
        return Ok((body, true));
    }
    let bytes = zstd::stream::decode_all(&body[..]).map_err(|e| e.to_string())?;
    let batch = p2pmon_common::compact::decode(&bytes).map_err(|e| e.to_string())?;
    let json = serde_json::to_vec(&batch).map_err(|e| e.to_string())?;
    let body = zstd::bulk::compress(&json, super::spool::ZSTD_LEVEL).map_err(|e| e.to_string())?;
    Ok((body, false))
}

pub struct Sender {
    spool: Arc<Spool>,
    client: Client,
    stats: Arc<TransportStats>,
    collection: Arc<CollectionFilter>,
    identity: Identity,
    settings: SenderSettings,
    credential: Option<Credential>,
    greeted: bool,
    /// The aggregator's hello answer lists the compact batch encoding.
    compact: bool,
    /// The last problem logged, so a long outage logs once, not every retry.
    last_problem: Option<String>,
    stop: watch::Receiver<bool>,
    drain_until: Option<Instant>,
}

enum Step {
    /// Go on at once.
    Continue,
    /// Wait, then go on.
    Wait(Duration),
    /// Wait for a new batch.
    Idle,
}

impl Sender {
    pub fn new(
        spool: Arc<Spool>,
        client: Client,
        stats: Arc<TransportStats>,
        collection: Arc<CollectionFilter>,
        identity: Identity,
        settings: SenderSettings,
        stop: watch::Receiver<bool>,
    ) -> Self {
        Self {
            spool,
            client,
            stats,
            collection,
            identity,
            settings,
            credential: None,
            greeted: false,
            compact: false,
            last_problem: None,
            stop,
            drain_until: None,
        }
    }

    /// Send until `stop` turns true, then keep sending what is spooled for
    /// at most the drain timeout; what is left stays on disk for the next start.
    pub async fn run(mut self) {
        loop {
            if *self.stop.borrow() && self.drain_until.is_none() {
                self.drain_until = Some(Instant::now() + self.settings.drain_timeout);
            }
            if let Some(deadline) = self.drain_until
                && (self.spool.is_empty() || Instant::now() >= deadline)
            {
                let left = self.spool.figures().batches;
                if left > 0 {
                    tracing::warn!(
                        batches = left,
                        spool = %self.spool.dir().display(),
                        "Batches left in the spool; they are sent on the next start."
                    );
                }
                return;
            }
            match self.step().await {
                Step::Continue => {}
                Step::Wait(duration) => self.wait(Some(duration)).await,
                Step::Idle => self.wait(None).await,
            }
        }
    }

    /// Sleep for `duration` (or until a batch arrives when `None`), waking
    /// early on shutdown; while draining never past the drain deadline.
    async fn wait(&self, duration: Option<Duration>) {
        let until = [duration.map(|d| Instant::now() + d), self.drain_until]
            .into_iter()
            .flatten()
            .min();
        let sleep = async {
            match until {
                Some(until) => tokio::time::sleep_until(until).await,
                None => std::future::pending().await,
            }
        };
        let arrived = async {
            match duration {
                None => self.spool.arrived.notified().await,
                Some(_) => std::future::pending().await,
            }
        };
        let mut stop = self.stop.clone();
        let already_stopping = *stop.borrow();
        let stopped = async move {
            if already_stopping {
                std::future::pending::<()>().await;
            }
            let _ = stop.wait_for(|s| *s).await;
        };
        tokio::select! {
            _ = sleep => {}
            _ = arrived => {}
            _ = stopped => {}
        }
    }

    fn problem(&mut self, problem: String) {
        if self.last_problem.as_deref() != Some(problem.as_str()) {
            tracing::warn!("{problem}");
            self.last_problem = Some(problem);
        }
    }

    fn recovered(&mut self) {
        if self.last_problem.take().is_some() {
            tracing::info!(aggregator = %self.client.base(), "Aggregator reachable again.");
        }
        self.settings.backoff.reset();
        self.stats.connected.set(1);
    }

    fn failed(&mut self, problem: String) -> Step {
        self.stats.send_failures.inc();
        self.stats.connected.set(0);
        self.problem(problem);
        Step::Wait(self.settings.backoff.next_wait())
    }

    async fn step(&mut self) -> Step {
        if self.credential.is_none() {
            return self.obtain_credential().await;
        }
        if !self.greeted {
            return self.hello().await;
        }
        let Some(pending) = self.spool.oldest() else {
            return Step::Idle;
        };
        let Some(credential) = self.credential.as_ref().map(|c| c.credential.clone()) else {
            return Step::Continue;
        };
        let entry = pending.entry;
        let (body, compact) = match body_for(pending.body, self.compact) {
            Ok(body) => body,
            Err(error) => {
                // A spool file that does not read: nothing would take it.
                tracing::error!(seq = entry.seq, %error, "A spooled batch does not read; dropped.");
                self.drop_batch(entry.seq, entry.records);
                return Step::Continue;
            }
        };
        match self.client.send(&credential, body, compact).await {
            Reply::Ok(ack) => {
                self.recovered();
                self.spool.remove(entry.seq);
                self.stats.batches_sent.inc();
                self.stats.records_sent.add(ack.stored);
                let rejected: u64 = ack.rejected.values().sum();
                if rejected > 0 {
                    self.stats.records_rejected.add(rejected);
                    tracing::warn!(
                        seq = entry.seq,
                        rejected = ?ack.rejected,
                        problems = ?ack.problems,
                        "The aggregator refused some records of a batch."
                    );
                }
                Step::Continue
            }
            Reply::Refused(refused) => self.refused_batch(entry.seq, entry.records, refused),
            Reply::Unreachable(error) => self.failed(format!(
                "Aggregator {} unreachable ({error}); batches stay in the spool.",
                self.client.base()
            )),
        }
    }

    /// A batch that can never be stored: out of the spool, counted.
    fn drop_batch(&mut self, seq: u64, records: u64) {
        self.spool.remove(seq);
        self.stats.batches_rejected.inc();
        self.stats.records_rejected.add(records);
    }

    fn refused_batch(&mut self, seq: u64, records: u64, refused: Refused) -> Step {
        match refused.status {
            409 if refused.is(RefusalCode::HelloRequired) => {
                self.greeted = false;
                Step::Continue
            }
            401 => self.credential_refused(&refused),
            429 => {
                self.stats.send_failures.inc();
                let wait = refused
                    .retry_after
                    .unwrap_or_else(|| self.settings.backoff.next_wait())
                    .min(MAX_RETRY_AFTER);
                tracing::info!(wait_s = wait.as_secs_f64(), "Aggregator asks to slow down.");
                Step::Wait(wait)
            }
            400..=499 if refused.status != 408 => {
                // Sending it again would get the same answer.
                self.recovered();
                self.drop_batch(seq, records);
                tracing::error!(seq, records, %refused, "The aggregator refused a batch; dropped it.");
                Step::Continue
            }
            _ => self.failed(format!(
                "Aggregator {} failed ({refused}); batches stay in the spool.",
                self.client.base()
            )),
        }
    }

    fn credential_refused(&mut self, refused: &Refused) -> Step {
        self.credential = None;
        self.greeted = false;
        self.stats.connected.set(0);
        self.problem(format!(
            "The aggregator refused this host's credential ({refused}); the host may have been revoked. \
             Batches stay in the spool; enroll again with `p2pmon-agent enroll --token ...`."
        ));
        Step::Wait(self.settings.backoff.max())
    }

    async fn obtain_credential(&mut self) -> Step {
        let path = self.settings.credential_file.clone();
        match Credential::load(&path) {
            Ok(Some(credential)) => {
                if credential.host_id != self.identity.host_id {
                    self.problem(format!(
                        "The credential in {} is for host {:?}, but this agent is {:?} (host_id in agent.yml); \
                         enroll again or fix host_id.",
                        path.display(),
                        credential.host_id,
                        self.identity.host_id
                    ));
                    return Step::Wait(self.settings.backoff.max());
                }
                self.credential = Some(credential);
                Step::Continue
            }
            Ok(None) if self.settings.join_token.is_empty() => {
                self.problem(format!(
                    "Not enrolled: no credential at {}. Run `p2pmon-agent enroll --token <join token>` \
                     (or set aggregator.join_token / P2PMON_JOIN_TOKEN); collecting into the spool meanwhile.",
                    path.display()
                ));
                Step::Wait(self.settings.backoff.max())
            }
            Ok(None) => {
                let token = self.settings.join_token.clone();
                match self.client.enroll(&token, &self.identity.host_id).await {
                    Reply::Ok(response) => {
                        let credential = Credential {
                            host_id: response.host_id,
                            credential: response.credential,
                            aggregator: self.client.base().to_string(),
                        };
                        if let Err(error) = credential.save(&path) {
                            self.problem(format!(
                                "Enrolled, but cannot keep the credential: {error}"
                            ));
                        } else {
                            tracing::info!(host = %credential.host_id, file = %path.display(), "Enrolled.");
                        }
                        self.credential = Some(credential);
                        self.recovered();
                        Step::Continue
                    }
                    Reply::Refused(refused) if refused.status == 429 => Step::Wait(
                        refused
                            .retry_after
                            .unwrap_or_else(|| self.settings.backoff.next_wait()),
                    ),
                    Reply::Refused(refused) if refused.status < 500 => {
                        self.problem(format!(
                            "Enrollment refused ({refused}). Create a new join token with \
                             `p2pmon-aggregator token create --join` and run `p2pmon-agent enroll --token ...`."
                        ));
                        Step::Wait(self.settings.backoff.max())
                    }
                    Reply::Refused(refused) => {
                        self.failed(format!("Enrollment failed ({refused}); retrying."))
                    }
                    Reply::Unreachable(error) => self.failed(format!(
                        "Aggregator {} unreachable for enrollment ({error}); retrying.",
                        self.client.base()
                    )),
                }
            }
            Err(error) => {
                self.problem(error.to_string());
                Step::Wait(self.settings.backoff.max())
            }
        }
    }

    async fn hello(&mut self) -> Step {
        let Some(credential) = self.credential.as_ref().map(|c| c.credential.clone()) else {
            return Step::Continue;
        };
        let hello = Hello {
            agent_version: env!("CARGO_PKG_VERSION").to_string(),
            host_type: self.identity.host_type,
            plugins: self.identity.plugins.clone(),
        };
        match self.client.hello(&credential, &hello).await {
            Reply::Ok(answer) => {
                self.collection.set_from_hello(&answer);
                self.compact = answer
                    .batch_formats
                    .iter()
                    .any(|f| f == p2pmon_common::compact::FORMAT);
                self.greeted = true;
                self.recovered();
                tracing::info!(
                    aggregator = %self.client.base(),
                    host = %self.identity.host_id,
                    spooled = self.spool.figures().batches,
                    "Connected to the aggregator."
                );
                Step::Continue
            }
            Reply::Refused(refused) if refused.status == 401 => self.credential_refused(&refused),
            Reply::Refused(refused) if refused.status == 429 => Step::Wait(
                refused
                    .retry_after
                    .unwrap_or_else(|| self.settings.backoff.next_wait()),
            ),
            Reply::Refused(refused) if refused.status < 500 => {
                self.stats.connected.set(0);
                self.problem(format!(
                    "The aggregator refused this agent ({refused}); batches stay in the spool."
                ));
                Step::Wait(self.settings.backoff.max())
            }
            Reply::Refused(refused) => {
                self.failed(format!("Aggregator hello failed ({refused}); retrying."))
            }
            Reply::Unreachable(error) => self.failed(format!(
                "Aggregator {} unreachable ({error}); batches stay in the spool.",
                self.client.base()
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A compact spool file goes as it is to an aggregator that takes it,
    /// as JSON (the same batch) to one that does not; a JSON file of an
    /// older spool as it is; a file that does not read is an error.
    #[test]
    fn spooled_bodies_are_sent_in_the_encoding_the_aggregator_takes() {
        use p2pmon_common::wire::{Batch, MetricKind, MetricRecord, Record};
        let batch = Batch {
            host_id: "h".to_string(),
            stream: "s".to_string(),
            seq: 3,
            created_ms: 9,
            records: vec![Record::Metric(MetricRecord {
                plugin: "system".to_string(),
                name: "cpu_usage".to_string(),
                value: 12.5,
                unit: "percent".to_string(),
                kind: MetricKind::Gauge,
                tags: Default::default(),
                timestamp_ms: 1_000,
            })],
        };
        let zstd = |bytes: &[u8]| zstd::bulk::compress(bytes, 3).expect("zstd");
        let compact = zstd(&p2pmon_common::compact::encode(&batch));
        assert_eq!(body_for(compact.clone(), true), Ok((compact.clone(), true)));
        let (json, is_compact) = body_for(compact, false).expect("as JSON");
        assert!(!is_compact);
        let sent: Batch =
            serde_json::from_slice(&zstd::stream::decode_all(&json[..]).expect("zstd"))
                .expect("json");
        assert_eq!(sent, batch);
        let old = zstd(&serde_json::to_vec(&batch).expect("json"));
        assert_eq!(body_for(old.clone(), true), Ok((old, false)));
        // Not zstd at all: sent as it is, for the aggregator to refuse (400).
        assert_eq!(
            body_for(b"not zstd".to_vec(), true),
            Ok((b"not zstd".to_vec(), false))
        );
        let broken = zstd(b"P2B1\x05");
        assert!(body_for(broken.clone(), false).is_err());
    }

    #[test]
    fn backoff_grows_to_its_ceiling_and_resets() {
        let mut backoff = Backoff::new(Duration::from_millis(100), Duration::from_millis(1000));
        let waits: Vec<Duration> = (0..12).map(|_| backoff.next_wait()).collect();
        assert!(waits.iter().all(|w| *w <= Duration::from_millis(1000)));
        assert!(waits[0] <= Duration::from_millis(100));
        // Full jitter: over many draws at the ceiling, some exceed half of it.
        let late: Vec<Duration> = (0..50).map(|_| backoff.next_wait()).collect();
        assert!(
            late.iter().any(|w| *w > Duration::from_millis(500)),
            "{late:?}"
        );
        backoff.reset();
        assert!(backoff.next_wait() <= Duration::from_millis(100));
    }
}
