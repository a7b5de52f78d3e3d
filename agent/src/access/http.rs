//! The `http` capability: GET under granted URL prefixes, bounded in size and
//! time, no redirects, no proxies.
//!
//! The prefix check compares the parsed, normalised path segment by segment.
//! Servers decode further than the URL standard does (`..%2f` becomes `../`,
//! `\` a separator, `%252e` a dot after a second decoding), so a path that
//! needs any of that to be read the same way is refused before the check:
//! encoded `/`, `\`, `.` or `%`, encoded control bytes, and backslashes.

use std::time::Duration;

use url::Url;

use crate::bindings::p2pmon::plugin::http::Response;
use crate::bindings::p2pmon::plugin::types::HostError;
use crate::config::grants::ambiguous_path;
#[cfg(test)]
use crate::config::grants::parse_prefix;

/// Largest body a plugin may ask for.
pub const MAX_BODY: usize = 4 << 20;
const MAX_TIMEOUT_MS: u32 = 30_000;

/// The client plugins' requests go through.
pub fn client() -> reqwest::Result<reqwest::Client> {
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::builder()
        .user_agent(concat!("p2pmon-agent/", env!("CARGO_PKG_VERSION")))
        .redirect(reqwest::redirect::Policy::none())
        .no_proxy()
        .pool_max_idle_per_host(1)
        .build()
}

/// One plugin's URL prefixes.
#[derive(Default)]
pub struct HttpAccess {
    prefixes: Vec<Url>,
    client: Option<reqwest::Client>,
}

impl HttpAccess {
    pub fn new(prefixes: Vec<Url>, client: Option<reqwest::Client>) -> Self {
        Self { prefixes, client }
    }

    fn is_granted(&self, url: &Url) -> bool {
        self.prefixes.iter().any(|prefix| {
            prefix.scheme() == url.scheme()
                && prefix.host() == url.host()
                && prefix.port_or_known_default() == url.port_or_known_default()
                && path_under(prefix.path(), url.path())
        })
    }

    pub async fn get(
        &self,
        url: &str,
        timeout_ms: u32,
        max_bytes: u32,
    ) -> Result<Response, HostError> {
        let parsed = Url::parse(url).map_err(|e| HostError::Invalid(format!("{url:?}: {e}")))?;
        if let Some(why) = ambiguous_path(url, &parsed) {
            return Err(HostError::Denied(format!("http: {url} is refused: {why}")));
        }
        if !self.is_granted(&parsed) {
            return Err(HostError::Denied(format!(
                "http: {url} is not under a URL granted to this plugin"
            )));
        }
        let client = self
            .client
            .as_ref()
            .ok_or_else(|| HostError::Unavailable("http client not configured".to_string()))?;
        let limit = (max_bytes as usize).min(MAX_BODY);
        let timeout = Duration::from_millis(u64::from(timeout_ms.clamp(1, MAX_TIMEOUT_MS)));
        let fetch = async {
            let mut response = client
                .get(parsed.clone())
                .send()
                .await
                .map_err(|e| HostError::Unavailable(format!("GET {url}: {}", one_line(&e))))?;
            let too_big = || HostError::Invalid(format!("GET {url}: body over {limit} bytes"));
            if response.content_length().is_some_and(|n| n > limit as u64) {
                return Err(too_big());
            }
            let status = response.status().as_u16();
            let content_type = response
                .headers()
                .get(reqwest::header::CONTENT_TYPE)
                .and_then(|v| v.to_str().ok())
                .map(str::to_string);
            let mut body = Vec::new();
            while let Some(chunk) = response
                .chunk()
                .await
                .map_err(|e| HostError::Unavailable(format!("GET {url}: {}", one_line(&e))))?
            {
                if body.len() + chunk.len() > limit {
                    return Err(too_big());
                }
                body.extend_from_slice(&chunk);
            }
            Ok(Response {
                status,
                content_type,
                body,
            })
        };
        tokio::time::timeout(timeout, fetch).await.map_err(|_| {
            HostError::Unavailable(format!(
                "GET {url}: no answer within {} ms",
                timeout.as_millis()
            ))
        })?
    }
}

/// `path` is `prefix` or below it, segment-wise (`/api` covers `/api/x`, not `/apix`).
fn path_under(prefix: &str, path: &str) -> bool {
    if prefix.ends_with('/') {
        path.starts_with(prefix)
    } else {
        path == prefix
            || path
                .strip_prefix(prefix)
                .is_some_and(|rest| rest.starts_with('/'))
    }
}

fn one_line(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(inner) = source {
        text.push_str(": ");
        text.push_str(&inner.to_string());
        source = inner.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefixes_cover_only_their_own_paths() {
        let access = HttpAccess::new(
            vec![
                parse_prefix("http://127.0.0.1:8080/api").expect("prefix"),
                parse_prefix("https://coord.example/status/").expect("prefix"),
            ],
            None,
        );
        let ok = |u: &str| access.is_granted(&Url::parse(u).expect("url"));
        assert!(ok("http://127.0.0.1:8080/api"));
        assert!(ok("http://127.0.0.1:8080/api/v1/hosts?x=1"));
        assert!(!ok("http://127.0.0.1:8080/apix"));
        assert!(!ok("http://127.0.0.1:8081/api/v1"));
        assert!(!ok("https://127.0.0.1:8080/api"));
        assert!(ok("https://coord.example:443/status/x"));
        assert!(!ok("https://coord.example/status"));
        assert!(!ok("https://coord.example.evil/status/x"));
        assert!(parse_prefix("ftp://x/").is_err());
        assert!(parse_prefix("http://x/ok%2f").is_err());
        assert!(parse_prefix("http://u:p@x/").is_err());
    }

    #[tokio::test]
    async fn encoded_and_backslashed_paths_are_refused() {
        let access = HttpAccess::new(
            vec![parse_prefix("http://127.0.0.1:8080/ok/").expect("prefix")],
            None,
        );
        for url in [
            "http://127.0.0.1:8080/ok/..%2fsecret",
            "http://127.0.0.1:8080/ok/..%2Fsecret",
            "http://127.0.0.1:8080/ok/%2e%2e/secret",
            "http://127.0.0.1:8080/ok/%2E./secret",
            "http://127.0.0.1:8080/ok/..%5csecret",
            "http://127.0.0.1:8080/ok\\..\\secret",
            "http://127.0.0.1:8080/ok/..\\secret",
            "http://127.0.0.1:8080/ok/%252e%252e%252fsecret",
            "http://127.0.0.1:8080/ok/a%00b",
            "http://127.0.0.1:8080/ok/../secret",
        ] {
            match access.get(url, 1000, 100).await {
                Err(HostError::Denied(message)) => assert!(message.contains(url), "{message}"),
                other => panic!("{url}: expected a denial, got {other:?}"),
            }
        }
        // A plain path under the prefix passes the check (and then finds
        // no client here).
        assert!(matches!(
            access
                .get("http://127.0.0.1:8080/ok/a%20b.json", 1000, 100)
                .await,
            Err(HostError::Unavailable(_))
        ));
    }
}
