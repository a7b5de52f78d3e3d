//! Rollups of closed days as chunks (see docs/internals/store.md,
//! "Version 2: chunks"): 1 min rollups a chunk per day, 1 h rollups a
//! chunk per 10 days.
//!
//! At 5 s collection a `rollup_1m` row (series, bucket, min, max, sum,
//! count; about 45 bytes) costs more per raw point than the raw point's
//! chunk. When compaction merges a series' closed day ([`super::chunks::compact`]),
//! the day's minute rows go into one `rollup_chunks` row in the same
//! transaction: four `p2pmon_chunks` columns (bucket with min, max, sum and
//! count), so nearly all of it is the values. Late points for a folded day
//! add a `rollup_1m` row again; reads merge rows and chunks bucket by
//! bucket, and the day is folded again when its late chunk is compacted.
//!
//! The 1 h rollups are few per point (24 rows a series a day), but a 30-day
//! chart of 1,000 series read them as 720,000 rows. Compaction folds every
//! hour row of closed days into its series' chunk of that 10-day span
//! ([`fold_before`]), so the chart reads a few blobs a series.

use rusqlite::{Connection, Transaction, params};

use super::StoreError;

/// The frames of a rollup chunk. `PCO`: four length-prefixed
/// `p2pmon_chunks` chunks (min, max, sum, count, each keyed by bucket), the
/// fewest bytes, for minute rollups. `PLAIN`: the bucket count (u32 LE),
/// then five little-endian columns of 8-byte numbers (bucket, min, max,
/// sum, count): no decoder to set up, for hour rollups, which a 30-day chart
/// reads by the thousand; 40 bytes a bucket, about 0.06 a raw point at 5 s.
const PCO: u8 = 1;
const PLAIN: u8 = 2;

/// One bucket: (bucket, min, max, sum, count).
pub type Bucket = (i64, f64, f64, f64, i64);

fn invalid(series: i64, what: impl std::fmt::Display) -> StoreError {
    StoreError::Invalid(format!("rollup chunk of series {series}: {what}"))
}

/// `buckets` (sorted by bucket, one each) as one blob of frame `frame`.
fn encode(frame: u8, series: i64, buckets: &[Bucket]) -> Result<Vec<u8>, StoreError> {
    if frame == PLAIN {
        encode_plain(series, buckets)
    } else {
        encode_pco(series, buckets)
    }
}

fn encode_plain(series: i64, buckets: &[Bucket]) -> Result<Vec<u8>, StoreError> {
    let count = u32::try_from(buckets.len()).map_err(|_| invalid(series, "too many buckets"))?;
    let mut out = Vec::with_capacity(5 + 40 * buckets.len());
    out.push(PLAIN);
    out.extend_from_slice(&count.to_le_bytes());
    out.extend(buckets.iter().flat_map(|b| b.0.to_le_bytes()));
    out.extend(buckets.iter().flat_map(|b| b.1.to_le_bytes()));
    out.extend(buckets.iter().flat_map(|b| b.2.to_le_bytes()));
    out.extend(buckets.iter().flat_map(|b| b.3.to_le_bytes()));
    out.extend(buckets.iter().flat_map(|b| b.4.to_le_bytes()));
    Ok(out)
}

fn encode_pco(series: i64, buckets: &[Bucket]) -> Result<Vec<u8>, StoreError> {
    let times: Vec<i64> = buckets.iter().map(|b| b.0).collect();
    let columns: [Vec<f64>; 4] = [
        buckets.iter().map(|b| b.1).collect(),
        buckets.iter().map(|b| b.2).collect(),
        buckets.iter().map(|b| b.3).collect(),
        buckets.iter().map(|b| b.4 as f64).collect(),
    ];
    let mut out = vec![PCO];
    for column in &columns {
        let chunk = p2pmon_chunks::encode(p2pmon_chunks::Config::default(), &times, column)
            .map_err(|e| invalid(series, e))?;
        out.extend_from_slice(&(chunk.len() as u32).to_le_bytes());
        out.extend_from_slice(&chunk);
    }
    Ok(out)
}

