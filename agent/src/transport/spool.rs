//! The on-disk spool: every batch bound for the aggregator is written here
//! first and deleted only after the aggregator acknowledged it as stored.
//!
//! Layout of the spool directory:
//! - `state.json`: the stream id (random, chosen when the spool is created),
//!   the next sequence number, and how much was dropped because the spool was
//!   full. Replaced atomically (write to a temporary file, then rename).
//! - `<seq, 20 digits>-<records>.zst`: one batch each, the exact request body
//!   (zstd-compressed JSON), so sending is reading a file.
//! - `metric-groups.json`: the aggregator's last metrics.yml groups (see
//!   [`super::collection`]); the spool itself ignores it.
//!
//! Sequence numbers are never reused: on open the next number is the larger of
//! the saved one and the highest file found plus one, so a crash between
//! writing a batch and saving the state cannot hand out a number twice. The
//! aggregator deduplicates by (host, stream, seq), which makes resending after
//! a lost acknowledgement harmless.

use std::collections::VecDeque;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use serde::{Deserialize, Serialize};

use p2pmon_common::describe;
use p2pmon_common::files::{TMP_SUFFIX, write_atomically};
use p2pmon_common::telemetry::{HealthKey, Reading, Telemetry};
use p2pmon_common::wire::{Batch, Record};

const STATE_FILE: &str = "state.json";
const BATCH_SUFFIX: &str = ".zst";
/// zstd level 3: about 10x on metric JSON at a few hundred MB/s.
pub(super) const ZSTD_LEVEL: i32 = 3;

#[derive(Debug, thiserror::Error)]
pub enum SpoolError {
    #[error("spool {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
}

fn io_error(path: &Path) -> impl FnOnce(std::io::Error) -> SpoolError + '_ {
    move |source| SpoolError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// What survives restarts besides the batches themselves.
#[derive(Clone, Debug, Serialize, Deserialize)]
struct SpoolState {
    stream: String,
    next_seq: u64,
    #[serde(default)]
    dropped_batches: u64,
    #[serde(default)]
    dropped_records: u64,
}

/// One spooled batch.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Entry {
    pub seq: u64,
    pub records: u64,
    pub bytes: u64,
}

/// A spooled batch ready to send: its entry and the request body.
#[derive(Debug)]
pub struct Pending {
    pub entry: Entry,
    pub body: Vec<u8>,
}

/// Figures for the agent's self-metrics.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SpoolFigures {
    pub batches: u64,
    pub bytes: u64,
    pub dropped_batches: u64,
    pub dropped_records: u64,
}

struct Inner {
    state: SpoolState,
    entries: VecDeque<Entry>,
    bytes: u64,
}

pub struct Spool {
    dir: PathBuf,
    max_bytes: u64,
    inner: Mutex<Inner>,
    /// Wakes the sender when a batch arrives.
    pub arrived: tokio::sync::Notify,
}

