//! The built-in dashboard, on the API port: the five monitoring pages under
//! `/p2p/monitoring`, a sign-in page, and the scripts and styles built from
//! `web/` (embedded at compile time by build.rs). Pages are a small HTML
//! shell; the script fills them from the query API and keeps them live over
//! the WebSocket feed. Every host-supplied string reaches the page as text
//! (the script never writes HTML), the shell is rendered with auto-escaping,
//! and a strict Content-Security-Policy allows no inline script.

pub mod session;

use std::sync::Arc;

use axum::Router;
use axum::extract::{Form, Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::get;
use serde::Deserialize;

use crate::clock::now_ms;
use crate::state::Shared;

const APP_JS: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/app.js"));
const APP_CSS: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/app.css"));

/// The pages: (path under /p2p/monitoring, page id, title).
pub const PAGES: [(&str, &str, &str); 5] = [
    ("", "overview", "Overview"),
    ("/hosts", "hosts", "Hosts"),
    ("/maps", "maps", "Maps"),
    ("/network", "network", "Network"),
    ("/alerts", "alerts", "Alerts"),
];

const SHELL: &str = r#"<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{ title }} · p2pmon</title>
<meta name="p2pmon-csrf" content="{{ csrf }}">
<meta name="p2pmon-ws" content="{{ ws_url }}">
<link rel="stylesheet" href="/p2p/assets/app.css">
</head>
<body data-page="{{ page }}" data-host="{{ host }}">
<header class="top">
<a class="brand" href="/p2p/monitoring">p2pmon</a>
<nav>{% for link in nav %}<a href="{{ link.href }}"{% if link.current %} aria-current="page"{% endif %}>{{ link.title }}</a>{% endfor %}</nav>
<span class="live" id="live" title="Live updates">connecting</span>
<form method="post" action="/p2p/logout"><input type="hidden" name="csrf" value="{{ csrf }}"><button type="submit">Sign out</button></form>
</header>
<main id="main"><noscript>These pages need JavaScript.</noscript></main>
<script src="/p2p/assets/app.js"></script>
</body>
</html>
"#;

const LOGIN: &str = r#"<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Sign in · p2pmon</title>
<link rel="stylesheet" href="/p2p/assets/app.css">
</head>
<body class="login">
<form method="post" action="/p2p/login">
<h1>p2pmon</h1>
<p>Sign in with an API token (<code>p2pmon-aggregator token create --api</code>).</p>
{% if error %}<p class="error" role="alert">{{ error }}</p>{% endif %}
<input type="hidden" name="next" value="{{ next }}">
<label>API token <input type="password" name="token" autocomplete="off" required autofocus></label>
<button type="submit">Sign in</button>
</form>
</body>
</html>
"#;

fn render(template: &str, context: minijinja::Value) -> Response {
    let mut env = minijinja::Environment::new();
    env.set_auto_escape_callback(|_| minijinja::AutoEscape::Html);
    match env.render_str(template, context) {
        Ok(html) => Html(html).into_response(),
        Err(error) => {
            tracing::error!(%error, "Page not rendered.");
            (StatusCode::INTERNAL_SERVER_ERROR, "page not rendered").into_response()
        }
    }
}

/// Headers every page carries: no inline script, no framing, no sniffing.
fn secure(mut response: Response, ws_origin: &str) -> Response {
    let headers = response.headers_mut();
    let csp = format!(
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
         connect-src 'self' {ws_origin}; frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
    );
    if let Ok(value) = HeaderValue::from_str(&csp) {
        headers.insert(header::CONTENT_SECURITY_POLICY, value);
    }
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

/// The session of a request's cookie, if it is live.
pub fn session_of(shared: &Shared, headers: &HeaderMap) -> Option<(String, session::Session)> {
    let cookie = headers.get(header::COOKIE)?.to_str().ok()?;
    let id = session::from_cookie(cookie)?;
    let session = shared.sessions.get(id, now_ms())?;
    // Bound to its token: revoked or expired, the session ends here.
    if !shared.api_token_hash_ok(&session.token_hash) {
        shared.sessions.end_for_token(&session.token_hash);
        return None;
    }
    Some((id.to_string(), session))
}

/// The feed's address as the browser should reach it: the host name the
/// page was asked under (a name or an IP, nothing else), the feed's port
/// and path.
fn ws_url(shared: &Shared, headers: &HeaderMap) -> String {
    let asked = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("127.0.0.1");
    let name = match asked.rsplit_once(':') {
        Some((name, port)) if port.bytes().all(|b| b.is_ascii_digit()) => name,
        _ => asked,
    };
    let safe = !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'[' | b']' | b':'));
    let name = if safe { name } else { "127.0.0.1" };
    format!(
        "ws://{name}:{}{}",
        shared.ws_port, shared.config.websocket.path
    )
}

pub fn router() -> Router<Arc<Shared>> {
    let mut router = Router::new()
        .route("/p2p", get(|| async { Redirect::to("/p2p/monitoring") }))
        .route("/p2p/login", get(login_page).post(login))
        .route("/p2p/logout", axum::routing::post(logout))
        .route("/p2p/assets/{file}", get(asset))
        .route("/p2p/monitoring/hosts/{id}", get(host_page));
    for (path, _, _) in PAGES {
        router = router.route(&format!("/p2p/monitoring{path}"), get(page));
    }
    router
}

