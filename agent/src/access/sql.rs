//! The `sql` capability: one read-only SELECT per call on a named
//! MySQL/MariaDB connection, with a row cap and a time limit.
//!
//! Three layers keep it read-only: the statement is parsed and must be a
//! single SELECT without `INTO`, locking clauses or file functions; every
//! session is opened `READ ONLY`; and the docs ask for a database user with
//! SELECT grants only. A query past its time limit is cancelled on the server
//! with `KILL QUERY` from a second connection, so it stops costing the game
//! database anything.

use std::sync::Arc;
use std::time::Duration;

use mysql_async::prelude::Queryable;
use sqlparser::ast::{SetExpr, Statement};
use sqlparser::dialect::MySqlDialect;
use sqlparser::parser::Parser;
use sqlparser::tokenizer::{Token, Tokenizer};

use crate::bindings::p2pmon::plugin::sql::{QueryResult, SqlValue};
use crate::bindings::p2pmon::plugin::types::HostError;
use crate::config::SqlConnectionConfig;

/// Longest statement a plugin may send.
pub const MAX_STATEMENT_BYTES: usize = 16 * 1024;
/// Most parameters one statement may bind.
const MAX_PARAMS: usize = 256;

/// Words that have no place in a read-only SELECT even where the parser
/// accepts them: writing files, reading server files, assigning variables.
const FORBIDDEN_WORDS: [&str; 4] = ["INTO", "OUTFILE", "DUMPFILE", "LOAD_FILE"];

/// A pool for one configured database.
pub struct Connection {
    name: String,
    pool: mysql_async::Pool,
    max_rows: usize,
    timeout: Duration,
}

impl Connection {
    pub fn new(name: &str, config: &SqlConnectionConfig) -> Result<Self, String> {
        let opts = mysql_async::Opts::from_url(&config.url).map_err(|e| e.to_string())?;
        let constraints = mysql_async::PoolConstraints::new(0, config.pool_size)
            .ok_or_else(|| format!("pool_size {} is not usable", config.pool_size))?;
        let pool_opts = mysql_async::PoolOpts::new()
            .with_constraints(constraints)
            .with_inactive_connection_ttl(Duration::from_secs(60));
        let opts = mysql_async::OptsBuilder::from_opts(opts)
            .pool_opts(pool_opts)
            // One more row than the cap tells "exactly max_rows" from "more".
            .setup(vec![
                "SET SESSION TRANSACTION READ ONLY".to_string(),
                format!(
                    "SET SESSION sql_select_limit = {}",
                    u64::from(config.max_rows) + 1
                ),
            ])
            .conn_ttl(Duration::from_secs(300));
        Ok(Self {
            name: name.to_string(),
            pool: mysql_async::Pool::new(opts),
            max_rows: config.max_rows as usize,
            timeout: Duration::from_millis(config.timeout_ms),
        })
    }

    pub async fn close(&self) {
        if let Err(error) = self.pool.clone().disconnect().await {
            tracing::debug!(connection = %self.name, %error, "Closing the SQL pool failed.");
        }
    }

