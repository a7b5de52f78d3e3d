//! The public status page: uptime computed from a scripted `server_up`
//! history (gaps, flapping, an outage, a maintenance window, a server that
//! joined late) read back through `/api/v1/status`; posts and their rules;
//! badges; a page that is off is not there; and the page in headless
//! Chromium (web/tests/status.mjs) with 200 servers and 90 days of bars.

use std::path::PathBuf;
use std::process::Command;

use anyhow::{Context, Result, bail};
use p2pmon_common::wire::Record;
use p2pmon_tests::aggregator::{TestAggregator, metric, now_ms};
use p2pmon_tests::workspace_root;
use reqwest::StatusCode;
use serde_json::{Value, json};

use p2pmon_aggregator::store::status::{self, DayRow};
use p2pmon_aggregator::uptime::{Span, Tally};

const DAY: u64 = 86_400_000;
const MINUTE: u64 = 60_000;
/// Host ids and an account: never on the page.
const SECRET_HOST: &str = "vps-frankfurt-7f3a";
const LATE_HOST: &str = "p2p-home-bob-42";
const UNLISTED_HOST: &str = "unlisted-host-99";

fn page_config(servers: &str) -> String {
    format!("status_page: {{ enabled: true, title: 'Ragnarok Status', groups: [{servers}] }}")
}

async fn post(agg: &TestAggregator, path: &str, body: &Value) -> Result<(StatusCode, Value)> {
    let response = agg
        .http
        .post(agg.api_url(path)?)
        .bearer_auth(&agg.api_token)
        .json(body)
        .send()
        .await?;
    Ok((response.status(), response.json().await?))
}

async fn public(agg: &TestAggregator) -> Result<Value> {
    let response = reqwest::get(agg.api_url("/api/v1/status")?).await?;
    anyhow::ensure!(response.status() == StatusCode::OK, "{}", response.status());
    Ok(response.json().await?)
}

/// `server_up` of `server` at one point a minute from `from` for
/// `minutes`, as `value(minute)` says; `None`: no point (a gap). A minute
/// whose value is 0.5 gets two points, 1 and 0 (a flapping server).
fn history(
    server: &str,
    from: u64,
    minutes: u64,
    value: impl Fn(u64) -> Option<f64>,
) -> Vec<Record> {
    let mut records = Vec::new();
    for m in 0..minutes {
        let at = from + m * MINUTE;
        match value(m) {
            Some(0.5) => {
                records.push(metric("server_up", 1.0, &[("server", server)], at));
                records.push(metric("server_up", 0.0, &[("server", server)], at + 30_000));
            }
            Some(v) => records.push(metric("server_up", v, &[("server", server)], at)),
            None => {}
        }
    }
    records
}

async fn send_all(agg: &TestAggregator, host: &str, records: Vec<Record>) -> Result<()> {
    let host = agg.host(host).await?;
    for chunk in records.chunks(2_000) {
        agg.send_ok(&host, chunk.to_vec()).await?;
    }
    Ok(())
}

