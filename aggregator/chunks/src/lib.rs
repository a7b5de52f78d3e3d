//! A series' points as one compressed, versioned block: the chunk.
//!
//! Two codecs share one frame, so a store can hold both and read either:
//!
//! - [`Codec::Gorilla`]: timestamps as delta-of-delta and values as the XOR
//!   of consecutive IEEE 754 bit patterns, after Facebook's Gorilla paper
//!   (Pelkonen et al., VLDB 2015, section 4.1), written here from that
//!   description. Bucket widths are picked per chunk from a few tables.
//! - [`Codec::Pco`]: both columns through the `pco` crate (numeric
//!   compression with automatic delta orders and float modes).
//!
//! Either can run after a decimal pre-pass ([`Config::decimal`]): when every
//! value of a chunk is exactly `m / 10^e` for integers `m` of at most 53
//! bits and one `e` up to [`MAX_EXPONENT`] (small integers, two-decimal
//! percentages, counters), the integers `m` are encoded instead of the
//! floats, as VictoriaMetrics does with its decimal mantissas. Decoding
//! divides by the same power of ten, which gives back the very bits, since
//! both are the correctly rounded quotient of the same two exact numbers;
//! the encoder checks every value before it chooses this mode.
//!
//! Every chunk is lossless for any sequence of points: NaN payloads, the
//! infinities, -0.0, unsorted and repeated timestamps and any i64 jump come
//! back as they went in (arithmetic on timestamps wraps, both ways).
//!
//! Frame: `[FORMAT, codec, values, count (LEB128), payload]`, where
//! `values` is 0 for float bits and `1 + e` for decimal integers.

mod bits;
mod gorilla;
mod pcodec;
pub mod realistic;

/// Version of the chunk frame; a chunk with another is refused.
pub const FORMAT: u8 = 1;
/// The largest decimal exponent the pre-pass tries.
pub const MAX_EXPONENT: u8 = 15;
/// More points than this in one chunk are refused on decode (a corrupt
/// count must not allocate gigabytes).
pub const MAX_POINTS: u64 = 1 << 24;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ChunkError {
    #[error("chunk is truncated")]
    Truncated,
    #[error("chunk frame version {0} is not known (this build reads {FORMAT})")]
    UnknownFormat(u8),
    #[error("chunk codec {0} is not known")]
    UnknownCodec(u8),
    #[error("chunk value mode {0} is not known")]
    UnknownValues(u8),
    #[error("chunk claims {0} points, more than {MAX_POINTS}")]
    TooLarge(u64),
    #[error("{timestamps} timestamps but {values} values")]
    Mismatch { timestamps: usize, values: usize },
    #[error("chunk holds {found} points, its header says {expected}")]
    Count { expected: usize, found: usize },
    #[error("pco: {0}")]
    Pco(String),
}

/// How a chunk's columns are compressed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Codec {
    Gorilla = 1,
    Pco = 2,
}

impl Codec {
    fn from_byte(byte: u8) -> Result<Self, ChunkError> {
        match byte {
            1 => Ok(Self::Gorilla),
            2 => Ok(Self::Pco),
            other => Err(ChunkError::UnknownCodec(other)),
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Self::Gorilla => "gorilla",
            Self::Pco => "pco",
        }
    }
}

/// What [`encode`] does.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Config {
    pub codec: Codec,
    /// Try the decimal pre-pass first.
    pub decimal: bool,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            codec: Codec::Pco,
            decimal: true,
        }
    }
}

/// The values of a chunk, as encoded.
#[derive(Clone, Debug, PartialEq)]
enum Values {
    Floats(Vec<f64>),
    /// `value = m / 10^exponent`
    Decimal {
        exponent: u8,
        mantissas: Vec<i64>,
    },
}

/// A decoded chunk: timestamps and values, in the order they were given.
#[derive(Clone, Debug, Default)]
pub struct Points {
    pub timestamps: Vec<i64>,
    pub values: Vec<f64>,
}

/// What a chunk's first bytes say about it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Header {
    pub codec: Codec,
    /// `Some(e)` when the values are decimal integers over `10^e`.
    pub exponent: Option<u8>,
    pub count: usize,
}

const POW10: [f64; 16] = [
    1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15,
];
/// Mantissas must be exact as f64.
const MANTISSA_LIMIT: f64 = 9_007_199_254_740_992.0; // 2^53

fn mantissa_at(value: f64, exponent: u8) -> Option<i64> {
    let pow = POW10[usize::from(exponent)];
    let scaled = (value * pow).round();
    // NaN and the infinities fail this too.
    if scaled.is_nan() || scaled.abs() > MANTISSA_LIMIT {
        return None;
    }
    let m = scaled as i64;
    ((m as f64 / pow).to_bits() == value.to_bits()).then_some(m)
}

