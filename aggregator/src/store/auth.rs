//! The `tokens` and `hosts` tables as `auth` uses them: secrets are only
//! ever stored and looked up by their SHA-256 hash.

use rusqlite::{Connection, OptionalExtension, params};

use super::StoreError;

/// A token as stored (its hash, never the secret).
#[derive(Clone, Debug, PartialEq)]
pub struct StoredToken {
    pub hash: String,
    pub kind: String,
    pub name: String,
    pub created_ms: i64,
    pub expires_ms: Option<i64>,
    pub used_ms: Option<i64>,
    pub used_by: Option<String>,
    pub revoked_ms: Option<i64>,
}

pub fn insert_token(
    conn: &Connection,
    hash: &str,
    kind: &str,
    name: &str,
    created_ms: i64,
    expires_ms: Option<i64>,
) -> Result<(), StoreError> {
    conn.execute(
        "INSERT INTO tokens (hash, kind, name, created_ms, expires_ms) VALUES (?1, ?2, ?3, ?4, ?5)",
        params![hash, kind, name, created_ms, expires_ms],
    )?;
    Ok(())
}

/// Whether the API token with this hash is live at `now_ms`.
pub fn api_token_live(conn: &Connection, hash: &str, now_ms: i64) -> Result<bool, StoreError> {
    Ok(conn
        .query_row(
            "SELECT 1 FROM tokens WHERE hash = ?1 AND kind = 'api' AND revoked_ms IS NULL
               AND (expires_ms IS NULL OR expires_ms > ?2)",
            params![hash, now_ms],
            |_| Ok(()),
        )
        .optional()?
        .is_some())
}

/// Every token, oldest first.
pub fn tokens(conn: &Connection) -> Result<Vec<StoredToken>, StoreError> {
    let mut statement = conn.prepare(
        "SELECT hash, kind, name, created_ms, expires_ms, used_ms, used_by, revoked_ms
           FROM tokens ORDER BY created_ms, hash",
    )?;
    let rows = statement.query_map([], |r| {
        Ok(StoredToken {
            hash: r.get(0)?,
            kind: r.get(1)?,
            name: r.get(2)?,
            created_ms: r.get(3)?,
            expires_ms: r.get(4)?,
            used_ms: r.get(5)?,
            used_by: r.get(6)?,
            revoked_ms: r.get(7)?,
        })
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// Tokens whose hash starts with `prefix`: each hash and when it was
/// revoked.
pub fn tokens_by_hash_prefix(
    conn: &Connection,
    prefix: &str,
) -> Result<Vec<(String, Option<i64>)>, StoreError> {
    let mut statement =
        conn.prepare("SELECT hash, revoked_ms FROM tokens WHERE substr(hash, 1, ?2) = ?1")?;
    let rows = statement.query_map(params![prefix, prefix.len() as i64], |r| {
        Ok((r.get(0)?, r.get(1)?))
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// Revoke the token with this hash; false when it was already revoked.
pub fn revoke_token(conn: &Connection, hash: &str, now_ms: i64) -> Result<bool, StoreError> {
    Ok(conn.execute(
        "UPDATE tokens SET revoked_ms = ?2 WHERE hash = ?1 AND revoked_ms IS NULL",
        params![hash, now_ms],
    )? == 1)
}

/// Spend the join token with this hash for `host_id`; false when it is
/// unknown, used, revoked or expired.
pub fn spend_join_token(
    conn: &Connection,
    hash: &str,
    host_id: &str,
    now_ms: i64,
) -> Result<bool, StoreError> {
    Ok(conn.execute(
        "UPDATE tokens SET used_ms = ?2, used_by = ?3
         WHERE hash = ?1 AND kind = 'join' AND used_ms IS NULL AND revoked_ms IS NULL
           AND (expires_ms IS NULL OR expires_ms > ?2)",
        params![hash, now_ms, host_id],
    )? == 1)
}

/// Whether `host_id` is enrolled: `None` when it never was, else when it
/// was revoked (`Some(None)`: live).
pub fn host_revoked_ms(
    conn: &Connection,
    host_id: &str,
) -> Result<Option<Option<i64>>, StoreError> {
    Ok(conn
        .query_row(
            "SELECT revoked_ms FROM hosts WHERE id = ?1",
            [host_id],
            |r| r.get(0),
        )
        .optional()?)
}

/// Give `host_id` the credential with this hash (a new host, or a revoked
/// one enrolled again).
pub fn set_host_credential(
    conn: &Connection,
    host_id: &str,
    credential_hash: &str,
    now_ms: i64,
) -> Result<(), StoreError> {
    conn.execute(
        "INSERT INTO hosts (id, credential_hash, enrolled_ms) VALUES (?1, ?2, ?3)
         ON CONFLICT (id) DO UPDATE SET credential_hash = excluded.credential_hash,
           enrolled_ms = excluded.enrolled_ms, revoked_ms = NULL",
        params![host_id, credential_hash, now_ms],
    )?;
    Ok(())
}

/// The live host whose credential has this hash.
pub fn host_for_credential_hash(
    conn: &Connection,
    credential_hash: &str,
) -> Result<Option<String>, StoreError> {
    Ok(conn
        .query_row(
            "SELECT id FROM hosts WHERE credential_hash = ?1 AND revoked_ms IS NULL",
            [credential_hash],
            |r| r.get(0),
        )
        .optional()?)
}

/// Revoke a host's credential; false if there is no such live host.
pub fn revoke_host(conn: &Connection, host_id: &str, now_ms: i64) -> Result<bool, StoreError> {
    Ok(conn.execute(
        "UPDATE hosts SET revoked_ms = ?2 WHERE id = ?1 AND revoked_ms IS NULL",
        params![host_id, now_ms],
    )? == 1)
}

/// What a host's agent said in its last hello (`plugins` and `refused` as
/// JSON text).
pub struct HelloRecord<'a> {
    pub agent_version: &'a str,
    pub host_type: &'a str,
    pub plugins: &'a str,
    pub refused: &'a str,
}

pub fn record_hello(
    conn: &Connection,
    host_id: &str,
    hello: &HelloRecord<'_>,
    now_ms: i64,
) -> Result<(), StoreError> {
    conn.execute(
        "UPDATE hosts SET agent_version = ?2, host_type = ?3, plugins = ?4, refused_plugins = ?5,
           hello_ms = ?6 WHERE id = ?1",
        params![
            host_id,
            hello.agent_version,
            hello.host_type,
            hello.plugins,
            hello.refused,
            now_ms
        ],
    )?;
    Ok(())
}
