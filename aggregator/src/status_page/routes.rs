//! The status page's routes: public reads (only when the page is enabled;
//! otherwise they are not there), and the admins' posts behind the API's
//! sign-in.

use std::collections::BTreeSet;
use std::sync::Arc;

use axum::Json;
use axum::Router;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde::Deserialize;

use crate::alerting::{self, silence::NewSilence};
use crate::api::responses::{
    AdminPost, Answer, ServerUptime, StatusPosted, StatusPosts, StatusUpdated, StatusUptime,
};
use crate::clock::now_ms;
use crate::refusal::Refusal;
use crate::state::Shared;
use crate::store::status::{self, Post, PostKind, Update};
use crate::uptime::Span;

/// Longest title and text of a post, in characters.
const MAX_TITLE: usize = 200;
const MAX_BODY: usize = 5_000;
const MAX_AUTHOR: usize = 200;

/// The public routes, or none when the page is off.
pub fn public(enabled: bool) -> Router<Arc<Shared>> {
    if !enabled {
        return Router::new();
    }
    Router::new()
        .route("/status", get(html))
        .route("/api/v1/status", get(json))
        .route("/status/badge/{file}", get(badge))
}

/// The admins' routes (inside the API's sign-in).
pub fn protected() -> Router<Arc<Shared>> {
    Router::new()
        .route("/api/v1/status/posts", get(list).post(create))
        .route("/api/v1/status/posts/{id}/updates", post(add_update))
        .route("/api/v1/status/uptime", get(uptime))
}

/// Every post not over before the days the page shows, with what the
/// public page leaves out (the alert it came from, its author).
async fn list(State(shared): State<Arc<Shared>>) -> Result<Answer<StatusPosts>, Refusal> {
    let days = i64::from(shared.config.status_page.days);
    let since = super::days::day_of(now_ms()) - days * crate::uptime::DAY_MS;
    let posts = shared
        .store
        .read(move |conn| status::posts(conn, since))
        .await
        .map_err(store_error)?;
    Ok(Answer(StatusPosts {
        posts: posts
            .into_iter()
            .map(|post| AdminPost {
                alert_id: post.alert_id,
                author: post.author.clone(),
                post,
            })
            .collect(),
    }))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct UptimeQuery {
    month: String,
}

/// Each listed server's uptime over a month (the month so far when it is
/// the current one), as `report uptime` counts it.
async fn uptime(
    State(shared): State<Arc<Shared>>,
    query: Result<axum::extract::Query<UptimeQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Answer<StatusUptime>, Refusal> {
    use crate::ops::uptime_report;
    let axum::extract::Query(query) = query.map_err(|e| bad(e.body_text()))?;
    let period = uptime_report::month(&query.month)
        .and_then(uptime_report::so_far)
        .map_err(|e| bad(e.to_string()))?;
    let config = shared.config.clone();
    let rows = shared
        .store
        .read(move |conn| uptime_report::rows(conn, &config, period))
        .await
        .map_err(store_error)?;
    let servers = shared
        .config
        .status_page
        .servers()
        .map(|server| {
            let row = rows
                .iter()
                .find(|r| r.host == server.host && r.server == server.server.tag());
            ServerUptime {
                id: server.id.clone(),
                name: server.name.clone(),
                figures: row.map(|r| r.figures.clone()).unwrap_or_default(),
            }
        })
        .collect();
    Ok(Answer(StatusUptime {
        month: query.month,
        servers,
    }))
}

fn not_built() -> Response {
    Refusal {
        retry_after_s: Some(5),
        ..Refusal::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "status_not_ready",
            "the status page is being built; try again in a few seconds",
        )
    }
    .into_response()
}

/// Headers every public answer carries: cacheable for half a minute by
/// anyone, nothing but inline styles, no referrer.
fn public_headers(content_type: &'static str, etag: &str) -> HeaderMap {
    let mut headers = HeaderMap::new();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    headers.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=30"),
    );
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors *",
        ),
    );
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    headers.insert(
        header::ACCESS_CONTROL_ALLOW_ORIGIN,
        HeaderValue::from_static("*"),
    );
    if let Ok(etag) = HeaderValue::from_str(etag) {
        headers.insert(header::ETAG, etag);
    }
    headers
}

fn unchanged(request: &HeaderMap, etag: &str) -> bool {
    request
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|t| t.trim() == etag))
}

async fn html(State(shared): State<Arc<Shared>>, request: HeaderMap) -> Response {
    let Some(built) = shared.status_page.get() else {
        return not_built();
    };
    let mut headers = public_headers("text/html; charset=utf-8", &built.etag);
    headers.insert(header::VARY, HeaderValue::from_static("accept-encoding"));
    if unchanged(&request, &built.etag) {
        return (StatusCode::NOT_MODIFIED, headers).into_response();
    }
    let gzip = request
        .get(header::ACCEPT_ENCODING)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|e| e.trim().starts_with("gzip")));
    if gzip && !built.html_gzip.is_empty() {
        headers.insert(header::CONTENT_ENCODING, HeaderValue::from_static("gzip"));
        (headers, built.html_gzip.clone()).into_response()
    } else {
        (headers, built.html.clone()).into_response()
    }
}

