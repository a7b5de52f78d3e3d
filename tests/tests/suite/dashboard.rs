//! The built-in dashboard in a real browser (Debian's headless Chromium,
//! driven by playwright-core from web/; `make test` installs both). An
//! aggregator with 1,000 hosts, an alert and a hostile map name; the script
//! in web/tests/pages.mjs signs in, renders the five pages (timing each and
//! saving a screenshot to web/screenshots/), sees each page update itself
//! when a batch arrives, checks
//! the hostile string stays text, acknowledges the alert and tries a change
//! without the CSRF token. Here: the sign-in and session rules over HTTP.

use std::path::PathBuf;
use std::process::Command;

use anyhow::{Context, Result, bail};
use futures_util::{StreamExt, stream};
use p2pmon_common::wire::Record;
use p2pmon_tests::aggregator::{TestAggregator, batch, metric, now_ms};
use p2pmon_tests::workspace_root;
use reqwest::StatusCode;
use reqwest::header::{COOKIE, LOCATION, SET_COOKIE};

const HOSTILE: &str = "<img src=x onerror=alert(1)>";
const HOSTS: usize = 1000;

async fn start() -> Result<TestAggregator> {
    TestAggregator::start_with_alerts_and(
        "alerts:\n  cpu_usage: { warning: 80, critical: 95, duration: 0 }\n",
        "websocket: {allowed_origins: ['*']}\n\
         status_page: { enabled: true, groups: [{ name: Midgard, servers: [{ id: prt, name: Prontera, host: host-0002, server: map }] }] }",
    )
    .await
}

/// A form body, as a browser posts it.
fn form(fields: &[(&str, &str)]) -> String {
    url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(fields)
        .finish()
}

trait FormExt {
    fn form_body(self, fields: &[(&str, &str)]) -> Self;
}

impl FormExt for reqwest::RequestBuilder {
    fn form_body(self, fields: &[(&str, &str)]) -> Self {
        self.header("content-type", "application/x-www-form-urlencoded")
            .body(form(fields))
    }
}

/// A plain client that keeps redirects visible.
fn client() -> Result<reqwest::Client> {
    Ok(reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()?)
}