impl Spool {
    /// Open (or create) the spool in `dir`, holding at most `max_bytes`.
    pub fn open(dir: &Path, max_bytes: u64) -> Result<Self, SpoolError> {
        create_private_dir(dir).map_err(io_error(dir))?;
        let state_path = dir.join(STATE_FILE);
        let fresh = || SpoolState {
            stream: new_stream_id(),
            next_seq: 1,
            dropped_batches: 0,
            dropped_records: 0,
        };
        let mut state = match std::fs::read(&state_path) {
            Ok(bytes) => match serde_json::from_slice::<SpoolState>(&bytes) {
                Ok(state) => state,
                Err(error) => {
                    // The batches on disk carry their own stream and numbers,
                    // so they are still delivered; new ones start a new stream.
                    let aside = dir.join(format!("{STATE_FILE}.corrupt"));
                    tracing::error!(
                        path = %state_path.display(),
                        %error,
                        aside = %aside.display(),
                        "Spool state unreadable: kept aside, starting a new stream."
                    );
                    std::fs::rename(&state_path, &aside).map_err(io_error(&state_path))?;
                    fresh()
                }
            },
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => fresh(),
            Err(e) => return Err(io_error(&state_path)(e)),
        };
        let mut entries = Vec::new();
        for item in std::fs::read_dir(dir).map_err(io_error(dir))? {
            let item = item.map_err(io_error(dir))?;
            let name = item.file_name();
            let name = name.to_string_lossy();
            if name.ends_with(TMP_SUFFIX) {
                // A write cut short by a crash: never acknowledged to anyone.
                let _ = std::fs::remove_file(item.path());
                continue;
            }
            if let Some((seq, records)) = parse_batch_name(&name) {
                let bytes = item.metadata().map_err(io_error(&item.path()))?.len();
                entries.push(Entry {
                    seq,
                    records,
                    bytes,
                });
            }
        }
        entries.sort_by_key(|e| e.seq);
        if let Some(last) = entries.last() {
            state.next_seq = state.next_seq.max(last.seq + 1);
        }
        let bytes = entries.iter().map(|e| e.bytes).sum();
        let spool = Self {
            dir: dir.to_path_buf(),
            max_bytes,
            inner: Mutex::new(Inner {
                state,
                entries: entries.into(),
                bytes,
            }),
            arrived: tokio::sync::Notify::new(),
        };
        {
            let inner = spool.lock();
            spool.save_state(&inner.state)?;
        }
        Ok(spool)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        // A panic while holding the lock leaves consistent data (every change
        // is a single assignment), so a poisoned lock is still usable.
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The stream id batches carry.
    pub fn stream(&self) -> String {
        self.lock().state.stream.clone()
    }

    /// Number the batch, write it to disk, and drop the oldest batches if the
    /// spool is over its size. Returns the batch's sequence number.
    pub fn push(
        &self,
        host_id: &str,
        created_ms: u64,
        records: Vec<Record>,
    ) -> Result<u64, SpoolError> {
        let record_count = records.len() as u64;
        let mut inner = self.lock();
        let seq = inner.state.next_seq;
        let batch = Batch {
            host_id: host_id.to_string(),
            stream: inner.state.stream.clone(),
            seq,
            created_ms,
            records,
        };
        // The compact encoding: a few bytes a point, no JSON to write or,
        // at the aggregator, to parse (sent as JSON to an older one).
        let encoded = p2pmon_common::compact::encode(&batch);
        let body = zstd::bulk::compress(&encoded, ZSTD_LEVEL).map_err(io_error(&self.dir))?;
        let path = self.dir.join(batch_name(seq, record_count));
        write_atomically(&path, &body).map_err(io_error(&path))?;
        inner.state.next_seq = seq + 1;
        let entry = Entry {
            seq,
            records: record_count,
            bytes: body.len() as u64,
        };
        inner.bytes += entry.bytes;
        inner.entries.push_back(entry);
        // Keep the newest batch even when it alone is over the cap.
        while inner.bytes > self.max_bytes && inner.entries.len() > 1 {
            let Some(oldest) = inner.entries.pop_front() else {
                break;
            };
            inner.bytes -= oldest.bytes;
            inner.state.dropped_batches += 1;
            inner.state.dropped_records += oldest.records;
            let _ = std::fs::remove_file(self.dir.join(batch_name(oldest.seq, oldest.records)));
            tracing::warn!(
                seq = oldest.seq,
                records = oldest.records,
                max_mb = self.max_bytes >> 20,
                "Spool full: dropped the oldest batch."
            );
        }
        self.save_state(&inner.state)?;
        drop(inner);
        self.arrived.notify_one();
        Ok(seq)
    }

    /// A batch that never made it into the spool: count it as dropped.
    pub fn count_dropped(&self, records: u64) {
        let mut inner = self.lock();
        inner.state.dropped_batches += 1;
        inner.state.dropped_records += records;
        if let Err(error) = self.save_state(&inner.state) {
            tracing::debug!(%error, "Cannot save the spool state.");
        }
    }

    /// The oldest spooled batch and its body. A file that cannot be read is
    /// counted as dropped and skipped.
    pub fn oldest(&self) -> Option<Pending> {
        loop {
            let entry = *self.lock().entries.front()?;
            let path = self.dir.join(batch_name(entry.seq, entry.records));
            match std::fs::read(&path) {
                Ok(body) => return Some(Pending { entry, body }),
                Err(error) => {
                    tracing::error!(path = %path.display(), %error, "Spooled batch unreadable; dropping it.");
                    self.discard(entry.seq, true);
                }
            }
        }
    }

    /// The aggregator has the batch (or refused it for good): delete it.
    pub fn remove(&self, seq: u64) {
        self.discard(seq, false);
    }

    fn discard(&self, seq: u64, count_as_dropped: bool) {
        let mut inner = self.lock();
        let Some(index) = inner.entries.iter().position(|e| e.seq == seq) else {
            return; // already dropped to make room
        };
        let Some(entry) = inner.entries.remove(index) else {
            return;
        };
        inner.bytes -= entry.bytes;
        if count_as_dropped {
            inner.state.dropped_batches += 1;
            inner.state.dropped_records += entry.records;
            if let Err(error) = self.save_state(&inner.state) {
                tracing::error!(%error, "Cannot save the spool state.");
            }
        }
        let path = self.dir.join(batch_name(entry.seq, entry.records));
        if let Err(error) = std::fs::remove_file(&path)
            && error.kind() != std::io::ErrorKind::NotFound
        {
            tracing::error!(path = %path.display(), %error, "Cannot delete a spooled batch.");
        }
    }

    pub fn is_empty(&self) -> bool {
        self.lock().entries.is_empty()
    }

    pub fn figures(&self) -> SpoolFigures {
        let inner = self.lock();
        SpoolFigures {
            batches: inner.entries.len() as u64,
            bytes: inner.bytes,
            dropped_batches: inner.state.dropped_batches,
            dropped_records: inner.state.dropped_records,
        }
    }

    fn save_state(&self, state: &SpoolState) -> Result<(), SpoolError> {
        let path = self.dir.join(STATE_FILE);
        let json = serde_json::to_vec(state).map_err(|e| SpoolError::Io {
            path: path.clone(),
            source: std::io::Error::other(e),
        })?;
        write_atomically(&path, &json).map_err(io_error(&path))
    }
}

fn batch_name(seq: u64, records: u64) -> String {
    format!("{seq:020}-{records}{BATCH_SUFFIX}")
}

fn parse_batch_name(name: &str) -> Option<(u64, u64)> {
    let stem = name.strip_suffix(BATCH_SUFFIX)?;
    let (seq, records) = stem.split_once('-')?;
    Some((seq.parse().ok()?, records.parse().ok()?))
}

fn new_stream_id() -> String {
    format!("{:016x}{:016x}", fastrand::u64(..), fastrand::u64(..))
}

/// Create `dir` (and parents); the spool itself is readable by the owner only.
fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        builder.mode(0o700);
    }
    builder.create(dir)
}

