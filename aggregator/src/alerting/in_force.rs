//! The rules and channels in force, as `GET /api/v1/rules` shows them:
//! alerts.yml with the settings table over it. Secrets stay out: a webhook
//! shows as its host, email and SMS as counts and their server.

use p2pmon_common::wire::Severity;
use serde::Serialize;

use super::AlertsConfig;
use super::Level;
use super::notify::WebhookConfig;
use super::push::host_of;
use super::rules::{AlertType, Direction};

#[derive(Debug, Serialize)]
pub struct InForce {
    pub metric_rules: Vec<MetricRuleInForce>,
    pub event_rules: Vec<EventRuleInForce>,
    pub no_data: NoDataInForce,
    pub plugin_quarantined: PluginQuarantinedInForce,
    pub channels: Vec<ChannelInForce>,
}

#[derive(Debug, Serialize)]
pub struct MetricRuleInForce {
    pub metric: String,
    pub enabled: bool,
    pub warning: Option<f64>,
    pub critical: Option<f64>,
    pub duration_s: u64,
    pub direction: Direction,
    #[serde(rename = "type")]
    pub alert_type: AlertType,
    /// Host and map overrides.
    pub overrides: usize,
}

#[derive(Debug, Serialize)]
pub struct EventRuleInForce {
    pub kind: String,
    pub enabled: bool,
    pub min_severity: Severity,
    #[serde(rename = "type")]
    pub alert_type: AlertType,
}

#[derive(Debug, Serialize)]
pub struct NoDataInForce {
    pub enabled: bool,
    pub intervals: u32,
}

#[derive(Debug, Serialize)]
pub struct PluginQuarantinedInForce {
    pub enabled: bool,
}

#[derive(Debug, Serialize)]
pub struct ChannelInForce {
    pub channel: &'static str,
    pub enabled: bool,
    pub min_severity: Level,
    pub send_resolved: bool,
    /// Where it sends, without secrets.
    pub target: String,
}

fn webhook(channel: &'static str, hook: &WebhookConfig) -> ChannelInForce {
    ChannelInForce {
        channel,
        enabled: hook.enabled,
        min_severity: hook.min_severity,
        send_resolved: hook.send_resolved,
        target: host_of(&hook.webhook_url),
    }
}

impl InForce {
    pub fn of(rules: &AlertsConfig) -> Self {
        let metric_rules = rules
            .alerts
            .iter()
            .map(|(metric, rule)| MetricRuleInForce {
                metric: metric.clone(),
                enabled: rule.enabled,
                warning: rule.warning,
                critical: rule.critical,
                duration_s: rule.duration,
                direction: rule.direction,
                alert_type: rule.alert_type(metric),
                overrides: rule.hosts.len() + rule.maps.len(),
            })
            .collect();
        let event_rules = rules
            .events
            .iter()
            .map(|(kind, rule)| EventRuleInForce {
                kind: kind.clone(),
                enabled: rule.enabled,
                min_severity: rule.min_severity,
                alert_type: rule.alert_type,
            })
            .collect();
        let n = &rules.notifications;
        let mut channels = vec![
            ChannelInForce {
                channel: "email",
                enabled: n.email.enabled,
                min_severity: n.email.min_severity,
                send_resolved: n.email.send_resolved,
                target: format!(
                    "{} recipient(s) via {}",
                    n.email.recipients.len(),
                    n.email.smtp.host
                ),
            },
            webhook("discord", &n.discord),
            webhook("slack", &n.slack),
            ChannelInForce {
                channel: "alertmanager",
                enabled: n.alertmanager.enabled,
                min_severity: n.alertmanager.min_severity,
                send_resolved: n.alertmanager.send_resolved,
                target: host_of(&n.alertmanager.url),
            },
            ChannelInForce {
                channel: "sms",
                enabled: n.sms.enabled,
                min_severity: n.sms.min_severity,
                send_resolved: false,
                target: format!("{} number(s) via {}", n.sms.to.len(), host_of(&n.sms.url)),
            },
        ];
        channels.extend(n.push_channels().iter().map(|c| ChannelInForce {
            channel: c.name(),
            enabled: c.enabled(),
            min_severity: c.min_severity(),
            send_resolved: c.send_resolved(),
            target: c.summary(),
        }));
        InForce {
            metric_rules,
            event_rules,
            no_data: NoDataInForce {
                enabled: rules.no_data.enabled,
                intervals: rules.no_data.intervals,
            },
            plugin_quarantined: PluginQuarantinedInForce {
                enabled: rules.plugin_quarantined.enabled,
            },
            channels,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_stay_out_and_directions_read_as_before() {
        let rules: AlertsConfig = serde_yaml::from_str(
            "alerts:\n  player_count: { warning: 5, direction: below, hosts: { a: { warning: 1 } } }\nnotifications:\n  discord: { enabled: true, webhook_url: 'https://discord.example/api/webhooks/1/secret' }\n",
        )
        .unwrap_or_else(|e| panic!("{e}"));
        let json = serde_json::to_value(InForce::of(&rules)).unwrap_or_default();
        let rule = &json["metric_rules"][0];
        assert_eq!(rule["direction"], "below");
        assert_eq!(rule["overrides"], 1);
        assert_eq!(rule["type"], "game");
        let text = json.to_string();
        assert!(!text.contains("secret"), "{text}");
        assert!(text.contains("discord.example"), "{text}");
    }
}
