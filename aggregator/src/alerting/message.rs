//! What a notification says. Transitions queued on a channel within a short
//! wait are grouped per host, rule, change and severity, so ten maps of one
//! host crossing the same rule make one message, not ten. A group's title
//! and text come from templates (minijinja), configurable under
//! `notifications.templates` in alerts.yml:
//!
//! ```yaml
//! notifications:
//!   templates:
//!     title: "[{{ status }}] {{ rule }} on {{ host }}"
//!     text: "{{ alert.message }} (value {{ alert.value }}, threshold {{ alert.threshold }})"
//! ```
//!
//! Templates see `status` (CRITICAL, WARNING, RESOLVED, REMINDER), `change`,
//! `host`, `rule`, `severity`, `count`, `alert` (the group's first alert, as
//! the API shows it) and `alerts` (all of them).

use std::collections::BTreeMap;

use minijinja::Environment;
use p2pmon_common::yaml_config::Findings;
use serde::Deserialize;

use super::engine::{Alert, Change, Level, Transition};

pub const DEFAULT_TITLE: &str =
    "[{{ status }}] {{ rule }} on {{ host }}{% if count > 1 %} ({{ count }} alerts){% endif %}";
pub const DEFAULT_TEXT: &str = "{% for a in alerts %}{{ a.message }}{% if count > 1 and a.labels %} [{% for k, v in a.labels|items %}{{ k }}={{ v }}{% if not loop.last %} {% endif %}{% endfor %}]{% endif %}{% if not loop.last %}\n{% endif %}{% endfor %}";

/// Steps a render may take (a runaway loop in a template stops here).
const FUEL: u64 = 200_000;
/// Most transitions in one message.
pub const MAX_GROUP: usize = 50;

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TemplatesConfig {
    #[serde(default)]
    pub title: Option<String>,
    #[serde(default)]
    pub text: Option<String>,
}

impl TemplatesConfig {
    pub fn validate(&self, findings: &mut Findings) {
        if let Err(error) = Templates::new(self) {
            findings.error(error.field, error.to_string());
        }
    }
}

/// A notification's title and text.
#[derive(Clone, Debug, PartialEq)]
pub struct Rendered {
    pub title: String,
    pub text: String,
}

/// The compiled templates.
pub struct Templates {
    env: Environment<'static>,
}

/// A template that does not compile, with the alerts.yml field it is in.
#[derive(Debug, thiserror::Error)]
#[error("is not a valid template: {error}")]
pub struct TemplateError {
    pub field: &'static str,
    pub error: minijinja::Error,
}

impl Templates {
    /// Compile; the error names the template's field.
    pub fn new(config: &TemplatesConfig) -> Result<Self, TemplateError> {
        let mut env = Environment::new();
        env.set_fuel(Some(FUEL));
        for (name, field, source, default) in [
            (
                "title",
                "notifications.templates.title",
                &config.title,
                DEFAULT_TITLE,
            ),
            (
                "text",
                "notifications.templates.text",
                &config.text,
                DEFAULT_TEXT,
            ),
        ] {
            let source = source.clone().unwrap_or_else(|| default.to_string());
            env.add_template_owned(name, source)
                .map_err(|error| TemplateError { field, error })?;
        }
        Ok(Self { env })
    }

    /// Render `group` (one or more transitions of one host, rule, change
    /// and severity). A template that fails at render time falls back to
    /// the default, and says so in the log.
    pub fn render(&self, group: &[Transition]) -> Rendered {
        let Some(first) = group.first() else {
            return Rendered {
                title: String::new(),
                text: String::new(),
            };
        };
        let alert = &first.alert;
        let alerts: Vec<&Alert> = group.iter().map(|t| &t.alert).collect();
        let context = minijinja::context! {
            status => status(first),
            change => first.change,
            host => &alert.host,
            rule => &alert.rule,
            severity => alert.severity,
            count => group.len(),
            alert => alert,
            alerts => alerts,
        };
        let render = |name: &str, default: &str| {
            self.env
                .get_template(name)
                .and_then(|t| t.render(&context))
                .unwrap_or_else(|error| {
                    tracing::error!(template = name, %error, "Notification template failed; using the default.");
                    Environment::new()
                        .render_str(default, &context)
                        .unwrap_or_default()
                })
        };
        Rendered {
            title: render("title", DEFAULT_TITLE),
            text: render("text", DEFAULT_TEXT),
        }
    }
}

fn status(transition: &Transition) -> &'static str {
    match (transition.change, transition.alert.severity) {
        (Change::Resolved | Change::ResolvedByAdmin, _) => "RESOLVED",
        (Change::Reminder, _) => "REMINDER",
        (_, Level::Critical) => "CRITICAL",
        (_, Level::Warning) => "WARNING",
    }
}

