//! Secrets: join tokens (single use, expiring), host credentials and API
//! tokens. Only SHA-256 hashes are stored; the secrets are 256 random bits,
//! so a fast hash is enough. Everything lives in the store's database, so the
//! CLI (`token create`, `token list`, `token revoke`, `host revoke`) and a
//! running server see the same state.

use rusqlite::Connection;
use sha2::{Digest, Sha256};

use crate::store::{self, StoreError};
use p2pmon_common::rules;
use p2pmon_common::wire::{EnrollResponse, Hello};

/// Prefixes make a leaked secret recognisable (and greppable).
pub const JOIN_PREFIX: &str = "p2pj_";
pub const API_PREFIX: &str = "p2pa_";
pub const HOST_PREFIX: &str = "p2ph_";

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TokenKind {
    Join,
    Api,
}

impl TokenKind {
    fn as_str(self) -> &'static str {
        match self {
            TokenKind::Join => "join",
            TokenKind::Api => "api",
        }
    }
    fn prefix(self) -> &'static str {
        match self {
            TokenKind::Join => JOIN_PREFIX,
            TokenKind::Api => API_PREFIX,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    #[error(
        "the join token is unknown, already used, or expired; create a new one with `p2pmon-aggregator token create --join`"
    )]
    InvalidJoinToken,
    #[error(
        "host {0:?} is already enrolled; revoke it first (`p2pmon-aggregator host revoke {0}`) to enroll it again"
    )]
    HostExists(String),
    #[error(
        "host id {0:?} is not valid: 1 to 64 of a-z, 0-9, '.', '_', '-', starting with a letter or digit"
    )]
    InvalidHostId(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<rusqlite::Error> for AuthError {
    fn from(error: rusqlite::Error) -> Self {
        AuthError::Store(error.into())
    }
}

/// A new secret: `prefix` and 64 hex digits from the OS's random source.
pub fn generate(prefix: &str) -> Result<String, StoreError> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).map_err(StoreError::NoRandomSource)?;
    Ok(format!("{prefix}{}", hex::encode(bytes)))
}

pub fn hash(secret: &str) -> String {
    hex::encode(Sha256::digest(secret.as_bytes()))
}

/// Create a token and return the secret (shown once, stored hashed).
pub fn create_token(
    conn: &Connection,
    kind: TokenKind,
    name: &str,
    ttl_ms: Option<i64>,
    now_ms: i64,
) -> Result<String, StoreError> {
    let secret = generate(kind.prefix())?;
    store::auth::insert_token(
        conn,
        &hash(&secret),
        kind.as_str(),
        name,
        now_ms,
        ttl_ms.map(|ttl| now_ms + ttl),
    )?;
    Ok(secret)
}

/// Whether `token` is a live API token.
pub fn api_token_valid(conn: &Connection, token: &str, now_ms: i64) -> Result<bool, StoreError> {
    api_token_hash_valid(conn, &hash(token), now_ms)
}

/// Whether the API token with hash `token_hash` is live (what a dashboard
/// session checks: it keeps the hash, never the token).
pub fn api_token_hash_valid(
    conn: &Connection,
    token_hash: &str,
    now_ms: i64,
) -> Result<bool, StoreError> {
    store::auth::api_token_live(conn, token_hash, now_ms)
}

/// Characters of a token's hash shown as its id by `token list`.
pub const TOKEN_ID_LEN: usize = 12;
/// Fewest characters of an id `token revoke` takes (fewer could match
/// several tokens by accident).
pub const MIN_TOKEN_ID: usize = 8;

/// One stored token as `token list` shows it (never the secret).
#[derive(Clone, Debug, serde::Serialize)]
pub struct TokenRow {
    /// The start of its hash.
    pub id: String,
    pub kind: String,
    pub name: String,
    pub created_ms: i64,
    pub expires_ms: Option<i64>,
    pub used_ms: Option<i64>,
    pub used_by: Option<String>,
    pub revoked_ms: Option<i64>,
}

impl TokenRow {
    /// live, used, expired or revoked.
    pub fn state(&self, now_ms: i64) -> &'static str {
        if self.revoked_ms.is_some() {
            "revoked"
        } else if self.used_ms.is_some() {
            "used"
        } else if self.expires_ms.is_some_and(|e| e <= now_ms) {
            "expired"
        } else {
            "live"
        }
    }
}

