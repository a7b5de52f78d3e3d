//! Which maps the coordinator has put on which host, from the reference
//! coordinator's zones (`GET /api/v1/zones/`: a zone is one map, with
//! `map_name` and `p2p_enabled`) and its active sessions per zone
//! (`GET /api/v1/sessions/zone/{zone_id}/active`, asked for every zone: its
//! `active_sessions` counter is never updated there and stays 0). Each
//! path is asked once a poll, so at most 60 times a minute (`poll_s` is at
//! least 1), under its limit of 100 per client and path. A session names
//! its host and zone by their integer keys (`host_id`, `zone_id`), which
//! the host list (`id`) and the zone list (`id`) resolve.
//!
//! When no zone has an active session the assignments are unknown, not
//! "none": that coordinator cannot activate a session through its API and
//! lists no pending ones, so an empty answer says nothing about placement.
//! [`Assignments::unknown`] says so, and pages show it.
//!
//! Set against what the hosts' game plugins report (`map_status` per map),
//! each assignment is *served* (the map is up on that host), *not served*
//! (the host reports its maps, and this one is missing or down), or unknown
//! (the host reports no per-map status, or no agent reports for it: that is
//! the unmonitored case).

use std::collections::{BTreeMap, BTreeSet};

use futures_util::{StreamExt, TryStreamExt};
use serde::{Deserialize, Serialize};

use super::RegisteredHost;
use super::{Coordinator, CoordinatorError};
use crate::live::MapOnHost;

/// Session requests in flight at once.
const CONCURRENT: usize = 8;
/// The gauge alert rules see: 1 while an assigned map is not served.
pub const NOT_SERVED: &str = "coordinator_map_not_served";

/// One zone as the coordinator lists it (fields we use).
#[derive(Clone, Debug, Deserialize, Serialize)]
pub struct Zone {
    pub id: i64,
    pub zone_id: String,
    pub map_name: String,
    #[serde(default)]
    pub p2p_enabled: bool,
    #[serde(default)]
    pub status: String,
    #[serde(default)]
    pub max_players: Option<i64>,
    #[serde(default)]
    pub active_sessions: Option<i64>,
}

/// One session as the coordinator answers it (fields we use).
#[derive(Clone, Debug, Deserialize)]
struct Session {
    #[serde(default)]
    session_id: String,
    host_id: i64,
    zone_id: i64,
    #[serde(default)]
    status: String,
    #[serde(default)]
    current_players: Option<i64>,
    #[serde(default)]
    created_at: Option<String>,
}

/// A map the coordinator has put on a host.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Assignment {
    pub map: String,
    pub zone_id: String,
    pub host: String,
    pub session_id: String,
    /// The session's state there (`pending`, `active`, `paused`, ...).
    pub state: String,
    pub players: Option<i64>,
    /// Whether the host's map-server serves it; `None` when unknown.
    pub served: Option<bool>,
}

/// Zones and assignments from one poll.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Assignments {
    pub zones: Vec<Zone>,
    pub assignments: Vec<Assignment>,
    /// Why the assignments are unknown (no active session anywhere); `None`
    /// when there are some.
    pub unknown: Option<String>,
    /// Zones not asked (ids that cannot go in a URL path), by id.
    pub skipped_zones: Vec<String>,
    /// Every active session, for [`super::derive`].
    #[serde(skip)]
    pub sessions: Vec<SessionSeen>,
}

/// One active session as the last poll saw it.
#[derive(Clone, Debug, PartialEq)]
pub struct SessionSeen {
    pub session_id: String,
    /// The agent id of its host.
    pub host: String,
    pub zone_id: String,
    pub map: String,
    /// Its `created_at`; `None` when unreadable.
    pub created_ms: Option<i64>,
}

impl SessionSeen {
    pub fn fields(&self) -> Vec<(&'static str, String)> {
        vec![
            ("session_id", self.session_id.clone()),
            ("zone_id", self.zone_id.clone()),
            ("map", self.map.clone()),
        ]
    }
}

