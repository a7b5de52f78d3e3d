//! History reads from InfluxDB v2 (`influxdb.read_history`): the history API
//! asks `POST /api/v2/query` in Flux and reads InfluxDB's CSV answer into the
//! same series the embedded store gives. When InfluxDB cannot answer (down,
//! refusing, an answer that does not parse) the embedded store answers
//! instead, and reads skip InfluxDB for [`RETRY_AFTER_MS`] so that pages do
//! not wait on a timeout each time.
//!
//! One query yields four results per window (`mean`, `min`, `max`, `count`,
//! each from `aggregateWindow` with the window's start as its time), which
//! become a history point's `avg`, `min`, `max` and `count`.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicI64, Ordering};

use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::store::{HistoryAsk, HistoryPoint, HistorySeries, Tier};

/// How long reads go to the embedded store after InfluxDB failed one.
pub const RETRY_AFTER_MS: i64 = 30_000;

/// An answer is read up to this size; a bigger one is refused.
const MAX_ANSWER_BYTES: usize = 64 << 20;

/// Why InfluxDB gave no history (the API answers from the embedded store).
#[derive(Debug, thiserror::Error)]
pub enum FluxError {
    #[error("not reachable: {0}")]
    Unreachable(reqwest::Error),
    #[error("answer cut: {0}")]
    Cut(reqwest::Error),
    #[error("answer over {} MiB", MAX_ANSWER_BYTES >> 20)]
    TooLarge,
    #[error("answered {status}: {text}")]
    Status { status: u16, text: String },
    /// An error table in the answer.
    #[error("InfluxDB: {0}")]
    Answer(String),
    #[error("row {row}: {error}")]
    Csv { row: usize, error: csv::Error },
    #[error("row {0}: data before a header")]
    NoHeader(usize),
    #[error("row {0}: no result, _time or _value column")]
    MissingColumns(usize),
    #[error("row {row}: _time {time:?}: {error}")]
    Time {
        row: usize,
        time: String,
        error: time::error::Parse,
    },
    #[error("row {row}: _value {value:?} is not a number")]
    Value { row: usize, value: String },
    #[error("row {row}: unexpected result {result:?}")]
    UnexpectedResult { row: usize, result: String },
}

/// A Flux string literal.
fn flux_string(text: &str) -> String {
    let escaped = text
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace("${", "\\${");
    format!("\"{escaped}\"")
}

/// The aggregation window of a tier: raw history is averaged over 10 s.
pub fn window_s(tier: Tier) -> u64 {
    match tier {
        Tier::Raw => 10,
        Tier::Minute => 60,
        Tier::Hour => 3600,
    }
}

/// The Flux query for `metric`'s history (optionally of one host) between
/// two times, per `every_s` window: mean, min, max and count, one result each.
pub fn flux_history(
    bucket: &str,
    metric: &str,
    host: Option<&str>,
    from_ms: i64,
    to_ms: i64,
    every_s: u64,
) -> String {
    let mut query = format!(
        "data = from(bucket: {})\n  |> range(start: {}, stop: {})\n  |> filter(fn: (r) => r._measurement == {} and r._field == \"value\")\n",
        flux_string(bucket),
        crate::clock::rfc3339(from_ms),
        crate::clock::rfc3339(to_ms),
        flux_string(metric),
    );
    if let Some(host) = host {
        query.push_str(&format!(
            "  |> filter(fn: (r) => r.host == {})\n",
            flux_string(host)
        ));
    }
    for aggregate in ["mean", "min", "max", "count"] {
        query.push_str(&format!(
            "data |> aggregateWindow(every: {every_s}s, fn: {aggregate}, createEmpty: false, timeSrc: \"_start\") |> yield(name: \"{aggregate}\")\n"
        ));
    }
    query
}

/// Columns of a Flux CSV table that are not tags.
fn is_flux_column(name: &str) -> bool {
    name.is_empty() || name == "result" || name == "table" || name.starts_with('_')
}