/// Every token, oldest first.
pub fn list_tokens(conn: &Connection) -> Result<Vec<TokenRow>, StoreError> {
    Ok(store::auth::tokens(conn)?
        .into_iter()
        .map(|t| TokenRow {
            id: t.hash.chars().take(TOKEN_ID_LEN).collect(),
            kind: t.kind,
            name: t.name,
            created_ms: t.created_ms,
            expires_ms: t.expires_ms,
            used_ms: t.used_ms,
            used_by: t.used_by,
            revoked_ms: t.revoked_ms,
        })
        .collect())
}

#[derive(Debug, thiserror::Error)]
pub enum RevokeError {
    #[error(
        "{0:?} is not a token id: at least {MIN_TOKEN_ID} hex characters from `token list`, or the token itself"
    )]
    BadId(String),
    #[error("no token has the id {0:?} (see `p2pmon-aggregator token list`)")]
    NotFound(String),
    #[error("{1} tokens have ids starting {0:?}; give more of the id")]
    Ambiguous(String, usize),
    #[error("the token {0} is already revoked")]
    AlreadyRevoked(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Revoke the token `which` names (an id from [`list_tokens`], or the
/// secret itself); returns its id. A running server refuses it, and ends
/// the dashboard sessions it opened, within a second.
pub fn revoke_token(conn: &Connection, which: &str, now_ms: i64) -> Result<String, RevokeError> {
    let prefix = if which.starts_with(JOIN_PREFIX) || which.starts_with(API_PREFIX) {
        hash(which)
    } else if which.len() >= MIN_TOKEN_ID && which.bytes().all(|b| b.is_ascii_hexdigit()) {
        which.to_ascii_lowercase()
    } else {
        return Err(RevokeError::BadId(which.to_string()));
    };
    let matches = store::auth::tokens_by_hash_prefix(conn, &prefix)?;
    let id = |hash: &str| hash.chars().take(TOKEN_ID_LEN).collect::<String>();
    match matches.as_slice() {
        [] => Err(RevokeError::NotFound(
            which.chars().take(TOKEN_ID_LEN).collect(),
        )),
        [(hash, Some(_))] => Err(RevokeError::AlreadyRevoked(id(hash))),
        [(hash, None)] => {
            store::auth::revoke_token(conn, hash, now_ms)?;
            Ok(id(hash))
        }
        many => Err(RevokeError::Ambiguous(prefix, many.len())),
    }
}

/// Trade a join token for a host credential, in one transaction: the token
/// is spent even if two agents race with it.
pub fn enroll(
    conn: &mut Connection,
    join_token: &str,
    host_id: &str,
    now_ms: i64,
) -> Result<EnrollResponse, AuthError> {
    if !rules::is_host_id(host_id) {
        return Err(AuthError::InvalidHostId(host_id.to_string()));
    }
    let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
    if !store::auth::spend_join_token(&tx, &hash(join_token), host_id, now_ms)? {
        return Err(AuthError::InvalidJoinToken);
    }
    if let Some(None) = store::auth::host_revoked_ms(&tx, host_id)? {
        return Err(AuthError::HostExists(host_id.to_string()));
    }
    let credential = generate(HOST_PREFIX)?;
    store::auth::set_host_credential(&tx, host_id, &hash(&credential), now_ms)?;
    tx.commit()?;
    Ok(EnrollResponse {
        host_id: host_id.to_string(),
        credential,
    })
}

/// The host a credential belongs to, if it is live.
pub fn host_for_credential(
    conn: &Connection,
    credential: &str,
) -> Result<Option<String>, StoreError> {
    store::auth::host_for_credential_hash(conn, &hash(credential))
}

/// Revoke a host's credential; false if there is no such live host.
pub fn revoke_host(conn: &Connection, host_id: &str, now_ms: i64) -> Result<bool, StoreError> {
    store::auth::revoke_host(conn, host_id, now_ms)
}

/// Remember what a host's agent reported when it connected.
pub fn record_hello(
    conn: &Connection,
    host_id: &str,
    hello: &Hello,
    refused: &[String],
    now_ms: i64,
) -> Result<(), StoreError> {
    let plugins = serde_json::to_string(&hello.plugins).unwrap_or_else(|_| "[]".to_string());
    let refused = serde_json::to_string(refused).unwrap_or_else(|_| "[]".to_string());
    store::auth::record_hello(
        conn,
        host_id,
        &store::auth::HelloRecord {
            agent_version: &hello.agent_version,
            host_type: hello.host_type.as_str(),
            plugins: &plugins,
            refused: &refused,
        },
        now_ms,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn store() -> (tempfile::TempDir, Connection) {
        let dir = tempfile::tempdir().expect("tempdir");
        let conn = crate::store::schema::open(&dir.path().join("t.db")).expect("open");
        (dir, conn)
    }

    #[test]
    fn a_join_token_is_single_use() {
        let (_dir, mut conn) = store();
        let token = create_token(&conn, TokenKind::Join, "", Some(60_000), 1_000).expect("token");
        let enrolled = enroll(&mut conn, &token, "host-a", 2_000).expect("enroll");
        assert!(enrolled.credential.starts_with(HOST_PREFIX));
        assert_eq!(
            host_for_credential(&conn, &enrolled.credential).expect("lookup"),
            Some("host-a".to_string())
        );
        assert!(matches!(
            enroll(&mut conn, &token, "host-b", 3_000),
            Err(AuthError::InvalidJoinToken)
        ));
    }

    #[test]
    fn an_expired_join_token_is_refused() {
        let (_dir, mut conn) = store();
        let token = create_token(&conn, TokenKind::Join, "", Some(60_000), 1_000).expect("token");
        assert!(matches!(
            enroll(&mut conn, &token, "host-a", 61_001),
            Err(AuthError::InvalidJoinToken)
        ));
    }

    #[test]
    fn revoking_kills_the_credential_and_allows_re_enrollment() {
        let (_dir, mut conn) = store();
        let first = create_token(&conn, TokenKind::Join, "", None, 0).expect("token");
        let second = create_token(&conn, TokenKind::Join, "", None, 0).expect("token");
        let old = enroll(&mut conn, &first, "host-a", 1).expect("enroll");
        assert!(matches!(
            enroll(&mut conn, &second, "host-a", 2),
            Err(AuthError::HostExists(_))
        ));
        let third = create_token(&conn, TokenKind::Join, "", None, 0).expect("token");
        assert!(revoke_host(&conn, "host-a", 3).expect("revoke"));
        assert_eq!(
            host_for_credential(&conn, &old.credential).expect("lookup"),
            None
        );
        let new = enroll(&mut conn, &third, "host-a", 4).expect("re-enroll");
        assert_ne!(new.credential, old.credential);
    }

    #[test]
    fn api_tokens_and_host_ids() {
        let (_dir, conn) = store();
        let token = create_token(&conn, TokenKind::Api, "fluxcp", None, 0).expect("token");
        assert!(api_token_valid(&conn, &token, 1).expect("check"));
        assert!(!api_token_valid(&conn, "p2pa_nope", 1).expect("check"));
        assert!(rules::is_host_id("vps-01.eu"));
        assert!(!rules::is_host_id("<script>"));
        assert!(!rules::is_host_id("-x"));
    }

    #[test]
    fn tokens_are_listed_without_secrets_and_revoked_by_id() {
        let (_dir, conn) = store();
        let api = create_token(&conn, TokenKind::Api, "fluxcp", None, 0).expect("token");
        let join = create_token(&conn, TokenKind::Join, "vps-9", Some(1000), 1).expect("token");
        let listed = list_tokens(&conn).expect("list");
        assert_eq!(listed.len(), 2);
        assert_eq!(listed[0].name, "fluxcp");
        assert_eq!(listed[0].state(5), "live");
        assert_eq!(listed[1].state(5000), "expired");
        let shown = format!("{listed:?}");
        assert!(!shown.contains(&api) && !shown.contains(&join), "{shown}");

        assert!(matches!(
            revoke_token(&conn, "abc", 9),
            Err(RevokeError::BadId(_))
        ));
        assert!(matches!(
            revoke_token(&conn, "00000000", 9),
            Err(RevokeError::NotFound(_)) | Err(RevokeError::Ambiguous(..))
        ));
        let id = revoke_token(&conn, &listed[0].id, 9).expect("revoke");
        assert_eq!(id, listed[0].id);
        assert!(!api_token_valid(&conn, &api, 10).expect("check"));
        assert!(matches!(
            revoke_token(&conn, &api, 11),
            Err(RevokeError::AlreadyRevoked(_))
        ));
        // By the secret itself too.
        revoke_token(&conn, &join, 12).expect("revoke by secret");
        assert_eq!(list_tokens(&conn).expect("list")[1].state(13), "revoked");
    }
}
