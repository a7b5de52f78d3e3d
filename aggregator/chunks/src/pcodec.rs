//! The pco codec: each column through `pco`'s standalone format, which
//! picks delta orders and float modes (such as multiples of a decimal) by
//! itself. Payload: the timestamp column's length (LEB128), the timestamp
//! column, the value column (f64, or i64 mantissas after the pre-pass).

use pco::ChunkConfig;
use pco::standalone::{simple_compress, simple_decompress};

use crate::{ChunkError, Values, get_varint, put_varint};

fn pco_error(error: pco::errors::PcoError) -> ChunkError {
    ChunkError::Pco(error.to_string())
}

pub(crate) fn encode(
    timestamps: &[i64],
    values: &Values,
    out: &mut Vec<u8>,
) -> Result<(), ChunkError> {
    let config = ChunkConfig::default();
    let ts = simple_compress(timestamps, &config).map_err(pco_error)?;
    put_varint(out, ts.len() as u64);
    out.extend_from_slice(&ts);
    let column = match values {
        Values::Floats(v) => simple_compress(v, &config),
        Values::Decimal { mantissas, .. } => simple_compress(mantissas, &config),
    }
    .map_err(pco_error)?;
    out.extend_from_slice(&column);
    Ok(())
}

pub(crate) fn decode(
    payload: &[u8],
    exponent: Option<u8>,
) -> Result<(Vec<i64>, Values), ChunkError> {
    let mut pos = 0;
    let len = get_varint(payload, &mut pos)? as usize;
    let end = pos.checked_add(len).ok_or(ChunkError::Truncated)?;
    let ts_bytes = payload.get(pos..end).ok_or(ChunkError::Truncated)?;
    let timestamps = simple_decompress::<i64>(ts_bytes).map_err(pco_error)?;
    let rest = &payload[end..];
    let values = match exponent {
        None => Values::Floats(simple_decompress::<f64>(rest).map_err(pco_error)?),
        Some(exponent) => Values::Decimal {
            exponent,
            mantissas: simple_decompress::<i64>(rest).map_err(pco_error)?,
        },
    };
    Ok((timestamps, values))
}
