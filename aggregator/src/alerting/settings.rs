//! Settings from FluxCP's database: the `p2p_monitor_settings` table (its
//! schema and default rows are in fluxcp/schemas/), read every `poll_s` and
//! applied over alerts.yml without a restart:
//!
//! - `alert_thresholds`: `{"cpu":90,"memory":85,"latency":200}` sets the
//!   critical threshold of cpu_usage, memory_usage and network_latency (any
//!   other key names a metric; `{"warning":..,"critical":..}` sets both);
//! - `notification_emails`: `["admin@yourserver.com"]`, the email recipients;
//! - `discord_webhook`: the Discord webhook URL;
//! - `monitoring_interval`: the collection interval in ms (no-data timing).
//!
//! A row that does not parse is reported (log and a `status` message) and the
//! last good value of that setting is kept.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration;

use mysql_async::prelude::Queryable;
use tokio::sync::watch;

use super::Alerting;
use super::AlertsConfig;
use crate::config::SettingsConfig;

/// What the table says, parsed.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Overrides {
    /// Metric -> (warning, critical).
    pub thresholds: BTreeMap<String, (Option<f64>, Option<f64>)>,
    pub emails: Option<Vec<String>>,
    pub discord_webhook: Option<String>,
    pub interval_ms: Option<u64>,
}

/// The metric a key of the `alert_thresholds` row names.
fn metric_for(key: &str) -> String {
    match key {
        "cpu" => "cpu_usage",
        "memory" => "memory_usage",
        "latency" => "network_latency",
        "errors" => "error_rate",
        other => other,
    }
    .to_string()
}

/// What is wrong with a row of the settings table. A URL is a secret: no
/// error repeats one.
#[derive(Debug, thiserror::Error)]
pub enum SettingError {
    #[error("not valid JSON: {0}")]
    Json(serde_json::Error),
    #[error("expected a JSON object")]
    NotAnObject,
    #[error("{0:?} is not a metric name")]
    MetricName(String),
    #[error("{what}: {value} is not a number")]
    NotANumber {
        what: String,
        value: serde_json::Value,
    },
    #[error("expected a JSON list of addresses: {0}")]
    NotAList(serde_json::Error),
    #[error("{0:?} is not an email address")]
    Address(String),
    #[error("not an http(s) URL")]
    NotAUrl,
    #[error("expected milliseconds (an integer)")]
    NotMilliseconds,
    #[error("{0} ms is out of range (100 to 3600000)")]
    IntervalRange(u64),
}

fn finite(value: &serde_json::Value, what: &str) -> Result<f64, SettingError> {
    value
        .as_f64()
        .filter(|v| v.is_finite())
        .ok_or_else(|| SettingError::NotANumber {
            what: what.to_string(),
            value: value.clone(),
        })
}

/// Parse one row into `into`; the error says what is wrong with it.
pub fn parse_row(name: &str, value: &str, into: &mut Overrides) -> Result<(), SettingError> {
    match name {
        "alert_thresholds" => {
            let json: serde_json::Value =
                serde_json::from_str(value).map_err(SettingError::Json)?;
            let object = json.as_object().ok_or(SettingError::NotAnObject)?;
            let mut thresholds = BTreeMap::new();
            for (key, limit) in object {
                let metric = metric_for(key);
                if !p2pmon_common::rules::is_name(&metric, p2pmon_common::rules::MAX_NAME) {
                    return Err(SettingError::MetricName(key.clone()));
                }
                let levels = match limit {
                    serde_json::Value::Object(levels) => (
                        levels.get("warning").map(|w| finite(w, key)).transpose()?,
                        levels.get("critical").map(|c| finite(c, key)).transpose()?,
                    ),
                    number => (None, Some(finite(number, key)?)),
                };
                thresholds.insert(metric, levels);
            }
            into.thresholds = thresholds;
        }
        "notification_emails" => {
            let emails: Vec<String> =
                serde_json::from_str(value).map_err(SettingError::NotAList)?;
            for email in &emails {
                email
                    .parse::<lettre::message::Mailbox>()
                    .map_err(|_| SettingError::Address(email.clone()))?;
            }
            into.emails = Some(emails);
        }
        "discord_webhook" => {
            let url = value.trim();
            match url::Url::parse(url) {
                Ok(parsed) if matches!(parsed.scheme(), "http" | "https") => {
                    into.discord_webhook = Some(url.to_string());
                }
                // The URL is a secret: never echo it.
                _ => return Err(SettingError::NotAUrl),
            }
        }
        "monitoring_interval" => {
            let ms: u64 = value
                .trim()
                .parse()
                .map_err(|_| SettingError::NotMilliseconds)?;
            if !(100..=3_600_000).contains(&ms) {
                return Err(SettingError::IntervalRange(ms));
            }
            into.interval_ms = Some(ms);
        }
        _ => {} // settings for other readers (FluxCP itself)
    }
    Ok(())
}