/// An ISO 8601 time as the coordinator writes it (with an offset, or
/// without one for UTC), in Unix ms.
fn parse_time(text: &str) -> Option<i64> {
    use time::format_description::well_known::Rfc3339;
    let parsed = time::OffsetDateTime::parse(text, &Rfc3339)
        .or_else(|_| time::OffsetDateTime::parse(&format!("{text}Z"), &Rfc3339))
        .ok()?;
    i64::try_from(parsed.unix_timestamp_nanos() / 1_000_000).ok()
}

/// Ids used in a URL path: letters, digits, `_.-`.
fn is_path_safe(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 128
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'))
}

/// Map names are shown on pages and used as tags: printable, at most 64 bytes.
fn is_map_name(name: &str) -> bool {
    !name.is_empty() && name.len() <= 64 && !name.chars().any(char::is_control)
}

/// Fetch the zones and their active sessions; `hosts` resolves host keys.
pub async fn fetch(
    coordinator: &Coordinator,
    hosts: &[RegisteredHost],
) -> Result<Assignments, CoordinatorError> {
    let zones: Vec<Zone> = coordinator
        .get_json("/api/v1/zones/", "a zone list")
        .await?;
    let (zones, bad): (Vec<Zone>, Vec<Zone>) = zones
        .into_iter()
        .partition(|z| is_path_safe(&z.zone_id) && is_map_name(&z.map_name));
    let skipped_zones: Vec<String> = bad.iter().map(|z| format!("{:?}", z.zone_id)).collect();
    if !bad.is_empty() {
        tracing::warn!(
            zones = %skipped_zones.join(", "),
            "Coordinator listed zones whose ids cannot go in a URL path or whose map names are not printable; skipped."
        );
    }
    // Every zone, whatever its counter says (the reference coordinator never
    // updates it).
    let asked: Vec<String> = zones
        .iter()
        .map(|z| format!("/api/v1/sessions/zone/{}/active", z.zone_id))
        .collect();
    let sessions: Vec<Vec<Session>> = futures_util::stream::iter(asked)
        .map(|path| {
            let coordinator = coordinator.clone();
            async move {
                coordinator
                    .get_json::<Vec<Session>>(&path, "a session list")
                    .await
            }
        })
        .buffer_unordered(CONCURRENT)
        .try_collect()
        .await?;
    let host_ids: BTreeMap<i64, &str> = hosts
        .iter()
        .filter_map(|h| Some((h.id?, h.agent_id.as_str())))
        .collect();
    let zone_by_key: BTreeMap<i64, &Zone> = zones.iter().map(|z| (z.id, z)).collect();
    let sessions: Vec<Session> = sessions.into_iter().flatten().collect();
    let mut seen: Vec<SessionSeen> = sessions
        .iter()
        .filter_map(|s| {
            let zone = zone_by_key.get(&s.zone_id)?;
            let host = host_ids.get(&s.host_id)?;
            Some(SessionSeen {
                session_id: s.session_id.clone(),
                host: host.to_string(),
                zone_id: zone.zone_id.clone(),
                map: zone.map_name.clone(),
                created_ms: s.created_at.as_deref().and_then(parse_time),
            })
        })
        .collect();
    seen.sort_by(|a, b| a.session_id.cmp(&b.session_id));
    seen.dedup_by(|a, b| a.session_id == b.session_id);
    let mut assignments: Vec<Assignment> = sessions
        .into_iter()
        .filter_map(|s| {
            let zone = zone_by_key.get(&s.zone_id)?;
            let host = host_ids.get(&s.host_id)?;
            Some(Assignment {
                map: zone.map_name.clone(),
                zone_id: zone.zone_id.clone(),
                host: host.to_string(),
                session_id: s.session_id,
                state: s.status,
                players: s.current_players,
                served: None,
            })
        })
        .collect();
    assignments
        .sort_by(|a, b| (&a.map, &a.host, &a.session_id).cmp(&(&b.map, &b.host, &b.session_id)));
    assignments.dedup_by(|a, b| a.map == b.map && a.host == b.host);
    let unknown = assignments.is_empty().then(|| {
        format!(
            "the coordinator lists no active session in its {} zones; it cannot activate sessions through its API and lists no pending ones, so which host serves which map is not known",
            zones.len()
        )
    });
    Ok(Assignments {
        zones,
        assignments,
        unknown,
        skipped_zones,
        sessions: seen,
    })
}

