//! Silences and maintenance windows: while one matches an alert (its host
//! and rule, either left empty to match any), the alert is still evaluated,
//! stored and shown, but no channel is notified. A maintenance window is a
//! silence that starts later. Each has an end time and an author.

use rusqlite::Connection;
use serde::Deserialize;

pub use crate::store::silences::{Silence, current, end};
use crate::store::{self, StoreError};

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

/// What is wrong with a new silence.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum SilenceError {
    #[error("author is required")]
    NoAuthor,
    #[error("author and comment are at most {MAX_TEXT} characters")]
    TooLong,
    #[error("ends_ms must be in the future and after starts_ms")]
    EndsTooSoon,
    #[error("a silence lasts at most a year")]
    TooLongSpan,
    #[error("{0} is 1 to 256 characters, or left out to match any")]
    BadMatcher(&'static str),
}

impl NewSilence {
    /// Checked against `now_ms`; the error says what is wrong.
    pub fn check(&self, now_ms: i64) -> Result<(), SilenceError> {
        let starts = self.starts_ms.unwrap_or(now_ms);
        if self.author.trim().is_empty() {
            return Err(SilenceError::NoAuthor);
        }
        if self.author.chars().count() > MAX_TEXT || self.comment.chars().count() > MAX_TEXT {
            return Err(SilenceError::TooLong);
        }
        if self.ends_ms <= now_ms || self.ends_ms <= starts {
            return Err(SilenceError::EndsTooSoon);
        }
        if self.ends_ms - starts > MAX_SPAN_MS {
            return Err(SilenceError::TooLongSpan);
        }
        for (what, value) in [("host", &self.host), ("rule", &self.rule)] {
            if value
                .as_ref()
                .is_some_and(|v| v.is_empty() || v.len() > 256)
            {
                return Err(SilenceError::BadMatcher(what));
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

/// Save `new`, made at `now_ms`; returns it with its id.
pub fn insert(conn: &Connection, new: &NewSilence, now_ms: i64) -> Result<Silence, StoreError> {
    store::silences::insert(
        conn,
        Silence {
            id: 0,
            host: new.host.clone(),
            rule: new.rule.clone(),
            starts_ms: new.starts_ms.unwrap_or(now_ms),
            ends_ms: new.ends_ms,
            author: new.author.clone(),
            comment: new.comment.clone(),
            created_ms: now_ms,
        },
    )
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
        assert_eq!(
            new(500, "admin").check(1_000),
            Err(SilenceError::EndsTooSoon)
        );
        assert_eq!(new(2_000, " ").check(1_000), Err(SilenceError::NoAuthor));
        assert_eq!(
            new(i64::MAX, "admin").check(1_000),
            Err(SilenceError::TooLongSpan)
        );
        assert_eq!(
            SilenceError::BadMatcher("host").to_string(),
            "host is 1 to 256 characters, or left out to match any"
        );
    }
}
