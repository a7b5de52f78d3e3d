//! Dashboard sessions and WebSocket tickets, in memory (a restart logs
//! everyone out).
//!
//! - A session starts when an admin signs in with an API token; the browser
//!   holds only a random session id in an HttpOnly, SameSite=Strict cookie.
//!   The session keeps the token's hash and lives only as long as the token
//!   does: revoked (`token revoke`) or expired, every session it opened ends
//!   at its next request. It lasts `tokens.session_ttl_s` at most.
//!   Each session has its own CSRF token, which every change (any method
//!   but GET and HEAD) must carry in `X-CSRF-Token`.
//! - A ticket is a single-use secret that opens one WebSocket connection
//!   within a minute (`POST /api/v1/ws-ticket`). The dashboard gets one per
//!   connection; FluxCP's PHP side gets one with its API token and hands it
//!   to the browser, which never sees the token itself.

use std::collections::HashMap;
use std::sync::Mutex;

use crate::auth::generate;
use crate::store::StoreError;

pub use crate::config::DEFAULT_SESSION_TTL_S;
/// How long a ticket can be redeemed.
pub const TICKET_TTL_MS: i64 = 60 * 1000;
/// The session cookie's name.
pub const COOKIE: &str = "p2pmon_session";
/// Most live sessions and unredeemed tickets (oldest dropped past it).
const MAX_ENTRIES: usize = 10_000;

#[derive(Clone, Debug)]
pub struct Session {
    pub csrf: String,
    pub expires_ms: i64,
    /// The hash of the API token it was opened with.
    pub token_hash: String,
}

#[derive(Default)]
pub struct Sessions {
    sessions: Mutex<HashMap<String, Session>>,
    /// Ticket -> (expiry, hash of the API token of whoever asked for it).
    tickets: Mutex<HashMap<String, (i64, String)>>,
}

fn insert_bounded<V: Clone>(
    map: &mut HashMap<String, V>,
    key: String,
    value: V,
    expiry: impl Fn(&V) -> i64,
    now_ms: i64,
) {
    map.retain(|_, v| expiry(v) > now_ms);
    if map.len() >= MAX_ENTRIES
        && let Some(oldest) = map
            .iter()
            .min_by_key(|(_, v)| expiry(v))
            .map(|(k, _)| k.clone())
    {
        map.remove(&oldest);
    }
    map.insert(key, value);
}

impl Sessions {
    /// Start a session for the API token with hash `token_hash`, lasting
    /// `ttl_ms`: (session id, session).
    pub fn start(
        &self,
        now_ms: i64,
        token_hash: String,
        ttl_ms: i64,
    ) -> Result<(String, Session), StoreError> {
        let id = generate("p2ps_")?;
        let session = Session {
            csrf: generate("")?,
            expires_ms: now_ms + ttl_ms,
            token_hash,
        };
        if let Ok(mut sessions) = self.sessions.lock() {
            insert_bounded(
                &mut sessions,
                id.clone(),
                session.clone(),
                |s| s.expires_ms,
                now_ms,
            );
        }
        Ok((id, session))
    }

    pub fn get(&self, id: &str, now_ms: i64) -> Option<Session> {
        let sessions = self.sessions.lock().ok()?;
        sessions.get(id).filter(|s| s.expires_ms > now_ms).cloned()
    }

    pub fn end(&self, id: &str) {
        if let Ok(mut sessions) = self.sessions.lock() {
            sessions.remove(id);
        }
    }

    /// End every session opened with the token of hash `token_hash`;
    /// returns how many ended.
    pub fn end_for_token(&self, token_hash: &str) -> usize {
        let Ok(mut sessions) = self.sessions.lock() else {
            return 0;
        };
        let before = sessions.len();
        sessions.retain(|_, s| s.token_hash != token_hash);
        before - sessions.len()
    }

    /// A new ticket for the holder of the API token of hash `token_hash`,
    /// and when it expires.
    pub fn ticket(&self, now_ms: i64, token_hash: String) -> Result<(String, i64), StoreError> {
        let ticket = generate("p2pw_")?;
        let expires = now_ms + TICKET_TTL_MS;
        if let Ok(mut tickets) = self.tickets.lock() {
            insert_bounded(
                &mut tickets,
                ticket.clone(),
                (expires, token_hash),
                |(e, _)| *e,
                now_ms,
            );
        }
        Ok((ticket, expires))
    }

    /// Use a ticket up, once, within its minute: the hash of the API token
    /// it was asked for with.
    pub fn redeem(&self, ticket: &str, now_ms: i64) -> Option<String> {
        self.tickets
            .lock()
            .ok()
            .and_then(|mut tickets| tickets.remove(ticket))
            .and_then(|(expires, hash)| (expires > now_ms).then_some(hash))
    }
}

/// The session id in a `Cookie` header, if any.
pub fn from_cookie(header: &str) -> Option<&str> {
    header
        .split(';')
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == COOKIE)
        .map(|(_, value)| value)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sessions_expire_and_tickets_open_once() -> Result<(), StoreError> {
        let sessions = Sessions::default();
        let (id, session) = sessions.start(0, "h1".to_string(), 1000)?;
        assert_eq!(sessions.get(&id, 1).map(|s| s.csrf), Some(session.csrf));
        assert!(sessions.get(&id, 1000).is_none(), "expired");
        assert!(sessions.get("p2ps_forged", 1).is_none());
        sessions.end(&id);
        assert!(sessions.get(&id, 1).is_none());

        let (a, _) = sessions.start(0, "h1".to_string(), 1000)?;
        let (b, _) = sessions.start(0, "h1".to_string(), 1000)?;
        let (c, _) = sessions.start(0, "h2".to_string(), 1000)?;
        assert_eq!(sessions.end_for_token("h1"), 2);
        assert!(sessions.get(&a, 1).is_none() && sessions.get(&b, 1).is_none());
        assert!(
            sessions.get(&c, 1).is_some(),
            "another token's session stays"
        );

        let (ticket, _) = sessions.ticket(0, "h".to_string())?;
        assert_eq!(sessions.redeem(&ticket, 1).as_deref(), Some("h"));
        assert!(sessions.redeem(&ticket, 2).is_none(), "single use");
        let (late, _) = sessions.ticket(0, "h".to_string())?;
        assert!(sessions.redeem(&late, TICKET_TTL_MS).is_none(), "expired");
        Ok(())
    }

    #[test]
    fn the_session_cookie_is_found_among_others() {
        assert_eq!(
            from_cookie("a=1; p2pmon_session=p2ps_x; b=2"),
            Some("p2ps_x")
        );
        assert_eq!(from_cookie("p2pmon_session_evil=1"), None);
        assert_eq!(from_cookie(""), None);
    }
}
