//! Coordinator events derived from what changes between two polls, for a
//! coordinator that pushes none (the reference one never calls out). Each
//! poll's host list and active sessions are set against the last good
//! ones:
//!
//! | event | seen as |
//! |---|---|
//! | `host_registered` | an agent id not in the last list |
//! | `host_removed` | an agent id of the last list missing now |
//! | `host_reregistered` | the same agent id under another integer `id` (removed and registered again between polls) |
//! | `host_status_changed` | `status` differs |
//! | `host_zones_changed` | `current_zones` differs (its heartbeats set it) |
//! | `session_started` | a `session_id` not among the last active sessions |
//! | `session_failed` | an active session gone that was created 30 min or more before: the coordinator's cleanup fails pending and active sessions of that age |
//! | `session_ended` | any other active session gone; `reason` is `host_removed` when its host left (its sessions are dropped with it) |
//!
//! The first poll only sets the baseline (nothing is derived from it), and
//! sessions are compared only when both polls read them. Derived events
//! are stored and go to alert rules and the feed like pushed ones, with
//! the field `derived=poll`.

use std::collections::{BTreeMap, BTreeSet};

use super::RegisteredHost;
use super::assignments::SessionSeen;

/// Sessions this old when they leave the active list were failed by the
/// coordinator's stale-session cleanup (30 minutes).
pub const STALE_MS: i64 = 30 * 60 * 1000;

/// One derived event, under the agent id it concerns.
#[derive(Clone, Debug, PartialEq)]
pub struct Derived {
    pub host: String,
    pub kind: &'static str,
    pub message: String,
    pub fields: BTreeMap<String, String>,
}

impl Derived {
    fn new(host: &str, kind: &'static str, message: String, fields: &[(&str, String)]) -> Self {
        let mut all: BTreeMap<String, String> = fields
            .iter()
            .map(|(k, v)| (k.to_string(), v.clone()))
            .collect();
        all.insert("derived".to_string(), "poll".to_string());
        Self {
            host: host.to_string(),
            kind,
            message,
            fields: all,
        }
    }
}

fn id_text(id: Option<i64>) -> String {
    id.map(|i| i.to_string()).unwrap_or_default()
}

/// Hosts and sessions as two polls saw them: the events between.
pub fn diff(
    before: &[RegisteredHost],
    after: &[RegisteredHost],
    sessions: Option<(&[SessionSeen], &[SessionSeen])>,
    now_ms: i64,
) -> Vec<Derived> {
    let (mut out, gone) = host_changes(before, after);
    if let Some((then, now)) = sessions {
        out.extend(session_changes(then, now, &gone, now_ms));
    }
    out
}

/// Hosts registered, registered again, removed, or with another status or
/// zone count; and the hosts whose sessions went with them (removed, or
/// removed and back).
fn host_changes<'a>(
    before: &'a [RegisteredHost],
    after: &'a [RegisteredHost],
) -> (Vec<Derived>, BTreeSet<&'a str>) {
    let old: BTreeMap<&str, &RegisteredHost> =
        before.iter().map(|h| (h.agent_id.as_str(), h)).collect();
    let new: BTreeMap<&str, &RegisteredHost> =
        after.iter().map(|h| (h.agent_id.as_str(), h)).collect();
    let mut out = Vec::new();
    // Hosts whose sessions went with them (removed, or removed and back).
    let mut gone: BTreeSet<&str> = BTreeSet::new();
    for (agent, host) in &new {
        let coordinator = ("coordinator_id", host.host_id.clone());
        match old.get(agent) {
            None => out.push(Derived::new(
                agent,
                "host_registered",
                format!("{} registered at the coordinator", host.host_id),
                &[coordinator, ("id", id_text(host.id))],
            )),
            Some(was) if was.id != host.id => {
                gone.insert(*agent);
                out.push(Derived::new(
                    agent,
                    "host_reregistered",
                    format!(
                        "{} registered again at the coordinator (id {} was {})",
                        host.host_id,
                        id_text(host.id),
                        id_text(was.id)
                    ),
                    &[
                        coordinator,
                        ("id", id_text(host.id)),
                        ("previous_id", id_text(was.id)),
                    ],
                ));
            }
            Some(was) => {
                if was.status != host.status {
                    out.push(Derived::new(
                        agent,
                        "host_status_changed",
                        format!(
                            "{} is {} at the coordinator (was {})",
                            host.host_id, host.status, was.status
                        ),
                        &[
                            coordinator.clone(),
                            ("from", was.status.clone()),
                            ("to", host.status.clone()),
                        ],
                    ));
                }
                if was.current_zones != host.current_zones {
                    let zones = |z: Option<i64>| id_text(z);
                    out.push(Derived::new(
                        agent,
                        "host_zones_changed",
                        format!(
                            "{} runs {} zones by its heartbeat (was {})",
                            host.host_id,
                            zones(host.current_zones),
                            zones(was.current_zones)
                        ),
                        &[
                            coordinator,
                            ("from", zones(was.current_zones)),
                            ("to", zones(host.current_zones)),
                        ],
                    ));
                }
            }
        }
    }
    for (agent, was) in &old {
        if !new.contains_key(agent) {
            gone.insert(*agent);
            out.push(Derived::new(
                agent,
                "host_removed",
                format!("{} left the coordinator's registry", was.host_id),
                &[
                    ("coordinator_id", was.host_id.clone()),
                    ("id", id_text(was.id)),
                ],
            ));
        }
    }
    (out, gone)
}

