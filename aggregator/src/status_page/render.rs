//! The page as HTML (server-rendered, one request: styles inline, no
//! script, a day's detail in its bar's tooltip), the JSON, and the badges.

use std::fmt::Write as _;
use std::io::Write as _;

use super::{Built, DayStatus, ServerStatus, StatusAnswer};
use crate::clock::rfc3339;
use crate::config::StatusPageConfig;
use crate::store::status::{Post, PostKind};

const STYLE: &str = "body{font:15px/1.4 system-ui,sans-serif;margin:0 auto;max-width:60rem;padding:1rem;color:#1d2330;background:#f6f7f9}\
h1{font-size:1.5rem;margin:.2rem 0}h2{font-size:1.1rem;margin:1.5rem 0 .5rem}\
.banner{padding:.8rem 1rem;border-radius:6px;color:#fff;font-weight:600}\
.operational{background:#1f9d55}.degraded{background:#d69e2e}.outage{background:#c53030}.maintenance{background:#3b6fd4}\
.post{background:#fff;border-left:4px solid #c53030;border-radius:4px;padding:.6rem 1rem;margin:.6rem 0}\
.post.m{border-color:#3b6fd4}.post h3{margin:0;font-size:1rem}.post p{margin:.3rem 0;white-space:pre-wrap}\
.when{color:#5b6474;font-size:.85rem}\
.srv{background:#fff;border-radius:6px;padding:.5rem .8rem;margin:.4rem 0;content-visibility:auto;contain-intrinsic-size:auto 4.5rem}\
.top{display:flex;justify-content:space-between;gap:1rem}.st{font-weight:600}\
.st.up{color:#1f9d55}.st.down{color:#c53030}.st.unknown{color:#5b6474}.st.maintenance{color:#3b6fd4}\
.bar{display:grid;grid-auto-flow:column;grid-auto-columns:1fr;gap:1px;height:1.6rem;margin-top:.3rem}.bar i{border-radius:1px;background:#d5d9e0}\
.bar .g{background:#1f9d55}.bar .y{background:#9ac23c}.bar .o{background:#d69e2e}.bar .r{background:#c53030}.bar .m{background:#3b6fd4}\
.pct{color:#5b6474;font-size:.85rem}footer{color:#5b6474;font-size:.8rem;margin:2rem 0}";

/// Build what is served from `answer`.
pub fn build(config: &StatusPageConfig, answer: &StatusAnswer) -> Built {
    let json = serde_json::to_vec(answer).unwrap_or_default();
    let html = page(config, answer).into_bytes();
    let mut gzip = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    let html_gzip = match gzip.write_all(&html) {
        Ok(()) => gzip.finish().unwrap_or_default(),
        Err(_) => Vec::new(),
    };
    let badges = answer
        .groups
        .iter()
        .flat_map(|g| &g.servers)
        .map(|s| (s.id.clone(), badge(s)))
        .collect();
    Built {
        etag: format!("\"{:x}-{}\"", answer.generated_ms, html.len()),
        json,
        html,
        html_gzip,
        badges,
    }
}

/// `text` safe in HTML text and quoted attributes.
fn esc(text: &str) -> String {
    crate::alerting::message::escape_with(text, |out, c, _| match c {
        '&' => out.push_str("&amp;"),
        '<' => out.push_str("&lt;"),
        '>' => out.push_str("&gt;"),
        '"' => out.push_str("&quot;"),
        '\'' => out.push_str("&#39;"),
        c => out.push(c),
    })
}

fn page(config: &StatusPageConfig, answer: &StatusAnswer) -> String {
    let mut out = String::with_capacity(64 * 1024);
    let title = esc(&config.title);
    let _ = write!(
        out,
        "<!doctype html><html lang=en><head><meta charset=utf-8>\
         <meta name=viewport content=\"width=device-width,initial-scale=1\">\
         <meta http-equiv=refresh content=60><title>{title}</title><style>{STYLE}</style></head><body>\
         <h1>{title}</h1><p class=\"banner {state}\">{said}</p>",
        state = answer.state,
        said = match answer.state {
            "operational" => "All systems operational",
            "degraded" => "Some servers are down",
            "outage" => "Major outage",
            _ => "Under maintenance",
        }
    );
    let open: Vec<&Post> = answer
        .incidents
        .iter()
        .filter(|p| p.ends_ms.is_none())
        .collect();
    if !open.is_empty() {
        out.push_str("<h2>Incidents</h2>");
        for post in open {
            write_post(&mut out, post, answer.generated_ms);
        }
    }
    if !answer.maintenance.is_empty() {
        out.push_str("<h2>Maintenance</h2>");
        for post in &answer.maintenance {
            write_post(&mut out, post, answer.generated_ms);
        }
    }
    for group in &answer.groups {
        let _ = write!(out, "<h2>{}</h2>", esc(&group.name));
        for server in &group.servers {
            write_server(&mut out, server);
        }
    }
    let past: Vec<&Post> = answer
        .incidents
        .iter()
        .filter(|p| p.ends_ms.is_some())
        .collect();
    if !past.is_empty() {
        out.push_str("<h2>Past incidents</h2>");
        for post in past {
            write_post(&mut out, post, answer.generated_ms);
        }
    }
    let _ = write!(
        out,
        "<footer>Bars: one per UTC day since {}. Updated {} · <a href=\"/api/v1/status\">JSON</a></footer></body></html>",
        answer.first_day,
        when(answer.generated_ms)
    );
    out
}

