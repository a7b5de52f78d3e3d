//! The game plugin: what is happening in the rAthena world on this host.
//!
//! - `player_count`: online characters in total and per map (`char.online`,
//!   `char.last_map`, as FluxCP counts them);
//! - `map_status`: untagged, whether the map-server port accepts a TCP
//!   connection (as FluxCP checks it); per map, 1 when the map-server is up
//!   and the NPC script refreshed the map's row recently;
//! - `mob_count` per map, from the NPC script's table (mobs live only in the
//!   map-server's memory; `npc/p2pmon_status.txt` writes them out);
//! - `item_count`: items that entered the world since the previous collect
//!   (picklog), and `zeny_flow` per picklog-style type letter (zenylog).
//!
//! Config (all optional): `main` (sql connection with `char` and the status
//! table, default `main`), `logs` (connection with picklog and zenylog,
//! default `logs`; empty turns the economy metrics off), `map_server`
//! (`host:port`, default `127.0.0.1:5121`; empty skips the probe),
//! `status_table` (default `p2pmon_map_status`), `status_stale_s` (default
//! 180: three missed NPC timer runs), `created_item_types` (default
//! `M,S,N,A,O,D,U`).

use p2pmon_plugin_sdk::host::config_or;
use p2pmon_plugin_sdk::sql::{self, Value};
use p2pmon_plugin_sdk::{
    Capability, Collection, MetricSpec, Plugin, PluginInfo, Severity, Unit, export_plugin, net,
};
use p2pmon_rathena::{
    CREATED_ITEM_TYPES, Cursor, identifier, list, placeholders, scalar, sql_error,
};

#[derive(Default)]
pub struct GamePlugin {
    settings: Option<Settings>,
    state: State,
}

/// What carries over between collects.
#[derive(Default)]
struct State {
    picklog: Cursor,
    zenylog: Cursor,
    status_table_missing: bool,
    /// The map-server probe error last reported: not repeated every collect.
    probe_error: Option<String>,
}

struct Settings {
    main: String,
    logs: Option<String>,
    map_server: Option<String>,
    status_table: String,
    status_stale_s: i64,
    created_item_types: Vec<String>,
}

impl Settings {
    fn load() -> Result<Self, String> {
        let logs = config_or("logs", "logs".to_string())?;
        let map_server = config_or("map_server", "127.0.0.1:5121".to_string())?;
        let types = list(&config_or(
            "created_item_types",
            CREATED_ITEM_TYPES.to_string(),
        )?);
        if let Some(bad) = types.iter().find(|t| t.len() != 1 || !t.is_ascii()) {
            return Err(format!(
                "config `created_item_types`: {bad:?} is not a picklog type letter"
            ));
        }
        Ok(Self {
            main: config_or("main", "main".to_string())?,
            logs: (!logs.is_empty()).then_some(logs),
            map_server: (!map_server.is_empty()).then_some(map_server),
            status_table: identifier(
                "status_table",
                &config_or("status_table", "p2pmon_map_status".to_string())?,
            )?,
            status_stale_s: config_or("status_stale_s", 180)?,
            created_item_types: types,
        })
    }
}

impl Plugin for GamePlugin {
    fn info() -> PluginInfo {
        PluginInfo::new("game", env!("CARGO_PKG_VERSION"))
            .description("Players per map, map-server and map status, mobs, items created and zeny flow from rAthena.")
            .metric(MetricSpec::gauge("player_count", Unit::Count).describe("Online characters, in total and per map"))
            .metric(MetricSpec::gauge("map_status", Unit::Count).describe("1 up, 0 down: the map-server port, and each map"))
            .metric(MetricSpec::gauge("map_server_connect_ms", Unit::Milliseconds).describe("Time to connect to the map-server port"))
            .metric(MetricSpec::gauge("mob_count", Unit::Count).describe("Monsters alive per map (NPC script)"))
            .metric(MetricSpec::gauge("item_count", Unit::Count).describe("Items that entered the world since the previous collect"))
            .metric(MetricSpec::gauge("zeny_flow", Unit::Count).describe("Zeny moved since the previous collect, in total and per zenylog type"))
            .capability(Capability::Sql)
            .capability(Capability::Net)
            .capability(Capability::Config)
            .interval_ms(5_000)
    }

    fn collect(&mut self, out: &mut Collection) -> Result<(), String> {
        if self.settings.is_none() {
            self.settings = Some(Settings::load()?);
        }
        let Some(settings) = &self.settings else {
            return Ok(());
        };
        players(settings, out)?;
        let server_up = map_server(settings, out, &mut self.state.probe_error);
        self.state.map_status(settings, server_up, out)?;
        if let Some(logs) = &settings.logs {
            self.state.economy(settings, logs, out)?;
        }
        Ok(())
    }
}

