//! What the last polls of the coordinator found ([`super::poll`] fills it):
//! its hosts, the ones left out, claims against measurements, zones, and
//! the database sync status per host. Shared with the API and the pages.

use std::collections::BTreeSet;
use std::sync::{Mutex, RwLock};

use serde::Serialize;

use super::RegisteredHost;
use super::assignments::Assignments;

/// A registry entry left out, and why.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Skipped {
    pub host_id: String,
    pub reason: String,
}

/// A host's claimed loss beside the measured one.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Claim {
    pub host: String,
    pub claimed_loss_percent: f64,
    pub measured_loss_percent: f64,
}

/// What the last polls found (`GET /api/v1/coordinator`).
#[derive(Clone, Debug, Default, Serialize)]
pub struct View {
    pub configured: bool,
    pub reachable: bool,
    pub last_ok_ms: Option<i64>,
    /// Why the last poll failed (never the URL or token).
    pub error: Option<String>,
    /// The registry's last answer time.
    pub latency_ms: Option<f64>,
    /// Whether its `/health` answered 200 at the last poll.
    pub healthy: Option<bool>,
    pub hosts: Vec<RegisteredHost>,
    /// Registry entries left out (their ids match no agent id).
    pub skipped: Vec<Skipped>,
    /// Registered and online there, no agent reporting here.
    pub unmonitored: Vec<String>,
    /// Reporting here, not registered there.
    pub unknown: Vec<String>,
    /// Claimed against measured loss, for hosts with measurements.
    pub claims: Vec<Claim>,
    /// Zones and which maps are on which host; `None` until first fetched.
    pub assignments: Option<Assignments>,
    /// Why the last zones or sessions fetch failed (the last good ones stay).
    pub assignments_error: Option<String>,
}

#[derive(Default)]
pub struct Registry {
    pub(super) view: RwLock<View>,
    /// Database sync status per host, from pushed events.
    pub sync: super::sync::SyncBook,
    /// (agent id, integer id) of quarantined hosts already reported back.
    pub(super) returned: Mutex<BTreeSet<(String, i64)>>,
}

impl Registry {
    pub fn view(&self) -> View {
        self.view.read().map(|v| v.clone()).unwrap_or_default()
    }

    pub(super) fn update(&self, f: impl FnOnce(&mut View)) {
        if let Ok(mut view) = self.view.write() {
            f(&mut view);
        }
    }
}
