//! What agent.yml grants a plugin through the capabilities that take a scope,
//! parsed once when the config is loaded: a bad grant is reported with the
//! rest of the config's problems, and a loaded config holds only grants that
//! parsed. `access` enforces them.

use serde::{Deserialize, Deserializer};
use url::Url;

use crate::capability::Capability;

/// A granted target (`host:port` or `host:*`) or a requested one.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(try_from = "String")]
pub struct Target {
    host: String,
    /// `None` is `*`: every port.
    port: Option<u16>,
}

impl Target {
    fn split(text: &str) -> Result<(String, &str), String> {
        let (host, port) = text
            .rsplit_once(':')
            .ok_or_else(|| format!("{text:?} is not host:port"))?;
        let host = host.trim_start_matches('[').trim_end_matches(']');
        if host.is_empty() {
            return Err(format!("{text:?} has no host"));
        }
        Ok((host.to_ascii_lowercase(), port))
    }

    /// A grant from agent.yml: `host:port` or `host:*`.
    pub fn parse_grant(text: &str) -> Result<Self, String> {
        let (host, port) = Self::split(text)?;
        let port = match port {
            "*" => None,
            p => Some(
                p.parse::<u16>()
                    .ok()
                    .filter(|p| *p != 0)
                    .ok_or_else(|| format!("{text:?}: port must be 1-65535 or *"))?,
            ),
        };
        Ok(Self { host, port })
    }

    /// A target a plugin asks for: always `host:port`.
    pub(crate) fn parse_request(text: &str) -> Result<Self, String> {
        let target = Self::parse_grant(text)?;
        if target.port.is_none() {
            return Err(format!("{text:?}: a probe needs a port"));
        }
        Ok(target)
    }

    pub(crate) fn covers(&self, request: &Target) -> bool {
        self.host == request.host && (self.port.is_none() || self.port == request.port)
    }

    pub(crate) fn address(&self) -> String {
        let port = self.port.unwrap_or(0);
        if self.host.contains(':') {
            format!("[{}]:{port}", self.host)
        } else {
            format!("{}:{port}", self.host)
        }
    }
}

impl TryFrom<String> for Target {
    type Error = String;

    fn try_from(text: String) -> Result<Self, String> {
        Self::parse_grant(&text)
    }
}

/// A granted URL prefix (see [`parse_prefix`]).
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(try_from = "String")]
pub struct HttpPrefix(Url);

impl HttpPrefix {
    pub fn url(&self) -> &Url {
        &self.0
    }
}

impl TryFrom<String> for HttpPrefix {
    type Error = String;

    fn try_from(text: String) -> Result<Self, String> {
        parse_prefix(&text).map(Self)
    }
}

/// A granted prefix from agent.yml: an http(s) URL without query or fragment.
pub fn parse_prefix(text: &str) -> Result<Url, String> {
    let url = Url::parse(text).map_err(|e| format!("{text:?} is not a URL: {e}"))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(format!("{text:?}: only http and https URLs"));
    }
    if url.host().is_none() {
        return Err(format!("{text:?} has no host"));
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(format!("{text:?}: a prefix has no query or fragment"));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(format!("{text:?}: credentials do not belong in a grant"));
    }
    if let Some(why) = ambiguous_path(text, &url) {
        return Err(format!("{text:?}: {why}"));
    }
    Ok(url)
}

/// Why the path of `url` (parsed from `text`) could mean another path to a
/// server, if it could.
pub(crate) fn ambiguous_path(text: &str, url: &Url) -> Option<String> {
    // The input as written: the parser turns `\` into `/` and resolves
    // `%2e` segments, which hides what was asked for.
    let written = text
        .split_once("://")
        .map_or(text, |(_, rest)| rest)
        .split(['?', '#'])
        .next()
        .unwrap_or("");
    if written.contains('\\') {
        return Some("a backslash in the path (servers read it as a separator)".to_string());
    }
    for source in [written, url.path()] {
        let bytes = source.as_bytes();
        for (at, window) in bytes.windows(3).enumerate() {
            if window[0] != b'%' {
                continue;
            }
            let Ok(hex) = std::str::from_utf8(&window[1..]) else {
                continue;
            };
            let Ok(byte) = u8::from_str_radix(hex, 16) else {
                continue;
            };
            if matches!(byte, b'/' | b'\\' | b'.' | b'%') || byte < 0x20 || byte == 0x7f {
                return Some(format!(
                    "an encoded {:?} at byte {at} of the path (servers decode it; write the path plainly)",
                    char::from(byte)
                ));
            }
        }
    }
    None
}

/// A list of grants. The config loader reports a grant that does not parse
/// with its index and replaces it with null to read on; those nulls are
/// skipped here (the config is refused anyway, with that error).
pub fn scope_list<'de, D, T>(deserializer: D) -> Result<Vec<T>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    let items = Vec::<Option<T>>::deserialize(deserializer)?;
    Ok(items.into_iter().flatten().collect())
}

/// A capability's name in agent.yml (`capabilities: [sql, net]`).
impl<'de> Deserialize<'de> for Capability {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let name = String::deserialize(deserializer)?;
        name.parse().map_err(|_| {
            serde::de::Error::custom(format!(
                "unknown capability {name:?} (known: {})",
                Capability::ALL.map(Capability::as_str).join(", ")
            ))
        })
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;
    use crate::config::AgentConfig;

    fn load(plugin: &str) -> Result<AgentConfig, p2pmon_common::yaml_config::ConfigErrors> {
        let text = format!(
            "plugins:\n  - name: probe\n    file: probe.wasm\n    enabled: false\n{plugin}"
        );
        p2pmon_common::yaml_config::parse(Path::new("agent.yml"), &text)
    }

    #[test]
    fn grants_are_typed_once_loaded() {
        let config = load(
            "    capabilities: [net, http, clock]\n    grants:\n      net: [\"Coord.example:*\", \"[::1]:5124\"]\n      http: [\"http://127.0.0.1:8080/api/\"]\n",
        )
        .expect("valid");
        let plugin = &config.plugins[0];
        assert_eq!(
            plugin.grants(),
            [Capability::Clock, Capability::Net, Capability::Http].into()
        );
        let wanted = Target::parse_request("coord.example:6121").expect("request");
        assert!(plugin.grants.net[0].covers(&wanted));
        assert!(!plugin.grants.net[1].covers(&wanted));
        assert_eq!(
            plugin.grants.http[0].url().as_str(),
            "http://127.0.0.1:8080/api/"
        );
    }

    #[test]
    fn a_bad_grant_is_reported_with_its_place_and_the_rest_still_checked() {
        let errors = load(
            "    capabilities: [net, http, telepathy]\n    grants:\n      net: [\"ok.example:80\", \"host:0\", \"nope\"]\n      http: [\"ftp://x/\"]\n    interval_ms: 1\n",
        )
        .expect_err("bad grants");
        let found: Vec<(&str, &str)> = errors
            .errors
            .iter()
            .map(|e| (e.field.as_str(), e.message.as_str()))
            .collect();
        for (field, text) in [
            ("plugins[0].grants.net[1]", "port must be 1-65535 or *"),
            ("plugins[0].grants.net[2]", "is not host:port"),
            ("plugins[0].grants.http[0]", "only http and https URLs"),
            (
                "plugins[0].capabilities[2]",
                "unknown capability \"telepathy\"",
            ),
            ("plugins[0].interval_ms", "out of range"),
        ] {
            assert!(
                found.iter().any(|(f, m)| *f == field && m.contains(text)),
                "no {field}: {text} in {found:?}"
            );
        }
    }
}