/// Split `pending` into messages: a transition joins the latest group of
/// the same host, rule, change and severity, unless the same series (rule,
/// host, labels) changed since that group began, so messages stay in the
/// order things happened (a fire and its resolve are never swapped).
pub fn group(pending: Vec<Transition>) -> Vec<Vec<Transition>> {
    fn key(t: &Transition) -> (&str, &str, Change, Level) {
        (&t.alert.host, &t.alert.rule, t.change, t.alert.severity)
    }
    fn series(t: &Transition) -> (&str, &str, &BTreeMap<String, String>) {
        (&t.alert.rule, &t.alert.host, &t.alert.labels)
    }
    let mut groups: Vec<Vec<Transition>> = Vec::new();
    for transition in pending {
        let mut join = None;
        for (i, group) in groups.iter().enumerate().rev() {
            if group.iter().any(|t| series(t) == series(&transition)) {
                break;
            }
            if key(&group[0]) == key(&transition) && group.len() < MAX_GROUP {
                join = Some(i);
                break;
            }
        }
        match join {
            Some(i) => groups[i].push(transition),
            None => groups.push(vec![transition]),
        }
    }
    groups
}

/// Discord embed colours: red, orange, green; reminders as their severity.
pub fn colour(transition: &Transition) -> u32 {
    match (transition.change, transition.alert.severity) {
        (Change::Resolved | Change::ResolvedByAdmin, _) => 0x2E_CC_71,
        (_, Level::Critical) => 0xE7_4C_3C,
        (_, Level::Warning) => 0xF3_9C_12,
    }
}

/// Structured fields (Discord, Slack, email) of a group.
pub fn fields(group: &[Transition]) -> Vec<(&'static str, String)> {
    let Some(first) = group.first() else {
        return Vec::new();
    };
    let alert = &first.alert;
    let mut fields = vec![
        ("Host", alert.host.clone()),
        ("Rule", alert.rule.clone()),
        ("Type", format!("{:?}", alert.alert_type).to_lowercase()),
        ("Value", format!("{}", alert.value)),
    ];
    if let Some(threshold) = alert.threshold {
        fields.push(("Threshold", format!("{threshold}")));
    }
    if alert.count > 1 {
        fields.push(("Count", alert.count.to_string()));
    }
    let ids: Vec<String> = group.iter().map(|t| format!("#{}", t.alert.id)).collect();
    fields.push((
        if ids.len() > 1 { "Alerts" } else { "Alert" },
        ids.join(" "),
    ));
    fields
}

/// `text` with its line breaks kept, control characters and bidirectional
/// overrides escaped as in logs (a host's text cannot clear a screen or show
/// reversed), and every other character written by `markup(out, c,
/// previous)`, escaped as the service's markup needs.
pub fn escape_with(text: &str, mut markup: impl FnMut(&mut String, char, char)) -> String {
    let mut out = String::with_capacity(text.len());
    let mut previous = '\0';
    for c in text.chars() {
        match c {
            '\n' => out.push(c),
            c if p2pmon_common::rules::is_unsafe_char(c) => {
                p2pmon_common::rules::push_escaped(&mut out, c)
            }
            c => markup(&mut out, c, previous),
        }
        previous = c;
    }
    out
}

/// `text` for a service without markup: only what [`escape_with`] escapes.
pub fn plain(text: &str) -> String {
    escape_with(text, |out, c, _| out.push(c))
}

/// `text` for Slack's mrkdwn and Telegram's HTML parse mode: `&`, `<` and
/// `>` as entities (both services' own rule), so `<!channel>`, `<@U123>`,
/// `<https://x|label>` or `<a href>` arrive as the characters they are, not
/// as mentions, tags or disguised links.
pub fn entity_escape(text: &str) -> String {
    escape_with(text, |out, c, _| match c {
        '&' => out.push_str("&amp;"),
        '<' => out.push_str("&lt;"),
        '>' => out.push_str("&gt;"),
        c => out.push(c),
    })
}

/// `text` for Discord: what could ping or disguise a link is defused, the
/// rest (a template's `[RESOLVED]`, `cpu_usage`) left as written. `<`
/// backslashed (no `<@id>`, `<#channel>`, `<https://…>`), a masked link's
/// `](` broken, and `@` followed by a word joiner (U+2060) so `@everyone`
/// cannot ping even where `allowed_mentions` were ignored.
pub fn discord_escape(text: &str) -> String {
    escape_with(text, |out, c, previous| match c {
        '<' => out.push_str("\\<"),
        '(' if previous == ']' => out.push_str("\\("),
        '@' => out.push_str("@\u{2060}"),
        c => out.push(c),
    })
}

