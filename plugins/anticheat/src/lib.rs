//! The anti-cheat plugin: security events an admin can act on.
//!
//! - From the map-server console log file (`file` capability; rAthena
//!   writes it only with `console_msg_log: 3` in map_athena.conf):
//!   `ddos_detected`, `unsupported_packet`, `invalid_packet_length`,
//!   `truncated_packet`, `malformed_packet`, `char_server_lost` (the
//!   map-server's port answers but nobody can log in); one event per kind and subject
//!   per collect, with the count, a sample line and the player and account
//!   (looked up in `char` when the line names only one of them).
//! - From `loginlog` (`log_login: yes` in login_athena.conf):
//!   `failed_logins` per reason (rAthena's rcodes, see
//!   `p2pmon_rathena::login`); `failed_login_burst` (many password or PIN
//!   guesses from one address) and `failed_login_account` (against one
//!   account) within a sliding window. A banned player retrying, an
//!   ip-banned address (user `unknown`) and server lines are not guesses.
//! - From `atcommandlog` (`log_commands: yes` in log_athena.conf):
//!   `gm_item_creation` for every item- or zeny-creating GM command and
//!   `gm_zeny_removal` for `@zeny -n`, naming the GM and the target.
//! - From `picklog` and `zenylog` (`log_filter` and `log_zeny` in
//!   log_athena.conf): `economy_anomaly` when items or zeny entering the
//!   world in an interval are far above this host's baseline, naming the
//!   character that gained most. Moves (trade, vending, storage, bank,
//!   mail) are never a gain.
//! - `suspicion_score` per account: malformed packets, GM creation and
//!   economy anomalies add to it, it halves every `score_half_life_s`, and
//!   crossing `score_alert` raises `suspicious_account`.
//!
//! Every threshold is a config value; the defaults are in [`Settings::load`].

use std::collections::{BTreeMap, HashMap};

use p2pmon_plugin_sdk::file::{self, StartAt};
use p2pmon_plugin_sdk::host::{self, config_or};
use p2pmon_plugin_sdk::sql::{self, Value};
use p2pmon_plugin_sdk::{
    Capability, Collection, MetricSpec, Plugin, PluginInfo, Severity, Unit, export_plugin,
};
use p2pmon_rathena::economy::{
    CREATED_ITEM_TYPES, CREATED_ZENY_TYPES, ItemRules, MONSTER_ITEM_TYPES, ZENY_TYPES,
    per_type_sums, read_sums, type_letters,
};
use p2pmon_rathena::login::{self, Outcome, Reason};
use p2pmon_rathena::{Baseline, Cursor, console, gm, list, placeholders, sql_error};

/// Longest sample line carried in an event.
const SAMPLE_CHARS: usize = 300;
/// Accounts with a `suspicion_score` metric per collect, highest first.
const SCORED_ACCOUNTS: usize = 20;

#[derive(Default)]
pub struct AntiCheatPlugin {
    settings: Option<Settings>,
    state: State,
}

struct Settings {
    main: String,
    logs: String,
    log_file: String,
    login_window_s: u32,
    failed_logins_per_ip: i64,
    failed_logins_per_account: i64,
    gm_commands: Vec<String>,
    gm_zeny_critical: i64,
    gm_item_critical: i64,
    economy_factor: f64,
    economy_min_items: f64,
    economy_min_zeny: f64,
    packet_burst: u32,
    items: ItemRules,
    created_zeny: Vec<char>,
    score_malformed_packet: f64,
    score_gm_item: f64,
    score_economy: f64,
    score_half_life_s: f64,
    score_alert: f64,
    max_events: usize,
}