/// The buckets of a blob made by [`encode`], whichever its frame.
pub fn decode(series: i64, data: &[u8]) -> Result<Vec<Bucket>, StoreError> {
    match data.split_first() {
        Some((&PCO, rest)) => decode_pco(series, rest),
        Some((&PLAIN, rest)) => decode_plain(series, rest),
        _ => Err(invalid(series, "unknown frame")),
    }
}

fn decode_plain(series: i64, data: &[u8]) -> Result<Vec<Bucket>, StoreError> {
    let (count, columns) = data
        .split_first_chunk::<4>()
        .ok_or_else(|| invalid(series, "truncated"))?;
    let n = u32::from_le_bytes(*count) as usize;
    if n.checked_mul(40) != Some(columns.len()) {
        return Err(invalid(series, "its length disagrees with its count"));
    }
    let column = |i: usize| {
        columns[i * 8 * n..(i + 1) * 8 * n]
            .chunks_exact(8)
            .map(|b| <[u8; 8]>::try_from(b).unwrap_or_default())
    };
    Ok(column(0)
        .zip(column(1))
        .zip(column(2))
        .zip(column(3))
        .zip(column(4))
        .map(|((((t, min), max), sum), count)| {
            (
                i64::from_le_bytes(t),
                f64::from_le_bytes(min),
                f64::from_le_bytes(max),
                f64::from_le_bytes(sum),
                i64::from_le_bytes(count),
            )
        })
        .collect())
}

fn decode_pco(series: i64, mut rest: &[u8]) -> Result<Vec<Bucket>, StoreError> {
    let mut columns = Vec::with_capacity(4);
    for _ in 0..4 {
        let (len, tail) = rest
            .split_first_chunk::<4>()
            .ok_or_else(|| invalid(series, "truncated"))?;
        let len = u32::from_le_bytes(*len) as usize;
        let chunk = tail
            .get(..len)
            .ok_or_else(|| invalid(series, "truncated"))?;
        columns.push(p2pmon_chunks::decode(chunk).map_err(|e| invalid(series, e))?);
        rest = &tail[len..];
    }
    let n = columns[0].timestamps.len();
    if columns
        .iter()
        .any(|c| c.timestamps != columns[0].timestamps)
        || !rest.is_empty()
    {
        return Err(invalid(series, "columns disagree"));
    }
    Ok((0..n)
        .map(|i| {
            (
                columns[0].timestamps[i],
                columns[0].values[i],
                columns[1].values[i],
                columns[2].values[i],
                columns[3].values[i] as i64,
            )
        })
        .collect())
}

/// Merge `b` into `a` (the same bucket).
fn add(a: &mut Bucket, b: &Bucket) {
    a.1 = a.1.min(b.1);
    a.2 = a.2.max(b.2);
    a.3 += b.3;
    a.4 += b.4;
}

/// Sorted by bucket, one entry per bucket.
fn merged(mut buckets: Vec<Bucket>) -> Vec<Bucket> {
    buckets.sort_by_key(|b| b.0);
    let mut out: Vec<Bucket> = Vec::with_capacity(buckets.len());
    for bucket in buckets {
        match out.last_mut() {
            Some(last) if last.0 == bucket.0 => add(last, &bucket),
            _ => out.push(bucket),
        }
    }
    out
}

/// A rollup tier kept as rows (the open day, late points) and as chunks
/// (closed days): its two tables and the span one chunk covers.
#[derive(Clone, Copy, Debug)]
pub struct RollupTier {
    rows: &'static str,
    chunks: &'static str,
    /// How its chunks are written ([`PCO`] or [`PLAIN`]); any is read.
    frame: u8,
    /// A chunk holds the buckets of one span (aligned to the epoch).
    span_ms: i64,
}

const DAY_MS: i64 = 86_400_000;

/// 1 min rollups: a chunk per series and day (1,440 buckets).
pub const MINUTE: RollupTier = RollupTier {
    rows: "rollup_1m",
    chunks: "rollup_chunks",
    frame: PCO,
    span_ms: DAY_MS,
};