/// `text` for an Adaptive Card's markdown (Teams): the characters that
/// would make links, emphasis, code or headings backslashed; a line break
/// doubled (a single one does not show).
pub fn card_escape(text: &str) -> String {
    escape_with(text, |out, c, _| match c {
        '\\' | '[' | ']' | '(' | ')' | '*' | '_' | '`' | '~' | '#' | '<' | '>' => {
            out.push('\\');
            out.push(c);
        }
        c => out.push(c),
    })
    .replace('\n', "\n\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn telegram_and_card_markup_from_hosts_stays_text() {
        assert_eq!(
            entity_escape("<a href=\"x\">cpu</a> & co"),
            "&lt;a href=\"x\"&gt;cpu&lt;/a&gt; &amp; co"
        );
        assert_eq!(
            card_escape("[click](https://evil) *now*\n_x_"),
            "\\[click\\]\\(https://evil\\) \\*now\\*\n\n\\_x\\_"
        );
        assert_eq!(card_escape("a\u{1b}[2Jb"), "a\\u{1b}\\[2Jb");
    }
    use crate::alerting::rules::AlertType;

    fn fired(id: i64, host: &str, map: &str) -> Transition {
        Transition {
            change: Change::Fired,
            alert: Alert {
                id,
                rule: "player_count".to_string(),
                alert_type: AlertType::Game,
                host: host.to_string(),
                labels: [("map".to_string(), map.to_string())].into(),
                severity: Level::Warning,
                status: super::super::engine::Status::Firing,
                value: 3.0,
                threshold: Some(5.0),
                message: format!("few players on {map}"),
                count: 1,
                started_ms: 0,
                updated_ms: 0,
                resolved_ms: None,
                resolution_notes: None,
                acknowledged_by: None,
                resolved_by: None,
            },
        }
    }

    #[test]
    fn one_host_and_rule_make_one_message() {
        let groups = group(vec![
            fired(1, "a", "prontera"),
            fired(2, "b", "geffen"),
            fired(3, "a", "payon"),
        ]);
        assert_eq!(groups.len(), 2);
        let templates = Templates::new(&TemplatesConfig::default()).expect("defaults compile");
        let rendered = templates.render(&groups[0]);
        assert_eq!(rendered.title, "[WARNING] player_count on a (2 alerts)");
        assert_eq!(
            rendered.text,
            "few players on prontera [map=prontera]\nfew players on payon [map=payon]"
        );
        let single = templates.render(&groups[1]);
        assert_eq!(single.title, "[WARNING] player_count on b");
        assert_eq!(single.text, "few players on geffen");
    }

    #[test]
    fn a_fire_and_its_resolve_are_never_merged_out_of_order() {
        let resolved = |mut t: Transition| {
            t.change = Change::Resolved;
            t
        };
        let groups = group(vec![
            fired(1, "a", "prontera"),
            resolved(fired(1, "a", "prontera")),
            fired(2, "a", "prontera"),
            fired(3, "a", "payon"),
        ]);
        let shape: Vec<Vec<(i64, Change)>> = groups
            .iter()
            .map(|g| g.iter().map(|t| (t.alert.id, t.change)).collect())
            .collect();
        assert_eq!(
            shape,
            [
                vec![(1, Change::Fired)],
                vec![(1, Change::Resolved)],
                vec![(2, Change::Fired), (3, Change::Fired)],
            ]
        );
    }

    #[test]
    fn chat_markup_from_hosts_is_escaped() {
        let hostile = "<!channel> @everyone <https://evil.example|Session expired> [login](https://evil.example) <@123>\u{1b}[2J\u{202E}";
        let slack = entity_escape(hostile);
        assert!(!slack.contains('<') && !slack.contains('>'), "{slack}");
        assert!(slack.contains("&lt;!channel&gt;"), "{slack}");
        assert!(
            !slack.contains('\u{1b}') && !slack.contains('\u{202E}'),
            "{slack}"
        );
        let discord = discord_escape(hostile);
        assert!(!discord.contains("@everyone"), "{discord}");
        assert!(
            discord.contains("[login]\\(https://evil.example)"),
            "{discord}"
        );
        assert!(discord.contains("\\<@\u{2060}123>"), "{discord}");
        assert!(discord.contains("\\<https://evil.example|"), "{discord}");
        assert_eq!(
            discord_escape("[RESOLVED] cpu_usage on ro-1"),
            "[RESOLVED] cpu_usage on ro-1"
        );
        assert!(
            !discord.contains('\u{1b}') && !discord.contains('\u{202E}'),
            "{discord}"
        );
        assert_eq!(entity_escape("cpu 95% on ro-1"), "cpu 95% on ro-1");
    }

    #[test]
    fn custom_templates_render_and_bad_ones_are_refused() {
        let templates = Templates::new(&TemplatesConfig {
            title: Some(
                "{{ host|upper }}: {{ rule }} {{ alert.value }}/{{ alert.threshold }}".to_string(),
            ),
            text: None,
        })
        .expect("compiles");
        assert_eq!(
            templates.render(&[fired(1, "a", "x")]).title,
            "A: player_count 3.0/5.0"
        );
        let mut findings = Findings::default();
        TemplatesConfig {
            title: Some("{% for %}".to_string()),
            text: None,
        }
        .validate(&mut findings);
        assert!(
            format!("{findings:?}").contains("notifications.templates.title"),
            "{findings:?}"
        );
    }

    #[test]
    fn a_runaway_template_falls_back_to_the_default() {
        let templates = Templates::new(&TemplatesConfig {
            title: Some(
                "{% for i in range(10000) %}{% for j in range(10000) %}x{% endfor %}{% endfor %}"
                    .to_string(),
            ),
            text: None,
        })
        .expect("compiles");
        assert_eq!(
            templates.render(&[fired(1, "a", "x")]).title,
            "[WARNING] player_count on a"
        );
    }
}
