//! Fake capabilities for `p2pmon-agent plugin test`: sql, file, net and http
//! answer from a fixture directory instead of the world, so a plugin in any
//! language can be run and checked without MariaDB, rAthena or a network.
//!
//! `DIR/fixture.yml` (every section optional):
//!
//! ```yaml
//! sql:                       # first entry whose `match` is in the statement
//!   - connection: ragnarok   # optional: any connection
//!     match: "FROM `char`"   # case-insensitive substring; empty matches all
//!     columns: [online]
//!     rows: [[12]]
//! files:                     # path the plugin asks for -> file in DIR
//!   /opt/rathena/log/map-server.log: map-server.log
//!   /var/log/rotating.log: [first-call.log, second-call.log]
//! http:
//!   "http://127.0.0.1:8080/status": {status: 200, content_type: text/plain, body: "ok"}
//! tcp:
//!   "127.0.0.1:5121": {connected: true, connect_ms: 1.5}
//! udp:
//!   "10.0.0.2:7777": {received: 4, avg_ms: 3.2}
//! ```
//!
//! A file given as a list answers the first `tail` with the lines of the
//! first file, the second with the second, and then nothing; a single file
//! answers the first `tail` with its lines and later calls with none. What no
//! fixture answers is `unavailable`, naming what was asked.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use serde::Deserialize;

use super::bindings::p2pmon::plugin::{file, http, net, sql, types};

/// The name of the fixture file inside a fixture directory.
pub const FIXTURE_FILE: &str = "fixture.yml";