/// 1 h rollups: a chunk per series and 10 days (240 buckets, plain), so
/// that a 30-day chart reads about four small blobs a series and retention,
/// which drops whole chunks, keeps at most 10 days more than asked.
pub const HOUR: RollupTier = RollupTier {
    rows: "rollup_1h",
    chunks: "rollup_1h_chunks",
    frame: PLAIN,
    span_ms: 10 * DAY_MS,
};

/// Fold `series`' `tier` rows with `span <= bucket < rows_end` and its
/// chunks of that span (the span that holds `span`) into one chunk, in
/// `tx`; what the span held before (those rows and chunks) is deleted. The
/// buckets folded.
pub fn fold(
    tx: &Transaction<'_>,
    tier: RollupTier,
    series: i64,
    span: i64,
    rows_end: i64,
) -> Result<u64, StoreError> {
    let span = span - span.rem_euclid(tier.span_ms);
    let end = span + tier.span_ms;
    let rows_end = rows_end.min(end);
    let mut buckets: Vec<Bucket> = tx
        .prepare_cached(&format!(
            "SELECT bucket, min, max, sum, count FROM {}
              WHERE series_id = ?1 AND bucket >= ?2 AND bucket < ?3",
            tier.rows
        ))?
        .query_map(params![series, span, rows_end], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?))
        })?
        .collect::<Result<_, _>>()?;
    let old: Vec<(i64, Vec<u8>)> = tx
        .prepare_cached(&format!(
            "SELECT id, data FROM {} WHERE series_id = ?1 AND start_ts >= ?2 AND start_ts < ?3",
            tier.chunks
        ))?
        .query_map(params![series, span, end], |r| Ok((r.get(0)?, r.get(1)?)))?
        .collect::<Result<_, _>>()?;
    if buckets.is_empty() && old.len() <= 1 {
        return Ok(0);
    }
    for (_, data) in &old {
        buckets.extend(decode(series, data)?);
    }
    let buckets = merged(buckets);
    let data = encode(tier.frame, series, &buckets)?;
    let mut delete = tx.prepare_cached(&format!("DELETE FROM {} WHERE id = ?1", tier.chunks))?;
    for (id, _) in &old {
        delete.execute([id])?;
    }
    tx.prepare_cached(&format!(
        "DELETE FROM {} WHERE series_id = ?1 AND bucket >= ?2 AND bucket < ?3",
        tier.rows
    ))?
    .execute(params![series, span, rows_end])?;
    tx.prepare_cached(&format!(
        "INSERT INTO {} (series_id, start_ts, end_ts, count, data) VALUES (?1, ?2, ?3, ?4, ?5)",
        tier.chunks
    ))?
    .execute(params![
        series,
        buckets[0].0,
        buckets[buckets.len() - 1].0,
        buckets.len() as i64,
        data
    ])?;
    Ok(buckets.len() as u64)
}

/// Fold every span of `series`' `tier` rows before `cut` (a day boundary)
/// into its chunk, in `tx`: the hour rows of days just closed, an older
/// store's rows, late points' rows. The buckets folded.
pub fn fold_before(
    tx: &Transaction<'_>,
    tier: RollupTier,
    series: i64,
    cut: i64,
) -> Result<u64, StoreError> {
    let mut spans: Vec<i64> = tx
        .prepare_cached(&format!(
            "SELECT bucket FROM {} WHERE series_id = ?1 AND bucket < ?2 ORDER BY bucket",
            tier.rows
        ))?
        .query_map(params![series, cut], |r| r.get::<_, i64>(0))?
        .map(|b| b.map(|b| b - b.rem_euclid(tier.span_ms)))
        .collect::<Result<_, _>>()?;
    spans.dedup();
    let mut folded = 0;
    for span in spans {
        folded += fold(tx, tier, series, span, cut)?;
    }
    Ok(folded)
}

