//! The compact batch encoding, version 1: a [`Batch`] in a few bytes per
//! point, read without a JSON parser.
//!
//! The agent spools batches in it and sends them as such to an aggregator
//! whose hello answer lists [`FORMAT`] in `batch_formats` (with
//! `Content-Type:` [`CONTENT_TYPE`], zstd-compressed like JSON bodies); to
//! an older aggregator it sends the same batch as JSON. The aggregator takes
//! both. What a batch may hold is checked after decoding, as for JSON.
//!
//! Layout (integers are unsigned LEB128 varints, `ts` a zigzag varint delta
//! from the previous record's timestamp, strings a varint length and UTF-8):
//!
//! ```text
//! "P2B1" host_id stream seq created_ms
//! n_strings string*                     the distinct strings, referred to by index
//! n_records record*
//! metric: 0 plugin name unit kind(0 gauge, 1 counter) n_tags (key value)* value(f64 LE) ts
//! event:  1 plugin kind severity(0-3) message n_fields (key value)* ts
//! ```
//!
//! Decoding reads exactly the bytes given: every count is checked against
//! what is left, every index against the table, so a forged body costs no
//! more memory than its own size and ends in a [`CompactError`].

use std::collections::{BTreeMap, HashMap};

use crate::wire::{Batch, EventRecord, MetricKind, MetricRecord, Record, Severity};

/// The first bytes of a version-1 body.
pub const MAGIC: &[u8; 4] = b"P2B1";
/// The name in the hello answer's `batch_formats`.
pub const FORMAT: &str = "compact-1";
/// The `Content-Type` of a compact body.
pub const CONTENT_TYPE: &str = "application/vnd.p2pmon.batch.v1";

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum CompactError {
    #[error("not a compact batch (no P2B1 header)")]
    NotCompact,
    #[error("the batch ends early, reading {0}")]
    Truncated(&'static str),
    #[error("{0} is not valid UTF-8")]
    Utf8(&'static str),
    #[error("string index {index} past the table of {len}")]
    Index { index: u64, len: usize },
    #[error("unknown record type {0}")]
    RecordType(u8),
    #[error("unknown metric kind {0}")]
    Kind(u8),
    #[error("unknown severity {0}")]
    Severity(u8),
    #[error("tag or field {0:?} given twice")]
    Duplicate(String),
    #[error("a varint longer than 64 bits")]
    Varint,
    #[error("{0} bytes after the last record")]
    Trailing(usize),
}

/// Whether `body` (decompressed) is in this encoding.
pub fn is_compact(body: &[u8]) -> bool {
    body.starts_with(MAGIC)
}

struct Writer<'a> {
    out: Vec<u8>,
    strings: HashMap<&'a str, u64>,
    table: Vec<&'a str>,
}

fn varint(out: &mut Vec<u8>, mut n: u64) {
    while n >= 0x80 {
        out.push((n as u8) | 0x80);
        n >>= 7;
    }
    out.push(n as u8);
}

fn text(out: &mut Vec<u8>, s: &str) {
    varint(out, s.len() as u64);
    out.extend_from_slice(s.as_bytes());
}

impl<'a> Writer<'a> {
    fn string(&mut self, s: &'a str) {
        let next = self.table.len() as u64;
        let index = *self.strings.entry(s).or_insert_with(|| {
            self.table.push(s);
            next
        });
        varint(&mut self.out, index);
    }

    fn ts(&mut self, previous: &mut u64, ts: u64) {
        let delta = ts.wrapping_sub(*previous) as i64;
        varint(&mut self.out, ((delta << 1) ^ (delta >> 63)) as u64);
        *previous = ts;
    }
}

/// `batch` in the compact encoding.
pub fn encode(batch: &Batch) -> Vec<u8> {
    let mut records = Writer {
        out: Vec::with_capacity(batch.records.len() * 16),
        strings: HashMap::new(),
        table: Vec::new(),
    };
    let mut previous = 0;
    for record in &batch.records {
        match record {
            Record::Metric(m) => {
                records.out.push(0);
                records.string(&m.plugin);
                records.string(&m.name);
                records.string(&m.unit);
                records.out.push(match m.kind {
                    MetricKind::Gauge => 0,
                    MetricKind::Counter => 1,
                });
                varint(&mut records.out, m.tags.len() as u64);
                for (key, value) in &m.tags {
                    records.string(key);
                    records.string(value);
                }
                records.out.extend_from_slice(&m.value.to_le_bytes());
                records.ts(&mut previous, m.timestamp_ms);
            }
            Record::Event(e) => {
                records.out.push(1);
                records.string(&e.plugin);
                records.string(&e.kind);
                records.out.push(e.severity as u8);
                records.string(&e.message);
                varint(&mut records.out, e.fields.len() as u64);
                for (key, value) in &e.fields {
                    records.string(key);
                    records.string(value);
                }
                records.ts(&mut previous, e.timestamp_ms);
            }
        }
    }
    let mut out = Vec::with_capacity(records.out.len() + 64 + records.table.len() * 12);
    out.extend_from_slice(MAGIC);
    text(&mut out, &batch.host_id);
    text(&mut out, &batch.stream);
    varint(&mut out, batch.seq);
    varint(&mut out, batch.created_ms);
    varint(&mut out, records.table.len() as u64);
    for s in &records.table {
        text(&mut out, s);
    }
    varint(&mut out, batch.records.len() as u64);
    out.extend_from_slice(&records.out);
    out
}

struct Reader<'a> {
    rest: &'a [u8],
    table: Vec<&'a str>,
}

