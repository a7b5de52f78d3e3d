//! The public status page (`status_page:` in aggregator.yml, off unless
//! enabled): the listed servers as players see them, with a bar of daily
//! uptime, their current state, and the incidents and maintenance windows
//! the admins publish. Served without sign-in on the API port: the page at
//! `/status`, its JSON at `/api/v1/status`, a badge per server.
//!
//! The page is built by [`job`] once a minute (and when a post changes),
//! then served from memory: a public page is read most when the game is
//! down, by many players at once, and costs no store read per request. It
//! holds only what the config lists, under the names it gives: never a
//! host id, address or account.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;
use tokio::sync::watch;

use crate::clock::{now_ms, rfc3339};
use crate::config::StatusPageConfig;
use crate::live::HostState;
use crate::state::Shared;
use crate::store::StoreError;
use crate::store::status::{self, DayRow, Post, PostKind};
use crate::uptime::{DAY_MS, Span, Tally};

pub mod cache;
pub mod days;
mod render;
pub mod routes;

pub use cache::{Built, StatusPage};

use days::{Source, day_of};

/// How often the page is built.
const EVERY: Duration = Duration::from_secs(60);

/// `GET /api/v1/status`.
#[derive(Clone, Debug, Serialize)]
pub struct StatusAnswer {
    pub title: String,
    pub generated_ms: i64,
    /// operational, degraded, outage or maintenance.
    pub state: &'static str,
    /// The first bar's day (UTC); the bars run from it to today.
    pub first_day: String,
    pub groups: Vec<GroupStatus>,
    /// Open incidents and those resolved within the days shown, newest
    /// first.
    pub incidents: Vec<Post>,
    /// Maintenance windows under way or ahead, soonest first.
    pub maintenance: Vec<Post>,
}

#[derive(Clone, Debug, Serialize)]
pub struct GroupStatus {
    pub name: String,
    pub servers: Vec<ServerStatus>,
}

#[derive(Clone, Debug, Serialize)]
pub struct ServerStatus {
    pub id: String,
    pub name: String,
    /// up, down, unknown (no fresh data) or maintenance.
    pub state: &'static str,
    /// Over the days shown; null before the server had data.
    pub uptime: Option<f64>,
    /// One per day from `first_day`, oldest first.
    pub days: Vec<DayStatus>,
}

#[derive(Clone, Debug, Serialize)]
pub struct DayStatus {
    pub day: String,
    /// Null: the server had no data yet.
    pub uptime: Option<f64>,
    pub down_ms: f64,
    pub no_data_ms: f64,
    pub maintenance_ms: f64,
    /// The day's longest incident.
    pub worst: Option<Span>,
}

/// Keep the days and the page current until `stop`.
pub async fn job(shared: Arc<Shared>, mut stop: watch::Receiver<bool>) {
    if !shared.config.status_page.enabled {
        return;
    }
    let mut tick = tokio::time::interval(EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            () = shared.status_page.changed.notified() => {}
            _ = stop.changed() => break,
        }
        if let Err(error) = refresh(&shared).await {
            tracing::error!(%error, "The status page could not be built; the last one is still served.");
        }
    }
}

/// Compute the missing days, then build and swap the page.
pub async fn refresh(shared: &Arc<Shared>) -> Result<(), StoreError> {
    let started = std::time::Instant::now();
    let config = shared.config.status_page.clone();
    let now = now_ms();
    let since = day_of(now) - i64::from(config.days) * DAY_MS;
    let posts = shared
        .store
        .read(move |conn| status::posts(conn, since))
        .await?;
    let by_source = days::maintenance(&config, &posts);
    let computed = fill_days(shared, &by_source, config.days, now).await?;
    let first_day = day_of(now) - (i64::from(config.days) - 1) * DAY_MS;
    let sources: Vec<Source> = by_source.into_keys().collect();
    let stored: BTreeMap<Source, Vec<DayRow>> = shared
        .store
        .read(move |conn| {
            sources
                .into_iter()
                .map(|s| {
                    let rows = status::days(conn, &s.host, &s.server, first_day)?;
                    Ok((s, rows))
                })
                .collect()
        })
        .await?;
    let answer = assemble(shared, &config, &stored, posts, now);
    let built = render::build(&config, &answer);
    shared.status_page.set(built);
    if computed > 50 {
        tracing::info!(
            days = computed,
            took_ms = started.elapsed().as_millis() as u64,
            "Status page: uptime computed for the days it was missing."
        );
    }
    Ok(())
}