/// The spool's figures as self-metrics (`agent_spool_*`).
impl Telemetry for Spool {
    fn readings(&self) -> Vec<Reading> {
        let f = self.figures();
        vec![
            Reading::new(
                describe!(
                    "agent_spool",
                    "batches",
                    Gauge,
                    "count",
                    HealthKey::None,
                    "Batches waiting in the spool."
                ),
                f.batches as f64,
            ),
            Reading::new(
                describe!(
                    "agent_spool",
                    "bytes",
                    Gauge,
                    "bytes",
                    HealthKey::None,
                    "Bytes the spool's batches take on disk."
                ),
                f.bytes as f64,
            ),
            Reading::new(
                describe!(
                    "agent_spool",
                    "dropped_batches",
                    Counter,
                    "count",
                    HealthKey::None,
                    "Oldest batches dropped from a full spool."
                ),
                f.dropped_batches as f64,
            ),
            Reading::new(
                describe!(
                    "agent_spool",
                    "dropped_records",
                    Counter,
                    "count",
                    HealthKey::None,
                    "Records in the batches dropped from a full spool."
                ),
                f.dropped_records as f64,
            ),
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn records(n: usize) -> Vec<Record> {
        (0..n)
            .map(|i| {
                Record::Metric(p2pmon_common::wire::MetricRecord {
                    plugin: "agent".to_string(),
                    name: "test_value".to_string(),
                    value: i as f64,
                    unit: "count".to_string(),
                    kind: p2pmon_common::wire::MetricKind::Gauge,
                    tags: Default::default(),
                    timestamp_ms: 1,
                })
            })
            .collect()
    }

    fn decode(body: &[u8]) -> Batch {
        let bytes = zstd::stream::decode_all(body).expect("zstd");
        p2pmon_common::compact::decode(&bytes).expect("compact")
    }

    #[test]
    fn batches_come_out_oldest_first_and_survive_reopening() {
        let dir = tempfile::tempdir().expect("tempdir");
        let spool = Spool::open(dir.path(), 1 << 20).expect("open");
        let stream = spool.stream();
        assert_eq!(spool.push("h1", 10, records(3)).expect("push"), 1);
        assert_eq!(spool.push("h1", 11, records(2)).expect("push"), 2);
        drop(spool);

        let spool = Spool::open(dir.path(), 1 << 20).expect("reopen");
        assert_eq!(spool.stream(), stream, "the stream id is kept");
        let first = spool.oldest().expect("first");
        assert_eq!((first.entry.seq, first.entry.records), (1, 3));
        let batch = decode(&first.body);
        assert_eq!(
            (batch.seq, batch.records.len(), batch.stream.as_str()),
            (1, 3, stream.as_str())
        );
        spool.remove(1);
        assert_eq!(spool.oldest().expect("second").entry.seq, 2);
        spool.remove(2);
        assert!(spool.oldest().is_none());
        assert_eq!(
            spool.push("h1", 12, records(1)).expect("push"),
            3,
            "numbers are not reused"
        );
    }

    #[test]
    fn sequence_numbers_are_not_reused_when_the_state_lags_behind_the_files() {
        let dir = tempfile::tempdir().expect("tempdir");
        let spool = Spool::open(dir.path(), 1 << 20).expect("open");
        spool.push("h1", 1, records(1)).expect("push");
        drop(spool);
        // As if the agent crashed after writing batch 7 but before saving the state.
        std::fs::write(
            dir.path().join(batch_name(7, 1)),
            zstd::bulk::compress(b"{}", 3).expect("zstd"),
        )
        .expect("write");
        std::fs::write(dir.path().join("00000000000000000008-1.zst.tmp"), b"half").expect("write");
        let spool = Spool::open(dir.path(), 1 << 20).expect("reopen");
        assert_eq!(spool.push("h1", 2, records(1)).expect("push"), 8);
        assert!(
            !dir.path().join("00000000000000000008-1.zst.tmp").exists(),
            "partial writes are removed"
        );
    }

    #[test]
    fn a_full_spool_drops_the_oldest_and_counts_it() {
        let dir = tempfile::tempdir().expect("tempdir");
        let spool = Spool::open(dir.path(), 1).expect("open");
        spool.push("h1", 1, records(5)).expect("push");
        spool.push("h1", 2, records(4)).expect("push");
        spool.push("h1", 3, records(3)).expect("push");
        let figures = spool.figures();
        assert_eq!(figures.batches, 1, "only the newest stays");
        assert_eq!((figures.dropped_batches, figures.dropped_records), (2, 9));
        assert_eq!(spool.oldest().expect("newest").entry.seq, 3);
        drop(spool);
        let spool = Spool::open(dir.path(), 1).expect("reopen");
        assert_eq!(
            spool.figures().dropped_records,
            9,
            "drop counts survive restarts"
        );
        let names: Vec<String> = spool
            .readings()
            .iter()
            .map(|r| format!("{}={}", r.describe.metric_name(), r.value))
            .collect();
        assert!(
            names.contains(&"agent_spool_dropped_records=9".to_string()),
            "{names:?}"
        );
    }

    #[test]
    fn a_spool_that_cannot_be_written_reports_the_error() {
        let dir = tempfile::tempdir().expect("tempdir");
        let spool = Spool::open(&dir.path().join("spool"), 1 << 20).expect("open");
        std::fs::remove_dir_all(dir.path().join("spool")).expect("remove");
        let error = spool
            .push("h1", 1, records(2))
            .expect_err("no directory")
            .to_string();
        assert!(error.contains("spool"), "{error}");
        spool.count_dropped(2);
        assert_eq!(
            (
                spool.figures().dropped_batches,
                spool.figures().dropped_records
            ),
            (1, 2)
        );
    }

    #[test]
    fn an_unreadable_batch_is_skipped_and_counted() {
        let dir = tempfile::tempdir().expect("tempdir");
        let spool = Spool::open(dir.path(), 1 << 20).expect("open");
        spool.push("h1", 1, records(2)).expect("push");
        spool.push("h1", 2, records(1)).expect("push");
        std::fs::remove_file(dir.path().join(batch_name(1, 2))).expect("remove");
        assert_eq!(spool.oldest().expect("next").entry.seq, 2);
        assert_eq!(spool.figures().dropped_records, 2);
    }

    #[test]
    fn a_corrupt_state_file_starts_a_new_stream_and_keeps_the_batches() {
        let dir = tempfile::tempdir().expect("tempdir");
        let spool = Spool::open(dir.path(), 1 << 20).expect("open");
        let old_stream = spool.stream();
        spool.push("h1", 1, records(2)).expect("push");
        drop(spool);
        std::fs::write(dir.path().join(STATE_FILE), b"{not json").expect("write");
        let spool = Spool::open(dir.path(), 1 << 20).expect("reopen");
        assert_ne!(spool.stream(), old_stream);
        assert!(
            dir.path().join("state.json.corrupt").is_file(),
            "kept for inspection"
        );
        let kept = spool.oldest().expect("the old batch is still there");
        assert_eq!(
            decode(&kept.body).stream,
            old_stream,
            "sent under its own stream"
        );
        assert_eq!(spool.push("h1", 2, records(1)).expect("push"), 2);
    }
}
