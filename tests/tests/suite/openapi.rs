//! aggregator/openapi.yaml against the running API: every route is described,
//! and every response body (successes and errors) matches the schema the file
//! gives for its path, method and status. Every typed response the API
//! answers with (`p2pmon_aggregator::api::responses::DOCUMENTED`) is
//! checked with a real body, so a struct and its schema cannot drift apart.

use std::collections::BTreeSet;
use std::sync::Mutex;

use anyhow::{Context, Result, bail};
use p2pmon_aggregator::api::responses::DOCUMENTED;
use p2pmon_common::wire::{EventRecord, Record, Severity, paths};

use p2pmon_tests::aggregator::{TestAggregator, batch, metric, metric_from, now_ms};
use p2pmon_tests::fake_coordinator::FakeCoordinator;
use p2pmon_tests::workspace_root;
use reqwest::StatusCode;
use serde_json::{Value, json};

/// openapi.yaml, and the responses checked against it so far.
struct Spec {
    doc: Value,
    checked: Mutex<BTreeSet<(String, String, u16)>>,
}

fn spec() -> Result<Spec> {
    let text = std::fs::read_to_string(workspace_root().join("aggregator/openapi.yaml"))?;
    let yaml: serde_yaml::Value = serde_yaml::from_str(&text)?;
    Ok(Spec {
        doc: serde_json::to_value(yaml)?,
        checked: Mutex::new(BTreeSet::new()),
    })
}

impl Spec {
    /// [`check`], remembering which response passed.
    fn check(&self, path: &str, method: &str, status: StatusCode, body: &Value) -> Result<()> {
        check(&self.doc, path, method, status, body)?;
        if let Ok(mut checked) = self.checked.lock() {
            checked.insert((method.to_string(), path.to_string(), status.as_u16()));
        }
        Ok(())
    }

    /// The documented responses that have not been checked yet.
    fn unchecked(&self) -> Vec<String> {
        let checked = self.checked.lock().map(|c| c.clone()).unwrap_or_default();
        DOCUMENTED
            .iter()
            .filter(|d| !checked.contains(&(d.method.to_string(), d.path.to_string(), d.status)))
            .map(|d| format!("{} {} {} ({})", d.method, d.path, d.status, d.type_name))
            .collect()
    }
}

/// The JSON schema of a documented response, if it has one.
fn json_schema<'a>(spec: &'a Value, path: &str, method: &str, status: u16) -> Option<&'a Value> {
    let mut pointer = format!("/paths/{}/{method}/responses/{status}", escape(path));
    let response = spec.pointer(&pointer)?;
    if let Some(target) = response.get("$ref").and_then(Value::as_str) {
        pointer = target.trim_start_matches('#').to_string();
    }
    spec.pointer(&format!("{pointer}/content/application~1json/schema"))
}

/// JSON pointer escaping (RFC 6901).
fn escape(segment: &str) -> String {
    segment.replace('~', "~0").replace('/', "~1")
}

/// Check `body` against the schema of `path`/`method`/`status` in `spec`.
/// Response objects may be `$ref`s to `components/responses`.
fn check(spec: &Value, path: &str, method: &str, status: StatusCode, body: &Value) -> Result<()> {
    let code = status.as_u16().to_string();
    let mut response_pointer = format!("/paths/{}/{method}/responses/{code}", escape(path));
    let response = spec
        .pointer(&response_pointer)
        .with_context(|| format!("{method} {path}: status {code} is not documented"))?;
    if let Some(target) = response.get("$ref").and_then(Value::as_str) {
        response_pointer = target.trim_start_matches('#').to_string();
    }
    let schema_pointer = format!("{response_pointer}/content/application~1json/schema");
    spec.pointer(&schema_pointer)
        .with_context(|| format!("{method} {path} {code}: no JSON schema"))?;
    // The whole document is the root schema, so `#/components/...` references
    // resolve; `$ref` picks the response's schema. Other keys are ignored.
    let mut root = spec.clone();
    let fragment = schema_pointer.replace('{', "%7B").replace('}', "%7D");
    root["$ref"] = json!(format!("#{fragment}"));
    let validator = jsonschema::draft202012::new(&root)
        .map_err(|e| anyhow::anyhow!("{method} {path} {code}: schema does not compile: {e}"))?;
    let problems: Vec<String> = validator
        .iter_errors(body)
        .map(|e| format!("{} at {}", e, e.instance_path()))
        .collect();
    if !problems.is_empty() {
        bail!(
            "{method} {path} {code} does not match the spec:\n  {}\nbody: {body}",
            problems.join("\n  ")
        );
    }
    Ok(())
}