#[tokio::test]
async fn uptime_per_day_follows_the_scripted_history() -> Result<()> {
    let servers = format!(
        "{{ name: Prontera, servers: [\
           {{ id: map, name: 'Map server', host: {SECRET_HOST}, server: map }},\
           {{ id: late, name: 'Late map', host: {LATE_HOST}, server: map }}] }}"
    );
    let agg = TestAggregator::start_with(&page_config(&servers)).await?;
    let now = now_ms();
    let today = now / DAY * DAY;
    let (d2, d1) = (today - 2 * DAY, today - DAY);
    // Two days ago: flapping 08:00-08:10 (up half of each minute).
    // Yesterday: down 10:00-10:30, no data 12:00-12:20.
    // Today: up until now, down for the last 30 minutes, which are in a
    // maintenance window published below.
    let minutes_until_now = (now - d2) / MINUTE;
    let records = history("map", d2, minutes_until_now, |m| {
        let at = d2 + m * MINUTE;
        let minute_of_day = (at % DAY) / MINUTE;
        if at < d1 {
            Some(if (480..490).contains(&minute_of_day) {
                0.5
            } else {
                1.0
            })
        } else if at < today {
            match minute_of_day {
                600..630 => Some(0.0),
                720..740 => None,
                _ => Some(1.0),
            }
        } else if at + 30 * MINUTE >= now {
            // (Only today's minutes: near midnight, fewer.)
            Some(0.0)
        } else {
            Some(1.0)
        }
    });
    send_all(&agg, SECRET_HOST, records).await?;
    // A server first seen yesterday at 12:00, up since.
    let mut late = history("map", d1 + 720 * MINUTE, (now - d1) / MINUTE - 720, |_| {
        Some(1.0)
    });
    late.push(metric("server_up", 1.0, &[("server", "map")], now));
    send_all(&agg, LATE_HOST, late).await?;
    // A host the page does not list: its server is nowhere on it.
    send_all(
        &agg,
        UNLISTED_HOST,
        history("map", now - 10 * MINUTE, 10, |_| Some(0.0)),
    )
    .await?;

    let window = json!({
        "kind": "maintenance", "title": "Database upgrade", "body": "Back soon",
        "servers": ["map"], "starts_ms": (now - 31 * MINUTE).max(today), "ends_ms": now + 30 * MINUTE,
        "author": "admin",
    });
    let (status, created) = post(&agg, "/api/v1/status/posts", &window).await?;
    assert_eq!(status, StatusCode::OK, "{created}");
    // The window quiets the channels for the server's host.
    let (_, silences) = agg.api("/api/v1/silences").await?;
    assert_eq!(silences["silences"][0]["host"], SECRET_HOST, "{silences}");
    agg.refresh_status_page().await?;
    let page = public(&agg).await?;
    let text = page.to_string();
    for hidden in [SECRET_HOST, LATE_HOST, UNLISTED_HOST, "admin"] {
        assert!(!text.contains(hidden), "{hidden} is on the page: {text}");
    }
    let servers = &page["groups"][0]["servers"];
    let map = &servers[0];
    let days = map["days"].as_array().context("days")?;
    assert_eq!(days.len(), 90);
    let day = |back: usize| &days[days.len() - 1 - back];
    let close = |got: &Value, want: f64| got.as_f64().is_some_and(|g| (g - want).abs() < 1e-9);
    assert!(
        close(&day(2)["uptime"], 1435.0 / 1440.0),
        "flapping: {}",
        day(2)
    );
    assert!(
        close(&day(1)["uptime"], 1390.0 / 1440.0),
        "outage and gap: {}",
        day(1)
    );
    assert!(
        close(&day(1)["down_ms"], 30.0 * MINUTE as f64),
        "{}",
        day(1)
    );
    assert!(
        close(&day(1)["no_data_ms"], 20.0 * MINUTE as f64),
        "{}",
        day(1)
    );
    assert_eq!(
        day(1)["worst"],
        json!({"start_ms": d1 + 600 * MINUTE, "end_ms": d1 + 630 * MINUTE}),
        "the longest incident of the day"
    );
    // Today: the down minutes fall in the window, left out of the figure.
    let in_window = (29 * MINUTE).min((now - today).saturating_sub(2 * MINUTE)) as f64;
    assert!(
        day(0)["maintenance_ms"].as_f64().unwrap_or(0.0) >= in_window,
        "{}",
        day(0)
    );
    assert!(
        close(&day(0)["uptime"], 1.0),
        "maintenance is not downtime: {}",
        day(0)
    );
    assert!(
        day(3)["uptime"].is_null(),
        "before the first point: {}",
        day(3)
    );
    assert_eq!(map["state"], "maintenance", "{map}");
    // The late server counts from its first minute: yesterday is all up.
    let late = &servers[1];
    let late_days = late["days"].as_array().context("days")?;
    assert!(close(&late_days[88]["uptime"], 1.0), "{}", late_days[88]);
    assert!(late_days[87]["uptime"].is_null(), "{}", late_days[87]);
    assert_eq!(late["state"], "up", "{late}");
    assert_eq!(
        page["state"], "operational",
        "maintenance is not an outage: {page}"
    );
    assert_eq!(page["maintenance"][0]["title"], "Database upgrade");

    // The monthly report over the same minutes: the two days before today
    // as a range, in CSV.
    let name = |ms: u64| p2pmon_aggregator::status_page::day_name(ms as i64);
    let output = Command::new(crate::bins::aggregator())
        .arg("--config")
        .arg(agg.dir.path().join("aggregator.yml"))
        .args([
            "report",
            "uptime",
            "--from",
            &name(d2),
            "--to",
            &name(d1),
            "--csv",
        ])
        .env("P2PMON_LOG", "warn")
        .output()?;
    let csv = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{csv}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let row = csv
        .lines()
        .find(|l| l.starts_with(&format!("{SECRET_HOST},map,")))
        .with_context(|| format!("no row for the map server in {csv}"))?;
    let fields: Vec<&str> = row.split(',').collect();
    let uptime: f64 = fields[3].parse()?;
    let want = 100.0 * (1435.0 + 1390.0) / 2880.0;
    assert!(
        (uptime - want).abs() < 1e-3,
        "{uptime} against {want}: {row}"
    );
    assert_eq!(fields[2], "Map server", "{row}");
    assert_eq!(&fields[4..], ["35.0", "20.0", "0.0", "3", "30.0"], "{row}");
    // The late server counts from its first minute.
    assert!(
        csv.contains(&format!("{LATE_HOST},map,Late map,100.00000,")),
        "{csv}"
    );
    // A month in text; a bad month is a clear error.
    let month = &name(now)[..7];
    let output = Command::new(crate::bins::aggregator())
        .arg("--config")
        .arg(agg.dir.path().join("aggregator.yml"))
        .args(["report", "uptime", "--month", month])
        .output()?;
    let table = String::from_utf8_lossy(&output.stdout);
    assert!(
        table.contains(&format!("Uptime, {month}")) && table.contains("Map server"),
        "{table}"
    );
    let output = Command::new(crate::bins::aggregator())
        .arg("--config")
        .arg(agg.dir.path().join("aggregator.yml"))
        .args(["report", "uptime", "--month", "2026-13"])
        .output()?;
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("YYYY-MM"));
    Ok(())
}