fn write_post(out: &mut String, post: &Post, now: i64) {
    let class = if post.kind == PostKind::Maintenance {
        "post m"
    } else {
        "post"
    };
    let span = match (post.kind, post.ends_ms) {
        (PostKind::Maintenance, Some(end)) if post.starts_ms > now => {
            format!("Scheduled {} to {}", when(post.starts_ms), when(end))
        }
        (PostKind::Maintenance, Some(end)) => {
            format!(
                "Under way since {}, until {}",
                when(post.starts_ms),
                when(end)
            )
        }
        (_, Some(end)) => format!("{} to {}", when(post.starts_ms), when(end)),
        (_, None) => format!("Since {}", when(post.starts_ms)),
    };
    let _ = write!(
        out,
        "<div class=\"{class}\"><h3>{}</h3><div class=when>{span}</div>",
        esc(&post.title)
    );
    for update in post.updates.iter().rev() {
        let _ = write!(
            out,
            "<p><b>{}</b> · <span class=when>{}</span><br>{}</p>",
            esc(&update.state),
            when(update.at_ms),
            esc(&update.body)
        );
    }
    out.push_str("</div>");
}

fn write_server(out: &mut String, server: &ServerStatus) {
    let pct = server.uptime.map_or("no data yet".to_string(), |u| {
        format!("{} uptime", percent(u))
    });
    let _ = write!(
        out,
        "<div class=srv><div class=top><span>{}</span><span class=\"st {state}\">{said}</span></div><div class=bar>",
        esc(&server.name),
        state = server.state,
        said = match server.state {
            "up" => "Up",
            "down" => "Down",
            "maintenance" => "Maintenance",
            _ => "Unknown",
        }
    );
    for day in &server.days {
        let _ = write!(
            out,
            "<i class={} title=\"{}\"></i>",
            shade(day),
            tooltip(day)
        );
    }
    let _ = write!(out, "</div><div class=pct>{pct}</div></div>");
}

/// The bar's colour class: no class without data; m a day spent in
/// maintenance and otherwise up.
fn shade(day: &DayStatus) -> &'static str {
    match day.uptime {
        None if day.maintenance_ms > 0.0 => "m",
        None => "n",
        Some(u) if u >= 0.999 => {
            if day.maintenance_ms > 0.0 {
                "m"
            } else {
                "g"
            }
        }
        Some(u) if u >= 0.99 => "y",
        Some(u) if u >= 0.95 => "o",
        Some(_) => "r",
    }
}

fn tooltip(day: &DayStatus) -> String {
    let mut text = day.day.clone();
    match day.uptime {
        Some(u) => {
            let _ = write!(text, ": {}", percent(u));
        }
        None => text.push_str(": no data"),
    }
    if let Some(worst) = day.worst {
        let minutes = (worst.end_ms - worst.start_ms) / 60_000;
        let _ = write!(
            text,
            ", worst: {minutes} min from {} UTC",
            &rfc3339(worst.start_ms).get(11..16).unwrap_or("")
        );
    }
    if day.maintenance_ms > 0.0 {
        let _ = write!(
            text,
            ", {} min maintenance",
            (day.maintenance_ms / 60_000.0).round()
        );
    }
    text
}

/// 99.95 % (two decimals below 100, none at 100).
fn percent(share: f64) -> String {
    if share >= 1.0 {
        "100 %".to_string()
    } else {
        format!("{:.2} %", (share * 100.0).min(99.99))
    }
}

/// `2026-11-30 14:02 UTC`.
fn when(ms: i64) -> String {
    let text = rfc3339(ms);
    format!(
        "{} {} UTC",
        text.get(..10).unwrap_or(""),
        text.get(11..16).unwrap_or("")
    )
}

/// A shields-style badge: the server's name and its state.
fn badge(server: &ServerStatus) -> String {
    let (said, colour) = match server.state {
        "up" => ("up", "#1f9d55"),
        "down" => ("down", "#c53030"),
        "maintenance" => ("maintenance", "#3b6fd4"),
        _ => ("unknown", "#5b6474"),
    };
    let label = esc(&server.name);
    // Widths from a 7 px average character of 11 px Verdana, as such
    // badges are drawn.
    let left = 10 + 7 * server.name.chars().count();
    let right = 10 + 7 * said.len();
    let total = left + right;
    format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{total}\" height=\"20\" role=\"img\" aria-label=\"{label}: {said}\">\
         <title>{label}: {said}</title><rect width=\"{left}\" height=\"20\" fill=\"#555\"/>\
         <rect x=\"{left}\" width=\"{right}\" height=\"20\" fill=\"{colour}\"/>\
         <g fill=\"#fff\" font-family=\"Verdana,sans-serif\" font-size=\"11\">\
         <text x=\"5\" y=\"14\">{label}</text><text x=\"{x}\" y=\"14\">{said}</text></g></svg>",
        x = left + 5
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markup_in_names_and_posts_is_shown_as_text() {
        assert_eq!(
            esc("<script>alert('x')</script> & \"q\""),
            "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; &amp; &quot;q&quot;"
        );
        // A bidirectional override cannot reverse what the page shows.
        assert!(!esc("a\u{202e}b").contains('\u{202e}'));
    }

    #[test]
    fn percentages_never_round_up_to_a_full_hundred() {
        assert_eq!(percent(1.0), "100 %");
        assert_eq!(percent(0.99999), "99.99 %");
        assert_eq!(percent(0.5), "50.00 %");
    }
}