/// Sessions started, and sessions no longer active: ended (with their
/// host, or by themselves) or failed (stale).
fn session_changes(
    then: &[SessionSeen],
    now: &[SessionSeen],
    gone: &BTreeSet<&str>,
    now_ms: i64,
) -> Vec<Derived> {
    let mut out = Vec::new();
    let ids = |list: &[SessionSeen]| -> BTreeSet<String> {
        list.iter().map(|s| s.session_id.clone()).collect()
    };
    let (then_ids, now_ids) = (ids(then), ids(now));
    for session in now.iter().filter(|s| !then_ids.contains(&s.session_id)) {
        out.push(Derived::new(
            &session.host,
            "session_started",
            format!(
                "session {} of {} is active on {}",
                session.session_id, session.map, session.host
            ),
            &session.fields(),
        ));
    }
    for session in then.iter().filter(|s| !now_ids.contains(&s.session_id)) {
        let mut fields = session.fields();
        let (kind, why) = if gone.contains(session.host.as_str()) {
            ("session_ended", "host_removed")
        } else if session
            .created_ms
            .is_some_and(|created| now_ms - created >= STALE_MS)
        {
            ("session_failed", "stale")
        } else {
            ("session_ended", "ended")
        };
        fields.push(("reason", why.to_string()));
        out.push(Derived::new(
            &session.host,
            kind,
            format!(
                "session {} of {} on {} is no longer active ({why})",
                session.session_id, session.map, session.host
            ),
            &fields,
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn host(agent: &str, id: i64, status: &str, zones: i64) -> RegisteredHost {
        RegisteredHost {
            id: Some(id),
            host_id: agent.to_uppercase(),
            agent_id: agent.to_string(),
            status: status.to_string(),
            current_zones: Some(zones),
            ..RegisteredHost::default()
        }
    }

    fn session(id: &str, host: &str, created_ms: i64) -> SessionSeen {
        SessionSeen {
            session_id: id.to_string(),
            host: host.to_string(),
            zone_id: "prt_fild08".to_string(),
            map: "prt_fild08".to_string(),
            created_ms: Some(created_ms),
        }
    }

    fn kinds(events: &[Derived]) -> Vec<(&str, &str)> {
        events.iter().map(|e| (e.kind, e.host.as_str())).collect()
    }

    #[test]
    fn hosts_registered_removed_back_under_a_new_id_and_changed() {
        let before = [
            host("a", 1, "online", 0),
            host("b", 2, "online", 1),
            host("c", 3, "online", 1),
        ];
        let after = [
            host("a", 1, "busy", 2),
            host("c", 7, "online", 1),
            host("d", 8, "online", 0),
        ];
        let events = diff(&before, &after, None, 0);
        assert_eq!(
            kinds(&events),
            [
                ("host_status_changed", "a"),
                ("host_zones_changed", "a"),
                ("host_reregistered", "c"),
                ("host_registered", "d"),
                ("host_removed", "b"),
            ]
        );
        assert_eq!(events[2].fields["previous_id"], "3");
        assert_eq!(events[2].fields["coordinator_id"], "C");
        assert_eq!(events[4].fields["derived"], "poll");
    }

    #[test]
    fn sessions_start_end_with_their_host_and_fail_when_stale() {
        let now = 100 * 60 * 1000;
        let hosts = [host("a", 1, "online", 1), host("b", 2, "online", 1)];
        let after_hosts = [host("a", 1, "online", 1)];
        let then = [
            session("session-1", "a", now - 60_000),
            session("session-2", "a", now - STALE_MS),
            session("session-3", "b", now - 60_000),
        ];
        let now_sessions = [session("session-4", "a", now)];
        let events = diff(&hosts, &after_hosts, Some((&then, &now_sessions)), now);
        let reasons: Vec<(&str, &str)> = events
            .iter()
            .filter(|e| e.kind.starts_with("session"))
            .map(|e| (e.kind, e.fields.get("reason").map_or("", String::as_str)))
            .collect();
        assert_eq!(
            reasons,
            [
                ("session_started", ""),
                ("session_ended", "ended"),
                ("session_failed", "stale"),
                ("session_ended", "host_removed"),
            ]
        );
    }
}
