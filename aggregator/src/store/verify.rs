//! The gap search behind `verify-metrics` (`ops::verify`): which series
//! have gaps in a recent window, and which went silent, since when, from
//! each series' raw points (head and chunks, [`super::chunks::raw_points`]).

use rusqlite::Connection;
use serde::Serialize;

use super::StoreError;

/// One finding.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Gap {
    pub host: String,
    pub metric: String,
    /// The series' tags, as stored (JSON).
    pub tags: String,
    /// The last point before the gap.
    pub from_ms: i64,
    /// The first point after it; `None` while the series is still silent.
    pub until_ms: Option<i64>,
}

/// What `verify` looked at and found.
#[derive(Debug, Default, Serialize)]
pub struct Report {
    pub series: i64,
    pub gaps: Vec<Gap>,
}

/// Gaps in `[now - window, now]` longer than `max_gap_ms`, optionally for
/// one host. A series counts if it has a point in the window.
pub fn verify(
    conn: &Connection,
    now_ms: i64,
    window_ms: i64,
    max_gap_ms: i64,
    host: Option<&str>,
) -> Result<Report, StoreError> {
    let since = now_ms - window_ms;
    let series: Vec<(i64, String, String, String)> = conn
        .prepare(
            "SELECT id, host_id, name, tags FROM series WHERE (?1 IS NULL OR host_id = ?1)
              ORDER BY host_id, name, tags",
        )?
        .query_map([host], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))?
        .collect::<Result<_, _>>()?;
    let mut report = Report::default();
    for (id, host, metric, tags) in series {
        let points = super::chunks::raw_points(conn, id, since, i64::MAX)?;
        let Some(&(last, _)) = points.last() else {
            continue;
        };
        report.series += 1;
        let gap = |from_ms, until_ms| Gap {
            host: host.clone(),
            metric: metric.clone(),
            tags: tags.clone(),
            from_ms,
            until_ms,
        };
        for pair in points.windows(2) {
            if pair[1].0 - pair[0].0 > max_gap_ms {
                report.gaps.push(gap(pair[0].0, Some(pair[1].0)));
            }
        }
        if last < now_ms - max_gap_ms {
            report.gaps.push(gap(last, None));
        }
    }
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gaps_inside_the_window_and_silent_series_are_found() -> Result<(), StoreError> {
        let conn = Connection::open_in_memory()?;
        conn.execute_batch(
            "CREATE TABLE series (id INTEGER PRIMARY KEY, host_id TEXT, name TEXT, tags TEXT);
             INSERT INTO series VALUES (1, 'a', 'cpu_usage', '{}'), (2, 'b', 'cpu_usage', '{}'),
                                       (3, 'a', 'player_count', '{\"map\":\"prontera\"}');",
        )?;
        conn.execute_batch(super::super::head::SCHEMA)?;
        let now = 1_000_000;
        let tx = conn.unchecked_transaction()?;
        let add = |series: i64, ts: i64| {
            let host = if series == 2 { "b" } else { "a" };
            super::super::head::insert(&tx, host, &[(series, ts, 1.0)])
        };
        // a: every 5 s, but nothing between 930 s and 960 s.
        for ts in (900_000..=930_000)
            .step_by(5_000)
            .chain((960_000..=1_000_000).step_by(5_000))
        {
            add(1, ts)?;
        }
        // b: regular, then silent since 950 s.
        for ts in (900_000..=950_000).step_by(5_000) {
            add(2, ts)?;
        }
        // a's map: regular to the end.
        for ts in (900_000..=1_000_000).step_by(5_000) {
            add(3, ts)?;
        }
        tx.commit()?;
        let report = verify(&conn, now, 100_000, 15_000, None)?;
        assert_eq!(report.series, 3);
        assert_eq!(report.gaps.len(), 2, "{:?}", report.gaps);
        assert_eq!(
            (report.gaps[0].host.as_str(), report.gaps[0].from_ms),
            ("a", 930_000)
        );
        assert_eq!(report.gaps[0].until_ms, Some(960_000));
        assert_eq!(
            (report.gaps[1].host.as_str(), report.gaps[1].from_ms),
            ("b", 950_000)
        );
        assert_eq!(report.gaps[1].until_ms, None);
        let only_a = verify(&conn, now, 100_000, 15_000, Some("a"))?;
        assert_eq!((only_a.series, only_a.gaps.len()), (2, 1));
        Ok(())
    }
}