#[tokio::test]
async fn posts_are_checked_and_an_alert_becomes_an_incident_in_one_step() -> Result<()> {
    let servers = format!(
        "{{ name: Main, servers: [\
           {{ id: login, name: Login, host: {SECRET_HOST}, server: login }},\
           {{ id: map, name: Map, host: {SECRET_HOST}, server: map }},\
           {{ id: other, name: Other, host: {LATE_HOST}, server: map }}] }}"
    );
    let agg = TestAggregator::start_with_alerts_and(
        "alerts:\n  cpu_usage: { warning: 80, critical: 95, duration: 0 }\n",
        &page_config(&servers),
    )
    .await?;
    let host = agg.host(SECRET_HOST).await?;
    agg.gauge(&host, "cpu_usage", 99.0).await?;
    let alert = p2pmon_tests::wait::eventually(std::time::Duration::from_secs(10), async || {
        let (_, active) = agg.api("/api/v1/alerts/active").await?;
        active["alerts"][0]["id"].as_i64().context("no alert yet")
    })
    .await?;
    let hostile = "<img src=x onerror=alert(1)>";
    let (status, incident) = post(
        &agg,
        "/api/v1/status/posts",
        &json!({"kind": "incident", "title": format!("Lag {hostile}"), "body": "Looking into it",
                "alert_id": alert, "author": "gm-alice"}),
    )
    .await?;
    assert_eq!(status, StatusCode::OK, "{incident}");
    let incident = &incident["post"];
    assert_eq!(
        incident["servers"],
        json!(["login", "map"]),
        "the alert's host's servers"
    );
    assert_eq!(incident["updates"][0]["state"], "investigating");
    let id = incident["id"].as_i64().context("id")?;

    for (body, code) in [
        (
            json!({"kind": "incident", "title": " ", "author": "a"}),
            StatusCode::BAD_REQUEST,
        ),
        (
            json!({"kind": "incident", "title": "x".repeat(201), "author": "a"}),
            StatusCode::BAD_REQUEST,
        ),
        (
            json!({"kind": "incident", "title": "x", "author": ""}),
            StatusCode::BAD_REQUEST,
        ),
        (
            json!({"kind": "incident", "title": "x", "servers": [SECRET_HOST], "author": "a"}),
            StatusCode::BAD_REQUEST,
        ),
        (
            json!({"kind": "outage", "title": "x", "author": "a"}),
            StatusCode::BAD_REQUEST,
        ),
        (
            json!({"kind": "maintenance", "title": "x", "author": "a", "ends_ms": 5}),
            StatusCode::BAD_REQUEST,
        ),
        (
            json!({"kind": "incident", "title": "x", "author": "a", "extra": 1}),
            StatusCode::BAD_REQUEST,
        ),
    ] {
        let (status, answer) = post(&agg, "/api/v1/status/posts", &body).await?;
        assert_eq!(status, code, "{body}: {answer}");
    }
    let update =
        |state: &str| json!({"state": state, "body": "Fixed the switch", "author": "gm-alice"});
    let path = format!("/api/v1/status/posts/{id}/updates");
    let (status, answer) = post(&agg, &path, &update("completed")).await?;
    assert_eq!(
        status,
        StatusCode::BAD_REQUEST,
        "an incident is not completed: {answer}"
    );
    // Without a token: refused, the post unchanged.
    let response = reqwest::Client::new()
        .post(agg.api_url(&path)?)
        .json(&update("resolved"))
        .send()
        .await?;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    let (status, answer) = post(&agg, &path, &update("resolved")).await?;
    assert_eq!(status, StatusCode::OK, "{answer}");
    assert!(
        answer["post"]["ends_ms"].is_i64(),
        "resolved ends it: {answer}"
    );
    assert_eq!(answer["post"]["updates"].as_array().map(Vec::len), Some(2));

    // An upcoming window, then completed early: its silence ends with it.
    let now = now_ms();
    let (status, window) = post(
        &agg,
        "/api/v1/status/posts",
        &json!({"kind": "maintenance", "title": "Patch day", "starts_ms": now + 3_600_000,
                "ends_ms": now + 7_200_000, "author": "gm-alice"}),
    )
    .await?;
    assert_eq!(status, StatusCode::OK, "{window}");
    let (_, silences) = agg.api("/api/v1/silences").await?;
    let hosts: Vec<&str> = silences["silences"]
        .as_array()
        .context("silences")?
        .iter()
        .filter_map(|s| s["host"].as_str())
        .collect();
    assert_eq!(
        hosts.len(),
        2,
        "one silence per host of all servers: {silences}"
    );
    agg.refresh_status_page().await?;
    let page = public(&agg).await?;
    assert_eq!(page["maintenance"][0]["title"], "Patch day", "{page}");
    assert_eq!(page["maintenance"][0]["updates"][0]["state"], "scheduled");
    assert_eq!(
        page["incidents"][0]["title"],
        format!("Lag {hostile}"),
        "past incidents stay listed"
    );
    for hidden in [SECRET_HOST, LATE_HOST, "gm-alice", "cpu_usage"] {
        assert!(!page.to_string().contains(hidden), "{hidden}: {page}");
    }
    let window_id = window["post"]["id"].as_i64().context("id")?;
    let (status, _) = post(
        &agg,
        &format!("/api/v1/status/posts/{window_id}/updates"),
        &json!({"state": "completed", "author": "gm-alice"}),
    )
    .await?;
    assert_eq!(status, StatusCode::OK);
    let (_, silences) = agg.api("/api/v1/silences").await?;
    assert_eq!(
        silences["silences"],
        json!([]),
        "the window's silences ended"
    );

    // The HTML holds the hostile title as text; badges per server.
    let html = reqwest::get(agg.api_url("/status")?).await?.text().await?;
    assert!(
        html.contains("Lag &lt;img src=x onerror=alert(1)&gt;"),
        "{html}"
    );
    assert!(!html.contains(hostile));
    let badge = reqwest::get(agg.api_url("/status/badge/map.svg")?).await?;
    assert_eq!(badge.status(), StatusCode::OK);
    assert_eq!(badge.headers()["content-type"], "image/svg+xml");
    let svg = badge.text().await?;
    assert!(svg.starts_with("<svg") && svg.contains(">Map<"), "{svg}");
    for missing in ["/status/badge/nope.svg", "/status/badge/map.png"] {
        let response = reqwest::get(agg.api_url(missing)?).await?;
        assert_eq!(response.status(), StatusCode::NOT_FOUND, "{missing}");
    }
    // A second read with the ETag costs nothing.
    let first = reqwest::get(agg.api_url("/status")?).await?;
    let etag = first.headers()["etag"].clone();
    let again = reqwest::Client::new()
        .get(agg.api_url("/status")?)
        .header("if-none-match", etag)
        .send()
        .await?;
    assert_eq!(again.status(), StatusCode::NOT_MODIFIED);
    Ok(())
}