    /// Check `statement`, run it with `params`, and return at most
    /// `max_rows` rows; `deadline` (the plugin's own time limit) can make the
    /// limit shorter than the connection's.
    pub async fn query(
        self: &Arc<Self>,
        statement: &str,
        params: Vec<SqlValue>,
        remaining: Duration,
    ) -> Result<QueryResult, HostError> {
        check_statement(statement).map_err(HostError::Invalid)?;
        if params.len() > MAX_PARAMS {
            return Err(HostError::Invalid(format!(
                "{} parameters; at most {MAX_PARAMS}",
                params.len()
            )));
        }
        let limit = self.timeout.min(remaining);
        let unavailable = |e: mysql_async::Error| {
            HostError::Unavailable(format!("sql connection `{}`: {e}", self.name))
        };
        let mut conn = tokio::time::timeout(limit, self.pool.get_conn())
            .await
            .map_err(|_| {
                HostError::Unavailable(format!(
                    "sql connection `{}`: no connection within {} ms",
                    self.name,
                    limit.as_millis()
                ))
            })?
            .map_err(unavailable)?;
        let connection_id = conn.id();
        let params = if params.is_empty() {
            mysql_async::Params::Empty
        } else {
            mysql_async::Params::Positional(params.into_iter().map(to_mysql).collect())
        };
        let max_rows = self.max_rows;
        let run = async {
            let mut result = conn.exec_iter(statement, params).await?;
            let columns = result
                .columns_ref()
                .iter()
                .map(|c| c.name_str().into_owned())
                .collect::<Vec<_>>();
            let mut rows = Vec::new();
            let mut truncated = false;
            while let Some(row) = result.next().await? {
                if rows.len() == max_rows {
                    truncated = true;
                    break;
                }
                rows.push(row.unwrap().into_iter().map(from_mysql).collect());
            }
            result.drop_result().await?;
            Ok::<_, mysql_async::Error>(QueryResult {
                columns,
                rows,
                truncated,
            })
        };
        match tokio::time::timeout(limit, run).await {
            Ok(result) => result.map_err(|e| match e {
                mysql_async::Error::Server(server) => HostError::Invalid(format!(
                    "sql connection `{}`: {} ({})",
                    self.name, server.message, server.code
                )),
                other => unavailable(other),
            }),
            Err(_) => {
                // The connection is mid-query: drop it and stop the query.
                drop(conn);
                let this = Arc::clone(self);
                tokio::spawn(async move { this.kill_query(connection_id).await });
                Err(HostError::Unavailable(format!(
                    "sql connection `{}`: query cancelled after {} ms",
                    self.name,
                    limit.as_millis()
                )))
            }
        }
    }

    async fn kill_query(&self, connection_id: u32) {
        let outcome = async {
            let mut conn = self.pool.get_conn().await?;
            conn.query_drop(format!("KILL QUERY {connection_id}")).await
        };
        match tokio::time::timeout(Duration::from_secs(5), outcome).await {
            Ok(Ok(())) => {
                tracing::debug!(connection = %self.name, connection_id, "Slow query killed.")
            }
            Ok(Err(error)) => {
                tracing::warn!(connection = %self.name, connection_id, %error, "Could not kill a slow query.")
            }
            Err(_) => {
                tracing::warn!(connection = %self.name, connection_id, "Killing a slow query timed out.")
            }
        }
    }
}

/// Whether `statement` is one read-only SELECT; the reason when it is not.
pub fn check_statement(statement: &str) -> Result<(), String> {
    if statement.len() > MAX_STATEMENT_BYTES {
        return Err(format!(
            "statement is {} bytes; at most {MAX_STATEMENT_BYTES}",
            statement.len()
        ));
    }
    let dialect = MySqlDialect {};
    let tokens = Tokenizer::new(&dialect, statement)
        .tokenize()
        .map_err(|e| format!("cannot read the statement: {e}"))?;
    for token in &tokens {
        if let Token::Word(word) = token
            && word.quote_style.is_none()
            && let Some(bad) = FORBIDDEN_WORDS
                .iter()
                .find(|w| word.value.eq_ignore_ascii_case(w))
        {
            return Err(format!(
                "{bad} is not allowed: only plain SELECT statements that return rows"
            ));
        }
    }
    let statements = Parser::parse_sql(&dialect, statement)
        .map_err(|e| format!("not a valid SELECT statement: {e}"))?;
    let query = match statements.as_slice() {
        [] => return Err("empty statement".to_string()),
        [Statement::Query(query)] => query,
        [other] => {
            let kind = other.to_string();
            let kind = kind.split_whitespace().next().unwrap_or("this statement");
            return Err(format!(
                "only SELECT statements are allowed, not {}",
                kind.to_ascii_uppercase()
            ));
        }
        many => {
            return Err(format!("one statement per call; this holds {}", many.len()));
        }
    };
    if !query.locks.is_empty() {
        return Err("locking reads (FOR UPDATE, FOR SHARE) are not allowed".to_string());
    }
    check_body(&query.body)
}

