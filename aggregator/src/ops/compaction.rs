//! `store stats` and `store compact`: what the embedded store holds and how
//! compactly, and sealing and compaction run to the end now (what the
//! aggregator does in the background; on a store written by an older
//! version, this is its migration, with progress). Both work on the file,
//! with or without a running aggregator: every step is its own transaction.

use rusqlite::Connection;

use super::OpsError;
use crate::clock::now_ms;
use crate::config::AggregatorConfig;
use crate::store::chunks::{self, ChunkStats, GRACE_MS};
use crate::store::schema;

/// Points per transaction of `store compact`.
const STEP_POINTS: u64 = 200_000;

/// The store's figures now (counting the head's rows: a read of the file).
pub fn stats(config: &AggregatorConfig) -> Result<ChunkStats, OpsError> {
    let path = config.store_path();
    if !path.exists() {
        return Err(OpsError::Refused(format!(
            "no store at {} (nothing stored yet, or another data_dir)",
            path.display()
        )));
    }
    let conn = schema::open_read_only(&path)?;
    Ok(chunks::stats(&conn, now_ms())?)
}

/// What `store compact` did.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct CompactReport {
    pub sealed_points: u64,
    pub chunks_written: u64,
    pub chunks_merged: u64,
}

/// Seal every closed window and compact every closed day, saying how far
/// it got every step.
pub fn compact(
    config: &AggregatorConfig,
    say: &mut dyn FnMut(&str),
) -> Result<CompactReport, OpsError> {
    let mut conn = schema::open(&config.store_path())?;
    compact_conn(&mut conn, now_ms(), say)
}

/// [`compact`] on an open connection at `now_ms`.
pub fn compact_conn(
    conn: &mut Connection,
    now_ms: i64,
    say: &mut dyn FnMut(&str),
) -> Result<CompactReport, OpsError> {
    let before = now_ms - GRACE_MS;
    let head = chunks::stats(conn, now_ms)?.head_points;
    let mut report = CompactReport::default();
    let mut after = 0;
    loop {
        let sealed = chunks::seal(conn, before, after, STEP_POINTS)?;
        report.sealed_points += sealed.points;
        report.chunks_written += sealed.chunks;
        if sealed.points > 0 {
            say(&format!(
                "sealed {} of {head} head points into {} chunks",
                report.sealed_points, report.chunks_written
            ));
        }
        match sealed.resume_after {
            Some(next) => after = next,
            None => break,
        }
    }
    after = 0;
    loop {
        let done = chunks::compact(conn, before, after, STEP_POINTS)?;
        report.chunks_merged += done.chunks_in;
        if done.chunks_in > 0 {
            say(&format!(
                "compacted {} chunks into day chunks",
                report.chunks_merged
            ));
        }
        match done.resume_after {
            Some(next) => after = next,
            None => break,
        }
    }
    Ok(report)
}