#[test]
fn every_route_is_documented() -> Result<()> {
    let spec = spec()?.doc;
    let documented: BTreeSet<String> = spec["paths"]
        .as_object()
        .context("paths")?
        .keys()
        .cloned()
        .collect();
    // api.rs routes the API; the status page's own file its part of it
    // (its HTML page and badges are no API paths).
    let mut source = std::fs::read_to_string(workspace_root().join("aggregator/src/api.rs"))?;
    source +=
        &std::fs::read_to_string(workspace_root().join("aggregator/src/status_page/routes.rs"))?;
    let routed: BTreeSet<String> = source
        .split(".route(")
        .skip(1)
        .filter_map(|rest| rest.trim_start().strip_prefix('"')?.split('"').next())
        .filter(|path| !path.starts_with("/status"))
        .map(str::to_string)
        .collect();
    assert!(routed.len() >= 8, "found {routed:?}");
    assert_eq!(
        routed, documented,
        "routes in api.rs vs paths in openapi.yaml"
    );
    Ok(())
}

/// Each type the API answers with names a documented JSON response, and each
/// documented JSON success has a type: the two lists are the same.
#[test]
fn every_typed_response_has_a_schema_and_every_success_a_type() -> Result<()> {
    let spec = spec()?.doc;
    assert!(DOCUMENTED.len() >= 20, "{DOCUMENTED:?}");
    for entry in DOCUMENTED {
        anyhow::ensure!(
            json_schema(&spec, entry.path, entry.method, entry.status).is_some(),
            "{entry:?}: openapi.yaml has no JSON schema for it"
        );
    }
    let typed: BTreeSet<(String, String, u16)> = DOCUMENTED
        .iter()
        .map(|d| (d.method.to_string(), d.path.to_string(), d.status))
        .collect();
    let mut successes = BTreeSet::new();
    for (path, item) in spec["paths"].as_object().context("paths")? {
        for (method, operation) in item.as_object().context("path item")? {
            let Some(responses) = operation.get("responses").and_then(Value::as_object) else {
                continue;
            };
            for code in responses.keys() {
                let Ok(status) = code.parse::<u16>() else {
                    continue;
                };
                if (200..300).contains(&status)
                    && json_schema(&spec, path, method, status).is_some()
                {
                    successes.insert((method.clone(), path.clone(), status));
                }
            }
        }
    }
    assert_eq!(
        typed, successes,
        "typed responses (api/responses.rs) vs JSON successes in openapi.yaml"
    );
    Ok(())
}

/// Handlers answer with the typed bodies of `api::responses`, never with
/// free-form JSON that no type describes.
#[test]
fn handlers_answer_with_typed_bodies() -> Result<()> {
    let source = std::fs::read_to_string(workspace_root().join("aggregator/src/api.rs"))?;
    for free_form in ["Json<serde_json::Value>", "json!(", "Json<Value>"] {
        assert!(
            !source.contains(free_form),
            "api.rs builds a body with {free_form}; give it a type in api/responses.rs"
        );
    }
    Ok(())
}

/// DELETE `url` twice: 200 and then 404, each answer checked against
/// `route`'s schema.
async fn delete_twice(spec: &Spec, agg: &TestAggregator, url: &str, route: &str) -> Result<()> {
    let http = reqwest::Client::new();
    for expected in [StatusCode::OK, StatusCode::NOT_FOUND] {
        let response = http
            .delete(agg.api_url(url)?)
            .bearer_auth(&agg.api_token)
            .send()
            .await?;
        let status = response.status();
        assert_eq!(status, expected, "DELETE {url}");
        spec.check(route, "delete", status, &response.json().await?)?;
    }
    Ok(())
}

