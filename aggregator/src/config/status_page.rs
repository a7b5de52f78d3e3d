//! `status_page:` in aggregator.yml: the public status page (run by
//! [`crate::status_page`]). Off unless enabled; it shows only the servers
//! listed here, under the names given here.

use std::collections::BTreeSet;

use p2pmon_common::yaml_config::Findings;
use serde::Deserialize;

/// Longest title or display name, in characters.
pub const MAX_NAME: usize = 80;
/// Most servers on one page.
pub const MAX_SERVERS: usize = 1_000;

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StatusPageConfig {
    #[serde(default)]
    pub enabled: bool,
    #[serde(default = "default_title")]
    pub title: String,
    /// Days of uptime bars (and of published incidents) shown.
    #[serde(default = "default_days")]
    pub days: u32,
    #[serde(default)]
    pub groups: Vec<StatusGroup>,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StatusGroup {
    pub name: String,
    #[serde(default)]
    pub servers: Vec<StatusServer>,
}

/// One server as players see it: the page's own id and name for one of a
/// host's rAthena servers.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StatusServer {
    /// In URLs (`/status/badge/{id}.svg`) and the JSON: letters, digits,
    /// `-` and `_`.
    pub id: String,
    pub name: String,
    /// The host id whose `server_up` this server is; never shown.
    pub host: String,
    pub server: ServerKind,
}

/// The `server` tag of the game plugin's `server_up`.
#[derive(Clone, Copy, Debug, Deserialize, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[serde(rename_all = "lowercase")]
pub enum ServerKind {
    Login,
    Char,
    Map,
}

impl ServerKind {
    pub fn tag(self) -> &'static str {
        match self {
            Self::Login => "login",
            Self::Char => "char",
            Self::Map => "map",
        }
    }
}

fn default_title() -> String {
    "Server status".to_string()
}
fn default_days() -> u32 {
    90
}

impl Default for StatusPageConfig {
    fn default() -> Self {
        Self {
            enabled: false,
            title: default_title(),
            days: default_days(),
            groups: Vec::new(),
        }
    }
}

impl StatusPageConfig {
    /// Every listed server, in page order.
    pub fn servers(&self) -> impl Iterator<Item = &StatusServer> {
        self.groups.iter().flat_map(|g| &g.servers)
    }

    pub fn server(&self, id: &str) -> Option<&StatusServer> {
        self.servers().find(|s| s.id == id)
    }

    pub fn validate(&self, findings: &mut Findings) {
        name_ok("status_page.title", &self.title, findings);
        findings.in_range("status_page.days", self.days, 1..=366);
        let mut ids = BTreeSet::new();
        let mut count = 0usize;
        for (g, group) in self.groups.iter().enumerate() {
            name_ok(
                &format!("status_page.groups[{g}].name"),
                &group.name,
                findings,
            );
            for (s, server) in group.servers.iter().enumerate() {
                count += 1;
                let at = format!("status_page.groups[{g}].servers[{s}]");
                let id_ok = !server.id.is_empty()
                    && server.id.len() <= 64
                    && server
                        .id
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
                if !id_ok {
                    findings.error(
                        format!("{at}.id"),
                        "must be 1 to 64 letters, digits, '-' or '_'",
                    );
                } else if !ids.insert(server.id.as_str()) {
                    findings.error(format!("{at}.id"), format!("{} is listed twice", server.id));
                }
                name_ok(&format!("{at}.name"), &server.name, findings);
                if !p2pmon_common::rules::is_host_id(&server.host) {
                    findings.error(format!("{at}.host"), "is not a host id");
                }
            }
        }
        if count > MAX_SERVERS {
            findings.error(
                "status_page.groups",
                format!("{count} servers; at most {MAX_SERVERS}"),
            );
        }
        if self.enabled && count == 0 {
            findings.error(
                "status_page.groups",
                "the page is enabled but lists no server",
            );
        }
    }
}

fn name_ok(field: &str, name: &str, findings: &mut Findings) {
    let length = name.chars().count();
    if name.trim().is_empty() || length > MAX_NAME {
        findings.error(field, format!("must be 1 to {MAX_NAME} characters"));
    } else if name.chars().any(char::is_control) {
        findings.error(field, "must not hold control characters");
    }
}
