//! Silences and maintenance windows: while one matches an alert (its host
//! and rule, either left empty to match any), the alert is still evaluated,
//! stored and shown, but no channel is notified. A maintenance window is a
//! silence that starts later. Each has an end time and an author.

use rusqlite::{Connection, params};
use serde::{Deserialize, Serialize};

use crate::store::StoreError;

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Silence {
    pub id: i64,
    pub host: Option<String>,
    pub rule: Option<String>,
    pub starts_ms: i64,
    pub ends_ms: i64,
    pub author: String,
    pub comment: String,
    pub created_ms: i64,
}

/// `POST /api/v1/silences`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewSilence {
    #[serde(default)]
    pub host: Option<String>,
    #[serde(default)]
    pub rule: Option<String>,
    /// Default: now.
    #[serde(default)]
    pub starts_ms: Option<i64>,
    pub ends_ms: i64,
    pub author: String,
    #[serde(default)]
    pub comment: String,
}

/// Longest author and comment kept.
const MAX_TEXT: usize = 1000;
/// Longest silence: a year.
const MAX_SPAN_MS: i64 = 366 * 24 * 3600 * 1000;

impl NewSilence {
    /// Checked against `now_ms`; the error says what is wrong.
    pub fn check(&self, now_ms: i64) -> Result<(), String> {
        let starts = self.starts_ms.unwrap_or(now_ms);
        if self.author.trim().is_empty() {
            return Err("author is required".to_string());
        }
        if self.author.chars().count() > MAX_TEXT || self.comment.chars().count() > MAX_TEXT {
            return Err(format!(
                "author and comment are at most {MAX_TEXT} characters"
            ));
        }
        if self.ends_ms <= now_ms || self.ends_ms <= starts {
            return Err("ends_ms must be in the future and after starts_ms".to_string());
        }
        if self.ends_ms - starts > MAX_SPAN_MS {
            return Err("a silence lasts at most a year".to_string());
        }
        for (what, value) in [("host", &self.host), ("rule", &self.rule)] {
            if value
                .as_ref()
                .is_some_and(|v| v.is_empty() || v.len() > 256)
            {
                return Err(format!(
                    "{what} is 1 to 256 characters, or left out to match any"
                ));
            }
        }
        Ok(())
    }
}

impl Silence {
    pub fn matches(&self, host: &str, rule: &str, now_ms: i64) -> bool {
        self.starts_ms <= now_ms
            && now_ms < self.ends_ms
            && self.host.as_deref().is_none_or(|h| h == host)
            && self.rule.as_deref().is_none_or(|r| r == rule)
    }
}

pub fn insert(conn: &Connection, new: &NewSilence, now_ms: i64) -> Result<Silence, StoreError> {
    let starts = new.starts_ms.unwrap_or(now_ms);
    conn.execute(
        "INSERT INTO silences (host_id, rule, starts_ms, ends_ms, author, comment, created_ms)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        params![
            new.host,
            new.rule,
            starts,
            new.ends_ms,
            new.author,
            new.comment,
            now_ms
        ],
    )?;
    Ok(Silence {
        id: conn.last_insert_rowid(),
        host: new.host.clone(),
        rule: new.rule.clone(),
        starts_ms: starts,
        ends_ms: new.ends_ms,
        author: new.author.clone(),
        comment: new.comment.clone(),
        created_ms: now_ms,
    })
}

/// End silence `id` now; false when there is no such silence still running.
pub fn end(conn: &Connection, id: i64, now_ms: i64) -> Result<bool, StoreError> {
    Ok(conn.execute(
        "UPDATE silences SET ends_ms = ?2 WHERE id = ?1 AND ends_ms > ?2",
        params![id, now_ms],
    )? == 1)
}

/// Silences not over yet (running or scheduled), soonest first.
pub fn current(conn: &Connection, now_ms: i64) -> Result<Vec<Silence>, StoreError> {
    let mut statement = conn.prepare_cached(
        "SELECT id, host_id, rule, starts_ms, ends_ms, author, comment, created_ms FROM silences
         WHERE ends_ms > ?1 ORDER BY starts_ms, id",
    )?;
    let rows = statement.query_map(params![now_ms], |r| {
        Ok(Silence {
            id: r.get(0)?,
            host: r.get(1)?,
            rule: r.get(2)?,
            starts_ms: r.get(3)?,
            ends_ms: r.get(4)?,
            author: r.get(5)?,
            comment: r.get(6)?,
            created_ms: r.get(7)?,
        })
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn silence(host: Option<&str>, rule: Option<&str>) -> Silence {
        Silence {
            id: 1,
            host: host.map(str::to_string),
            rule: rule.map(str::to_string),
            starts_ms: 100,
            ends_ms: 200,
            author: "admin".to_string(),
            comment: String::new(),
            created_ms: 0,
        }
    }

    #[test]
    fn matching_by_host_rule_and_time() {
        assert!(silence(Some("h"), None).matches("h", "cpu_usage", 150));
        assert!(!silence(Some("h"), None).matches("other", "cpu_usage", 150));
        assert!(silence(None, Some("cpu_usage")).matches("any", "cpu_usage", 150));
        assert!(
            !silence(None, None).matches("h", "cpu_usage", 99),
            "not started"
        );
        assert!(!silence(None, None).matches("h", "cpu_usage", 200), "over");
    }

    #[test]
    fn new_silences_are_checked() {
        let new = |ends_ms, author: &str| NewSilence {
            host: None,
            rule: None,
            starts_ms: None,
            ends_ms,
            author: author.to_string(),
            comment: String::new(),
        };
        assert!(new(2_000, "admin").check(1_000).is_ok());
        assert!(new(500, "admin").check(1_000).is_err(), "in the past");
        assert!(new(2_000, " ").check(1_000).is_err(), "no author");
        assert!(new(i64::MAX, "admin").check(1_000).is_err(), "too long");
    }
}