/// `base` (alerts.yml) with `overrides` applied.
pub fn apply(base: &AlertsConfig, overrides: &Overrides) -> AlertsConfig {
    let mut rules = base.clone();
    for (metric, (warning, critical)) in &overrides.thresholds {
        let Some(rule) = rules.alerts.get_mut(metric) else {
            tracing::warn!(%metric, "alert_thresholds names a metric with no rule in alerts.yml; ignored.");
            continue;
        };
        if warning.is_some() {
            rule.warning = *warning;
        }
        if critical.is_some() {
            rule.critical = *critical;
        }
        // A critical below the file's warning: warning follows it down.
        let below = rule.direction == super::rules::Direction::Below;
        if let (Some(w), Some(c)) = (rule.warning, rule.critical)
            && ((!below && w > c) || (below && w < c))
        {
            rule.warning = Some(c);
        }
    }
    if let Some(emails) = &overrides.emails {
        rules.notifications.email.recipients = emails.clone();
    }
    if let Some(url) = &overrides.discord_webhook {
        rules.notifications.discord.webhook_url = url.clone();
    }
    rules
}

/// Poll the table until `shutdown`; apply each change to `alerting`.
pub async fn run(
    config: SettingsConfig,
    alerting: Arc<Alerting>,
    mut shutdown: watch::Receiver<bool>,
) {
    let opts = match mysql_async::Opts::from_url(&config.url) {
        Ok(opts) => opts,
        Err(_) => return, // validated at load
    };
    let pool = mysql_async::Pool::new(opts);
    let statement = format!("SELECT setting_name, setting_value FROM `{}`", config.table);
    // name -> the raw value last seen, and whether it parsed
    let mut seen: HashMap<String, String> = HashMap::new();
    let mut good: HashMap<String, String> = HashMap::new();
    let mut failing = false;
    let mut tick = tokio::time::interval(Duration::from_secs(config.poll_s));
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = shutdown.changed() => break,
        }
        let rows: Vec<(String, String)> = match pool.get_conn().await {
            Ok(mut conn) => match conn.query(&statement).await {
                Ok(rows) => rows,
                Err(error) => {
                    if !failing {
                        tracing::error!(table = %config.table, %error, "Cannot read the settings table; keeping the last settings.");
                    }
                    failing = true;
                    continue;
                }
            },
            Err(error) => {
                if !failing {
                    tracing::error!(%error, "Cannot reach the settings database; keeping the last settings.");
                }
                failing = true;
                continue;
            }
        };
        if failing {
            tracing::info!("Settings database reachable again.");
            failing = false;
        }
        let mut changed = false;
        for (name, value) in rows {
            if seen.get(&name) == Some(&value) {
                continue;
            }
            seen.insert(name.clone(), value.clone());
            let mut probe = Overrides::default();
            match parse_row(&name, &value, &mut probe) {
                Ok(()) => {
                    good.insert(name.clone(), value);
                    changed = true;
                    tracing::info!(setting = %name, "Setting applied.");
                }
                Err(error) => {
                    tracing::error!(setting = %name, %error, "Invalid setting in the settings table; keeping its last good value.");
                    alerting.report_setting_error(&name, &error.to_string());
                }
            }
        }
        if changed {
            let mut overrides = Overrides::default();
            for (name, value) in &good {
                let _ = parse_row(name, value, &mut overrides);
            }
            alerting.apply_settings(&overrides);
        }
    }
    let _ = pool.disconnect().await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_rows_parse() {
        let mut o = Overrides::default();
        parse_row(
            "alert_thresholds",
            r#"{"cpu":90,"memory":85,"latency":200}"#,
            &mut o,
        )
        .expect("thresholds");
        parse_row("notification_emails", r#"["admin@yourserver.com"]"#, &mut o).expect("emails");
        parse_row(
            "discord_webhook",
            "https://discord.com/api/webhooks/your-webhook-url",
            &mut o,
        )
        .expect("url");
        parse_row("monitoring_interval", "5000", &mut o).expect("interval");
        assert_eq!(o.thresholds["cpu_usage"], (None, Some(90.0)));
        assert_eq!(o.thresholds["network_latency"], (None, Some(200.0)));
        assert_eq!(o.interval_ms, Some(5000));
    }

    #[test]
    fn bad_rows_say_why() {
        let mut o = Overrides::default();
        assert!(
            parse_row("alert_thresholds", "{cpu: 90", &mut o)
                .expect_err("json")
                .to_string()
                .contains("not valid JSON")
        );
        assert!(parse_row("alert_thresholds", r#"{"cpu":"high"}"#, &mut o).is_err());
        assert!(parse_row("notification_emails", r#"["not an address"]"#, &mut o).is_err());
        let url_error = parse_row("discord_webhook", "ftp://secret-host/x", &mut o)
            .expect_err("url")
            .to_string();
        assert!(
            !url_error.contains("secret-host"),
            "the URL stays out of errors"
        );
        assert!(parse_row("monitoring_interval", "5", &mut o).is_err());
        assert_eq!(o, Overrides::default(), "nothing half-applied");
    }

    #[test]
    fn overrides_apply_over_the_file() {
        let base: AlertsConfig = p2pmon_common::yaml_config::parse(
            std::path::Path::new("alerts.yml"),
            "alerts:\n  cpu_usage: { warning: 80, critical: 90, duration: 300 }\n",
        )
        .expect("rules");
        let mut o = Overrides::default();
        parse_row("alert_thresholds", r#"{"cpu":70}"#, &mut o).expect("ok");
        let rules = apply(&base, &o);
        let cpu = &rules.alerts["cpu_usage"];
        assert_eq!(
            (cpu.warning, cpu.critical, cpu.duration),
            (Some(70.0), Some(70.0), 300)
        );
    }
}