impl Settings {
    fn load() -> Result<Self, String> {
        Ok(Self {
            main: config_or("main", "main".to_string())?,
            logs: config_or("logs", "logs".to_string())?,
            log_file: config_or("log_file", "/opt/rathena/log/map-msg_log.log".to_string())?,
            login_window_s: config_or("failed_login_window_s", 300)?,
            failed_logins_per_ip: config_or("failed_logins_per_ip", 10)?,
            failed_logins_per_account: config_or("failed_logins_per_account", 5)?,
            gm_commands: list(&config_or(
                "gm_commands",
                "item,item2,itembound,itembound2,zeny,produce,makeegg".to_string(),
            )?),
            gm_zeny_critical: config_or("gm_zeny_critical", 10_000_000)?,
            gm_item_critical: config_or("gm_item_critical", 100)?,
            economy_factor: config_or("economy_factor", 10.0)?,
            economy_min_items: config_or("economy_min_items", 1_000.0)?,
            economy_min_zeny: config_or("economy_min_zeny", 100_000_000.0)?,
            packet_burst: config_or("packet_burst", 20)?,
            items: ItemRules::new(
                &config_or("monster_item_types", MONSTER_ITEM_TYPES.to_string())?,
                &config_or("created_item_types", CREATED_ITEM_TYPES.to_string())?,
            )?,
            created_zeny: type_letters(
                "created_zeny_types",
                &config_or("created_zeny_types", CREATED_ZENY_TYPES.to_string())?,
                &ZENY_TYPES,
            )?,
            score_malformed_packet: config_or("score_malformed_packet", 20.0)?,
            score_gm_item: config_or("score_gm_item", 10.0)?,
            score_economy: config_or("score_economy", 40.0)?,
            score_half_life_s: config_or("score_half_life_s", 3_600.0)?,
            score_alert: config_or("score_alert", 100.0)?,
            max_events: config_or("max_events", 100)?,
        })
    }
}

#[derive(Default)]
struct State {
    atcommandlog: Cursor,
    picklog: Cursor,
    zenylog: Cursor,
    items: Baseline,
    zeny: Baseline,
    /// When the economy was last read (Unix ms).
    economy_at: Option<u64>,
    /// Event keys quiet until a time (Unix ms): one burst, one event.
    quiet_until: HashMap<String, u64>,
    scores: HashMap<String, Score>,
    log_unavailable: bool,
    /// The console log has been opened once: its tail position is kept by
    /// the host from then on.
    log_opened: bool,
}

struct Score {
    value: f64,
    at_ms: u64,
    alerted: bool,
    reasons: Vec<&'static str>,
}

impl Plugin for AntiCheatPlugin {
    fn info() -> PluginInfo {
        PluginInfo::new("anticheat", env!("CARGO_PKG_VERSION"))
            .description("Security events from the map-server log and rAthena's log tables; a suspicion score per account.")
            .metric(MetricSpec::gauge("security_events", Unit::Count).describe("Security lines in the map-server log since the previous collect, per kind"))
            .metric(MetricSpec::gauge("failed_logins", Unit::Count).describe("Failed logins within the window"))
            .metric(MetricSpec::gauge("gm_item_commands", Unit::Count).describe("GM commands that created items or zeny, or took zeny, since the previous collect"))
            .metric(MetricSpec::gauge("suspicion_score", Unit::Count).describe("Per account; decays with a half-life"))
            .metric(MetricSpec::gauge("log_backlog_bytes", Unit::Bytes).describe("Map-server log bytes not read yet"))
            .capability(Capability::Sql)
            .capability(Capability::File)
            .capability(Capability::Config)
            .capability(Capability::Clock)
            .interval_ms(10_000)
    }