async fn asset(Path(file): Path<String>) -> Response {
    let (body, kind) = match file.as_str() {
        "app.js" => (APP_JS, "text/javascript; charset=utf-8"),
        "app.css" => (APP_CSS, "text/css; charset=utf-8"),
        _ => return (StatusCode::NOT_FOUND, "no such asset").into_response(),
    };
    (
        [
            (header::CONTENT_TYPE, kind),
            (header::CACHE_CONTROL, "no-cache"),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        ],
        body,
    )
        .into_response()
}

fn shell(shared: &Shared, headers: &HeaderMap, page: &str, host: &str, here: &str) -> Response {
    let Some((_, session)) = session_of(shared, headers) else {
        let next = url::form_urlencoded::byte_serialize(here.as_bytes()).collect::<String>();
        return Redirect::to(&format!("/p2p/login?next={next}")).into_response();
    };
    let title = PAGES
        .iter()
        .find(|(_, id, _)| *id == page)
        .map_or("Hosts", |(_, _, title)| title);
    let nav: Vec<minijinja::Value> = PAGES
        .iter()
        .map(|(path, id, title)| {
            minijinja::context! {
                href => format!("/p2p/monitoring{path}"),
                title => title,
                current => *id == page,
            }
        })
        .collect();
    let ws = ws_url(shared, headers);
    let ws_origin = ws.split('/').take(3).collect::<Vec<_>>().join("/");
    let response = render(
        SHELL,
        minijinja::context! {
            title => if host.is_empty() { title.to_string() } else { host.to_string() },
            csrf => session.csrf,
            ws_url => ws,
            page => page,
            host => host,
            nav => nav,
        },
    );
    secure(response, &ws_origin)
}

async fn page(
    State(shared): State<Arc<Shared>>,
    uri: axum::http::Uri,
    headers: HeaderMap,
) -> Response {
    let path = uri.path().trim_end_matches('/');
    let page = PAGES
        .iter()
        .find(|(p, _, _)| format!("/p2p/monitoring{p}") == path)
        .map_or("overview", |(_, id, _)| id);
    shell(&shared, &headers, page, "", path)
}

async fn host_page(
    State(shared): State<Arc<Shared>>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Response {
    if !p2pmon_common::rules::is_host_id(&id) {
        return (StatusCode::NOT_FOUND, "no such host").into_response();
    }
    let here = format!("/p2p/monitoring/hosts/{id}");
    shell(&shared, &headers, "host", &id, &here)
}

#[derive(Deserialize)]
struct NextQuery {
    #[serde(default)]
    next: String,
}

/// Only paths of these pages: never another site.
fn safe_next(next: &str) -> &str {
    if next.starts_with("/p2p/monitoring") && !next.contains("//") && !next.contains('\\') {
        next
    } else {
        "/p2p/monitoring"
    }
}

async fn login_page(Query(query): Query<NextQuery>) -> Response {
    let response = render(
        LOGIN,
        minijinja::context! { next => safe_next(&query.next), error => "" },
    );
    secure(response, "")
}

#[derive(Deserialize)]
struct LoginForm {
    token: String,
    #[serde(default)]
    next: String,
}

async fn login(State(shared): State<Arc<Shared>>, Form(form): Form<LoginForm>) -> Response {
    let token = form.token.trim().to_string();
    let checker = shared.clone();
    let valid = !token.is_empty()
        && tokio::task::spawn_blocking(move || checker.api_token_ok(&token))
            .await
            .unwrap_or(false);
    if !valid {
        let page = render(
            LOGIN,
            minijinja::context! {
                next => safe_next(&form.next),
                error => "That is not a valid API token.",
            },
        );
        let mut response = secure(page, "");
        *response.status_mut() = StatusCode::UNAUTHORIZED;
        return response;
    }
    let ttl_s = shared.config.tokens.session_ttl_s;
    let started = shared.sessions.start(
        now_ms(),
        crate::auth::hash(form.token.trim()),
        ttl_s as i64 * 1000,
    );
    let Ok((id, _)) = started else {
        return (StatusCode::INTERNAL_SERVER_ERROR, "no random source").into_response();
    };
    let cookie = format!(
        "{}={id}; HttpOnly; SameSite=Strict; Path=/; Max-Age={ttl_s}",
        session::COOKIE,
    );
    let mut response = Redirect::to(safe_next(&form.next)).into_response();
    if let Ok(value) = HeaderValue::from_str(&cookie) {
        response.headers_mut().insert(header::SET_COOKIE, value);
    }
    response
}

#[derive(Deserialize)]
struct LogoutForm {
    #[serde(default)]
    csrf: String,
}

async fn logout(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    Form(form): Form<LogoutForm>,
) -> Response {
    match session_of(&shared, &headers) {
        Some((id, session)) if session.csrf == form.csrf => shared.sessions.end(&id),
        Some(_) => return (StatusCode::FORBIDDEN, "missing or wrong CSRF token").into_response(),
        None => {}
    }
    let mut response = Redirect::to("/p2p/login").into_response();
    let expired = format!(
        "{}=; HttpOnly; SameSite=Strict; Path=/; Max-Age=0",
        session::COOKIE
    );
    if let Ok(value) = HeaderValue::from_str(&expired) {
        response.headers_mut().insert(header::SET_COOKIE, value);
    }
    response
}
