//! Read-only queries on the databases agent.yml grants (capability `sql`,
//! since contract 1.1).
//!
//! ```no_run
//! use p2pmon_plugin_sdk::sql::{self, Value};
//!
//! # fn run() -> Result<(), p2pmon_plugin_sdk::HostError> {
//! let result = sql::query(
//!     "main",
//!     "SELECT last_map, COUNT(*) FROM `char` WHERE online = ? GROUP BY last_map",
//!     &[Value::Int(1)],
//! )?;
//! for row in &result.rows {
//!     let map = row[0].as_str().unwrap_or("?");
//!     let players = row[1].as_i64().unwrap_or(0);
//! #   let _ = (map, players);
//! }
//! # Ok(())
//! # }
//! ```

pub use crate::bindings::p2pmon::plugin::sql::{QueryResult, SqlValue as Value};
use crate::host::HostError;

/// Run one SELECT with `?` placeholders bound to `params` on the connection
/// agent.yml names `connection`. Other statements are refused with
/// [`HostError::Invalid`], an ungranted connection with [`HostError::Denied`].
pub fn query(
    connection: &str,
    statement: &str,
    params: &[Value],
) -> Result<QueryResult, HostError> {
    #[cfg(target_arch = "wasm32")]
    return crate::bindings::p2pmon::plugin::sql::query(connection, statement, params)
        .map_err(HostError::from);
    #[cfg(not(target_arch = "wasm32"))]
    crate::testing::call(|host| host.on_sql_query(connection, statement, params))
}

impl Value {
    /// The value as a signed integer: integers, and text or floats that hold
    /// one. `None` for NULL and anything else.
    pub fn as_i64(&self) -> Option<i64> {
        match self {
            Value::Int(v) => Some(*v),
            Value::Uint(v) => i64::try_from(*v).ok(),
            Value::Float(v) if v.fract() == 0.0 => Some(*v as i64),
            Value::Text(t) => t.trim().parse().ok(),
            _ => None,
        }
    }

    /// The value as a float: any number, or text that holds one.
    pub fn as_f64(&self) -> Option<f64> {
        match self {
            Value::Int(v) => Some(*v as f64),
            Value::Uint(v) => Some(*v as f64),
            Value::Float(v) => Some(*v),
            Value::Text(t) => t.trim().parse().ok(),
            _ => None,
        }
    }

    /// The value as text, when it is text.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::Text(t) => Some(t),
            _ => None,
        }
    }

    /// The value as an owned string: text as is, numbers printed, bytes
    /// lossily decoded; `None` for NULL.
    pub fn to_text(&self) -> Option<String> {
        match self {
            Value::Null => None,
            Value::Int(v) => Some(v.to_string()),
            Value::Uint(v) => Some(v.to_string()),
            Value::Float(v) => Some(v.to_string()),
            Value::Text(t) => Some(t.clone()),
            Value::Bytes(b) => Some(String::from_utf8_lossy(b).into_owned()),
        }
    }
}

impl QueryResult {
    /// Index of the column named `name` (case-insensitive).
    pub fn column(&self, name: &str) -> Option<usize> {
        self.columns
            .iter()
            .position(|c| c.eq_ignore_ascii_case(name))
    }
}
