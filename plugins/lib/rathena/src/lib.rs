//! What the game and anti-cheat plugins know about rAthena: its log tables
//! (read forward with a [`Cursor`]), what picklog and zenylog rows mean
//! ([`economy`]), loginlog codes ([`login`]), the map-server console log's
//! security lines ([`console`]), GM commands as typed ([`gm`]), and a
//! baseline that tells a spike from a busy evening ([`Baseline`]).
//!
//! Everything here is plain Rust over the SDK, so it is unit-tested natively.

pub mod console;
pub mod economy;
pub mod gm;
pub mod login;

use p2pmon_plugin_sdk::HostError;
use p2pmon_plugin_sdk::sql::{self, Value};

/// A SQL identifier taken from config (a table name): letters, digits and
/// `_` only, so it can be put into a statement.
pub fn identifier(key: &str, value: &str) -> Result<String, String> {
    if value.is_empty()
        || value.len() > 64
        || !value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_')
    {
        return Err(format!(
            "config `{key}`: {value:?} is not a table name (1 to 64 of a-z, A-Z, 0-9, _)"
        ));
    }
    Ok(value.to_string())
}

/// A comma-separated config list, trimmed, empty items dropped.
pub fn list(text: &str) -> Vec<String> {
    text.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .collect()
}

/// `?, ?, ?` for `n` parameters.
pub fn placeholders(n: usize) -> String {
    vec!["?"; n].join(", ")
}

/// A query's error as text, with the connection named.
pub fn sql_error(connection: &str, error: HostError) -> String {
    format!("sql `{connection}`: {error}")
}

/// The first column of the first row as an integer (0 for NULL or no row).
pub fn scalar(connection: &str, statement: &str, params: &[Value]) -> Result<i64, String> {
    let result = sql::query(connection, statement, params).map_err(|e| sql_error(connection, e))?;
    Ok(result
        .rows
        .first()
        .and_then(|row| row.first())
        .and_then(Value::as_i64)
        .unwrap_or(0))
}

/// Reads an append-only log table forward by its auto-increment key. The
/// first [`Cursor::advance`] only notes where the table ends (history is not
/// replayed as if new); each later one returns the key range added since.
#[derive(Clone, Debug, Default)]
pub struct Cursor {
    last: Option<i64>,
}

impl Cursor {
    /// The new rows' key range `(after, up_to]`, or `None` when there is
    /// nothing new (or this is the first call). A table that shrank (rows
    /// purged) restarts from its current end.
    pub fn advance(
        &mut self,
        connection: &str,
        table: &str,
        key: &str,
    ) -> Result<Option<(i64, i64)>, String> {
        let end = scalar(
            connection,
            &format!("SELECT MAX(`{key}`) FROM `{table}`"),
            &[],
        )?;
        Ok(self.step(end))
    }

    fn step(&mut self, end: i64) -> Option<(i64, i64)> {
        let previous = self.last.replace(end);
        match previous {
            Some(after) if end > after => Some((after, end)),
            _ => None,
        }
    }
}

/// A slow-moving average of a rate (per second), to judge whether one
/// interval is far above what this host usually sees. Anomalous intervals
/// are not folded in, so a long attack does not become the new normal.
#[derive(Clone, Debug)]
pub struct Baseline {
    mean: Option<f64>,
    weight: f64,
}

impl Default for Baseline {
    fn default() -> Self {
        Self {
            mean: None,
            weight: 0.1,
        }
    }
}

/// How one interval compares with the baseline.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Judgement {
    pub anomalous: bool,
    /// The baseline before this interval (per second), if there was one.
    pub baseline: Option<f64>,
}

impl Baseline {
    /// Judge `amount` gained over `seconds`: anomalous when it is at least
    /// `min_amount` and more than `factor` times the baseline rate (any
    /// amount over `min_amount` while there is no baseline yet).
    pub fn judge(&mut self, amount: f64, seconds: f64, factor: f64, min_amount: f64) -> Judgement {
        let rate = amount / seconds.max(0.001);
        let baseline = self.mean;
        let above_usual = baseline.is_none_or(|mean| rate > mean * factor);
        let anomalous = amount >= min_amount && above_usual;
        if !anomalous {
            self.mean = Some(match baseline {
                None => rate,
                Some(mean) => mean + self.weight * (rate - mean),
            });
        }
        Judgement {
            anomalous,
            baseline,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursor_skips_history_then_returns_new_ranges() {
        let mut cursor = Cursor::default();
        assert_eq!(cursor.step(100), None, "first call only notes the end");
        assert_eq!(cursor.step(100), None);
        assert_eq!(cursor.step(104), Some((100, 104)));
        assert_eq!(cursor.step(3), None, "purged table restarts");
        assert_eq!(cursor.step(5), Some((3, 5)));
    }

    #[test]
    fn baseline_flags_spikes_but_not_steady_traffic() {
        let mut baseline = Baseline::default();
        for _ in 0..20 {
            assert!(!baseline.judge(50.0, 5.0, 10.0, 1000.0).anomalous);
        }
        // Ten times the usual and over the floor: anomalous, not learnt.
        let spike = baseline.judge(5000.0, 5.0, 10.0, 1000.0);
        assert!(spike.anomalous);
        assert!((spike.baseline.unwrap_or(0.0) - 10.0).abs() < 0.01);
        assert!(baseline.judge(5000.0, 5.0, 10.0, 1000.0).anomalous);
        // Below the floor is never anomalous, however far above the usual.
        assert!(!baseline.judge(900.0, 5.0, 10.0, 1000.0).anomalous);
    }

    #[test]
    fn identifiers_from_config_are_checked() {
        assert!(identifier("t", "p2pmon_map_status").is_ok());
        assert!(identifier("t", "x`; DROP TABLE char").is_err());
        assert!(identifier("t", "").is_err());
    }

    #[test]
    fn lists_are_trimmed() {
        assert_eq!(list(" a, b,,c "), ["a", "b", "c"]);
        assert_eq!(placeholders(3), "?, ?, ?");
    }
}