impl<'a> Reader<'a> {
    fn byte(&mut self, what: &'static str) -> Result<u8, CompactError> {
        let (&first, rest) = self
            .rest
            .split_first()
            .ok_or(CompactError::Truncated(what))?;
        self.rest = rest;
        Ok(first)
    }

    fn varint(&mut self, what: &'static str) -> Result<u64, CompactError> {
        let mut n = 0u64;
        for shift in (0..64).step_by(7) {
            let byte = self.byte(what)?;
            n |= u64::from(byte & 0x7f) << shift;
            if byte & 0x80 == 0 {
                return Ok(n);
            }
        }
        Err(CompactError::Varint)
    }

    /// A count of things each at least one byte long.
    fn count(&mut self, what: &'static str) -> Result<usize, CompactError> {
        let n = self.varint(what)?;
        if n > self.rest.len() as u64 {
            return Err(CompactError::Truncated(what));
        }
        Ok(n as usize)
    }

    fn text(&mut self, what: &'static str) -> Result<&'a str, CompactError> {
        let len = self.count(what)?;
        let (bytes, rest) = self.rest.split_at(len);
        self.rest = rest;
        std::str::from_utf8(bytes).map_err(|_| CompactError::Utf8(what))
    }

    fn string(&mut self, what: &'static str) -> Result<String, CompactError> {
        let index = self.varint(what)?;
        self.table
            .get(index as usize)
            .map(|s| (*s).to_string())
            .ok_or(CompactError::Index {
                index,
                len: self.table.len(),
            })
    }

    fn pairs(&mut self, what: &'static str) -> Result<BTreeMap<String, String>, CompactError> {
        let n = self.count(what)?;
        let mut map = BTreeMap::new();
        for _ in 0..n {
            let key = self.string(what)?;
            let value = self.string(what)?;
            if let Some(key) = map.insert(key.clone(), value).map(|_| key) {
                return Err(CompactError::Duplicate(key));
            }
        }
        Ok(map)
    }

    fn ts(&mut self, previous: &mut u64) -> Result<u64, CompactError> {
        let z = self.varint("a timestamp")?;
        let delta = ((z >> 1) as i64) ^ -((z & 1) as i64);
        *previous = previous.wrapping_add(delta as u64);
        Ok(*previous)
    }
}

/// A batch from its compact encoding (decompressed).
pub fn decode(body: &[u8]) -> Result<Batch, CompactError> {
    let rest = body.strip_prefix(MAGIC).ok_or(CompactError::NotCompact)?;
    let mut r = Reader {
        rest,
        table: Vec::new(),
    };
    let host_id = r.text("host_id")?.to_string();
    let stream = r.text("stream")?.to_string();
    let seq = r.varint("seq")?;
    let created_ms = r.varint("created_ms")?;
    let strings = r.count("the string table")?;
    let mut table = Vec::with_capacity(strings);
    for _ in 0..strings {
        table.push(r.text("a string")?);
    }
    r.table = table;
    let n = r.count("the records")?;
    let mut records = Vec::with_capacity(n);
    let mut previous = 0;
    for _ in 0..n {
        let record = match r.byte("a record")? {
            0 => {
                let plugin = r.string("a plugin")?;
                let name = r.string("a metric name")?;
                let unit = r.string("a unit")?;
                let kind = match r.byte("a metric kind")? {
                    0 => MetricKind::Gauge,
                    1 => MetricKind::Counter,
                    other => return Err(CompactError::Kind(other)),
                };
                let tags = r.pairs("tags")?;
                let (value, rest) = r
                    .rest
                    .split_first_chunk::<8>()
                    .ok_or(CompactError::Truncated("a value"))?;
                r.rest = rest;
                Record::Metric(MetricRecord {
                    plugin,
                    name,
                    value: f64::from_le_bytes(*value),
                    unit,
                    kind,
                    tags,
                    timestamp_ms: r.ts(&mut previous)?,
                })
            }
            1 => {
                let plugin = r.string("a plugin")?;
                let kind = r.string("an event kind")?;
                let severity = match r.byte("a severity")? {
                    0 => Severity::Info,
                    1 => Severity::Warning,
                    2 => Severity::Error,
                    3 => Severity::Critical,
                    other => return Err(CompactError::Severity(other)),
                };
                let message = r.string("a message")?;
                let fields = r.pairs("fields")?;
                Record::Event(EventRecord {
                    plugin,
                    kind,
                    severity,
                    message,
                    fields,
                    timestamp_ms: r.ts(&mut previous)?,
                })
            }
            other => return Err(CompactError::RecordType(other)),
        };
        records.push(record);
    }
    if !r.rest.is_empty() {
        return Err(CompactError::Trailing(r.rest.len()));
    }
    Ok(Batch {
        host_id,
        stream,
        seq,
        created_ms,
        records,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Batch {
        let mut records = Vec::new();
        for i in 0..200u64 {
            let mut tags = BTreeMap::new();
            tags.insert("map".to_string(), format!("prt_fild{:02}", i % 7));
            records.push(Record::Metric(MetricRecord {
                plugin: "game".to_string(),
                name: "player_count".to_string(),
                value: (i % 13) as f64,
                unit: "players".to_string(),
                kind: MetricKind::Gauge,
                tags,
                timestamp_ms: 1_764_000_000_000 + i * 5_000 - (i % 3) * 7,
            }));
        }
        records.push(Record::Metric(MetricRecord {
            plugin: "system".to_string(),
            name: "cpu_usage".to_string(),
            value: f64::NAN,
            unit: String::new(),
            kind: MetricKind::Counter,
            tags: BTreeMap::new(),
            timestamp_ms: 0,
        }));
        records.push(Record::Event(EventRecord {
            plugin: "anticheat".to_string(),
            kind: "speed_hack".to_string(),
            severity: Severity::Critical,
            message: "naïve \u{1F600} \"quoted\"\n".to_string(),
            fields: [("account_id".to_string(), "2000001".to_string())].into(),
            timestamp_ms: u64::MAX,
        }));
        Batch {
            host_id: "p2p-7".to_string(),
            stream: "spool-1".to_string(),
            seq: 42,
            created_ms: 1_764_000_999_000,
            records,
        }
    }

    #[test]
    fn a_batch_comes_back_as_it_went_and_smaller_than_json() {
        let batch = sample();
        let body = encode(&batch);
        assert!(is_compact(&body));
        let back = decode(&body).expect("decode");
        // NaN is not equal to itself: compare the bits, then the rest.
        let bits = |b: &Batch| -> Vec<u64> {
            b.records
                .iter()
                .filter_map(|r| match r {
                    Record::Metric(m) => Some(m.value.to_bits()),
                    Record::Event(_) => None,
                })
                .collect()
        };
        assert_eq!(bits(&back), bits(&batch));
        let json = serde_json::to_vec(&batch).expect("json");
        assert_eq!(
            serde_json::to_string(&back).expect("json"),
            String::from_utf8(json.clone()).expect("utf-8")
        );
        assert!(
            body.len() * 4 < json.len(),
            "{} vs {} bytes",
            body.len(),
            json.len()
        );
    }

    /// Every way a forged body can be wrong ends in an error, never a panic
    /// or an allocation bigger than the body.
    #[test]
    fn forged_bodies_are_refused() {
        let body = encode(&sample());
        assert_eq!(decode(b"{\"host_id\":1}"), Err(CompactError::NotCompact));
        for cut in 0..body.len() {
            assert!(decode(&body[..cut]).is_err(), "cut at {cut}");
        }
        let mut trailing = body.clone();
        trailing.push(0);
        assert_eq!(decode(&trailing), Err(CompactError::Trailing(1)));
        // A record count far past the body.
        let mut huge = MAGIC.to_vec();
        huge.extend_from_slice(&[0, 0, 1, 1, 0]);
        huge.extend_from_slice(&[0xff, 0xff, 0xff, 0xff, 0x0f]);
        assert_eq!(decode(&huge), Err(CompactError::Truncated("the records")));
        // A varint that never ends.
        let mut endless = MAGIC.to_vec();
        endless.extend_from_slice(&[0, 0]);
        endless.extend_from_slice(&[0x80; 11]);
        assert_eq!(decode(&endless), Err(CompactError::Varint));
        // Flip every byte in turn: an error or some batch, never a panic.
        for i in MAGIC.len()..body.len() {
            let mut flipped = body.clone();
            flipped[i] ^= 0xa5;
            let _ = decode(&flipped);
        }
        // A string index past the table, and a tag given twice.
        let one = |tag_index: u8| {
            let mut b = MAGIC.to_vec();
            // host "h", stream "", seq 1, created 1; strings "p", "n", ""
            b.extend_from_slice(&[1, b'h', 0, 1, 1, 3, 1, b'p', 1, b'n', 0]);
            // one metric: plugin 0, name 1, unit 2, gauge, two tags
            b.extend_from_slice(&[1, 0, 0, 1, 2, 0, 2, 0, tag_index, 1, 0]);
            b.extend_from_slice(&1.5f64.to_le_bytes());
            b.push(2);
            b
        };
        assert!(matches!(
            decode(&one(9)),
            Err(CompactError::Index { index: 9, len: 3 })
        ));
        assert_eq!(decode(&one(1)).map(|b| b.records.len()), Ok(1));
        let mut twice = one(1);
        // The second tag's key: "p" again.
        twice[MAGIC.len() + 20] = 0;
        assert_eq!(
            decode(&twice),
            Err(CompactError::Duplicate("p".to_string()))
        );
    }
}