/// Mark each assignment served or not from the maps `reporting` hosts
/// serve (hosts offline here are left out: their case is unmonitored).
pub fn correlate(
    assignments: &mut [Assignment],
    reporting: &BTreeMap<String, BTreeMap<String, MapOnHost>>,
) {
    for assignment in assignments {
        assignment.served = reporting.get(&assignment.host).and_then(|maps| {
            let reports_maps = maps.values().any(|m| m.up.is_some());
            reports_maps.then(|| maps.get(&assignment.map).and_then(|m| m.up) == Some(true))
        });
    }
}

/// (host, map) of the assignments that are not served.
pub fn not_served(assignments: &[Assignment]) -> BTreeSet<(String, String)> {
    assignments
        .iter()
        .filter(|a| a.served == Some(false))
        .map(|a| (a.host.clone(), a.map.clone()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn assignment(map: &str, host: &str) -> Assignment {
        Assignment {
            map: map.to_string(),
            zone_id: map.to_string(),
            host: host.to_string(),
            session_id: format!("{host}-{map}"),
            state: "active".to_string(),
            players: None,
            served: None,
        }
    }

    fn serving(maps: &[(&str, Option<bool>)]) -> BTreeMap<String, MapOnHost> {
        maps.iter()
            .map(|(map, up)| {
                let on_host = MapOnHost {
                    players: None,
                    up: *up,
                };
                (map.to_string(), on_host)
            })
            .collect()
    }

    #[test]
    fn an_assignment_is_served_not_served_or_unknown() {
        let mut assignments = [
            assignment("prt_fild08", "p2p-1"),
            assignment("pay_dun00", "p2p-1"),
            assignment("gef_fild10", "p2p-1"),
            assignment("moc_fild01", "p2p-2"),
            assignment("izlude", "p2p-3"),
        ];
        let reporting = BTreeMap::from([
            (
                "p2p-1".to_string(),
                serving(&[("prt_fild08", Some(true)), ("pay_dun00", Some(false))]),
            ),
            // Reports players per map but no map status: cannot tell.
            ("p2p-2".to_string(), serving(&[("moc_fild01", None)])),
        ]);
        correlate(&mut assignments, &reporting);
        let served: Vec<Option<bool>> = assignments.iter().map(|a| a.served).collect();
        assert_eq!(served, [Some(true), Some(false), Some(false), None, None]);
        assert_eq!(
            not_served(&assignments),
            BTreeSet::from([
                ("p2p-1".to_string(), "gef_fild10".to_string()),
                ("p2p-1".to_string(), "pay_dun00".to_string()),
            ])
        );
    }

    #[test]
    fn times_with_and_without_an_offset() {
        assert_eq!(parse_time("1970-01-01T00:00:01.500000+00:00"), Some(1500));
        assert_eq!(parse_time("1970-01-01T01:00:00+01:00"), Some(0));
        assert_eq!(parse_time("1970-01-01T00:00:02"), Some(2000));
        assert_eq!(parse_time("yesterday"), None);
    }

    #[test]
    fn ids_that_cannot_go_in_a_path_are_refused() {
        assert!(is_path_safe("prontera_field-01.b"));
        assert!(!is_path_safe("../hosts"));
        assert!(!is_path_safe("a b"));
        assert!(!is_path_safe(""));
        assert!(is_map_name("1@tower"));
        assert!(!is_map_name("evil\nmap"));
    }
}
