//! `report uptime`: each rAthena server's uptime over a month (or any range
//! of UTC days), as an SLA counts it (see [`crate::uptime`]): from the
//! store's minute rollups of `server_up`, maintenance windows published on
//! the status page left out. Read-only: safe beside a running aggregator.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use anyhow::{Context, bail};
use serde::Serialize;

use crate::clock::now_ms;
use crate::config::AggregatorConfig;
use crate::status_page::days::{self, Source};
use crate::store::schema;
use crate::store::status;
use crate::uptime::{DAY_MS, MINUTE_MS, Span};

/// One server's month.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Row {
    pub host: String,
    pub server: String,
    /// Its name on the status page, if it is listed.
    pub name: Option<String>,
    pub figures: Figures,
}

/// What a period's account says, in minutes.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Figures {
    /// Up over counted time; `None` when nothing was counted.
    pub uptime: Option<f64>,
    pub down_minutes: f64,
    pub no_data_minutes: f64,
    pub maintenance_minutes: f64,
    pub incidents: usize,
    pub longest_incident_minutes: f64,
}

/// `YYYY-MM` as the span of that month (UTC).
pub fn month(text: &str) -> anyhow::Result<Span> {
    let bad = || format!("{text:?} is not a month (YYYY-MM, e.g. 2026-11)");
    let (year, month) = text.split_once('-').with_context(bad)?;
    let year: i32 = year
        .parse()
        .ok()
        .filter(|_| year.len() == 4)
        .with_context(bad)?;
    let month: u8 = month
        .parse()
        .ok()
        .filter(|_| month.len() == 2)
        .with_context(bad)?;
    let month = time::Month::try_from(month).ok().with_context(bad)?;
    let start = time::Date::from_calendar_date(year, month, 1)
        .ok()
        .with_context(bad)?;
    let next = match month {
        time::Month::December => time::Date::from_calendar_date(year + 1, time::Month::January, 1),
        _ => time::Date::from_calendar_date(year, month.next(), 1),
    }
    .ok()
    .with_context(bad)?;
    let ms = |d: time::Date| d.midnight().assume_utc().unix_timestamp() * 1000;
    Ok(Span {
        start_ms: ms(start),
        end_ms: ms(next),
    })
}

/// `YYYY-MM-DD` (UTC) as Unix ms of its midnight.
pub fn day(text: &str) -> anyhow::Result<i64> {
    let bad = || format!("{text:?} is not a day (YYYY-MM-DD, e.g. 2026-11-30)");
    let (month_text, day) = text.rsplit_once('-').with_context(bad)?;
    let start = month(month_text).with_context(bad)?;
    let day: i64 = day
        .parse()
        .ok()
        .filter(|_| day.len() == 2)
        .with_context(bad)?;
    let at = start.start_ms + (day - 1) * DAY_MS;
    if day < 1 || at >= start.end_ms {
        bail!(bad());
    }
    Ok(at)
}

/// `period` cut at the last whole minute; an error when nothing is left.
pub fn so_far(period: Span) -> anyhow::Result<Span> {
    if period.end_ms <= period.start_ms {
        bail!("the period is empty: its end is not after its start");
    }
    let until = now_ms().div_euclid(MINUTE_MS) * MINUTE_MS;
    let period = Span {
        start_ms: period.start_ms,
        end_ms: period.end_ms.min(until),
    };
    if period.end_ms <= period.start_ms {
        bail!("the period has not begun yet");
    }
    Ok(period)
}

/// Every `server_up` series' account over `period` (cut at the last whole
/// minute when it runs into the future).
pub fn report(config: &AggregatorConfig, period: Span) -> anyhow::Result<Vec<Row>> {
    let period = so_far(period)?;
    let path = config.store_path();
    let conn = schema::open_read_only(&path)
        .with_context(|| format!("cannot open the store at {}", path.display()))?;
    Ok(rows(&conn, config, period)?)
}

