//! Player-count history: per host (its untagged `player_count`, the
//! map-server's total) and per map (`player_count{map}` of every host that
//! served it), each UTC day's peak and average, from the hour rollups.
//!
//! A map runs on one host at a time (the coordinator assigns it; a failover
//! moves it), so a map's day is the union of its hosts' samples: its peak
//! the highest of theirs, its average their sum over their count.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::store::DailyRow;

/// One day of one host or map.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct PlayerDay {
    pub day: String,
    pub peak: f64,
    pub average: f64,
}

/// A host's or a map's days (those with data), oldest first, and over the
/// whole period its peak and average, and the average of its last 7 days
/// against the 7 before them (`null` without both weeks).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct PlayerTrend {
    pub peak: f64,
    pub average: f64,
    pub week_change_percent: Option<f64>,
    pub days: Vec<PlayerDay>,
}

#[derive(Clone, Debug, Default)]
struct Acc {
    max: f64,
    sum: f64,
    count: i64,
}

impl Acc {
    fn add(&mut self, row: &DailyRow) {
        self.max = if self.count == 0 {
            row.max
        } else {
            self.max.max(row.max)
        };
        self.sum += row.sum;
        self.count += row.count;
    }
}

/// Per host and per map, from `rows` (the store's daily rows of
/// `player_count`); `today_ms` is the start of the period's last day.
pub fn history(
    rows: &[DailyRow],
    today_ms: i64,
    day_name: impl Fn(i64) -> String,
) -> (BTreeMap<String, PlayerTrend>, BTreeMap<String, PlayerTrend>) {
    let mut hosts: BTreeMap<String, BTreeMap<i64, Acc>> = BTreeMap::new();
    let mut maps: BTreeMap<String, BTreeMap<i64, Acc>> = BTreeMap::new();
    for row in rows {
        let target = match row.tags.get("map") {
            Some(map) => maps.entry(map.clone()).or_default(),
            None if row.tags.is_empty() => hosts.entry(row.host.clone()).or_default(),
            None => continue,
        };
        target.entry(row.day_ms).or_default().add(row);
    }
    let trend = |days: BTreeMap<i64, Acc>| {
        let mut whole = Acc::default();
        let mut weeks = [Acc::default(), Acc::default()];
        let days: Vec<PlayerDay> = days
            .into_iter()
            .filter(|(_, a)| a.count > 0)
            .map(|(day, acc)| {
                let back = (today_ms - day) / crate::uptime::DAY_MS;
                if let Some(week) = weeks.get_mut((back / 7) as usize) {
                    week.sum += acc.sum;
                    week.count += acc.count;
                }
                whole.max = whole.max.max(acc.max);
                whole.sum += acc.sum;
                whole.count += acc.count;
                PlayerDay {
                    day: day_name(day),
                    peak: acc.max,
                    average: acc.sum / acc.count as f64,
                }
            })
            .collect();
        let mean = |a: &Acc| (a.count > 0).then(|| a.sum / a.count as f64);
        let week_change_percent = match (mean(&weeks[0]), mean(&weeks[1])) {
            (Some(last), Some(before)) if before > 0.0 => Some((last - before) / before * 100.0),
            _ => None,
        };
        PlayerTrend {
            peak: whole.max,
            average: mean(&whole).unwrap_or(0.0),
            week_change_percent,
            days,
        }
    };
    (
        hosts.into_iter().map(|(k, v)| (k, trend(v))).collect(),
        maps.into_iter().map(|(k, v)| (k, trend(v))).collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    const DAY: i64 = crate::uptime::DAY_MS;

    fn row(host: &str, map: Option<&str>, day: i64, max: f64, sum: f64, count: i64) -> DailyRow {
        DailyRow {
            host: host.to_string(),
            tags: map
                .map(|m| [("map".to_string(), m.to_string())].into())
                .unwrap_or_default(),
            day_ms: day * DAY,
            max,
            sum,
            count,
        }
    }

    #[test]
    fn a_map_moved_between_hosts_is_one_series_and_weeks_compare() {
        let today = 20;
        let mut rows = vec![
            // prontera on host a in the morning, b after a failover.
            row("a", Some("prontera"), today, 40.0, 300.0, 10),
            row("b", Some("prontera"), today, 55.0, 500.0, 10),
            row("a", None, today, 60.0, 400.0, 10),
            // The same map counted from another source: still prontera.
            row("b", Some("prontera"), today - 1, 5.0, 10.0, 2),
            // Tagged otherwise: neither a host total nor a map.
            row("a", None, today - 1, 1.0, 1.0, 1),
        ];
        rows[3].tags.insert("source".into(), "npc_table".into());
        rows[4].tags.insert("zone".into(), "z".into());
        // Two weeks of host b's total: 10 a sample, then 15.
        for back in 0..14 {
            let per = if back < 7 { 15.0 } else { 10.0 };
            rows.push(row("b", None, today - back, per, per * 10.0, 10));
        }
        let (hosts, maps) = history(&rows, today * DAY, |d| (d / DAY).to_string());
        let prontera = &maps["prontera"];
        assert_eq!(prontera.days.len(), 2);
        assert_eq!(prontera.days[1].peak, 55.0, "the higher of the two hosts");
        assert_eq!(prontera.days[1].average, 40.0, "800 over 20 samples");
        assert_eq!(prontera.days[0].average, 5.0);
        assert_eq!(maps.len(), 1);
        assert_eq!(hosts["a"].peak, 60.0);
        assert_eq!(
            hosts["a"].days.len(),
            1,
            "the zone-tagged row is not a's total"
        );
        assert_eq!(hosts["a"].week_change_percent, None, "one week only");
        let b = &hosts["b"];
        assert_eq!(b.days.len(), 14);
        assert!(
            (b.week_change_percent.unwrap_or(0.0) - 50.0).abs() < 1e-9,
            "{b:?}"
        );
        assert!((b.average - 12.5).abs() < 1e-9);
    }
}