#[tokio::test]
async fn a_page_not_enabled_is_not_there() -> Result<()> {
    let agg = TestAggregator::start().await?;
    for path in ["/status", "/api/v1/status", "/status/badge/map.svg"] {
        let response = reqwest::get(agg.api_url(path)?).await?;
        assert_eq!(response.status(), StatusCode::NOT_FOUND, "{path}");
    }
    let (status, answer) = post(
        &agg,
        "/api/v1/status/posts",
        &json!({"kind": "incident", "title": "x", "author": "a"}),
    )
    .await?;
    assert_eq!(status, StatusCode::CONFLICT, "{answer}");
    Ok(())
}

#[test]
fn a_page_config_with_problems_is_refused_naming_each() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("aggregator.yml");
    std::fs::write(
        &path,
        "status_page:\n  enabled: true\n  days: 0\n  groups:\n    - name: ''\n      servers:\n\
         \x20       - { id: 'a b', name: A, host: h1, server: map }\n\
         \x20       - { id: x, name: X, host: 'not a host', server: map }\n\
         \x20       - { id: x, name: X2, host: h2, server: login }\n",
    )?;
    let error = p2pmon_aggregator::config::AggregatorConfig::load(&path)
        .expect_err("refused")
        .to_string();
    for field in [
        "status_page.days",
        "status_page.groups[0].name",
        "status_page.groups[0].servers[0].id",
        "status_page.groups[0].servers[1].host",
        "x is listed twice",
    ] {
        assert!(error.contains(field), "{field} in {error}");
    }
    std::fs::write(&path, "status_page: { enabled: true }\n")?;
    let error = p2pmon_aggregator::config::AggregatorConfig::load(&path)
        .expect_err("refused")
        .to_string();
    assert!(error.contains("lists no server"), "{error}");
    std::fs::write(
        &path,
        "status_page: { enabled: true, groups: [{ name: A, servers: [{ id: a, name: A, host: h, server: zone }] }] }\n",
    )?;
    assert!(p2pmon_aggregator::config::AggregatorConfig::load(&path).is_err());
    Ok(())
}