/// Compute the days each source is missing (on a reader) and store them
/// (one short transaction on the writer): how many.
async fn fill_days(
    shared: &Arc<Shared>,
    by_source: &BTreeMap<Source, Vec<Span>>,
    days: u32,
    now: i64,
) -> Result<usize, StoreError> {
    let by_source = by_source.clone();
    let pending = shared
        .store
        .read(move |conn| {
            let mut all = Vec::new();
            for (source, windows) in &by_source {
                for row in days::pending(conn, source, days, windows, now)? {
                    all.push((source.clone(), row));
                }
            }
            Ok(all)
        })
        .await?;
    let computed = pending.len();
    if computed > 0 {
        shared
            .store
            .exec(move |conn| {
                let tx = conn.transaction()?;
                for (source, row) in &pending {
                    status::put_day(&tx, &source.host, &source.server, row)?;
                }
                tx.commit()?;
                Ok(())
            })
            .await?;
    }
    Ok(computed)
}

fn assemble(
    shared: &Shared,
    config: &StatusPageConfig,
    stored: &BTreeMap<Source, Vec<DayRow>>,
    posts: Vec<Post>,
    now: i64,
) -> StatusAnswer {
    let first_day = day_of(now) - (i64::from(config.days) - 1) * DAY_MS;
    let (maintenance, incidents): (Vec<Post>, Vec<Post>) = posts
        .into_iter()
        .partition(|p| p.kind == PostKind::Maintenance);
    let in_maintenance = |id: &str| {
        maintenance.iter().any(|p| {
            p.starts_ms <= now
                && p.ends_ms.is_none_or(|end| now < end)
                && (p.servers.is_empty() || p.servers.iter().any(|s| s == id))
        })
    };
    let live = shared.live.read();
    let mut counts = [0usize; 4];
    let groups = config
        .groups
        .iter()
        .map(|group| GroupStatus {
            name: group.name.clone(),
            servers: group
                .servers
                .iter()
                .map(|server| {
                    let source = &days::source(server);
                    let state = if in_maintenance(&server.id) {
                        "maintenance"
                    } else {
                        current(live.get(&server.host), source, now, &shared.config.hosts)
                    };
                    counts[match state {
                        "up" => 0,
                        "down" => 1,
                        "unknown" => 2,
                        _ => 3,
                    }] += 1;
                    let rows = stored.get(source).map_or(&[][..], Vec::as_slice);
                    let (days, uptime) = bars(rows, first_day, config.days);
                    ServerStatus {
                        id: server.id.clone(),
                        name: server.name.clone(),
                        state,
                        uptime,
                        days,
                    }
                })
                .collect(),
        })
        .collect();
    drop(live);
    let [up, down, unknown, _] = counts;
    let state = if down + unknown == 0 && up == 0 {
        "maintenance"
    } else if down + unknown == 0 {
        "operational"
    } else if up == 0 {
        "outage"
    } else {
        "degraded"
    };
    let mut maintenance: Vec<Post> = maintenance
        .into_iter()
        .filter(|p| p.ends_ms.is_none_or(|end| end > now))
        .collect();
    maintenance.sort_by_key(|p| (p.starts_ms, p.id));
    StatusAnswer {
        title: config.title.clone(),
        generated_ms: now,
        state,
        first_day: day_name(first_day),
        groups,
        incidents,
        maintenance,
    }
}

/// A server's state from its host's latest `server_up`.
fn current(
    host: Option<&crate::live::HostLive>,
    source: &Source,
    now: i64,
    hosts: &crate::config::HostsConfig,
) -> &'static str {
    let Some(host) = host else {
        return "unknown";
    };
    let point = host
        .series("server_up")
        .find(|p| p.tags.get("server").map(String::as_str) == Some(source.server.as_str()));
    match point {
        Some(p) if HostState::of(Some(p.timestamp_ms), now, hosts) != HostState::Offline => {
            if p.value >= 1.0 { "up" } else { "down" }
        }
        _ => "unknown",
    }
}

/// One bar per day from `first_day`, and the uptime over them all.
fn bars(rows: &[DayRow], first_day: i64, days: u32) -> (Vec<DayStatus>, Option<f64>) {
    let mut total = Tally::default();
    let by_day: BTreeMap<i64, &DayRow> = rows.iter().map(|r| (r.day_ms, r)).collect();
    let bars = (0..i64::from(days))
        .map(|i| {
            let day = first_day + i * DAY_MS;
            let row = by_day.get(&day);
            if let Some(row) = row {
                total.up_ms += row.tally.up_ms;
                total.down_ms += row.tally.down_ms;
                total.no_data_ms += row.tally.no_data_ms;
                total.maintenance_ms += row.tally.maintenance_ms;
            }
            DayStatus {
                day: day_name(day),
                uptime: row.and_then(|r| r.tally.uptime()),
                down_ms: row.map_or(0.0, |r| r.tally.down_ms),
                no_data_ms: row.map_or(0.0, |r| r.tally.no_data_ms),
                maintenance_ms: row.map_or(0.0, |r| r.tally.maintenance_ms),
                worst: row.and_then(|r| r.worst),
            }
        })
        .collect();
    (bars, total.uptime())
}

/// `2026-11-30` for a day's start.
pub fn day_name(day_ms: i64) -> String {
    rfc3339(day_ms).chars().take(10).collect()
}