/// The smallest exponent at which every value is an exact decimal, and
/// the mantissas at it; `None` when some value is not (NaN, infinities,
/// -0.0, or more digits than fit).
fn decimal(values: &[f64]) -> Option<(u8, Vec<i64>)> {
    let mut exponent = 0u8;
    for &v in values {
        while mantissa_at(v, exponent).is_none() {
            exponent += 1;
            if exponent > MAX_EXPONENT {
                return None;
            }
        }
    }
    let mantissas = values
        .iter()
        .map(|&v| mantissa_at(v, exponent))
        .collect::<Option<Vec<_>>>()?;
    Some((exponent, mantissas))
}

fn undecimal(exponent: u8, mantissas: &[i64]) -> Vec<f64> {
    let pow = POW10[usize::from(exponent)];
    mantissas.iter().map(|&m| m as f64 / pow).collect()
}

pub(crate) fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

pub(crate) fn get_varint(bytes: &[u8], pos: &mut usize) -> Result<u64, ChunkError> {
    let mut out = 0u64;
    for shift in (0..64).step_by(7) {
        let byte = *bytes.get(*pos).ok_or(ChunkError::Truncated)?;
        *pos += 1;
        out |= u64::from(byte & 0x7f) << shift;
        if byte & 0x80 == 0 {
            return Ok(out);
        }
    }
    Err(ChunkError::Truncated)
}

/// Encode points (`timestamps[i]`, `values[i]`) as one chunk.
pub fn encode(config: Config, timestamps: &[i64], values: &[f64]) -> Result<Vec<u8>, ChunkError> {
    if timestamps.len() != values.len() {
        return Err(ChunkError::Mismatch {
            timestamps: timestamps.len(),
            values: values.len(),
        });
    }
    let chosen = match config.decimal.then(|| decimal(values)).flatten() {
        Some((exponent, mantissas)) => Values::Decimal {
            exponent,
            mantissas,
        },
        None => Values::Floats(values.to_vec()),
    };
    let mode = match &chosen {
        Values::Floats(_) => 0,
        Values::Decimal { exponent, .. } => 1 + exponent,
    };
    let mut out = vec![FORMAT, config.codec as u8, mode];
    put_varint(&mut out, timestamps.len() as u64);
    if timestamps.is_empty() {
        return Ok(out);
    }
    match config.codec {
        Codec::Gorilla => gorilla::encode(timestamps, &chosen, &mut out),
        Codec::Pco => pcodec::encode(timestamps, &chosen, &mut out)?,
    }
    Ok(out)
}

fn read_header(chunk: &[u8]) -> Result<(Header, usize), ChunkError> {
    let [format, codec, mode, ..] = chunk else {
        return Err(ChunkError::Truncated);
    };
    if *format != FORMAT {
        return Err(ChunkError::UnknownFormat(*format));
    }
    let codec = Codec::from_byte(*codec)?;
    let exponent = match *mode {
        0 => None,
        m if m - 1 <= MAX_EXPONENT => Some(m - 1),
        other => return Err(ChunkError::UnknownValues(other)),
    };
    let mut pos = 3;
    let count = get_varint(chunk, &mut pos)?;
    if count > MAX_POINTS {
        return Err(ChunkError::TooLarge(count));
    }
    Ok((
        Header {
            codec,
            exponent,
            count: count as usize,
        },
        pos,
    ))
}

/// The header of a chunk, without decoding its points.
pub fn header(chunk: &[u8]) -> Result<Header, ChunkError> {
    read_header(chunk).map(|(header, _)| header)
}

/// Decode a chunk written by [`encode`].
pub fn decode(chunk: &[u8]) -> Result<Points, ChunkError> {
    let (header, pos) = read_header(chunk)?;
    if header.count == 0 {
        return Ok(Points::default());
    }
    let payload = &chunk[pos..];
    let (timestamps, values) = match header.codec {
        Codec::Gorilla => gorilla::decode(payload, header.count, header.exponent)?,
        Codec::Pco => pcodec::decode(payload, header.exponent)?,
    };
    let values = match values {
        Values::Floats(v) => v,
        Values::Decimal {
            exponent,
            mantissas,
        } => undecimal(exponent, &mantissas),
    };
    for found in [timestamps.len(), values.len()] {
        if found != header.count {
            return Err(ChunkError::Count {
                expected: header.count,
                found,
            });
        }
    }
    Ok(Points { timestamps, values })
}

#[cfg(test)]
mod tests;