/// 200 servers (67 hosts) with 90 stored days each, an incident from an
/// alert, an upcoming window: the page in Chromium.
#[tokio::test]
async fn the_page_renders_200_servers_and_90_days_in_chromium() -> Result<()> {
    let root = workspace_root();
    let web = root.join("web");
    if !web.join("node_modules/playwright-core").is_dir() {
        bail!("playwright-core is not installed: run `make web`");
    }
    let chromium = std::env::var("CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".to_string());
    if !PathBuf::from(&chromium).is_file() {
        bail!("no Chromium at {chromium}: run `make test-deps` (Debian's chromium package)");
    }
    let kinds = ["login", "char", "map"];
    let hosts: Vec<String> = (0..67).map(|i| format!("host-{i:03}-secret")).collect();
    let mut groups = Vec::new();
    let mut sources = Vec::new();
    for (g, chunk) in hosts.chunks(10).enumerate() {
        let mut servers = Vec::new();
        for host in chunk {
            for kind in kinds {
                if sources.len() == 200 {
                    break;
                }
                let id = format!("s{}", sources.len());
                servers.push(format!(
                    "{{ id: {id}, name: 'World {} {kind}', host: {host}, server: {kind} }}",
                    sources.len()
                ));
                sources.push((host.clone(), kind));
            }
        }
        groups.push(format!(
            "{{ name: 'Realm {g}', servers: [{}] }}",
            servers.join(", ")
        ));
    }
    let agg = TestAggregator::start_with_alerts_and(
        "alerts:\n  cpu_usage: { warning: 80, critical: 95, duration: 0 }\n",
        &page_config(&groups.join(", ")),
    )
    .await?;
    // 90 days each, as the uptime job stores them: mostly up, some days
    // with an incident.
    let today = now_ms() as i64 / DAY as i64 * DAY as i64;
    agg.exec(move |conn| {
        let tx = conn.transaction()?;
        for (s, (host, kind)) in sources.iter().enumerate() {
            for back in 0..90i64 {
                let day_ms = today - back * DAY as i64;
                let down = if (s as i64 + back) % 17 == 0 {
                    600_000.0
                } else {
                    0.0
                };
                let row = DayRow {
                    day_ms,
                    tally: Tally {
                        up_ms: DAY as f64 - down,
                        down_ms: down,
                        ..Tally::default()
                    },
                    worst: (down > 0.0).then_some(Span {
                        start_ms: day_ms + 3_600_000,
                        end_ms: day_ms + 4_200_000,
                    }),
                    settled: true,
                };
                status::put_day(&tx, host, kind, &row)?;
            }
        }
        tx.commit()?;
        Ok(())
    })
    .await?;
    let host = agg.host(&hosts[0]).await?;
    agg.gauge(&host, "cpu_usage", 99.0).await?;
    let alert = p2pmon_tests::wait::eventually(std::time::Duration::from_secs(10), async || {
        let (_, active) = agg.api("/api/v1/alerts/active").await?;
        active["alerts"][0]["id"].as_i64().context("no alert yet")
    })
    .await?;
    let incident = "Login queue <b>stuck</b>";
    let maintenance = "Weekly patch";
    let now = now_ms();
    for body in [
        json!({"kind": "incident", "title": incident, "body": "We are on it", "alert_id": alert, "author": "gm-alice"}),
        json!({"kind": "maintenance", "title": maintenance, "starts_ms": now + 86_400_000,
               "ends_ms": now + 90_000_000, "author": "gm-alice"}),
    ] {
        let (status, answer) = post(&agg, "/api/v1/status/posts", &body).await?;
        assert_eq!(status, StatusCode::OK, "{answer}");
    }
    agg.refresh_status_page().await?;

    let shots = web.join("screenshots");
    std::fs::create_dir_all(&shots)?;
    let mut hidden: Vec<String> = hosts.clone();
    hidden.extend(["gm-alice".to_string(), "cpu_usage".to_string()]);
    let base = agg.api_url("")?;
    let output = tokio::task::spawn_blocking(move || {
        Command::new("node")
            .arg("tests/status.mjs")
            .current_dir(&web)
            .env("BASE", base)
            .env("SERVERS", "200")
            .env("DAYS", "90")
            .env("INCIDENT", incident)
            .env("MAINTENANCE", maintenance)
            .env("HIDDEN", serde_json::to_string(&hidden).unwrap_or_default())
            .env("SHOTS", &shots)
            .env("CHROMIUM", chromium)
            .output()
    })
    .await??;
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "browser test failed:\n{stdout}\n{stderr}"
    );
    let figures: Value = serde_json::from_str(
        stdout
            .lines()
            .last()
            .context("figures from the browser test")?,
    )?;
    println!("status page with 200 servers x 90 days: {figures}");
    let load = figures["load_ms"].as_f64().context("load_ms")?;
    assert!(load < 300.0, "the page took {load} ms: {figures}");
    assert!(
        figures["transferred_bytes"].as_f64().unwrap_or(f64::MAX)
            < figures["html_bytes"].as_f64().unwrap_or(0.0) / 4.0,
        "sent compressed: {figures}"
    );
    Ok(())
}
