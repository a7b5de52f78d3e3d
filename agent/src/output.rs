//! Batching and writing. Actors send records to the batcher over a bounded
//! channel (a full channel makes the actor wait: records are never dropped
//! here); the batcher cuts a batch at `batch_size` records or every
//! `flush_interval`, adds the agent's self-metrics, and writes it to the sink:
//! stdout or a file, or the spool that the transport sends to the aggregator.

use std::io::Write;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc;

use crate::config::OutputFormat;
use crate::runtime::system::unix_ms;
use crate::stats::SelfMetrics;
use crate::transport::{Handles, Transport};
use p2pmon_common::wire::{Batch, Record};

/// Where batches go.
pub struct Sink {
    target: Target,
}

enum Target {
    Writer {
        writer: Box<dyn Write + Send>,
        format: OutputFormat,
        /// Numbering of written batches (the spool numbers its own).
        seq: u64,
    },
    Spool(Handles),
}

impl Sink {
    pub fn new(writer: Box<dyn Write + Send>, format: OutputFormat) -> Self {
        Self {
            target: Target::Writer {
                writer,
                format,
                seq: 0,
            },
        }
    }

    /// Batches go to the transport's spool, without the metrics the
    /// aggregator does not collect.
    pub fn spool(transport: &Transport) -> Self {
        Self {
            target: Target::Spool(transport.handles.clone()),
        }
    }

    /// The transport behind a spool sink, for the self-metrics.
    pub fn transport(&self) -> Option<Handles> {
        match &self.target {
            Target::Spool(handles) => Some(handles.clone()),
            Target::Writer { .. } => None,
        }
    }

    pub fn stdout(format: OutputFormat) -> Self {
        Self::new(Box::new(std::io::stdout()), format)
    }

    /// Append to `path`, creating it if needed.
    pub fn file(path: &std::path::Path, format: OutputFormat) -> std::io::Result<Self> {
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)?;
        Ok(Self::new(Box::new(std::io::BufWriter::new(file)), format))
    }

    /// Write one batch of `records` from `host_id`.
    fn write(&mut self, host_id: &str, records: Vec<Record>) -> std::io::Result<()> {
        match &mut self.target {
            Target::Writer { seq, .. } => {
                *seq += 1;
                let batch = Batch {
                    host_id: host_id.to_string(),
                    stream: String::new(),
                    seq: *seq,
                    created_ms: unix_ms(),
                    records,
                };
                self.write_batch(&batch)
            }
            Target::Spool(Handles {
                spool, collection, ..
            }) => {
                let mut records = records;
                collection.retain(&mut records);
                if records.is_empty() {
                    return Ok(());
                }
                // A spool that cannot be written (disk full, directory gone)
                // costs this batch, counted as dropped; collection goes on.
                let count = records.len() as u64;
                if let Err(error) = spool.push(host_id, unix_ms(), records) {
                    tracing::error!(%error, records = count, "Cannot spool a batch; dropped it.");
                    spool.count_dropped(count);
                }
                Ok(())
            }
        }
    }

    pub fn is_spool(&self) -> bool {
        matches!(self.target, Target::Spool(_))
    }

    /// Write a numbered batch to a writer sink (the spool numbers its own).
    pub fn write_batch(&mut self, batch: &Batch) -> std::io::Result<()> {
        let Target::Writer { writer, format, .. } = &mut self.target else {
            return Err(std::io::Error::other("write_batch on a spool sink"));
        };
        match format {
            OutputFormat::Json => {
                serde_json::to_writer(&mut *writer, batch)?;
                writer.write_all(b"\n")?;
            }
            OutputFormat::Text => {
                writeln!(
                    writer,
                    "-- batch {} from {}: {} records",
                    batch.seq,
                    batch.host_id,
                    batch.records.len()
                )?;
                for record in &batch.records {
                    writeln!(writer, "{}", record.to_text())?;
                }
            }
        }
        writer.flush()
    }
}

/// Settings of the batcher.
pub struct BatcherSettings {
    pub host_id: String,
    pub batch_size: usize,
    pub flush_interval: Duration,
}

/// Receive records until every sender is gone (the actors stop on shutdown,
/// after finishing and sending the call in progress), then flush what is
/// left. The agent's self-metrics are added at every timed flush and at the
/// end. Returns the number of batches written.
pub async fn run_batcher(
    settings: BatcherSettings,
    mut sink: Sink,
    mut records: mpsc::Receiver<Vec<Record>>,
    self_metrics: Arc<SelfMetrics>,
) -> std::io::Result<u64> {
    let mut pending: Vec<Record> = Vec::with_capacity(settings.batch_size);
    let mut batches: u64 = 0;
    let mut ticker = tokio::time::interval(settings.flush_interval);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    ticker.tick().await;

    let mut flush = |pending: &mut Vec<Record>, sink: &mut Sink| -> std::io::Result<()> {
        while !pending.is_empty() {
            let take = pending.len().min(settings.batch_size);
            let records: Vec<Record> = pending.drain(..take).collect();
            sink.write(&settings.host_id, records)?;
            batches += 1;
        }
        Ok(())
    };
    let add_self_metrics = |pending: &mut Vec<Record>| {
        pending.extend(self_metrics.to_records(unix_ms()));
    };

    loop {
        tokio::select! {
            received = records.recv() => match received {
                Some(batch) => {
                    pending.extend(batch);
                    if pending.len() >= settings.batch_size {
                        flush(&mut pending, &mut sink)?;
                    }
                }
                None => break,
            },
            _ = ticker.tick() => {
                add_self_metrics(&mut pending);
                flush(&mut pending, &mut sink)?;
            }
        }
    }
    add_self_metrics(&mut pending);
    flush(&mut pending, &mut sink)?;
    Ok(batches)
}