/// Read InfluxDB's CSV answer (header row, no annotations; a new header
/// wherever the columns change) into series, ordered by host and tags. A
/// table reporting an error, or a row that does not parse, fails the whole
/// answer.
pub fn parse_history(csv_text: &str, metric: &str) -> Result<Vec<HistorySeries>, FluxError> {
    // (host, tags) -> window start -> point
    type Windows = BTreeMap<i64, HistoryPoint>;
    let mut series: BTreeMap<(String, BTreeMap<String, String>), Windows> = BTreeMap::new();
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .from_reader(csv_text.as_bytes());
    let mut columns: Option<HashMap<String, usize>> = None;
    let mut names: Vec<String> = Vec::new();
    for (n, row) in reader.records().enumerate() {
        let row = row.map_err(|error| FluxError::Csv { row: n + 1, error })?;
        if row.iter().all(str::is_empty) {
            columns = None;
            continue;
        }
        let has = |name: &str| row.iter().any(|f| f == name);
        if (has("result") && has("table")) || (has("error") && has("reference")) {
            names = row.iter().map(str::to_string).collect();
            columns = Some(
                names
                    .iter()
                    .enumerate()
                    .map(|(i, c)| (c.clone(), i))
                    .collect(),
            );
            continue;
        }
        let Some(index) = &columns else {
            return Err(FluxError::NoHeader(n + 1));
        };
        let field = |name: &str| index.get(name).and_then(|&i| row.get(i));
        if let Some(error) = field("error") {
            return Err(FluxError::Answer(error.to_string()));
        }
        let (Some(result), Some(time), Some(value)) =
            (field("result"), field("_time"), field("_value"))
        else {
            return Err(FluxError::MissingColumns(n + 1));
        };
        let t = OffsetDateTime::parse(time, &Rfc3339).map_err(|error| FluxError::Time {
            row: n + 1,
            time: time.to_string(),
            error,
        })?;
        let t = (t.unix_timestamp_nanos() / 1_000_000) as i64;
        let value: f64 = value.parse().map_err(|_| FluxError::Value {
            row: n + 1,
            value: value.to_string(),
        })?;
        let mut host = String::new();
        let mut tags = BTreeMap::new();
        for (i, cell) in row.iter().enumerate() {
            let Some(name) = names.get(i) else { continue };
            if is_flux_column(name) || cell.is_empty() {
                continue;
            }
            if name == "host" {
                host = cell.to_string();
            } else {
                tags.insert(name.clone(), cell.to_string());
            }
        }
        let point = series
            .entry((host, tags))
            .or_default()
            .entry(t)
            .or_insert(HistoryPoint {
                t,
                avg: value,
                min: value,
                max: value,
                count: 0,
            });
        match result {
            "mean" => point.avg = value,
            "min" => point.min = value,
            "max" => point.max = value,
            "count" => point.count = value as i64,
            other => {
                return Err(FluxError::UnexpectedResult {
                    row: n + 1,
                    result: other.to_string(),
                });
            }
        }
    }
    Ok(series
        .into_iter()
        .map(|((host, tags), windows)| HistorySeries {
            host,
            metric: metric.to_string(),
            tags,
            unit: String::new(),
            points: windows.into_values().collect(),
        })
        .collect())
}

/// The query client.
pub struct FluxReader {
    client: reqwest::Client,
    url: String,
    token: String,
    bucket: String,
    /// Until when (Unix ms) reads skip InfluxDB after a failure.
    skip_until_ms: AtomicI64,
}

impl FluxReader {
    pub fn new(config: &super::InfluxConfig, token: String, client: reqwest::Client) -> Self {
        Self {
            client,
            url: format!(
                "{}/api/v2/query?org={}",
                config.url.trim_end_matches('/'),
                url::form_urlencoded::byte_serialize(config.org.as_bytes()).collect::<String>(),
            ),
            token,
            bucket: config.bucket.clone(),
            skip_until_ms: AtomicI64::new(0),
        }
    }

    /// Is InfluxDB worth asking now (no failure in the last
    /// [`RETRY_AFTER_MS`])?
    pub fn available(&self, now_ms: i64) -> bool {
        self.skip_until_ms.load(Ordering::Relaxed) <= now_ms
    }

    /// The history from InfluxDB. A failure makes reads skip InfluxDB for a
    /// while; the caller answers from the embedded store.
    pub async fn history(
        &self,
        ask: &HistoryAsk,
        now_ms: i64,
    ) -> Result<Vec<HistorySeries>, FluxError> {
        let answer = self.query(ask).await;
        if answer.is_err() {
            self.skip_until_ms
                .store(now_ms + RETRY_AFTER_MS, Ordering::Relaxed);
        }
        answer
    }

