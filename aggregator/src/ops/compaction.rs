//! `store stats` and `store compact`: what the embedded store holds and how
//! compactly, and sealing and compaction run to the end now (what the
//! aggregator does in the background; on a store written by an older
//! version, this is its migration, with progress). Both work on the file,
//! with or without a running aggregator: every step is its own transaction.

use super::OpsError;
use crate::clock::now_ms;
use crate::config::AggregatorConfig;
use crate::store::chunks::{self, ChunkStats};
use crate::store::schema;
use crate::store::upkeep::{self, CatchUp};

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

/// Seal every closed window and compact every closed day, saying how far
/// it got every step ([`upkeep::catch_up`]).
pub fn compact(config: &AggregatorConfig, say: &mut dyn FnMut(&str)) -> Result<CatchUp, OpsError> {
    let mut conn = schema::open(&config.store_path())?;
    Ok(upkeep::catch_up(&mut conn, now_ms(), say)?)
}