#[tokio::test]
async fn responses_match_the_spec() -> Result<()> {
    let spec = spec()?;
    let rules = tempfile::tempdir()?;
    let alerts_file = rules.path().join("alerts.yml");
    std::fs::write(
        &alerts_file,
        "alerts:\n  cpu_usage: { warning: 40, critical: 90, duration: 0 }\nevents:\n  failed_login_burst: { min_severity: warning }\n",
    )?;
    let coordinator = FakeCoordinator::start("k").await?;
    coordinator.add_zone("prt_fild08", "prt_fild08", true, 0);
    coordinator.register("alpha").await?;
    coordinator.seed_session("alpha", "prt_fild08", "active", 37);
    let agg = TestAggregator::start_with(&format!(
        "alerts_file: '{}'\ncoordinator: {{ url: '{}', token: k, poll_s: 1 }}\n\
         status_page: {{ enabled: true, groups: [{{ name: Main, servers: [{{ id: alpha-map, name: Map, host: alpha, server: map }}] }}] }}",
        alerts_file.display(),
        coordinator.base
    ))
    .await?;
    let now = now_ms();
    for (host, players) in [("alpha", 37.0), ("beta", 12.0)] {
        let credential = agg.enroll(host).await?;
        let hello = json!({
            "agent_version": "1.2.3",
            "host_type": "p2p",
            "plugins": [{"name": "system", "version": "0.1.0", "sha256": "ab".repeat(32)}],
        });
        let (status, _) = agg
            .post_json(paths::HELLO, Some(&credential), &hello)
            .await?;
        assert_eq!(status, StatusCode::OK);
        let other = if host == "alpha" { "beta" } else { "alpha" };
        let records = vec![
            // The hello lists the system plugin: its metrics come from it.
            metric_from("system", "cpu_usage", 41.5, &[], now),
            metric_from("system", "memory_usage", 63.0, &[], now),
            metric("player_count", players, &[("map", "prt_fild08")], now),
            metric("map_status", 1.0, &[("map", "prt_fild08")], now),
            metric("network_latency", 23.0, &[("target", other)], now),
            metric("packet_loss", 0.5, &[("target", other)], now),
            metric("network_jitter", 1.5, &[("target", other)], now),
            metric(
                "peer_service_up",
                1.0,
                &[("target", other), ("port", "5121")],
                now,
            ),
            // The coordinator stopped answering: its last latency is old.
            metric(
                "network_latency",
                84.0,
                &[("target", "coordinator")],
                now - 5_000,
            ),
            metric("target_up", 0.0, &[("target", "coordinator")], now),
            metric(
                "bandwidth_usage",
                1000.0,
                &[("interface", "eth0"), ("direction", "rx")],
                now,
            ),
            metric(
                "bandwidth_usage",
                500.0,
                &[("interface", "eth0"), ("direction", "tx")],
                now,
            ),
            Record::Event(EventRecord {
                plugin: "anticheat".to_string(),
                kind: "failed_login_burst".to_string(),
                severity: Severity::Warning,
                message: "12 failed logins in 60 s".to_string(),
                fields: [("ip".to_string(), "203.0.113.9".to_string())].into(),
                timestamp_ms: now,
            }),
        ];
        let (status, ack) = agg
            .post_batch(&credential, &batch(host, "s", 1, records))
            .await?;
        assert_eq!(status, StatusCode::OK, "{ack}");
    }

    // Database sync status for alpha, and the coordinator's assignments read.
    let sync = json!({"events": [
        {"kind": "db_sync", "host_id": "alpha", "fields": {"lag_s": "3"}},
        {"kind": "db_sync_failed", "host_id": "alpha", "message": "timeout"},
    ]});
    let response = agg
        .http
        .post(agg.api_url("/api/v1/events")?)
        .bearer_auth(&agg.api_token)
        .json(&sync)
        .send()
        .await?;
    assert_eq!(response.status(), StatusCode::ACCEPTED);
    p2pmon_tests::wait::eventually(std::time::Duration::from_secs(10), async || {
        let (_, body) = agg.api("/api/v1/coordinator").await?;
        anyhow::ensure!(
            !body["coordinator"]["assignments"].is_null(),
            "assignments never read: {body}"
        );
        Ok(())
    })
    .await?;

    let gets = [
        ("/api/v1/health", "/api/v1/health", StatusCode::OK),
        ("/api/v1/hosts", "/api/v1/hosts", StatusCode::OK),
        (
            "/api/v1/hosts",
            "/api/v1/hosts?status=online&sort=players&page=1&per_page=1",
            StatusCode::OK,
        ),
        (
            "/api/v1/hosts",
            "/api/v1/hosts?search=prt_&sort=cpu",
            StatusCode::OK,
        ),
        (
            "/api/v1/hosts",
            "/api/v1/hosts?per_page=0",
            StatusCode::BAD_REQUEST,
        ),
        (
            "/api/v1/hosts",
            "/api/v1/hosts?colour=blue",
            StatusCode::BAD_REQUEST,
        ),
        ("/api/v1/hosts/{id}", "/api/v1/hosts/alpha", StatusCode::OK),
        (
            "/api/v1/hosts/{id}",
            "/api/v1/hosts/nobody",
            StatusCode::NOT_FOUND,
        ),
        ("/api/v1/maps", "/api/v1/maps", StatusCode::OK),
        (
            "/api/v1/metrics/realtime",
            "/api/v1/metrics/realtime",
            StatusCode::OK,
        ),
        (
            "/api/v1/metrics/historical",
            "/api/v1/metrics/historical?timeframe=1h&metric=cpu_usage",
            StatusCode::OK,
        ),
        (
            "/api/v1/metrics/historical",
            "/api/v1/metrics/historical?timeframe=30d&metric=player_count&host=alpha",
            StatusCode::OK,
        ),
        (
            "/api/v1/metrics/historical",
            "/api/v1/metrics/historical?timeframe=1h&metric=cpu_usage&fields=avg,count,max,min",
            StatusCode::OK,
        ),
        (
            "/api/v1/metrics/historical",
            "/api/v1/metrics/historical?timeframe=2w&metric=cpu_usage",
            StatusCode::BAD_REQUEST,
        ),
        (
            "/api/v1/metrics/historical",
            "/api/v1/metrics/historical?timeframe=1h&metric=cpu_usage&fields=avg,avg",
            StatusCode::BAD_REQUEST,
        ),
        (
            "/api/v1/network/matrix",
            "/api/v1/network/matrix",
            StatusCode::OK,
        ),
        (
            "/api/v1/events",
            "/api/v1/events?severity=warning&limit=10",
            StatusCode::OK,
        ),
        (
            "/api/v1/events",
            "/api/v1/events?severity=loud",
            StatusCode::BAD_REQUEST,
        ),
        (
            "/api/v1/alerts/active",
            "/api/v1/alerts/active",
            StatusCode::OK,
        ),
        (
            "/api/v1/alerts",
            "/api/v1/alerts?status=firing&host=alpha",
            StatusCode::OK,
        ),
        (
            "/api/v1/alerts",
            "/api/v1/alerts?status=snoozed",
            StatusCode::BAD_REQUEST,
        ),
        ("/api/v1/alerts/{id}", "/api/v1/alerts/1", StatusCode::OK),
        (
            "/api/v1/alerts/{id}",
            "/api/v1/alerts/999",
            StatusCode::NOT_FOUND,
        ),
        ("/api/v1/actions", "/api/v1/actions", StatusCode::OK),
        (
            "/api/v1/actions",
            "/api/v1/actions?limit=0",
            StatusCode::BAD_REQUEST,
        ),
        ("/api/v1/coordinator", "/api/v1/coordinator", StatusCode::OK),
        ("/api/v1/rules", "/api/v1/rules", StatusCode::OK),
    ];
    for (route, url, expected) in gets {
        let (status, body) = agg.api(url).await?;
        assert_eq!(status, expected, "GET {url}: {body}");
        spec.check(route, "get", status, &body)
            .with_context(|| format!("GET {url}"))?;
    }

    // The bodies are not trivially empty: the checks above saw real data.
    let (_, detail) = agg.api("/api/v1/hosts/alpha").await?;
    assert_eq!(detail["plugins"][0]["name"], "system");
    let (_, matrix) = agg.api("/api/v1/network/matrix").await?;
    assert_eq!(
        matrix["links"].as_array().map(Vec::len),
        Some(4),
        "{matrix}"
    );
    let dark = matrix["links"]
        .as_array()
        .and_then(|l| {
            l.iter()
                .find(|l| l["from"] == "alpha" && l["to"] == "coordinator")
        })
        .cloned()
        .unwrap_or_default();
    assert_eq!(dark["answering"], false, "{dark}");
    assert_eq!(
        dark["latency_ms"],
        Value::Null,
        "no answer, not 84 ms: {dark}"
    );
    assert!(
        dark["last_answer_ms"].as_i64() < dark["timestamp_ms"].as_i64(),
        "{dark}"
    );
    let traffic = &matrix["traffic"][0];
    assert_eq!(
        (
            &traffic["rx_bytes_per_second"],
            &traffic["tx_bytes_per_second"]
        ),
        (&Value::from(1000.0), &Value::from(500.0)),
        "{traffic}"
    );
    let (_, events) = agg.api("/api/v1/events").await?;
    assert_eq!(
        events["events"].as_array().map(Vec::len),
        Some(4),
        "two from the hosts, two from the coordinator: {events}"
    );

    // Two hosts, each with a cpu alert and a failed-login alert.
    let (_, active) = agg.api("/api/v1/alerts/active").await?;
    assert_eq!(
        active["alerts"].as_array().map(Vec::len),
        Some(4),
        "{active}"
    );
    let http = reqwest::Client::new();
    for (id, body, expected) in [
        (1, json!({"status": "acknowledged"}), StatusCode::OK),
        (
            1,
            json!({"status": "resolved", "resolution_notes": "load test"}),
            StatusCode::OK,
        ),
        (1, json!({"status": "resolved"}), StatusCode::NOT_FOUND),
        (2, json!({"status": "firing"}), StatusCode::BAD_REQUEST),
        (
            2,
            json!({"status": "resolved", "colour": "red"}),
            StatusCode::BAD_REQUEST,
        ),
    ] {
        let response = http
            .patch(agg.api_url(&format!("/api/v1/alerts/{id}"))?)
            .bearer_auth(&agg.api_token)
            .json(&body)
            .send()
            .await?;
        let status = response.status();
        let answer: Value = response.json().await?;
        assert_eq!(status, expected, "PATCH {id} {body}: {answer}");
        spec.check("/api/v1/alerts/{id}", "patch", status, &answer)?;
    }
    let (_, one) = agg.api("/api/v1/alerts/1").await?;
    spec.check("/api/v1/alerts/{id}", "get", StatusCode::OK, &one)?;
    assert_eq!(one["alert"]["status"], "resolved");
    assert_eq!(one["alert"]["resolution_notes"], "load test");
    let changes: Vec<&str> = one["history"]
        .as_array()
        .map(|h| h.iter().filter_map(|c| c["change"].as_str()).collect())
        .unwrap_or_default();
    assert_eq!(changes, ["fired", "acknowledged", "resolved_by_admin"]);
    // Silences: create, list, refuse a bad one, end, end again.
    for (body, expected) in [
        (
            json!({"host": "alpha", "ends_ms": now + 3_600_000, "author": "admin", "comment": "maintenance"}),
            StatusCode::OK,
        ),
        (
            json!({"ends_ms": now - 1, "author": "admin"}),
            StatusCode::BAD_REQUEST,
        ),
        (
            json!({"ends_ms": now + 1000, "author": ""}),
            StatusCode::BAD_REQUEST,
        ),
    ] {
        let response = http
            .post(agg.api_url("/api/v1/silences")?)
            .bearer_auth(&agg.api_token)
            .json(&body)
            .send()
            .await?;
        let status = response.status();
        let answer: Value = response.json().await?;
        assert_eq!(status, expected, "POST silence {body}: {answer}");
        spec.check("/api/v1/silences", "post", status, &answer)?;
    }
    let (_, silences) = agg.api("/api/v1/silences").await?;
    spec.check("/api/v1/silences", "get", StatusCode::OK, &silences)?;
    assert_eq!(silences["silences"].as_array().map(Vec::len), Some(1));
    delete_twice(&spec, &agg, "/api/v1/silences/1", "/api/v1/silences/{id}").await?;

    let (_, resolved) = agg.api("/api/v1/alerts?status=resolved").await?;
    spec.check("/api/v1/alerts", "get", StatusCode::OK, &resolved)?;
    assert_eq!(resolved["alerts"].as_array().map(Vec::len), Some(1));

    // Without a token.
    let response = reqwest::Client::new()
        .get(agg.api_url("/api/v1/hosts")?)
        .send()
        .await?;
    let status = response.status();
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    spec.check("/api/v1/hosts", "get", status, &response.json().await?)?;

    // DELETE revokes, then the host is unknown to it.
    delete_twice(&spec, &agg, "/api/v1/hosts/beta", "/api/v1/hosts/{id}").await?;
    // A WebSocket ticket.
    let response = agg
        .http
        .post(agg.api_url("/api/v1/ws-ticket")?)
        .bearer_auth(&agg.api_token)
        .send()
        .await?;
    let status = response.status();
    assert_eq!(status, StatusCode::OK);
    spec.check("/api/v1/ws-ticket", "post", status, &response.json().await?)?;
    // Coordinator pushes: accepted, malformed, oversized.
    let pushes = [
        (
            serde_json::json!({"seq": 1, "events": [{"kind": "host_registered", "host_id": "alpha"}]})
                .to_string(),
            StatusCode::ACCEPTED,
        ),
        (
            serde_json::json!({"events": [{"kind": "Bad Kind"}]}).to_string(),
            StatusCode::BAD_REQUEST,
        ),
        (
            serde_json::json!({"events": [{"kind": "db_sync", "message": "x".repeat(300_000)}]})
                .to_string(),
            StatusCode::PAYLOAD_TOO_LARGE,
        ),
    ];
    for (body, expected) in pushes {
        let response = agg
            .http
            .post(agg.api_url("/api/v1/events")?)
            .bearer_auth(&agg.api_token)
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await?;
        let status = response.status();
        let answer: Value = response.json().await?;
        assert_eq!(status, expected, "POST /api/v1/events: {answer}");
        spec.check("/api/v1/events", "post", status, &answer)
            .with_context(|| format!("POST /api/v1/events {status}"))?;
    }
    // A test alert through the whole pipeline.
    let response = agg
        .http
        .post(agg.api_url("/api/v1/alerts/test")?)
        .bearer_auth(&agg.api_token)
        .send()
        .await?;
    let status = response.status();
    let answer: Value = response.json().await?;
    assert_eq!(status, StatusCode::OK, "{answer}");
    spec.check("/api/v1/alerts/test", "post", status, &answer)?;
    assert_eq!(answer["alert"]["severity"], "critical", "{answer}");

    // Player history from the hour rollups: alpha's map and total.
    agg.flush().await?;
    let (status, players) = agg.api("/api/v1/players/history?days=7").await?;
    assert_eq!(status, StatusCode::OK, "{players}");
    spec.check("/api/v1/players/history", "get", status, &players)?;
    assert_eq!(players["maps"]["prt_fild08"]["peak"], 37.0, "{players}");
    let (status, refused) = agg.api("/api/v1/players/history?days=0").await?;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    spec.check("/api/v1/players/history", "get", status, &refused)?;

    // The status page: posts (good and bad), then the public figures.
    let posts = [
        (
            json!({"kind": "incident", "title": "Map down", "body": "Looking", "author": "admin"}),
            StatusCode::OK,
        ),
        (
            json!({"kind": "maintenance", "title": "Patch", "starts_ms": now + 3_600_000,
                   "ends_ms": now + 7_200_000, "servers": ["alpha-map"], "author": "admin"}),
            StatusCode::OK,
        ),
        (
            json!({"kind": "maintenance", "title": "No end", "author": "admin"}),
            StatusCode::BAD_REQUEST,
        ),
        (
            json!({"kind": "incident", "title": "x", "servers": ["secret"], "author": "admin"}),
            StatusCode::BAD_REQUEST,
        ),
        (
            json!({"kind": "incident", "title": "x", "alert_id": 99_999, "author": "admin"}),
            StatusCode::NOT_FOUND,
        ),
    ];
    for (body, expected) in posts {
        let response = agg
            .http
            .post(agg.api_url("/api/v1/status/posts")?)
            .bearer_auth(&agg.api_token)
            .json(&body)
            .send()
            .await?;
        let status = response.status();
        let answer: Value = response.json().await?;
        assert_eq!(status, expected, "POST status post {body}: {answer}");
        spec.check("/api/v1/status/posts", "post", status, &answer)?;
    }
    for (id, state, expected) in [
        (1, "resolved", StatusCode::OK),
        (2, "resolved", StatusCode::BAD_REQUEST),
        (99, "resolved", StatusCode::NOT_FOUND),
    ] {
        let response = agg
            .http
            .post(agg.api_url(&format!("/api/v1/status/posts/{id}/updates"))?)
            .bearer_auth(&agg.api_token)
            .json(&json!({"state": state, "body": "Fixed", "author": "admin"}))
            .send()
            .await?;
        let status = response.status();
        let answer: Value = response.json().await?;
        assert_eq!(status, expected, "update {id} {state}: {answer}");
        spec.check("/api/v1/status/posts/{id}/updates", "post", status, &answer)?;
    }
    let (status, listed) = agg.api("/api/v1/status/posts").await?;
    spec.check("/api/v1/status/posts", "get", status, &listed)?;
    assert_eq!(
        listed["posts"].as_array().map(Vec::len),
        Some(2),
        "{listed}"
    );
    assert_eq!(listed["posts"][0]["author"], "admin", "{listed}");
    let month = p2pmon_aggregator::status_page::day_name(now as i64)[..7].to_string();
    for (query, expected) in [
        (month.as_str(), StatusCode::OK),
        ("2026-13", StatusCode::BAD_REQUEST),
    ] {
        let (status, answer) = agg
            .api(&format!("/api/v1/status/uptime?month={query}"))
            .await?;
        assert_eq!(status, expected, "{answer}");
        spec.check("/api/v1/status/uptime", "get", status, &answer)?;
    }
    let page = p2pmon_tests::wait::eventually(std::time::Duration::from_secs(10), async || {
        let response = reqwest::get(agg.api_url("/api/v1/status")?).await?;
        anyhow::ensure!(response.status() == StatusCode::OK, "{}", response.status());
        let page: Value = response.json().await?;
        anyhow::ensure!(
            page["maintenance"].as_array().map(Vec::len) == Some(1),
            "{page}"
        );
        Ok(page)
    })
    .await?;
    spec.check("/api/v1/status", "get", StatusCode::OK, &page)?;

    // Every typed response was seen for real above.
    let unchecked = spec.unchecked();
    assert!(
        unchecked.is_empty(),
        "typed responses never checked against the spec: {unchecked:?}"
    );
    Ok(())
}

#[test]
fn a_body_that_drifts_from_the_spec_is_caught() -> Result<()> {
    let spec = spec()?;
    let drifted = json!({"hosts": [{"id": "a", "status": "sleeping"}], "total": 1, "page": 1, "per_page": 50});
    let error = spec
        .check("/api/v1/hosts", "get", StatusCode::OK, &drifted)
        .expect_err("an unknown status and missing fields are drift");
    let text = format!("{error:#}");
    assert!(
        text.contains("sleeping") && text.contains("quality_score"),
        "{text}"
    );
    Ok(())
}