    async fn query(&self, ask: &HistoryAsk) -> Result<Vec<HistorySeries>, FluxError> {
        let flux = flux_history(
            &self.bucket,
            &ask.metric,
            ask.host.as_deref(),
            ask.from_ms,
            ask.to_ms,
            window_s(ask.tier),
        );
        let mut request = self
            .client
            .post(&self.url)
            .header(reqwest::header::ACCEPT, "application/csv")
            .json(&serde_json::json!({
                "query": flux,
                "type": "flux",
                "dialect": { "header": true, "annotations": [] },
            }));
        if !self.token.is_empty() {
            request = request.header(
                reqwest::header::AUTHORIZATION,
                format!("Token {}", self.token),
            );
        }
        let mut response = request
            .send()
            .await
            .map_err(|e| FluxError::Unreachable(e.without_url()))?;
        let status = response.status();
        let mut body = Vec::new();
        while let Some(chunk) = response
            .chunk()
            .await
            .map_err(|e| FluxError::Cut(e.without_url()))?
        {
            if body.len() + chunk.len() > MAX_ANSWER_BYTES {
                return Err(FluxError::TooLarge);
            }
            body.extend_from_slice(&chunk);
        }
        let text = String::from_utf8_lossy(&body);
        if !status.is_success() {
            return Err(FluxError::Status {
                status: status.as_u16(),
                text: text.chars().take(200).collect(),
            });
        }
        let mut series = parse_history(&text, &ask.metric)?;
        series.truncate(ask.max_series);
        Ok(series)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_flux_history_query_is_built_with_escaped_strings() {
        let query = flux_history(
            "p2pmon",
            "cpu_usage",
            Some("evil\" or true or \""),
            0,
            3_600_000,
            60,
        );
        assert_eq!(
            query,
            "data = from(bucket: \"p2pmon\")\n  |> range(start: 1970-01-01T00:00:00Z, stop: 1970-01-01T01:00:00Z)\n  \
             |> filter(fn: (r) => r._measurement == \"cpu_usage\" and r._field == \"value\")\n  \
             |> filter(fn: (r) => r.host == \"evil\\\" or true or \\\"\")\n\
             data |> aggregateWindow(every: 60s, fn: mean, createEmpty: false, timeSrc: \"_start\") |> yield(name: \"mean\")\n\
             data |> aggregateWindow(every: 60s, fn: min, createEmpty: false, timeSrc: \"_start\") |> yield(name: \"min\")\n\
             data |> aggregateWindow(every: 60s, fn: max, createEmpty: false, timeSrc: \"_start\") |> yield(name: \"max\")\n\
             data |> aggregateWindow(every: 60s, fn: count, createEmpty: false, timeSrc: \"_start\") |> yield(name: \"count\")\n"
        );
        assert!(!flux_history("b", "m", None, 0, 1, 1).contains("r.host"));
        assert!(flux_history("${x}", "m", None, 0, 1, 1).contains("\"\\${x}\""));
    }

    /// Two tables per result, the way InfluxDB writes its CSV: CRLF, a blank
    /// line and a new header between results whose columns differ.
    const ANSWER: &str = ",result,table,_start,_stop,_time,_value,_field,_measurement,host,core\r\n\
        ,mean,0,2026-01-01T00:00:00Z,2026-01-01T01:00:00Z,2026-01-01T00:00:00Z,12.5,value,cpu_usage,host-a,0\r\n\
        ,mean,0,2026-01-01T00:00:00Z,2026-01-01T01:00:00Z,2026-01-01T00:01:00Z,14.5,value,cpu_usage,host-a,0\r\n\
        ,mean,1,2026-01-01T00:00:00Z,2026-01-01T01:00:00Z,2026-01-01T00:00:00Z,40,value,cpu_usage,host-b,\"a,b\"\r\n\
        ,min,2,2026-01-01T00:00:00Z,2026-01-01T01:00:00Z,2026-01-01T00:00:00Z,10,value,cpu_usage,host-a,0\r\n\
        ,max,3,2026-01-01T00:00:00Z,2026-01-01T01:00:00Z,2026-01-01T00:00:00Z,15,value,cpu_usage,host-a,0\r\n\
        \r\n\
        ,result,table,_start,_stop,_time,_value,_field,_measurement,host,core\r\n\
        ,count,4,2026-01-01T00:00:00Z,2026-01-01T01:00:00Z,2026-01-01T00:00:00Z,6,value,cpu_usage,host-a,0\r\n\
        \r\n";

    #[test]
    fn the_csv_answer_becomes_series_with_mean_min_max_and_count() {
        let series = parse_history(ANSWER, "cpu_usage").expect("parses");
        assert_eq!(series.len(), 2);
        let a = &series[0];
        assert_eq!(a.host, "host-a");
        assert_eq!(a.tags.get("core").map(String::as_str), Some("0"));
        assert_eq!(a.points.len(), 2);
        let first = &a.points[0];
        assert_eq!(first.t, 1_767_225_600_000);
        assert_eq!(
            (first.avg, first.min, first.max, first.count),
            (12.5, 10.0, 15.0, 6)
        );
        assert_eq!(a.points[1].t, 1_767_225_660_000);
        assert_eq!(series[1].host, "host-b");
        assert_eq!(
            series[1].tags.get("core").map(String::as_str),
            Some("a,b"),
            "quoted cells keep their commas"
        );
    }

    #[test]
    fn errors_and_broken_answers_are_refused() {
        let error = ",error,reference\r\n,\"bucket \"\"x\"\" not found\",897\r\n";
        assert_eq!(
            parse_history(error, "m")
                .expect_err("an error table")
                .to_string(),
            "InfluxDB: bucket \"x\" not found"
        );
        assert!(parse_history(",mean,0,x\r\n", "m").is_err(), "no header");
        let bad_time = ",result,table,_time,_value\r\n,mean,0,yesterday,1\r\n";
        assert!(
            parse_history(bad_time, "m")
                .expect_err("bad time")
                .to_string()
                .contains("_time")
        );
        let bad_value = ",result,table,_time,_value\r\n,mean,0,2026-01-01T00:00:00Z,many\r\n";
        assert!(
            parse_history(bad_value, "m")
                .expect_err("bad value")
                .to_string()
                .contains("_value")
        );
        assert!(parse_history("", "m").expect("empty").is_empty());
    }
}