/// Why a fixture directory could not be read.
#[derive(Debug, thiserror::Error)]
pub enum FixtureError {
    #[error("{}: {message}", .path.display())]
    Read { path: PathBuf, message: String },
    #[error("{}: {message}", .path.display())]
    Parse { path: PathBuf, message: String },
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FixtureFile {
    #[serde(default)]
    sql: Vec<SqlAnswer>,
    #[serde(default)]
    files: BTreeMap<String, OneOrMany>,
    #[serde(default)]
    http: BTreeMap<String, HttpAnswer>,
    #[serde(default)]
    tcp: BTreeMap<String, TcpAnswer>,
    #[serde(default)]
    udp: BTreeMap<String, UdpAnswer>,
}

#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum OneOrMany {
    One(PathBuf),
    Many(Vec<PathBuf>),
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SqlAnswer {
    #[serde(default)]
    connection: Option<String>,
    #[serde(default, rename = "match")]
    matches: String,
    #[serde(default)]
    columns: Vec<String>,
    #[serde(default)]
    rows: Vec<Vec<serde_yaml::Value>>,
    /// Answer with this error (`unavailable`) instead of rows.
    #[serde(default)]
    error: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct HttpAnswer {
    #[serde(default = "default_status")]
    status: u16,
    #[serde(default)]
    content_type: Option<String>,
    #[serde(default)]
    body: Option<String>,
    /// A file in the fixture directory, instead of `body`.
    #[serde(default)]
    body_file: Option<PathBuf>,
}

fn default_status() -> u16 {
    200
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct TcpAnswer {
    #[serde(default = "default_true")]
    connected: bool,
    #[serde(default)]
    connect_ms: f64,
    #[serde(default)]
    error: Option<String>,
}

fn default_true() -> bool {
    true
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct UdpAnswer {
    #[serde(default)]
    sent: Option<u32>,
    #[serde(default)]
    received: Option<u32>,
    #[serde(default)]
    min_ms: f64,
    #[serde(default)]
    avg_ms: f64,
    #[serde(default)]
    max_ms: f64,
    #[serde(default)]
    jitter_ms: f64,
    #[serde(default)]
    error: Option<String>,
}

/// A fixture directory, read once; `tail` positions advance per call.
#[derive(Debug, Default)]
pub struct Fixture {
    sql: Vec<SqlAnswer>,
    /// Contents per call, for each path a plugin may ask for.
    files: BTreeMap<String, Vec<Vec<u8>>>,
    /// How many `tail` calls each path has answered.
    tails: Mutex<BTreeMap<String, usize>>,
    http: BTreeMap<String, (HttpAnswer, Vec<u8>)>,
    tcp: BTreeMap<String, TcpAnswer>,
    udp: BTreeMap<String, UdpAnswer>,
}

fn unavailable(what: String) -> types::HostError {
    types::HostError::Unavailable(format!("plugin test: no fixture answers {what}"))
}

impl Fixture {
    /// Read `dir/fixture.yml` and the files it names. A directory without
    /// one is an empty fixture (everything `unavailable`).
    pub fn load(dir: &Path) -> Result<Self, FixtureError> {
        let path = dir.join(FIXTURE_FILE);
        let parsed: FixtureFile = if path.exists() {
            let text = std::fs::read_to_string(&path).map_err(|e| FixtureError::Read {
                path: path.clone(),
                message: e.to_string(),
            })?;
            serde_yaml::from_str(&text).map_err(|e| FixtureError::Parse {
                path: path.clone(),
                message: e.to_string(),
            })?
        } else {
            FixtureFile::default()
        };
        let read = |name: &Path| -> Result<Vec<u8>, FixtureError> {
            let full = dir.join(name);
            std::fs::read(&full).map_err(|e| FixtureError::Read {
                path: full,
                message: e.to_string(),
            })
        };
        let mut files = BTreeMap::new();
        for (asked, given) in &parsed.files {
            let contents = match given {
                OneOrMany::One(name) => vec![read(name)?],
                OneOrMany::Many(names) => names
                    .iter()
                    .map(|name| read(name))
                    .collect::<Result<_, _>>()?,
            };
            files.insert(asked.clone(), contents);
        }
        let mut http = BTreeMap::new();
        for (url, answer) in parsed.http {
            let body = match (&answer.body_file, &answer.body) {
                (Some(name), _) => read(name)?,
                (None, Some(body)) => body.as_bytes().to_vec(),
                (None, None) => Vec::new(),
            };
            http.insert(url, (answer, body));
        }
        Ok(Self {
            sql: parsed.sql,
            files,
            tails: Mutex::default(),
            http,
            tcp: parsed.tcp,
            udp: parsed.udp,
        })
    }

    pub fn query(
        &self,
        connection: &str,
        statement: &str,
    ) -> Result<sql::QueryResult, types::HostError> {
        let lowered = statement.to_lowercase();
        let answer = self
            .sql
            .iter()
            .find(|a| {
                a.connection.as_deref().is_none_or(|c| c == connection)
                    && lowered.contains(&a.matches.to_lowercase())
            })
            .ok_or_else(|| unavailable(format!("sql on `{connection}`: {statement}")))?;
        if let Some(error) = &answer.error {
            return Err(types::HostError::Unavailable(error.clone()));
        }
        Ok(sql::QueryResult {
            columns: answer.columns.clone(),
            rows: answer
                .rows
                .iter()
                .map(|row| row.iter().map(sql_value).collect())
                .collect(),
            truncated: false,
        })
    }

    pub fn tail(&self, path: &str, max_bytes: u32) -> Result<file::TailResult, types::HostError> {
        let contents = self
            .files
            .get(path)
            .ok_or_else(|| unavailable(format!("file {path}")))?;
        let call = {
            let mut tails = self
                .tails
                .lock()
                .map_err(|_| unavailable(format!("file {path}")))?;
            let call = tails.entry(path.to_string()).or_insert(0);
            *call += 1;
            *call - 1
        };
        let Some(content) = contents.get(call) else {
            return Ok(file::TailResult {
                lines: Vec::new(),
                cut_lines: 0,
                reset: false,
                backlog_bytes: 0,
            });
        };
        let limit = usize::try_from(max_bytes).unwrap_or(usize::MAX);
        let taken = &content[..content.len().min(limit)];
        // Complete lines only, as the real tail returns them.
        let complete = taken
            .iter()
            .rposition(|&b| b == b'\n')
            .map_or(&taken[..0], |end| &taken[..=end]);
        let lines = String::from_utf8_lossy(complete)
            .lines()
            .map(str::to_string)
            .collect();
        Ok(file::TailResult {
            lines,
            cut_lines: 0,
            reset: call > 0,
            backlog_bytes: u64::try_from(content.len() - complete.len()).unwrap_or(u64::MAX),
        })
    }

    pub fn read(&self, path: &str, max_bytes: u32) -> Result<Vec<u8>, types::HostError> {
        let content = self
            .files
            .get(path)
            .and_then(|contents| contents.first())
            .ok_or_else(|| unavailable(format!("file {path}")))?;
        let limit = usize::try_from(max_bytes).unwrap_or(usize::MAX);
        Ok(content[..content.len().min(limit)].to_vec())
    }

    pub fn get(&self, url: &str, max_bytes: u32) -> Result<http::Response, types::HostError> {
        let (answer, body) = self
            .http
            .get(url)
            .ok_or_else(|| unavailable(format!("http GET {url}")))?;
        if body.len() > usize::try_from(max_bytes).unwrap_or(usize::MAX) {
            return Err(types::HostError::Invalid(format!(
                "http: body of {} bytes is over max-bytes {max_bytes}",
                body.len()
            )));
        }
        Ok(http::Response {
            status: answer.status,
            content_type: answer.content_type.clone(),
            body: body.clone(),
        })
    }

    pub fn tcp_connect(&self, targets: &[String]) -> Result<Vec<net::TcpProbe>, types::HostError> {
        targets
            .iter()
            .map(|target| {
                let answer = self
                    .tcp
                    .get(target)
                    .ok_or_else(|| unavailable(format!("tcp probe to {target}")))?;
                Ok(net::TcpProbe {
                    target: target.clone(),
                    connected: answer.connected,
                    connect_ms: answer.connect_ms,
                    error: answer.error.clone(),
                })
            })
            .collect()
    }

    pub fn udp_echo(
        &self,
        targets: &[String],
        count: u32,
    ) -> Result<Vec<net::UdpProbe>, types::HostError> {
        targets
            .iter()
            .map(|target| {
                let answer = self
                    .udp
                    .get(target)
                    .ok_or_else(|| unavailable(format!("udp echo to {target}")))?;
                Ok(net::UdpProbe {
                    target: target.clone(),
                    sent: answer.sent.unwrap_or(count),
                    received: answer.received.unwrap_or(count),
                    min_ms: answer.min_ms,
                    avg_ms: answer.avg_ms,
                    max_ms: answer.max_ms,
                    jitter_ms: answer.jitter_ms,
                    error: answer.error.clone(),
                })
            })
            .collect()
    }
}

fn sql_value(value: &serde_yaml::Value) -> sql::SqlValue {
    use serde_yaml::Value;
    match value {
        Value::Null => sql::SqlValue::Null,
        Value::Bool(b) => sql::SqlValue::Int(i64::from(*b)),
        Value::Number(n) => {
            if let Some(i) = n.as_i64() {
                sql::SqlValue::Int(i)
            } else if let Some(u) = n.as_u64() {
                sql::SqlValue::Uint(u)
            } else {
                sql::SqlValue::Float(n.as_f64().unwrap_or(f64::NAN))
            }
        }
        Value::String(s) => sql::SqlValue::Text(s.clone()),
        other => sql::SqlValue::Text(serde_yaml::to_string(other).unwrap_or_default()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_come_from_the_fixture_and_the_rest_is_unavailable() {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::write(dir.path().join("a.log"), "one\ntwo\npart").expect("write");
        std::fs::write(dir.path().join("b.log"), "three\n").expect("write");
        std::fs::write(
            dir.path().join(FIXTURE_FILE),
            "sql:\n  - match: \"from `char`\"\n    columns: [online]\n    rows: [[12]]\nfiles:\n  /log/map.log: [a.log, b.log]\nhttp:\n  http://h/s: {body: ok}\ntcp:\n  h:1: {connect_ms: 2}\n",
        )
        .expect("write");
        let fixture = Fixture::load(dir.path()).expect("load");
        let rows = fixture
            .query("ragnarok", "SELECT COUNT(*) FROM `char` WHERE online = 1")
            .expect("sql");
        assert_eq!(rows.columns, ["online"]);
        assert!(matches!(rows.rows[0][0], sql::SqlValue::Int(12)));
        assert!(matches!(
            fixture.query("ragnarok", "SELECT 1 FROM login"),
            Err(types::HostError::Unavailable(_))
        ));
        let first = fixture.tail("/log/map.log", 1 << 20).expect("tail");
        assert_eq!(first.lines, ["one", "two"]);
        assert_eq!(first.backlog_bytes, 4);
        assert_eq!(
            fixture.tail("/log/map.log", 1 << 20).expect("tail").lines,
            ["three"]
        );
        assert!(
            fixture
                .tail("/log/map.log", 1 << 20)
                .expect("tail")
                .lines
                .is_empty()
        );
        assert_eq!(fixture.get("http://h/s", 10).expect("http").body, b"ok");
        assert!(fixture.get("http://h/other", 10).is_err());
        assert!(fixture.tcp_connect(&["h:1".to_string()]).expect("tcp")[0].connected);
        assert!(fixture.tcp_connect(&["h:2".to_string()]).is_err());
    }

    #[test]
    fn a_missing_file_is_named() {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::write(dir.path().join(FIXTURE_FILE), "files:\n  /x: missing.log\n")
            .expect("write");
        let error = Fixture::load(dir.path())
            .expect_err("missing file")
            .to_string();
        assert!(error.contains("missing.log"), "{error}");
    }
}