fn check_body(body: &SetExpr) -> Result<(), String> {
    match body {
        SetExpr::Select(select) if select.into.is_some() => {
            Err("SELECT ... INTO is not allowed".to_string())
        }
        SetExpr::Select(_) | SetExpr::Values(_) | SetExpr::Table(_) => Ok(()),
        SetExpr::Query(query) => check_body(&query.body),
        SetExpr::SetOperation { left, right, .. } => {
            check_body(left)?;
            check_body(right)
        }
        _ => Err("only SELECT statements are allowed".to_string()),
    }
}

fn to_mysql(value: SqlValue) -> mysql_async::Value {
    match value {
        SqlValue::Null => mysql_async::Value::NULL,
        SqlValue::Int(v) => mysql_async::Value::Int(v),
        SqlValue::Uint(v) => mysql_async::Value::UInt(v),
        SqlValue::Float(v) => mysql_async::Value::Double(v),
        SqlValue::Text(v) => mysql_async::Value::Bytes(v.into_bytes()),
        SqlValue::Bytes(v) => mysql_async::Value::Bytes(v),
    }
}

fn from_mysql(value: mysql_async::Value) -> SqlValue {
    use mysql_async::Value;
    match value {
        Value::NULL => SqlValue::Null,
        Value::Int(v) => SqlValue::Int(v),
        Value::UInt(v) => SqlValue::Uint(v),
        Value::Float(v) => SqlValue::Float(f64::from(v)),
        Value::Double(v) => SqlValue::Float(v),
        Value::Bytes(bytes) => match String::from_utf8(bytes) {
            Ok(text) => SqlValue::Text(text),
            Err(e) => SqlValue::Bytes(e.into_bytes()),
        },
        Value::Date(y, mo, d, h, mi, s, us) => SqlValue::Text(if us == 0 {
            format!("{y:04}-{mo:02}-{d:02} {h:02}:{mi:02}:{s:02}")
        } else {
            format!("{y:04}-{mo:02}-{d:02} {h:02}:{mi:02}:{s:02}.{us:06}")
        }),
        Value::Time(negative, days, h, mi, s, _us) => {
            let hours = u64::from(days) * 24 + u64::from(h);
            let sign = if negative { "-" } else { "" };
            SqlValue::Text(format!("{sign}{hours:02}:{mi:02}:{s:02}"))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::check_statement;

    #[test]
    fn plain_selects_pass() {
        for ok in [
            "SELECT COUNT(*) FROM `char` WHERE online = 1",
            "select last_map, count(*) as n from `char` where online = 1 group by last_map",
            "SELECT a FROM t UNION SELECT b FROM u",
            "SELECT SUM(amount) FROM picklog WHERE id > ? ORDER BY id LIMIT 100",
            "SELECT 'into' AS word, `into` FROM t",
            "SELECT SLEEP(5)",
        ] {
            assert_eq!(check_statement(ok), Ok(()), "{ok}");
        }
    }

    #[test]
    fn everything_else_is_refused_with_a_reason() {
        for (bad, reason) in [
            ("UPDATE `char` SET zeny = 0", "only SELECT"),
            ("DELETE FROM loginlog", "only SELECT"),
            ("INSERT INTO t VALUES (1)", "INTO is not allowed"),
            ("SELECT 1; DROP TABLE `char`", "one statement per call"),
            ("SELECT 1; SELECT 2", "one statement per call"),
            (
                "SELECT * FROM `char` INTO OUTFILE '/tmp/x'",
                "INTO is not allowed",
            ),
            (
                "SELECT LOAD_FILE('/etc/passwd')",
                "LOAD_FILE is not allowed",
            ),
            ("SELECT * FROM t FOR UPDATE", "locking reads"),
            ("", "empty statement"),
            ("SELEC 1", "not a valid SELECT"),
            ("CALL cleanup()", "only SELECT"),
            ("SET @a = 1", "only SELECT"),
        ] {
            let error = check_statement(bad).expect_err(bad);
            assert!(error.contains(reason), "{bad:?} gave {error:?}");
        }
    }

    #[test]
    fn oversized_statements_are_refused() {
        let long = format!("SELECT '{}'", "x".repeat(super::MAX_STATEMENT_BYTES));
        assert!(
            check_statement(&long)
                .expect_err("too long")
                .contains("at most")
        );
    }
}
