//! Batching and writing. Actors send records to the batcher over a bounded
//! channel (a full channel makes the actor wait: records are never dropped
//! here); the batcher cuts a batch at `batch_size` records or every
//! `flush_interval`, adds the agent's self-metrics, and writes it to the sink.
//! Until the transport to the aggregator exists, the sink is stdout or a file.

use std::io::Write;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc;

use crate::config::OutputFormat;
use crate::runtime::system::unix_ms;
use crate::stats::PluginStats;
use p2pmon_common::wire::{Batch, Record};

/// Where batches go.
pub struct Sink {
    writer: Box<dyn Write + Send>,
    format: OutputFormat,
}

impl Sink {
    pub fn new(writer: Box<dyn Write + Send>, format: OutputFormat) -> Self {
        Self { writer, format }
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

    pub fn write_batch(&mut self, batch: &Batch) -> std::io::Result<()> {
        match self.format {
            OutputFormat::Json => {
                serde_json::to_writer(&mut self.writer, batch)?;
                self.writer.write_all(b"\n")?;
            }
            OutputFormat::Text => {
                writeln!(
                    self.writer,
                    "-- batch {} from {}: {} records",
                    batch.seq,
                    batch.host_id,
                    batch.records.len()
                )?;
                for record in &batch.records {
                    writeln!(self.writer, "{}", record.to_text())?;
                }
            }
        }
        self.writer.flush()
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
/// left. Self-metrics of `plugins` are added at every timed flush and at the end.
pub async fn run_batcher(
    settings: BatcherSettings,
    mut sink: Sink,
    mut records: mpsc::Receiver<Vec<Record>>,
    plugins: Vec<(Arc<str>, Arc<PluginStats>)>,
) -> std::io::Result<u64> {
    let mut pending: Vec<Record> = Vec::with_capacity(settings.batch_size);
    let mut seq: u64 = 0;
    let mut ticker = tokio::time::interval(settings.flush_interval);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    ticker.tick().await;

    let mut flush = |pending: &mut Vec<Record>, sink: &mut Sink| -> std::io::Result<()> {
        while !pending.is_empty() {
            let take = pending.len().min(settings.batch_size);
            seq += 1;
            let batch = Batch {
                host_id: settings.host_id.clone(),
                stream: String::new(),
                seq,
                created_ms: unix_ms(),
                records: pending.drain(..take).collect(),
            };
            sink.write_batch(&batch)?;
        }
        Ok(())
    };
    let self_metrics = |pending: &mut Vec<Record>| {
        let now = unix_ms();
        for (name, stats) in &plugins {
            pending.extend(stats.to_records(name, now));
        }
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
                self_metrics(&mut pending);
                flush(&mut pending, &mut sink)?;
            }
        }
    }
    self_metrics(&mut pending);
    flush(&mut pending, &mut sink)?;
    Ok(seq)
}
