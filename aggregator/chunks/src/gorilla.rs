//! The Gorilla-style codec: delta-of-delta timestamps and XOR floats (the
//! paper's section 4.1), with two changes of ours: the widths of the
//! integer buckets come from one of [`TABLES`], chosen per column for the
//! fewest bits, and decimal mantissas are written as deltas or deltas of
//! deltas, whichever is smaller for the chunk.

use crate::bits::{BitReader, BitWriter, unzigzag, width, zigzag};
use crate::{ChunkError, Values};

/// Bucket widths for zigzagged integers. A zero costs one bit `0`; bucket
/// `k` is `k + 1` ones, a zero (not after the last), then its bits. The
/// first table is the paper's for timestamps, widened to 64 bits at the end.
const TABLES: [[u32; 5]; 4] = [
    [7, 9, 12, 32, 64],
    [4, 8, 16, 32, 64],
    [2, 6, 12, 24, 64],
    [10, 16, 24, 40, 64],
];

fn bucket(z: u64, table: &[u32; 5]) -> usize {
    let w = width(z);
    table.iter().position(|&t| w <= t).unwrap_or(4)
}

fn cost(zs: &[u64], table: &[u32; 5]) -> u64 {
    zs.iter()
        .map(|&z| {
            if z == 0 {
                1
            } else {
                let k = bucket(z, table);
                (k as u64 + 2).min(5) + u64::from(table[k])
            }
        })
        .sum()
}

/// The cheapest table for `zs` and its cost in bits (with the 2-bit tag).
fn best_table(zs: &[u64]) -> (usize, u64) {
    (0..TABLES.len())
        .map(|t| (t, cost(zs, &TABLES[t]) + 2))
        .min_by_key(|&(_, c)| c)
        .unwrap_or((0, 2))
}

fn write_ints(w: &mut BitWriter, zs: &[u64], table: usize) {
    w.write(table as u64, 2);
    let widths = &TABLES[table];
    for &z in zs {
        if z == 0 {
            w.bit(false);
            continue;
        }
        let k = bucket(z, widths);
        for _ in 0..=k {
            w.bit(true);
        }
        if k < 4 {
            w.bit(false);
        }
        w.write(z, widths[k]);
    }
}

fn read_ints(r: &mut BitReader, n: usize) -> Result<Vec<u64>, ChunkError> {
    let widths = &TABLES[r.read(2)? as usize];
    let mut out = Vec::with_capacity(n);
    for _ in 0..n {
        let mut ones = 0;
        while ones < 5 && r.bit()? {
            ones += 1;
        }
        out.push(match ones {
            0 => 0,
            k => r.read(widths[k - 1])?,
        });
    }
    Ok(out)
}

/// Zigzagged deltas (`order` 1) or deltas of deltas (`order` 2) after the
/// first, with wrapping arithmetic.
fn differences(xs: &[i64], order: u32) -> Vec<u64> {
    let mut out = Vec::with_capacity(xs.len().saturating_sub(1));
    let mut prev_delta = 0i64;
    for pair in xs.windows(2) {
        let delta = pair[1].wrapping_sub(pair[0]);
        out.push(zigzag(if order == 1 {
            delta
        } else {
            delta.wrapping_sub(prev_delta)
        }));
        prev_delta = delta;
    }
    out
}

fn integrate(first: i64, zs: &[u64], order: u32) -> Vec<i64> {
    let mut out = Vec::with_capacity(zs.len() + 1);
    out.push(first);
    let mut prev = first;
    let mut delta = 0i64;
    for &z in zs {
        let d = unzigzag(z);
        delta = if order == 1 { d } else { delta.wrapping_add(d) };
        prev = prev.wrapping_add(delta);
        out.push(prev);
    }
    out
}

fn write_floats(w: &mut BitWriter, values: &[f64]) {
    let Some(first) = values.first() else {
        return;
    };
    let mut prev = first.to_bits();
    w.write(prev, 64);
    let mut window: Option<(u32, u32)> = None;
    for v in &values[1..] {
        let bits = v.to_bits();
        let x = bits ^ prev;
        prev = bits;
        if x == 0 {
            w.bit(false);
            continue;
        }
        w.bit(true);
        let lead = x.leading_zeros().min(31);
        let trail = x.trailing_zeros();
        match window {
            Some((l, t)) if lead >= l && trail >= t => {
                w.bit(false);
                w.write(x >> t, 64 - l - t);
            }
            _ => {
                w.bit(true);
                let len = 64 - lead - trail;
                w.write(u64::from(lead), 5);
                w.write(u64::from(len - 1), 6);
                w.write(x >> trail, len);
                window = Some((lead, trail));
            }
        }
    }
}

fn read_floats(r: &mut BitReader, n: usize) -> Result<Vec<f64>, ChunkError> {
    let mut out = Vec::with_capacity(n);
    let mut prev = r.read(64)?;
    out.push(f64::from_bits(prev));
    let mut window: Option<(u32, u32)> = None;
    for _ in 1..n {
        if r.bit()? {
            let (lead, trail) = match (r.bit()?, window) {
                (false, Some(w)) => w,
                (false, None) => return Err(ChunkError::Truncated),
                (true, _) => {
                    let lead = r.read(5)? as u32;
                    let len = r.read(6)? as u32 + 1;
                    if lead + len > 64 {
                        return Err(ChunkError::Truncated);
                    }
                    let w = (lead, 64 - lead - len);
                    window = Some(w);
                    w
                }
            };
            prev ^= r.read(64 - lead - trail)? << trail;
        }
        out.push(f64::from_bits(prev));
    }
    Ok(out)
}

pub(crate) fn encode(timestamps: &[i64], values: &Values, out: &mut Vec<u8>) {
    let mut w = BitWriter::new();
    w.write(timestamps[0] as u64, 64);
    let zs = differences(timestamps, 2);
    write_ints(&mut w, &zs, best_table(&zs).0);
    match values {
        Values::Floats(v) => write_floats(&mut w, v),
        Values::Decimal { mantissas, .. } => {
            w.write(mantissas[0] as u64, 64);
            let (order, zs, table) = [1, 2]
                .into_iter()
                .map(|order| {
                    let zs = differences(mantissas, order);
                    let (table, cost) = best_table(&zs);
                    (cost, order, zs, table)
                })
                .min_by_key(|c| c.0)
                .map(|(_, order, zs, table)| (order, zs, table))
                .unwrap_or_default();
            w.bit(order == 2);
            write_ints(&mut w, &zs, table);
        }
    }
    out.extend_from_slice(&w.into_bytes());
}

pub(crate) fn decode(
    payload: &[u8],
    count: usize,
    exponent: Option<u8>,
) -> Result<(Vec<i64>, Values), ChunkError> {
    let mut r = BitReader::new(payload);
    let first = r.read(64)? as i64;
    let zs = read_ints(&mut r, count - 1)?;
    let timestamps = integrate(first, &zs, 2);
    let values = match exponent {
        None => Values::Floats(read_floats(&mut r, count)?),
        Some(exponent) => {
            let first = r.read(64)? as i64;
            let order = if r.bit()? { 2 } else { 1 };
            let zs = read_ints(&mut r, count - 1)?;
            Values::Decimal {
                exponent,
                mantissas: integrate(first, &zs, order),
            }
        }
    };
    Ok((timestamps, values))
}
