//! A simulated rAthena host (databases in the local MariaDB, a console log,
//! a map-server port) and an in-process agent running the real game,
//! network and anti-cheat plugins against it.

use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::{Context, Result, bail};
use p2pmon_agent::agent::Agent;
use p2pmon_agent::config::AgentConfig;
use p2pmon_common::wire::{EventRecord, MetricRecord, Record};
use p2pmon_hostsim::{Sim, SimConfig, listen_map_port};

use crate::build_wasm;

/// The local MariaDB, as CI and this machine run it.
pub const MARIADB: &str = "mysql://root@127.0.0.1:3306";

pub struct World {
    pub sim: Sim,
    pub config: SimConfig,
    pub dir: tempfile::TempDir,
    /// Where the simulated map-server accepts connections.
    pub map_server: SocketAddr,
}

impl World {
    /// Fresh databases named after `tag` (so tests run side by side), an
    /// empty console log, and a listening map-server port.
    pub async fn new(tag: &str) -> Result<Self> {
        let dir = tempfile::tempdir()?;
        let config = SimConfig {
            url: MARIADB.to_string(),
            main_db: format!("p2pmon_t_{tag}"),
            logs_db: format!("p2pmon_t_{tag}_log"),
            log_file: dir.path().join("log").join("map-msg_log.log"),
        };
        let sim = Sim::new(config.clone())?;
        sim.drop_databases().await?;
        sim.setup()
            .await
            .context("is MariaDB running on 127.0.0.1:3306?")?;
        // A start-up warning (chrif.cpp): the file exists and has history.
        sim.log_lines(&[
            "[ Warning ] : Using the default user/password s1/p1 is NOT RECOMMENDED.".to_string(),
        ])?;
        let map_server = listen_map_port("127.0.0.1:0").await?;
        Ok(Self {
            sim,
            config,
            dir,
            map_server,
        })
    }

    pub fn log_dir(&self) -> PathBuf {
        self.dir.path().join("log")
    }

    /// The `plugins:` entry of the game plugin, granted this world.
    pub fn game_plugin(&self) -> String {
        format!(
            r#"  - name: game
    file: p2pmon_plugin_game.wasm
    capabilities: [sql, net, config]
    grants: {{ sql: [main, logs], net: ["{map}"] }}
    config: {{ map_server: "{map}", login_server: "", char_server: "" }}
"#,
            map = self.map_server
        )
    }

    /// The anti-cheat plugin's entry; `extra` adds config lines (`k: v, `).
    pub fn anticheat_plugin(&self, extra: &str) -> String {
        format!(
            r#"  - name: anticheat
    file: p2pmon_plugin_anticheat.wasm
    capabilities: [sql, file, config, clock]
    grants: {{ sql: [main, logs], files: ["{dir}"] }}
    config: {{ {extra} log_file: "{log}" }}
"#,
            dir = self.log_dir().display(),
            log = self.config.log_file.display(),
        )
    }

    /// Write an agent.yml with this world's databases and `plugins`, and
    /// start an agent on it.
    pub async fn agent(&self, top: &str, plugins: &str) -> Result<Agent> {
        let mut plugins_dir = None;
        for package in [
            "p2pmon-plugin-game",
            "p2pmon-plugin-network",
            "p2pmon-plugin-anticheat",
            "p2pmon-plugin-system",
            "p2pmon-fixture-hostile",
        ] {
            if plugins.contains(&package.replace("p2pmon-plugin-", "p2pmon_plugin_"))
                || (package == "p2pmon-fixture-hostile" && plugins.contains("hostile"))
            {
                let wasm = build_wasm(package)?;
                plugins_dir = wasm.parent().map(PathBuf::from);
            }
        }
        let plugins_dir = plugins_dir.context("no known plugin in the plugins list")?;
        let yaml = format!(
            r#"host_id: sim-host
plugins_dir: "{plugins_dir}"
cache_dir: ""
sql:
  main: {{ url: "{url}/{main}", timeout_ms: 1000 }}
  logs: {{ url: "{url}/{logs}", timeout_ms: 1000 }}
{top}
plugins:
{plugins}"#,
            plugins_dir = plugins_dir.display(),
            url = MARIADB,
            main = self.config.main_db,
            logs = self.config.logs_db,
        );
        let path = self.dir.path().join("agent.yml");
        std::fs::write(&path, yaml)?;
        let config = AgentConfig::load(&path).map_err(|e| anyhow::anyhow!("{e}"))?;
        let agent = Agent::start(config).await?;
        if let Some(failed) = agent.failed().first() {
            bail!("plugin did not start: {failed}");
        }
        Ok(agent)
    }

    pub async fn close(self) -> Result<()> {
        self.sim.drop_databases().await?;
        self.sim.close().await
    }
}

/// One round of every plugin; any plugin error fails.
pub async fn round(agent: &mut Agent) -> Result<Vec<Record>> {
    let mut records = Vec::new();
    for outcome in agent.collect_round().await {
        match outcome.result {
            Ok(mut r) => records.append(&mut r),
            Err(error) => bail!("{}: {error}", outcome.plugin),
        }
    }
    Ok(records)
}

/// The value of metric `name` whose tags are exactly `tags`.
pub fn value(records: &[Record], name: &str, tags: &[(&str, &str)]) -> Option<f64> {
    metrics(records, name)
        .find(|m| {
            m.tags.len() == tags.len()
                && tags
                    .iter()
                    .all(|(k, v)| m.tags.get(*k).map(String::as_str) == Some(*v))
        })
        .map(|m| m.value)
}

pub fn metrics<'a>(records: &'a [Record], name: &'a str) -> impl Iterator<Item = &'a MetricRecord> {
    records.iter().filter_map(move |r| match r {
        Record::Metric(m) if m.name == name => Some(m),
        _ => None,
    })
}

/// Every event, or those of `kind`.
pub fn events<'a>(records: &'a [Record], kind: Option<&'a str>) -> Vec<&'a EventRecord> {
    records
        .iter()
        .filter_map(|r| match r {
            Record::Event(e) if kind.is_none_or(|k| e.kind == k) => Some(e),
            _ => None,
        })
        .collect()
}
