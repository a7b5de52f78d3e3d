//! The game plugin: what is happening in the rAthena world on this host.
//!
//! - `player_count`: untagged, characters online (`char.online`, as FluxCP
//!   counts them); per map, from the NPC script's table (`users`, exact, from
//!   `getmapusers`) when the map's row is fresh, else from `char.last_map`
//!   (written only when a character is saved, every 300 s by default, so it
//!   lags). Tag `source` says which: `npc_table` or `last_map`.
//! - `server_up` per rAthena server (`server`: `login`, `char`, `map`):
//!   whether its port accepts a TCP connection; `server_connect_ms` how long
//!   that took. A port that answers is not a server players can use (a
//!   map-server without its char-server still listens), so:
//! - `map_status`: untagged, 1 when the map-server port answers and the NPC
//!   script refreshed some row within `status_stale_s` (the map-server is
//!   running its scripts and reaching the database), with an event
//!   `map_server_stalled` when the port answers but the table went stale;
//!   per map, 1 when its row is fresh and the map-server is not down.
//! - `mob_count` per map, from the NPC script's table.
//! - `item_count`: items that entered the world since the previous collect
//!   (picklog), in total and per type: the monster-side rows of monster
//!   drops, steals and MVP prizes (`monster_item_types`, counted by
//!   `-amount`) and the positive rows of `created_item_types`. Moves between
//!   characters, storage, mail and vending are never counted.
//! - `zeny_flow` and `zeny_net` (zenylog), in total and per type: the
//!   volume (every purse change, both sides: a 5,000 trade is 10,000) and
//!   the net change of the purses (a trade nets 0, a shop purchase is
//!   negative, monster zeny positive).
//!
//! Config (all optional): `main` (sql connection with `char` and the status
//! table, default `main`), `logs` (connection with picklog and zenylog,
//! default `logs`; empty turns the economy metrics off), `login_server`,
//! `char_server`, `map_server` (`host:port`, rAthena's defaults
//! `127.0.0.1:6900`, `127.0.0.1:6121`, `127.0.0.1:5121`; empty skips that
//! probe), `status_table` (default `p2pmon_map_status`), `status_stale_s`
//! (default 180: three missed NPC timer runs), `monster_item_types`
//! (default `M,D,U`), `created_item_types` (default `A,S,N,O,$,Q,J,Y,3`).

use std::collections::BTreeMap;

use p2pmon_plugin_sdk::host::config_or;
use p2pmon_plugin_sdk::sql::{self, Value};
use p2pmon_plugin_sdk::{
    Capability, Collection, MetricSpec, Plugin, PluginInfo, Severity, Unit, export_plugin, net,
};
use p2pmon_rathena::economy::{
    CREATED_ITEM_TYPES, ItemRules, MONSTER_ITEM_TYPES, per_type_sums, read_sums,
};
use p2pmon_rathena::{Cursor, identifier, sql_error};

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
    /// The probe errors last reported, per server: not repeated every collect.
    probe_errors: BTreeMap<&'static str, String>,
    /// Whether `map_server_stalled` was raised and not yet cleared.
    stalled: bool,
}