/// Whether the store has `tier`'s chunk table (a schema-1 store opened
/// read-only has not).
pub fn has_chunks(conn: &Connection, tier: RollupTier) -> Result<bool, StoreError> {
    super::has_table(conn, tier.chunks)
}

/// The `tier` rollups of `series` with `from_ms <= bucket <= to_ms`, from
/// rows and chunks (`chunks`: whether the table exists, [`has_chunks`]),
/// one per bucket, in order.
pub fn buckets(
    conn: &Connection,
    tier: RollupTier,
    chunks: bool,
    series: i64,
    from_ms: i64,
    to_ms: i64,
) -> Result<Vec<Bucket>, StoreError> {
    let mut buckets: Vec<Bucket> = conn
        .prepare_cached(&format!(
            "SELECT bucket, min, max, sum, count FROM {}
              WHERE series_id = ?1 AND bucket >= ?2 AND bucket <= ?3 ORDER BY bucket",
            tier.rows
        ))?
        .query_map(params![series, from_ms, to_ms], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?))
        })?
        .collect::<Result<_, _>>()?;
    if !chunks {
        return Ok(buckets);
    }
    let mut folded = false;
    let mut statement = conn.prepare_cached(&format!(
        "SELECT data FROM {}
          WHERE series_id = ?1 AND end_ts >= ?2 AND start_ts <= ?3 ORDER BY start_ts",
        tier.chunks
    ))?;
    let mut rows = statement.query(params![series, from_ms, to_ms])?;
    while let Some(row) = rows.next()? {
        let data = row.get_ref(0)?.as_blob().map_err(|e| invalid(series, e))?;
        buckets.extend(
            decode(series, data)?
                .into_iter()
                .filter(|b| (from_ms..=to_ms).contains(&b.0)),
        );
        folded = true;
    }
    Ok(if folded { merged(buckets) } else { buckets })
}

/// The 1 min rollups of `series` with `from_ms <= bucket <= to_ms`
/// ([`buckets`] of [`MINUTE`]).
pub fn minute_buckets(
    conn: &Connection,
    series: i64,
    from_ms: i64,
    to_ms: i64,
) -> Result<Vec<Bucket>, StoreError> {
    let chunks = has_chunks(conn, MINUTE)?;
    buckets(conn, MINUTE, chunks, series, from_ms, to_ms)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_round_trip_and_merge() {
        let buckets: Vec<Bucket> = (0..1_440)
            .map(|i| {
                let v = (i % 90) as f64 / 3.0;
                (i * 60_000, v - 1.0, v + 1.0, v * 12.0, 12)
            })
            .collect();
        let data = encode(PCO, 7, &buckets).expect("encode");
        assert!(data.len() < 1_440 * 8, "{} bytes", data.len());
        assert_eq!(decode(7, &data).expect("decode"), buckets);
        assert!(decode(7, &data[..data.len() - 1]).is_err());
        assert!(decode(7, &[9]).is_err());
        let mut odd = buckets[..240].to_vec();
        odd[3] = (odd[3].0, f64::NAN, f64::INFINITY, -0.0, i64::MAX);
        let plain = encode(PLAIN, 7, &odd).expect("plain");
        assert_eq!(plain.len(), 5 + 240 * 40);
        let back = decode(7, &plain).expect("decode plain");
        assert_eq!(format!("{back:?}"), format!("{odd:?}"), "bit for bit");
        assert!(decode(7, &plain[..plain.len() - 1]).is_err());
        let mut longer = plain.clone();
        longer.push(0);
        assert!(decode(7, &longer).is_err());
        assert!(decode(7, &plain[..3]).is_err());
        assert!(decode(7, &[PLAIN, 255, 255, 255, 255]).is_err());
        let both = merged(vec![
            (60, 1.0, 2.0, 3.0, 2),
            (0, 5.0, 5.0, 5.0, 1),
            (60, 0.5, 1.5, 1.0, 1),
        ]);
        assert_eq!(both, [(0, 5.0, 5.0, 5.0, 1), (60, 0.5, 2.0, 4.0, 3)]);
    }
}
