//! A local stand-in for the reference coordinator (FastAPI, p2p-coordinator):
//! its routes and JSON shapes for hosts, zones and sessions.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use serde_json::json;

use crate::fake_http::Reply;

/// The reference coordinator's host list (`GET /api/v1/hosts/`): two hosts
/// online, one offline.
pub fn registry() -> String {
    json!([
        {"id": 1, "host_id": "p2p-1", "player_id": "1", "status": "online", "quality_score": 91.5,
         "current_players": 12, "max_players": 50, "current_zones": 2, "max_zones": 5, "latency_ms": 23.0},
        {"id": 2, "host_id": "p2p-2", "player_id": "2", "status": "online", "quality_score": 80.0,
         "current_players": 0, "max_players": 50, "current_zones": 1, "max_zones": 5, "latency_ms": 40.0},
        {"id": 3, "host_id": "p2p-3", "player_id": "3", "status": "offline", "quality_score": 10.0,
         "current_players": 0, "max_players": 50, "current_zones": 0, "max_zones": 5, "latency_ms": 0.0},
    ])
    .to_string()
}

/// The reference coordinator's routes for hosts, zones and sessions:
/// [`registry`]'s hosts; zones prt_fild08 and pay_dun00 (P2P, one active
/// session each, both on p2p-1), prontera (VPS only, no session) and one
/// whose id is unsafe in a URL path. Zones answer 500 while `zones_down` is
/// set; unknown paths 404.
pub fn reference_coordinator(
    zones_down: Arc<AtomicBool>,
) -> impl Fn(&str, usize) -> Reply + Send + Sync + 'static {
    let hosts = registry();
    let zones = json!([
        {"id": 10, "zone_id": "prt_fild08", "zone_name": "prt_fild08", "zone_display_name": "Prontera Field 08",
         "map_name": "prt_fild08", "max_players": 100, "p2p_enabled": true, "status": "enabled", "active_sessions": 1},
        {"id": 11, "zone_id": "pay_dun00", "zone_name": "pay_dun00", "zone_display_name": "Payon Cave",
         "map_name": "pay_dun00", "max_players": 100, "p2p_enabled": true, "status": "enabled", "active_sessions": 1},
        {"id": 12, "zone_id": "prontera", "zone_name": "prontera", "zone_display_name": "Prontera",
         "map_name": "prontera", "max_players": 500, "p2p_enabled": false, "status": "enabled", "active_sessions": 0},
        {"id": 13, "zone_id": "../hosts", "zone_name": "x", "zone_display_name": "x",
         "map_name": "x", "p2p_enabled": true, "status": "enabled", "active_sessions": 1},
    ])
    .to_string();
    let session = |id: i64, zone: i64, players: i64| {
        json!([{"id": id, "session_id": format!("sess-{id}"), "host_id": 1, "zone_id": zone,
                "connected_players": [], "current_players": players, "max_players": 100, "status": "active",
                "average_latency_ms": 20.0, "average_packet_loss_percent": 0.0, "bandwidth_usage_mbps": 1.0,
                "started_at": null, "ended_at": null, "created_at": "2026-11-26T08:00:00", "updated_at": "2026-11-26T08:00:00"}])
        .to_string()
    };
    let (field, cave) = (session(1, 10, 7), session(2, 11, 0));
    move |path: &str, _| match path {
        "/api/v1/hosts/" => Reply::body(200, &hosts),
        "/api/v1/zones/" if zones_down.load(Ordering::Relaxed) => {
            Reply::body(500, r#"{"detail": "Database error occurred"}"#)
        }
        "/api/v1/zones/" => Reply::body(200, &zones),
        "/api/v1/sessions/zone/prt_fild08/active" => Reply::body(200, &field),
        "/api/v1/sessions/zone/pay_dun00/active" => Reply::body(200, &cave),
        _ => Reply::body(404, r#"{"detail": "Not Found"}"#),
    }
}