struct Settings {
    main: String,
    logs: Option<String>,
    /// `(server, host:port)` for each probed rAthena server.
    servers: Vec<(&'static str, String)>,
    status_table: String,
    status_stale_s: i64,
    items: ItemRules,
}

impl Settings {
    fn load() -> Result<Self, String> {
        let logs = config_or("logs", "logs".to_string())?;
        let mut servers = Vec::new();
        for (server, key, default) in [
            ("login", "login_server", "127.0.0.1:6900"),
            ("char", "char_server", "127.0.0.1:6121"),
            ("map", "map_server", "127.0.0.1:5121"),
        ] {
            let target = config_or(key, default.to_string())?;
            if !target.is_empty() {
                servers.push((server, target));
            }
        }
        let status_stale_s: i64 = config_or("status_stale_s", 180)?;
        if status_stale_s <= 0 {
            return Err(format!(
                "config `status_stale_s`: {status_stale_s} must be a positive number of seconds"
            ));
        }
        Ok(Self {
            main: config_or("main", "main".to_string())?,
            logs: (!logs.is_empty()).then_some(logs),
            servers,
            status_table: identifier(
                "status_table",
                &config_or("status_table", "p2pmon_map_status".to_string())?,
            )?,
            status_stale_s,
            items: ItemRules::new(
                &config_or("monster_item_types", MONSTER_ITEM_TYPES.to_string())?,
                &config_or("created_item_types", CREATED_ITEM_TYPES.to_string())?,
            )?,
        })
    }
}

/// One row of the NPC script's table.
struct MapRow {
    map: String,
    users: Option<i64>,
    mobs: Option<i64>,
    fresh: bool,
}

impl Plugin for GamePlugin {
    fn info() -> PluginInfo {
        PluginInfo::new("game", env!("CARGO_PKG_VERSION"))
            .description("Players per map, rAthena's servers and map status, mobs, items entering the world and zeny flow.")
            .metric(MetricSpec::gauge("player_count", Unit::Count).describe("Online characters, in total and per map (tag source: npc_table or last_map)"))
            .metric(MetricSpec::gauge("server_up", Unit::Count).describe("1 when the rAthena server's port (login, char, map) accepts a connection"))
            .metric(MetricSpec::gauge("server_connect_ms", Unit::Milliseconds).describe("Time to connect to the rAthena server's port"))
            .metric(MetricSpec::gauge("map_status", Unit::Count).describe("1 up, 0 down: the map-server (port and NPC script), and each map"))
            .metric(MetricSpec::gauge("mob_count", Unit::Count).describe("Monsters alive per map (NPC script)"))
            .metric(MetricSpec::gauge("item_count", Unit::Count).describe("Items that entered the world since the previous collect, in total and per picklog type"))
            .metric(MetricSpec::gauge("zeny_flow", Unit::Count).describe("Zeny volume since the previous collect (both sides of every move), in total and per zenylog type"))
            .metric(MetricSpec::gauge("zeny_net", Unit::Count).describe("Net zeny change of the purses since the previous collect, in total and per zenylog type"))
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
        let map_up = self.state.servers(settings, out);
        let rows = self.state.map_rows(settings, out)?;
        players(settings, rows.as_deref(), out)?;
        self.state
            .map_status(settings, map_up, rows.as_deref(), out);
        if let Some(logs) = &settings.logs {
            self.state.economy(settings, logs, out)?;
        }
        Ok(())
    }
}

/// Online characters in total, and per map: the NPC table's exact users
/// for maps whose row is fresh, `last_map` for the others.
fn players(
    settings: &Settings,
    rows: Option<&[MapRow]>,
    out: &mut Collection,
) -> Result<(), String> {
    let main = &settings.main;
    let result = sql::query(
        main,
        "SELECT last_map, COUNT(*) FROM `char` WHERE online > 0 GROUP BY last_map",
        &[],
    )
    .map_err(|e| sql_error(main, e))?;
    let mut per_map: BTreeMap<String, (i64, &'static str)> = BTreeMap::new();
    let mut total = 0;
    for row in &result.rows {
        let (Some(map), Some(count)) = (row[0].to_text(), row[1].as_i64()) else {
            continue;
        };
        total += count;
        per_map.insert(map, (count, "last_map"));
    }
    for row in rows.unwrap_or_default() {
        if let (true, Some(users)) = (row.fresh, row.users) {
            per_map.insert(row.map.clone(), (users, "npc_table"));
        }
    }
    for (map, (count, source)) in per_map {
        out.gauge("player_count", count as f64)
            .tag("map", map)
            .tag("source", source);
    }
    out.gauge("player_count", total as f64);
    Ok(())
}

impl State {
    /// Probe every configured server; whether the map-server answered
    /// (`None` when it is not probed or cannot be).
    fn servers(&mut self, settings: &Settings, out: &mut Collection) -> Option<bool> {
        let mut map_up = None;
        for (server, target) in &settings.servers {
            // One call per server: an ungranted target refuses the whole call.
            match net::tcp_connect(std::slice::from_ref(target), 1_000) {
                Ok(probes) => {
                    let probe = probes.first();
                    let up = probe.is_some_and(|p| p.connected);
                    out.gauge("server_up", if up { 1.0 } else { 0.0 })
                        .tag("server", *server);
                    if let Some(probe) = probe.filter(|p| p.connected) {
                        out.gauge("server_connect_ms", probe.connect_ms)
                            .tag("server", *server);
                    }
                    self.probe_errors.remove(server);
                    if *server == "map" {
                        map_up = Some(up);
                    }
                }
                Err(error) => {
                    // Not granted or not possible: say so once, keep the rest.
                    let error = error.to_string();
                    if self.probe_errors.get(server) != Some(&error) {
                        out.event(
                            "probe_failed",
                            Severity::Warning,
                            "cannot probe an rAthena server's port",
                        )
                        .field("server", *server)
                        .field("target", target.clone())
                        .field("error", error.clone());
                        self.probe_errors.insert(server, error);
                    }
                }
            }
        }
        map_up
    }

    /// The NPC script's rows; `None` when its table cannot be read.
    fn map_rows(
        &mut self,
        settings: &Settings,
        out: &mut Collection,
    ) -> Result<Option<Vec<MapRow>>, String> {
        let statement = format!(
            "SELECT map, users, mobs, TIMESTAMPDIFF(SECOND, updated, NOW()) FROM `{}`",
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
                        "the NPC script's status table cannot be read; install npc/custom/p2pmon_status.txt",
                    )
                    .field("table", settings.status_table.clone())
                    .field("error", error.to_string());
                }
                return Ok(None);
            }
        };
        self.status_table_missing = false;
        Ok(Some(
            result
                .rows
                .iter()
                .filter_map(|row| {
                    Some(MapRow {
                        map: row[0].to_text()?,
                        users: row[1].as_i64(),
                        mobs: row[2].as_i64(),
                        fresh: row[3]
                            .as_i64()
                            .is_some_and(|age| age <= settings.status_stale_s),
                    })
                })
                .collect(),
        ))
    }

    fn map_status(
        &mut self,
        settings: &Settings,
        map_up: Option<bool>,
        rows: Option<&[MapRow]>,
        out: &mut Collection,
    ) {
        let rows = rows.unwrap_or_default();
        for row in rows {
            let up = row.fresh && map_up != Some(false);
            out.gauge("map_status", if up { 1.0 } else { 0.0 })
                .tag("map", row.map.clone());
            if let Some(mobs) = row.mobs.filter(|_| row.fresh) {
                out.gauge("mob_count", mobs as f64)
                    .tag("map", row.map.clone());
            }
        }
        // Without a probe the port is taken as open; without the table
        // (not installed) only the port can say.
        let scripts_run = self.status_table_missing || rows.iter().any(|r| r.fresh);
        let serving = map_up != Some(false) && scripts_run;
        if map_up.is_some() || !self.status_table_missing {
            out.gauge("map_status", if serving { 1.0 } else { 0.0 });
        }
        let stalled = map_up == Some(true) && !scripts_run && !rows.is_empty();
        if stalled && !self.stalled {
            out.event(
                "map_server_stalled",
                Severity::Critical,
                "the map-server port answers but the NPC script stopped refreshing its table",
            )
            .field("table", settings.status_table.clone())
            .field("stale_after_s", settings.status_stale_s.to_string());
        }
        self.stalled = stalled;
    }

    fn economy(
        &mut self,
        settings: &Settings,
        logs: &str,
        out: &mut Collection,
    ) -> Result<(), String> {
        let mut items: BTreeMap<char, i64> = settings
            .items
            .monster
            .iter()
            .chain(&settings.items.created)
            .map(|kind| (*kind, 0))
            .collect();
        if let Some((after, up_to)) = self.picklog.advance(logs, "picklog", "id")? {
            let result = sql::query(
                logs,
                &per_type_sums("picklog"),
                &[Value::Int(after), Value::Int(up_to)],
            )
            .map_err(|e| sql_error(logs, e))?;
            for sums in read_sums(&result.rows) {
                let entered = settings.items.entered(sums.kind, sums.given, sums.taken);
                if let Some(count) = items.get_mut(&sums.kind) {
                    *count += entered;
                }
            }
        }
        let mut total = 0;
        for (kind, count) in items {
            total += count;
            out.gauge("item_count", count as f64)
                .tag("type", kind.to_string());
        }
        out.gauge("item_count", total as f64);

        let (mut volume, mut net) = (0, 0);
        if let Some((after, up_to)) = self.zenylog.advance(logs, "zenylog", "id")? {
            let result = sql::query(
                logs,
                &per_type_sums("zenylog"),
                &[Value::Int(after), Value::Int(up_to)],
            )
            .map_err(|e| sql_error(logs, e))?;
            for sums in read_sums(&result.rows) {
                volume += sums.volume();
                net += sums.net();
                let kind = sums.kind.to_string();
                out.gauge("zeny_flow", sums.volume() as f64)
                    .tag("type", kind.clone());
                out.gauge("zeny_net", sums.net() as f64).tag("type", kind);
            }
        }
        out.gauge("zeny_flow", volume as f64);
        out.gauge("zeny_net", net as f64);
        Ok(())
    }
}

export_plugin!(GamePlugin);

#[cfg(test)]
mod mock_tests;
