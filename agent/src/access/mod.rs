//! What a plugin can reach outside its sandbox, each behind a capability and a
//! scope from agent.yml: databases (`sql`), files (`file`), probe targets
//! (`net`), URLs (`http`), and the kernel's socket tables (`system`).
//!
//! [`Resources`] is built once per agent (database pools, the HTTP client);
//! [`Access`] is one plugin's share of it, kept by its supervisor so state such
//! as tail positions survives a restart of the plugin's instance.

pub mod file;
pub mod http;
pub mod net;
pub mod sockets;
pub mod sql;
mod stamped;

use std::collections::BTreeMap;
use std::sync::Arc;

use crate::config::{AgentConfig, PluginConfig};

/// Shared by every plugin of one agent.
#[derive(Default)]
pub struct Resources {
    sql: BTreeMap<String, Arc<sql::Connection>>,
    http: Option<reqwest::Client>,
}

impl Resources {
    /// Pools for every configured database (connections open lazily, so a
    /// database that is down does not stop the agent) and the HTTP client.
    pub fn from_config(config: &AgentConfig) -> Result<Self, String> {
        let mut sql = BTreeMap::new();
        for (name, connection) in &config.sql {
            let pool =
                sql::Connection::new(name, connection).map_err(|e| format!("sql.{name}: {e}"))?;
            sql.insert(name.clone(), Arc::new(pool));
        }
        let needs_http = config
            .enabled_plugins()
            .any(|plugin| !plugin.grants.http.is_empty());
        let http = if needs_http {
            Some(http::client().map_err(|e| format!("cannot build the HTTP client: {e}"))?)
        } else {
            None
        };
        Ok(Self { sql, http })
    }

    /// Close the database pools (waits for connections to say goodbye).
    pub async fn close(&self) {
        for connection in self.sql.values() {
            connection.close().await;
        }
    }
}

/// One plugin's scoped access. Empty by default: nothing is reachable.
#[derive(Default)]
pub struct Access {
    pub sql: BTreeMap<String, Arc<sql::Connection>>,
    pub files: file::FileAccess,
    pub net: net::NetAccess,
    pub http: http::HttpAccess,
}

impl std::fmt::Debug for Access {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Access")
            .field("sql", &self.sql.keys().collect::<Vec<_>>())
            .finish_non_exhaustive()
    }
}

impl Access {
    /// The part of `resources` that `plugin`'s grants name. Validation has
    /// checked every scope, so unknown names here are skipped.
    pub fn for_plugin(plugin: &PluginConfig, resources: &Resources) -> Self {
        let grants = &plugin.grants;
        Self {
            sql: grants
                .sql
                .iter()
                .filter_map(|name| Some((name.clone(), resources.sql.get(name)?.clone())))
                .collect(),
            files: file::FileAccess::new(grants.files.clone()),
            net: net::NetAccess::new(grants.net.clone()),
            http: http::HttpAccess::new(
                grants.http.iter().map(|p| p.url().clone()).collect(),
                resources.http.clone(),
            ),
        }
    }
}