async fn json(State(shared): State<Arc<Shared>>, request: HeaderMap) -> Response {
    let Some(built) = shared.status_page.get() else {
        return not_built();
    };
    let headers = public_headers("application/json", &built.etag);
    if unchanged(&request, &built.etag) {
        return (StatusCode::NOT_MODIFIED, headers).into_response();
    }
    (headers, built.json.clone()).into_response()
}

async fn badge(State(shared): State<Arc<Shared>>, Path(file): Path<String>) -> Response {
    let Some(built) = shared.status_page.get() else {
        return not_built();
    };
    let svg = file
        .strip_suffix(".svg")
        .and_then(|id| built.badges.get(id));
    match svg {
        Some(svg) => {
            let mut headers = public_headers("image/svg+xml", &built.etag);
            headers.insert(
                header::CACHE_CONTROL,
                HeaderValue::from_static("public, max-age=60"),
            );
            (headers, svg.clone()).into_response()
        }
        None => Refusal::new(
            StatusCode::NOT_FOUND,
            "not_found",
            "no such server on the status page",
        )
        .into_response(),
    }
}

/// `POST /api/v1/status/posts`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewPost {
    pub kind: PostKind,
    pub title: String,
    /// The first update's text.
    #[serde(default)]
    pub body: String,
    /// The page's server ids it concerns; empty: all of them (or, with
    /// `alert_id`, those on the alert's host).
    #[serde(default)]
    pub servers: Vec<String>,
    /// Default: now (an incident from an alert: when the alert started).
    #[serde(default)]
    pub starts_ms: Option<i64>,
    /// Required for maintenance: its planned end.
    #[serde(default)]
    pub ends_ms: Option<i64>,
    /// Publish this alert as the incident (its text stays private: only
    /// the title and body given here are shown).
    #[serde(default)]
    pub alert_id: Option<i64>,
    pub author: String,
}

fn bad(message: impl Into<String>) -> Refusal {
    Refusal::new(StatusCode::BAD_REQUEST, "bad_request", message)
}

fn text_ok(what: &str, text: &str, max: usize, required: bool) -> Result<(), Refusal> {
    let length = text.chars().count();
    if required && text.trim().is_empty() {
        return Err(bad(format!("{what} is required")));
    }
    if length > max {
        return Err(bad(format!("{what} is at most {max} characters")));
    }
    Ok(())
}

async fn create(
    State(shared): State<Arc<Shared>>,
    body: Result<Json<NewPost>, axum::extract::rejection::JsonRejection>,
) -> Result<Answer<StatusPosted>, Refusal> {
    let Json(new) = body.map_err(|e| bad(e.body_text()))?;
    let page = &shared.config.status_page;
    if !page.enabled {
        return Err(Refusal::new(
            StatusCode::CONFLICT,
            "status_page_off",
            "the status page is not enabled (status_page.enabled in aggregator.yml)",
        ));
    }
    text_ok("title", &new.title, MAX_TITLE, true)?;
    text_ok("body", &new.body, MAX_BODY, false)?;
    text_ok("author", &new.author, MAX_AUTHOR, true)?;
    let known: BTreeSet<&str> = page.servers().map(|s| s.id.as_str()).collect();
    if let Some(unknown) = new.servers.iter().find(|s| !known.contains(s.as_str())) {
        return Err(bad(format!("{unknown} is not a server of the status page")));
    }
    let now = now_ms();
    let (servers, starts_ms) = scope(&shared, &new, now).await?;
    let ends_ms = match new.kind {
        PostKind::Maintenance => {
            let ends = new
                .ends_ms
                .ok_or_else(|| bad("a maintenance window needs ends_ms"))?;
            if ends <= starts_ms || ends <= now {
                return Err(bad("ends_ms must be in the future and after starts_ms"));
            }
            Some(ends)
        }
        PostKind::Incident => None,
    };
    let mut post = Post {
        id: 0,
        kind: new.kind,
        title: new.title.trim().to_string(),
        servers,
        starts_ms,
        ends_ms,
        alert_id: new.alert_id,
        silences: Vec::new(),
        author: new.author.clone(),
        created_ms: now,
        updates: vec![Update {
            at_ms: now,
            state: match new.kind {
                PostKind::Incident => "investigating",
                PostKind::Maintenance if starts_ms > now => "scheduled",
                PostKind::Maintenance => "in_progress",
            }
            .to_string(),
            body: new.body.clone(),
            author: new.author.clone(),
        }],
    };
    if let Some(ends) = ends_ms {
        quiet_window(&shared, &mut post, ends, now).await?;
    }
    let stored = post.clone();
    let id = shared
        .store
        .exec(move |conn| {
            let id = status::insert_post(conn, &stored)?;
            if stored.kind == PostKind::Maintenance && stored.starts_ms < now {
                // Days already computed are computed again without it.
                status::unsettle(
                    conn,
                    Span {
                        start_ms: stored.starts_ms,
                        end_ms: now,
                    },
                )?;
            }
            Ok(id)
        })
        .await
        .map_err(store_error)?;
    post.id = id;
    tracing::info!(id, kind = ?post.kind, author = %post.author, "Status page post published.");
    shared.status_page.changed.notify_one();
    Ok(Answer(StatusPosted { post }))
}