fn players(settings: &Settings, out: &mut Collection) -> Result<(), String> {
    let main = &settings.main;
    let result = sql::query(
        main,
        "SELECT last_map, COUNT(*) FROM `char` WHERE online > 0 GROUP BY last_map",
        &[],
    )
    .map_err(|e| sql_error(main, e))?;
    let mut total = 0;
    for row in &result.rows {
        let (Some(map), Some(count)) = (row[0].to_text(), row[1].as_i64()) else {
            continue;
        };
        total += count;
        out.gauge("player_count", count as f64).tag("map", map);
    }
    out.gauge("player_count", total as f64);
    Ok(())
}

/// Probe the map-server port; `None` when no probe is configured.
fn map_server(
    settings: &Settings,
    out: &mut Collection,
    reported: &mut Option<String>,
) -> Option<bool> {
    let target = settings.map_server.as_ref()?;
    match net::tcp_connect(std::slice::from_ref(target), 1_000) {
        Ok(probes) => {
            let up = probes.first().is_some_and(|p| p.connected);
            out.gauge("map_status", if up { 1.0 } else { 0.0 });
            if let Some(probe) = probes.first().filter(|p| p.connected) {
                out.gauge("map_server_connect_ms", probe.connect_ms);
            }
            *reported = None;
            Some(up)
        }
        Err(error) => {
            // Not granted or not possible: say so once, keep the other metrics.
            let error = error.to_string();
            if reported.as_ref() != Some(&error) {
                out.event(
                    "probe_failed",
                    Severity::Warning,
                    "cannot probe the map-server port",
                )
                .field("target", target.clone())
                .field("error", error.clone());
                *reported = Some(error);
            }
            None
        }
    }
}

impl State {
    fn map_status(
        &mut self,
        settings: &Settings,
        server_up: Option<bool>,
        out: &mut Collection,
    ) -> Result<(), String> {
        let statement = format!(
            "SELECT map, mobs, TIMESTAMPDIFF(SECOND, updated, NOW()) FROM `{}`",
            settings.status_table
        );
        let result = match sql::query(&settings.main, &statement, &[]) {
            Ok(result) => result,
            Err(error) => {
                // The NPC script is not installed yet: players still count.
                if !self.status_table_missing {
                    self.status_table_missing = true;
                    out.event(
                        "map_status_unavailable",
                        Severity::Warning,
                        "the NPC script's status table cannot be read; install npc/p2pmon_status.txt",
                    )
                    .field("table", settings.status_table.clone())
                    .field("error", error.to_string());
                }
                return Ok(());
            }
        };
        self.status_table_missing = false;
        for row in &result.rows {
            let Some(map) = row[0].to_text() else {
                continue;
            };
            let fresh = row[2]
                .as_i64()
                .is_some_and(|age| age <= settings.status_stale_s);
            let up = fresh && server_up != Some(false);
            out.gauge("map_status", if up { 1.0 } else { 0.0 })
                .tag("map", map.clone());
            if let Some(mobs) = row[1].as_i64().filter(|_| fresh) {
                out.gauge("mob_count", mobs as f64).tag("map", map);
            }
        }
        Ok(())
    }

    fn economy(
        &mut self,
        settings: &Settings,
        logs: &str,
        out: &mut Collection,
    ) -> Result<(), String> {
        let created = match self.picklog.advance(logs, "picklog", "id")? {
            None => 0,
            Some((after, up_to)) => {
                let mut params = vec![Value::Int(after), Value::Int(up_to)];
                params.extend(
                    settings
                        .created_item_types
                        .iter()
                        .map(|t| Value::Text(t.clone())),
                );
                scalar(
                    logs,
                    &format!(
                        "SELECT COALESCE(SUM(amount), 0) FROM picklog WHERE id > ? AND id <= ? AND amount > 0 AND type IN ({})",
                        placeholders(settings.created_item_types.len())
                    ),
                    &params,
                )?
            }
        };
        out.gauge("item_count", created as f64);

        let mut total = 0;
        if let Some((after, up_to)) = self.zenylog.advance(logs, "zenylog", "id")? {
            let result = sql::query(
                logs,
                "SELECT type, SUM(amount) FROM zenylog WHERE id > ? AND id <= ? GROUP BY type",
                &[Value::Int(after), Value::Int(up_to)],
            )
            .map_err(|e| sql_error(logs, e))?;
            for row in &result.rows {
                let (Some(kind), Some(amount)) = (row[0].to_text(), row[1].as_i64()) else {
                    continue;
                };
                total += amount;
                out.gauge("zeny_flow", amount as f64).tag("type", kind);
            }
        }
        out.gauge("zeny_flow", total as f64);
        Ok(())
    }
}

export_plugin!(GamePlugin);