    fn collect(&mut self, out: &mut Collection) -> Result<(), String> {
        if self.settings.is_none() {
            self.settings = Some(Settings::load()?);
        }
        let Some(settings) = &self.settings else {
            return Ok(());
        };
        let now = host::now_ms()?;
        let mut events = Events {
            out,
            left: settings.max_events,
            suppressed: 0,
        };
        let state = &mut self.state;
        if !settings.log_file.is_empty() {
            state.console(settings, now, &mut events)?;
        }
        if !settings.logs.is_empty() {
            state.logins(settings, now, &mut events)?;
            state.gm_commands(settings, now, &mut events)?;
            state.economy(settings, now, &mut events)?;
        }
        state.report_scores(settings, now, &mut events);
        if events.suppressed > 0 {
            events
                .out
                .event(
                    "events_suppressed",
                    Severity::Warning,
                    "more security events than max_events in one collect",
                )
                .field("suppressed", events.suppressed.to_string());
        }
        Ok(())
    }
}

/// The collection with a cap on events per collect.
struct Events<'a> {
    out: &'a mut Collection,
    left: usize,
    suppressed: usize,
}

impl Events<'_> {
    fn push(&mut self, kind: &str, severity: Severity, message: &str, fields: &[(&str, String)]) {
        if self.left == 0 {
            self.suppressed += 1;
            return;
        }
        self.left -= 1;
        let event = self.out.event(kind, severity, message);
        for (key, value) in fields {
            event.field(key, value.clone());
        }
    }
}

fn sample(line: &str) -> String {
    line.chars().take(SAMPLE_CHARS).collect()
}