/// [`report`] on an open connection (the API reads through the store's
/// readers), `period` already cut at the last whole minute.
pub fn rows(
    conn: &rusqlite::Connection,
    config: &AggregatorConfig,
    period: Span,
) -> Result<Vec<Row>, crate::store::StoreError> {
    // A store written before the status page has no posts table.
    let posts = status::posts(conn, period.start_ms - DAY_MS).unwrap_or_default();
    let by_source = days::maintenance(&config.status_page, &posts);
    let mut names: BTreeMap<Source, String> = BTreeMap::new();
    for server in config.status_page.servers() {
        names
            .entry(days::source(server))
            .or_insert_with(|| server.name.clone());
    }
    let accounts = days::report(conn, period, &by_source)?;
    let minutes = |ms: f64| ms / MINUTE_MS as f64;
    Ok(accounts
        .into_iter()
        .map(|(source, account)| Row {
            name: names.get(&source).cloned(),
            figures: Figures {
                uptime: account.tally.uptime(),
                down_minutes: minutes(account.tally.down_ms),
                no_data_minutes: minutes(account.tally.no_data_ms),
                maintenance_minutes: minutes(account.tally.maintenance_ms),
                incidents: account.incidents.len(),
                longest_incident_minutes: account
                    .worst()
                    .map_or(0.0, |w| minutes(w.duration_ms() as f64)),
            },
            host: source.host,
            server: source.server,
        })
        .collect())
}

const HEADER: [&str; 9] = [
    "host",
    "server",
    "name",
    "uptime_percent",
    "down_minutes",
    "no_data_minutes",
    "maintenance_minutes",
    "incidents",
    "longest_incident_minutes",
];

fn percent(uptime: Option<f64>) -> String {
    uptime.map_or_else(|| "-".to_string(), |u| format!("{:.3}", u * 100.0))
}

/// A table for the terminal.
pub fn text(label: &str, rows: &[Row]) -> String {
    let mut out = format!("Uptime, {label} (UTC; no data counts as down; maintenance left out)\n");
    if rows.is_empty() {
        out.push_str("no server_up series in the store (the game plugin reports them)\n");
        return out;
    }
    let _ = writeln!(
        out,
        "{:<24} {:<6} {:<24} {:>9} {:>8} {:>8} {:>8} {:>9} {:>8}",
        "host", "server", "name", "uptime %", "down", "no data", "maint.", "incidents", "longest"
    );
    for row in rows {
        let _ = writeln!(
            out,
            "{:<24} {:<6} {:<24} {:>9} {:>8.0} {:>8.0} {:>8.0} {:>9} {:>8.0}",
            row.host,
            row.server,
            row.name.as_deref().unwrap_or("-"),
            percent(row.figures.uptime),
            row.figures.down_minutes,
            row.figures.no_data_minutes,
            row.figures.maintenance_minutes,
            row.figures.incidents,
            row.figures.longest_incident_minutes
        );
    }
    out.push_str("(minutes)\n");
    out
}

/// The same as CSV, one header line.
pub fn csv(rows: &[Row]) -> anyhow::Result<String> {
    let mut writer = ::csv::Writer::from_writer(Vec::new());
    writer.write_record(HEADER)?;
    for row in rows {
        writer.write_record([
            row.host.clone(),
            row.server.clone(),
            row.name.clone().unwrap_or_default(),
            row.figures
                .uptime
                .map_or(String::new(), |u| format!("{:.5}", u * 100.0)),
            format!("{:.1}", row.figures.down_minutes),
            format!("{:.1}", row.figures.no_data_minutes),
            format!("{:.1}", row.figures.maintenance_minutes),
            row.figures.incidents.to_string(),
            format!("{:.1}", row.figures.longest_incident_minutes),
        ])?;
    }
    Ok(String::from_utf8(writer.into_inner()?)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn months_and_days_parse_to_utc_spans() {
        let november = month("2026-11").expect("month");
        assert_eq!(november.start_ms, day("2026-11-01").expect("day"));
        assert_eq!(november.end_ms, day("2026-12-01").expect("day"));
        assert_eq!(november.duration_ms(), 30 * DAY_MS);
        let december = month("2026-12").expect("month");
        assert_eq!(december.end_ms, day("2027-01-01").expect("day"));
        for bad in ["2026-13", "2026-1", "26-11", "november", "2026-00", ""] {
            let error = month(bad).expect_err(bad).to_string();
            assert!(error.contains("YYYY-MM"), "{bad}: {error}");
        }
        assert!(day("2026-02-30").is_err());
    }
}