/// The servers a new post names and when it starts: as asked, or, for a
/// post from an alert, its host's servers and the alert's start.
async fn scope(shared: &Shared, new: &NewPost, now: i64) -> Result<(Vec<String>, i64), Refusal> {
    let mut servers = new.servers.clone();
    let mut starts_ms = new.starts_ms.unwrap_or(now);
    if let Some(alert_id) = new.alert_id {
        let alert = shared
            .store
            .read(move |conn| alerting::get(conn, alert_id))
            .await
            .map_err(store_error)?
            .ok_or_else(|| Refusal::new(StatusCode::NOT_FOUND, "not_found", "no such alert"))?;
        if servers.is_empty() {
            servers = shared
                .config
                .status_page
                .servers()
                .filter(|s| s.host == alert.host)
                .map(|s| s.id.clone())
                .collect();
        }
        if new.starts_ms.is_none() {
            starts_ms = alert.started_ms;
        }
    }
    Ok((servers, starts_ms))
}

/// Quiet channels for a maintenance window's hosts: a silence per host
/// until `ends_ms`, kept on the post.
async fn quiet_window(
    shared: &Shared,
    post: &mut Post,
    ends_ms: i64,
    now: i64,
) -> Result<(), Refusal> {
    let hosts: BTreeSet<String> = shared
        .config
        .status_page
        .servers()
        .filter(|s| post.servers.is_empty() || post.servers.contains(&s.id))
        .map(|s| s.host.clone())
        .collect();
    for host in hosts {
        let silence = NewSilence {
            host: Some(host),
            rule: None,
            starts_ms: Some(post.starts_ms),
            ends_ms,
            author: post.author.clone(),
            comment: format!("status page maintenance: {}", post.title),
        };
        silence.check(now).map_err(|e| bad(e.to_string()))?;
        let silence = shared
            .store
            .exec(move |conn| alerting::silence::insert(conn, &silence, now))
            .await
            .map_err(store_error)?;
        post.silences.push(silence.id);
        shared.alerting.add_silence(silence);
    }
    Ok(())
}

/// `POST /api/v1/status/posts/{id}/updates`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewUpdate {
    /// investigating, identified, monitoring or resolved (incidents);
    /// scheduled, in_progress or completed (maintenance). resolved and
    /// completed end the post now.
    pub state: String,
    #[serde(default)]
    pub body: String,
    pub author: String,
}

async fn add_update(
    State(shared): State<Arc<Shared>>,
    Path(id): Path<String>,
    body: Result<Json<NewUpdate>, axum::extract::rejection::JsonRejection>,
) -> Result<Answer<StatusUpdated>, Refusal> {
    let missing = || Refusal::new(StatusCode::NOT_FOUND, "not_found", "no such status post");
    let id: i64 = id.parse().map_err(|_| missing())?;
    let Json(new) = body.map_err(|e| bad(e.body_text()))?;
    text_ok("body", &new.body, MAX_BODY, false)?;
    text_ok("author", &new.author, MAX_AUTHOR, true)?;
    let existing = shared
        .store
        .read(move |conn| status::post(conn, id))
        .await
        .map_err(store_error)?
        .ok_or_else(missing)?;
    let states: &[&str] = match existing.kind {
        PostKind::Incident => &["investigating", "identified", "monitoring", "resolved"],
        PostKind::Maintenance => &["scheduled", "in_progress", "completed"],
    };
    if !states.contains(&new.state.as_str()) {
        return Err(bad(format!(
            "state of a {} update is one of {}",
            match existing.kind {
                PostKind::Incident => "incident",
                PostKind::Maintenance => "maintenance",
            },
            states.join(", ")
        )));
    }
    let now = now_ms();
    let ends = matches!(new.state.as_str(), "resolved" | "completed").then_some(now);
    let update = Update {
        at_ms: now,
        state: new.state,
        body: new.body,
        author: new.author,
    };
    shared
        .store
        .exec(move |conn| status::add_update(conn, id, &update, ends))
        .await
        .map_err(store_error)?;
    if ends.is_some() && existing.kind == PostKind::Maintenance {
        // Done early: the channels speak again.
        for silence in existing.silences.clone() {
            let ended = shared
                .store
                .exec(move |conn| alerting::silence::end(conn, silence, now))
                .await
                .map_err(store_error)?;
            if ended {
                shared.alerting.end_silence(silence);
            }
        }
    }
    let post = shared
        .store
        .read(move |conn| status::post(conn, id))
        .await
        .map_err(store_error)?
        .ok_or_else(missing)?;
    shared.status_page.changed.notify_one();
    Ok(Answer(StatusUpdated { post }))
}

fn store_error(error: crate::store::StoreError) -> Refusal {
    Refusal::store_unavailable(&error)
}