impl State {
    fn console(
        &mut self,
        settings: &Settings,
        now: u64,
        events: &mut Events,
    ) -> Result<(), String> {
        // Lines already there when the plugin starts are history; but a log
        // that did not exist then (rAthena writes the file with its first
        // warning) holds only new lines, all of them to be read.
        let start = if !self.log_opened && self.log_unavailable {
            StartAt::Beginning
        } else {
            StartAt::End
        };
        let tail = match file::tail(&settings.log_file, start, 1 << 20) {
            Ok(tail) => {
                self.log_unavailable = false;
                self.log_opened = true;
                tail
            }
            Err(error) => {
                if !self.log_unavailable {
                    self.log_unavailable = true;
                    events.push(
                        "log_unavailable",
                        Severity::Warning,
                        "cannot read the map-server console log (console_msg_log in map_athena.conf)",
                        &[
                            ("path", settings.log_file.clone()),
                            ("error", error.to_string()),
                        ],
                    );
                }
                return Ok(());
            }
        };
        events
            .out
            .gauge("log_backlog_bytes", tail.backlog_bytes as f64);
        // (kind, subject) -> (count, finding, sample line)
        let mut found: BTreeMap<(&'static str, String), (u32, console::Finding, String)> =
            BTreeMap::new();
        let mut per_kind: BTreeMap<&'static str, u32> =
            console::KINDS.iter().map(|k| (*k, 0)).collect();
        for line in &tail.lines {
            let Some(finding) = console::parse(line) else {
                continue;
            };
            *per_kind.entry(finding.kind).or_default() += 1;
            let subject = [
                &finding.ip,
                &finding.account_id,
                &finding.character,
                &finding.char_id,
            ]
            .into_iter()
            .find_map(Clone::clone)
            .unwrap_or_default();
            let entry = found
                .entry((finding.kind, subject))
                .or_insert_with(|| (0, finding, sample(&console::strip_colours(line))));
            entry.0 += 1;
        }
        for (kind, count) in per_kind {
            events
                .out
                .gauge("security_events", f64::from(count))
                .tag("kind", kind);
        }
        for ((kind, _), (count, mut finding, line)) in found {
            identify(settings, &mut finding);
            let (severity, message, weight) = judge(settings, kind, count);
            let mut fields = vec![("count", count.to_string()), ("sample", line)];
            for (key, value) in [
                ("ip", &finding.ip),
                ("character", &finding.character),
                ("char_id", &finding.char_id),
                ("packet", &finding.packet),
                ("session", &finding.session),
            ] {
                if let Some(value) = value {
                    fields.push((key, value.clone()));
                }
            }
            if let Some(account) = &finding.account_id {
                fields.push(("account_id", account.clone()));
                // A burst is scored once, not once per line.
                self.add_score(account, weight, kind, now, settings);
            }
            events.push(kind, severity, message, &fields);
        }
        Ok(())
    }

    fn logins(&mut self, settings: &Settings, now: u64, events: &mut Events) -> Result<(), String> {
        let logs = &settings.logs;
        let window = Value::Uint(u64::from(settings.login_window_s));
        // rcode 100 rows differ by their text (success, PIN, server lines);
        // the other codes say it all.
        let result = sql::query(
            logs,
            "SELECT rcode, CASE WHEN rcode = 100 THEN log ELSE '' END, COUNT(*) FROM loginlog \
             WHERE time >= NOW() - INTERVAL ? SECOND GROUP BY 1, 2",
            std::slice::from_ref(&window),
        )
        .map_err(|e| sql_error(logs, e))?;
        let mut per_reason: BTreeMap<Reason, i64> = Reason::ALL.iter().map(|r| (*r, 0)).collect();
        for row in &result.rows {
            let (Some(rcode), Some(count)) = (row[0].as_i64(), row[2].as_i64()) else {
                continue;
            };
            let text = row[1].to_text().unwrap_or_default();
            if let Outcome::Failure(reason) = login::classify(rcode, &text) {
                *per_reason.entry(reason).or_default() += count;
            }
        }
        let total: i64 = per_reason.values().sum();
        for (reason, count) in &per_reason {
            events
                .out
                .gauge("failed_logins", *count as f64)
                .tag("reason", reason.tag());
        }
        events.out.gauge("failed_logins", total as f64);
        let guesses = per_reason[&Reason::WrongPassword]
            + per_reason[&Reason::UnknownAccount]
            + per_reason[&Reason::PinFailure];
        if guesses == 0 {
            return Ok(());
        }
        let quiet = now + u64::from(settings.login_window_s) * 1000;
        for (column, other, condition, threshold, kind, message) in [
            (
                "ip",
                "user",
                login::GUESS_CONDITION,
                settings.failed_logins_per_ip,
                "failed_login_burst",
                "many failed password or PIN attempts from one address",
            ),
            (
                "user",
                "ip",
                login::ACCOUNT_GUESS_CONDITION,
                settings.failed_logins_per_account,
                "failed_login_account",
                "many failed password or PIN attempts against one account",
            ),
        ] {
            let result = sql::query(
                logs,
                &format!(
                    "SELECT `{column}`, COUNT(*), COUNT(DISTINCT `{other}`), \
                     SUM(rcode = 100) FROM loginlog \
                     WHERE {condition} AND time >= NOW() - INTERVAL ? SECOND \
                     GROUP BY `{column}` HAVING COUNT(*) >= ? ORDER BY 2 DESC LIMIT 100"
                ),
                &[window.clone(), Value::Int(threshold)],
            )
            .map_err(|e| sql_error(logs, e))?;
            for row in &result.rows {
                let (Some(subject), Some(failures)) = (row[0].to_text(), row[1].as_i64()) else {
                    continue;
                };
                if !self.first_in_window(&format!("{kind}/{subject}"), now, quiet) {
                    continue;
                }
                let severity = if failures >= threshold * 5 {
                    Severity::Critical
                } else {
                    Severity::Warning
                };
                let others = row[2].as_i64().unwrap_or(0).to_string();
                let distinct = if column == "ip" { "accounts" } else { "ips" };
                let pin = row[3].as_i64().unwrap_or(0);
                events.push(
                    kind,
                    severity,
                    message,
                    &[
                        (column, subject),
                        ("failures", failures.to_string()),
                        ("pin_failures", pin.to_string()),
                        (distinct, others),
                        ("window_s", settings.login_window_s.to_string()),
                    ],
                );
            }
        }
        Ok(())
    }

    /// True the first time `key` fires within its quiet period.
    fn first_in_window(&mut self, key: &str, now: u64, until: u64) -> bool {
        self.quiet_until.retain(|_, until| *until > now);
        if self.quiet_until.contains_key(key) {
            return false;
        }
        self.quiet_until.insert(key.to_string(), until);
        true
    }

    fn gm_commands(
        &mut self,
        settings: &Settings,
        now: u64,
        events: &mut Events,
    ) -> Result<(), String> {
        let logs = &settings.logs;
        let mut count = 0;
        if let Some((after, up_to)) =
            self.atcommandlog
                .advance(logs, "atcommandlog", "atcommand_id")?
        {
            let result = sql::query(
                logs,
                "SELECT account_id, char_name, map, command FROM atcommandlog \
                 WHERE atcommand_id > ? AND atcommand_id <= ? ORDER BY atcommand_id LIMIT 1000",
                &[Value::Int(after), Value::Int(up_to)],
            )
            .map_err(|e| sql_error(logs, e))?;
            for row in &result.rows {
                let line = row[3].to_text().unwrap_or_default();
                let Some(command) = gm::parse(&line) else {
                    continue;
                };
                let Some(effect) = gm::effect(&command, &settings.gm_commands) else {
                    continue;
                };
                count += 1;
                // account_id and char_name are the GM's; a `#` command names
                // its target, an `@` command acts on the GM.
                let account = row[0].to_text().unwrap_or_default();
                let gm_name = row[1].to_text().unwrap_or_default();
                let target = command.target.clone().unwrap_or_else(|| gm_name.clone());
                let mut fields = vec![
                    ("account_id", account.clone()),
                    ("character", gm_name),
                    ("target", target),
                    ("map", row[2].to_text().unwrap_or_default()),
                    ("command", sample(&line)),
                ];
                let (kind, critical, message) = match &effect {
                    gm::Effect::Zeny(amount) if *amount < 0 => {
                        fields.push(("zeny", amount.to_string()));
                        events.push(
                            "gm_zeny_removal",
                            Severity::Warning,
                            "a GM command took zeny away",
                            &fields,
                        );
                        continue;
                    }
                    gm::Effect::Zeny(amount) => {
                        fields.push(("zeny", amount.to_string()));
                        (
                            "gm_item_creation",
                            *amount >= settings.gm_zeny_critical,
                            "a GM command created zeny",
                        )
                    }
                    gm::Effect::Items { items, .. } => {
                        let total = effect.item_total();
                        fields.push(("items", items.join(":")));
                        fields.push(("amount", total.to_string()));
                        (
                            "gm_item_creation",
                            total >= settings.gm_item_critical,
                            "a GM command created items",
                        )
                    }
                };
                self.add_score(&account, settings.score_gm_item, kind, now, settings);
                events.push(
                    kind,
                    if critical {
                        Severity::Critical
                    } else {
                        Severity::Warning
                    },
                    message,
                    &fields,
                );
            }
        }
        events.out.gauge("gm_item_commands", f64::from(count));
        Ok(())
    }

    fn economy(
        &mut self,
        settings: &Settings,
        now: u64,
        events: &mut Events,
    ) -> Result<(), String> {
        let logs = &settings.logs;
        let previous = self.economy_at.replace(now);
        let items = self.picklog.advance(logs, "picklog", "id")?;
        let zeny = self.zenylog.advance(logs, "zenylog", "id")?;
        let Some(then) = previous else {
            return Ok(());
        };
        let seconds = now.saturating_sub(then) as f64 / 1000.0;
        for (resource, range, table, min) in [
            ("items", items, "picklog", settings.economy_min_items),
            ("zeny", zeny, "zenylog", settings.economy_min_zeny),
        ] {
            let gained = match range {
                Some((after, up_to)) => entered(settings, resource, table, after, up_to)?,
                None => 0,
            };
            let baseline = if resource == "items" {
                &mut self.items
            } else {
                &mut self.zeny
            };
            let judgement = baseline.judge(gained as f64, seconds, settings.economy_factor, min);
            let Some((after, up_to)) = range.filter(|_| judgement.anomalous) else {
                continue;
            };
            let mut fields = vec![
                ("resource", resource.to_string()),
                ("amount", gained.to_string()),
                ("interval_s", format!("{seconds:.0}")),
                (
                    "baseline_per_min",
                    judgement
                        .baseline
                        .map_or("none yet".to_string(), |b| format!("{:.1}", b * 60.0)),
                ),
            ];
            let top = top_gainer(settings, resource, table, after, up_to)?;
            if let Some(row) = top.as_ref().and_then(|t| t.rows.first()) {
                let char_id = row[0].to_text().unwrap_or_default();
                fields.push(("char_id", char_id.clone()));
                fields.push(("char_amount", row[1].to_text().unwrap_or_default()));
                // The account, when the main database is granted too.
                if let Ok(owner) = sql::query(
                    &settings.main,
                    "SELECT account_id, name FROM `char` WHERE char_id = ?",
                    &[Value::Text(char_id)],
                ) && let Some(owner) = owner.rows.first()
                {
                    let account = owner[0].to_text().unwrap_or_default();
                    fields.push(("character", owner[1].to_text().unwrap_or_default()));
                    self.add_score(
                        &account,
                        settings.score_economy,
                        "economy_anomaly",
                        now,
                        settings,
                    );
                    fields.push(("account_id", account));
                }
            }
            events.push(
                "economy_anomaly",
                Severity::Critical,
                "far more items or zeny entered the world than this host's baseline",
                &fields,
            );
        }
        Ok(())
    }

    fn add_score(
        &mut self,
        account: &str,
        weight: f64,
        reason: &'static str,
        now: u64,
        settings: &Settings,
    ) {
        if account.is_empty() || weight <= 0.0 {
            return;
        }
        let score = self.scores.entry(account.to_string()).or_insert(Score {
            value: 0.0,
            at_ms: now,
            alerted: false,
            reasons: Vec::new(),
        });
        score.value = decayed(score.value, score.at_ms, now, settings.score_half_life_s) + weight;
        score.at_ms = now;
        if !score.reasons.contains(&reason) {
            score.reasons.push(reason);
        }
    }

    fn report_scores(&mut self, settings: &Settings, now: u64, events: &mut Events) {
        for score in self.scores.values_mut() {
            score.value = decayed(score.value, score.at_ms, now, settings.score_half_life_s);
            score.at_ms = now;
        }
        self.scores.retain(|_, s| s.value >= 1.0);
        let mut ranked: Vec<(&String, &mut Score)> = self.scores.iter_mut().collect();
        ranked.sort_by(|a, b| b.1.value.total_cmp(&a.1.value));
        for (rank, (account, score)) in ranked.into_iter().enumerate() {
            if rank < SCORED_ACCOUNTS {
                events
                    .out
                    .gauge("suspicion_score", score.value.round())
                    .tag("account_id", account.clone());
            }
            if score.value >= settings.score_alert && !score.alerted {
                score.alerted = true;
                events.push(
                    "suspicious_account",
                    Severity::Critical,
                    "an account's suspicion score crossed the alert level",
                    &[
                        ("account_id", account.clone()),
                        ("score", format!("{:.0}", score.value)),
                        ("reasons", score.reasons.join(",")),
                    ],
                );
            } else if score.value < settings.score_alert / 2.0 {
                score.alerted = false;
            }
        }
    }
}

/// Fill in the account from the character's name or id, or the name from
/// the character id, when the main database is granted (best effort: the
/// line is reported either way).
fn identify(settings: &Settings, finding: &mut console::Finding) {
    let (statement, key) = match (&finding.account_id, &finding.character, &finding.char_id) {
        (None, Some(name), _) => ("SELECT account_id, name FROM `char` WHERE name = ?", name),
        (None, None, Some(id)) => ("SELECT account_id, name FROM `char` WHERE char_id = ?", id),
        _ => return,
    };
    if let Ok(result) = sql::query(&settings.main, statement, &[Value::Text(key.clone())])
        && let Some(row) = result.rows.first()
    {
        finding.account_id = row[0].to_text();
        if finding.character.is_none() {
            finding.character = row[1].to_text();
        }
    }
}

/// `value` after `now - then` of exponential decay with `half_life_s`.
fn decayed(value: f64, then: u64, now: u64, half_life_s: f64) -> f64 {
    if half_life_s <= 0.0 {
        return value;
    }
    let elapsed = now.saturating_sub(then) as f64 / 1000.0;
    value * 0.5f64.powf(elapsed / half_life_s)
}

export_plugin!(AntiCheatPlugin);

/// How much of `resource` (items or zeny) entered the world in the log rows
/// after `after` up to `up_to` of `table`, as the rules count it.
fn entered(
    settings: &Settings,
    resource: &str,
    table: &str,
    after: i64,
    up_to: i64,
) -> Result<i64, String> {
    let logs = &settings.logs;
    let result = sql::query(
        logs,
        &per_type_sums(table),
        &[Value::Int(after), Value::Int(up_to)],
    )
    .map_err(|e| sql_error(logs, e))?;
    Ok(read_sums(&result.rows)
        .iter()
        .map(|sums| match resource {
            "items" => settings.items.entered(sums.kind, sums.given, sums.taken),
            _ if settings.created_zeny.contains(&sums.kind) => sums.taken,
            _ => 0,
        })
        .sum())
}

/// The character who gained most of `resource` in those rows: the character
/// side of the creating rows (monster drops, steals and MVP prizes reach the
/// player as `P` rows; the monster-side rows carry the monster's id).
fn top_gainer(
    settings: &Settings,
    resource: &str,
    table: &str,
    after: i64,
    up_to: i64,
) -> Result<Option<sql::QueryResult>, String> {
    let logs = &settings.logs;
    let gaining: Vec<String> = if resource == "items" {
        settings
            .items
            .created
            .iter()
            .chain(['P'].iter().filter(|_| !settings.items.monster.is_empty()))
            .map(char::to_string)
            .collect()
    } else {
        settings.created_zeny.iter().map(char::to_string).collect()
    };
    if gaining.is_empty() {
        return Ok(None);
    }
    let mut params = vec![Value::Int(after), Value::Int(up_to)];
    params.extend(gaining.iter().map(|t| Value::Text(t.clone())));
    sql::query(
        logs,
        &format!(
            "SELECT char_id, SUM(amount) FROM `{table}` WHERE id > ? AND id <= ? \
             AND amount > 0 AND `type` IN ({}) GROUP BY char_id ORDER BY 2 DESC LIMIT 1",
            placeholders(gaining.len())
        ),
        &params,
    )
    .map(Some)
    .map_err(|e| sql_error(logs, e))
}

/// How a console finding seen `count` times in one collect is reported: its
/// severity, message and weight in the account's score.
fn judge(settings: &Settings, kind: &str, count: u32) -> (Severity, &'static str, f64) {
    match kind {
        "ddos_detected" => (
            Severity::Critical,
            "the map-server detected a DDoS attack",
            0.0,
        ),
        "char_server_lost" => (
            Severity::Critical,
            "the map-server lost its char-server: players cannot log in until it reconnects",
            0.0,
        ),
        _ if count >= settings.packet_burst => (
            Severity::Critical,
            "a burst of bad packets reached the map-server",
            0.0,
        ),
        "malformed_packet" => (
            Severity::Warning,
            "a player's client sent a malformed packet",
            settings.score_malformed_packet,
        ),
        _ => (
            Severity::Warning,
            "the map-server dropped a session for a bad packet",
            0.0,
        ),
    }
}

#[cfg(test)]
mod mock_tests;