/// Sign in with `token`: the session cookie (`name=value`).
async fn sign_in(agg: &TestAggregator, token: &str) -> Result<(StatusCode, Option<String>)> {
    let response = client()?
        .post(agg.api_url("/p2p/login")?)
        .form_body(&[("token", token), ("next", "/p2p/monitoring/hosts")])
        .send()
        .await?;
    let cookie = response
        .headers()
        .get(SET_COOKIE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .map(str::to_string);
    Ok((response.status(), cookie))
}

#[tokio::test]
async fn sessions_need_a_valid_token_and_changes_need_the_csrf_token() -> Result<()> {
    let agg = start().await?;
    let http = client()?;
    // Signed out: pages send to the sign-in page, the API refuses.
    let response = http
        .get(agg.api_url("/p2p/monitoring/alerts")?)
        .send()
        .await?;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert_eq!(
        response.headers()[LOCATION],
        "/p2p/login?next=%2Fp2p%2Fmonitoring%2Falerts"
    );
    let (status, cookie) = sign_in(&agg, "p2pa_forged").await?;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert!(cookie.is_none());

    let (status, cookie) = sign_in(&agg, &agg.api_token).await?;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let cookie = cookie.context("a session cookie")?;
    let page = http
        .get(agg.api_url("/p2p/monitoring")?)
        .header(COOKIE, &cookie)
        .send()
        .await?;
    assert_eq!(page.status(), StatusCode::OK);
    let csp = page.headers()["content-security-policy"]
        .to_str()?
        .to_string();
    assert!(csp.contains("script-src 'self'"), "{csp}");
    let html = page.text().await?;
    let csrf = html
        .split("name=\"p2pmon-csrf\" content=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .context("the CSRF token in the page")?
        .to_string();

    // Reads work with the session; a change needs the CSRF token.
    let read = http
        .get(agg.api_url("/api/v1/alerts/active")?)
        .header(COOKIE, &cookie)
        .send()
        .await?;
    assert_eq!(read.status(), StatusCode::OK);
    let forged = http
        .post(agg.api_url("/api/v1/ws-ticket")?)
        .header(COOKIE, &cookie)
        .send()
        .await?;
    assert_eq!(forged.status(), StatusCode::FORBIDDEN);
    let ticket: serde_json::Value = http
        .post(agg.api_url("/api/v1/ws-ticket")?)
        .header(COOKIE, &cookie)
        .header("x-csrf-token", &csrf)
        .send()
        .await?
        .json()
        .await?;
    let ticket = ticket["ticket"].as_str().context("a ticket")?.to_string();

    // The ticket opens the feed once.
    let ws = |t: &str| format!("{}?token={t}", agg.ws_url().unwrap_or_default());
    assert!(tokio_tungstenite::connect_async(ws(&ticket)).await.is_ok());
    assert!(
        tokio_tungstenite::connect_async(ws(&ticket)).await.is_err(),
        "single use"
    );

    // An open redirect is not possible through `next`.
    let response = client()?
        .post(agg.api_url("/p2p/login")?)
        .form_body(&[
            ("token", agg.api_token.as_str()),
            ("next", "https://evil.example/"),
        ])
        .send()
        .await?;
    assert_eq!(response.headers()[LOCATION], "/p2p/monitoring");

    // Signing out ends the session.
    let out = http
        .post(agg.api_url("/p2p/logout")?)
        .header(COOKIE, &cookie)
        .form_body(&[("csrf", csrf.as_str())])
        .send()
        .await?;
    assert_eq!(out.status(), StatusCode::SEE_OTHER);
    let after = http
        .get(agg.api_url("/api/v1/alerts/active")?)
        .header(COOKIE, &cookie)
        .send()
        .await?;
    assert_eq!(after.status(), StatusCode::UNAUTHORIZED);
    Ok(())
}

/// `count` hosts with system, game and network figures; host-0002 runs hot
/// (an alert) and host-0001 reports a map with a hostile name.
async fn fill(agg: &TestAggregator, count: usize) -> Result<String> {
    let now = now_ms();
    let credentials: Vec<(usize, String)> = stream::iter(0..count)
        .map(|i| async move {
            let host = format!("host-{i:04}");
            let cred = agg.enroll(&host).await?;
            let map = if i == 1 {
                HOSTILE.to_string()
            } else {
                format!("prt_fild{:02}", i % 20)
            };
            let peer = format!("host-{:04}", (i + 1) % count);
            let records: Vec<Record> = vec![
                metric(
                    "cpu_usage",
                    if i == 2 { 91.0 } else { 20.0 + (i % 50) as f64 },
                    &[],
                    now,
                ),
                metric("memory_usage", 40.0, &[], now),
                metric("player_count", (i % 30) as f64, &[("map", &map)], now),
                metric("map_status", 1.0, &[("map", &map)], now),
                metric(
                    "network_latency",
                    10.0 + (i % 200) as f64,
                    &[("target", &peer)],
                    now,
                ),
                metric(
                    "packet_loss",
                    if i % 97 == 0 { 2.0 } else { 0.0 },
                    &[("target", &peer)],
                    now,
                ),
                metric("bandwidth_usage", 2048.0, &[("interface", "eth0")], now),
            ];
            let (status, ack) = agg
                .post_batch(&cred, &batch(&host, "s", 1, records))
                .await?;
            anyhow::ensure!(status.is_success(), "{host}: {ack}");
            anyhow::Ok((i, cred))
        })
        .buffer_unordered(16)
        .collect::<Vec<_>>()
        .await
        .into_iter()
        .collect::<Result<_>>()?;
    credentials
        .into_iter()
        .find(|(i, _)| *i == 3)
        .map(|(_, cred)| cred)
        .context("host-0003's credential")
}

#[tokio::test]
async fn the_five_pages_render_live_data_in_chromium() -> Result<()> {
    let root = workspace_root();
    let web = root.join("web");
    if !web.join("node_modules/playwright-core").is_dir() || !web.join("dist/app.js").is_file() {
        bail!("the dashboard is not built: run `make web` (npm ci and the bundle in web/)");
    }
    let chromium = std::env::var("CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".to_string());
    if !PathBuf::from(&chromium).is_file() {
        bail!("no Chromium at {chromium}: run `make test-deps` (Debian's chromium package)");
    }
    let agg = start().await?;
    let credential = fill(&agg, HOSTS).await?;
    // The hour rollups the maps page's player history reads.
    agg.flush().await?;
    let shots = web.join("screenshots");
    std::fs::create_dir_all(&shots)?;
    let base = agg.api_url("")?;
    let ingest = agg.ingest_url("")?;
    let output = tokio::task::spawn_blocking({
        let token = agg.api_token.clone();
        move || {
            Command::new("node")
                .arg("tests/pages.mjs")
                .current_dir(&web)
                .env("BASE", base)
                .env("TOKEN", token)
                .env("INGEST", ingest)
                .env("CREDENTIAL", credential)
                .env("SHOTS", &shots)
                .env("HOSTILE", HOSTILE)
                .env("CHROMIUM", chromium)
                .output()
        }
    })
    .await??;
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "browser test failed:\n{stdout}\n{stderr}"
    );
    let figures: serde_json::Value = serde_json::from_str(
        stdout
            .lines()
            .last()
            .context("figures from the browser test")?,
    )?;
    println!("dashboard with {HOSTS} hosts: {figures}");
    for page in ["overview", "hosts", "maps", "network", "alerts"] {
        assert!(figures["first_render_ms"][page].is_number(), "{figures}");
        assert!(figures["live_update_ms"][page].is_number(), "{figures}");
        assert!(
            workspace_root()
                .join(format!("web/screenshots/{page}.png"))
                .is_file(),
            "{page}.png"
        );
    }
    // The acknowledgement and the resolution reached the store, and the
    // incident published from the alert was resolved with it.
    let (_, resolved) = agg.api("/api/v1/alerts?status=resolved").await?;
    let id = resolved["alerts"][0]["id"]
        .as_i64()
        .context("the resolved alert")?;
    let (_, detail) = agg.api(&format!("/api/v1/alerts/{id}")).await?;
    assert!(
        detail["history"].to_string().contains("acknowledged"),
        "{detail}"
    );
    let (_, posts) = agg.api("/api/v1/status/posts").await?;
    let incident = &posts["posts"][0];
    assert_eq!(incident["alert_id"], id, "{posts}");
    assert_eq!(incident["title"], "Lag in Prontera", "{posts}");
    assert!(
        incident["ends_ms"].is_i64(),
        "resolved from the offer: {posts}"
    );
    Ok(())
}
