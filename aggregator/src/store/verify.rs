//! The gap queries behind `verify-metrics` (`ops::verify`): which series
//! have gaps in a recent window, and which went silent, since when, found
//! with a window function over the points.

use rusqlite::Connection;
use serde::Serialize;

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
/// one host.
pub fn verify(
    conn: &Connection,
    now_ms: i64,
    window_ms: i64,
    max_gap_ms: i64,
    host: Option<&str>,
) -> rusqlite::Result<Report> {
    let since = now_ms - window_ms;
    let host = host.unwrap_or("");
    let series: i64 = conn.query_row(
        "SELECT COUNT(DISTINCT p.series_id) FROM points p JOIN series s ON s.id = p.series_id
         WHERE p.ts >= ?1 AND (?2 = '' OR s.host_id = ?2)",
        rusqlite::params![since, host],
        |r| r.get(0),
    )?;
    let mut gaps = Vec::new();
    let mut inside = conn.prepare(
        "SELECT s.host_id, s.name, s.tags, g.prev_ts, g.ts
         FROM (SELECT series_id, ts, LAG(ts) OVER (PARTITION BY series_id ORDER BY ts) AS prev_ts
               FROM points WHERE ts >= ?1) g
         JOIN series s ON s.id = g.series_id
         WHERE g.prev_ts IS NOT NULL AND g.ts - g.prev_ts > ?2 AND (?3 = '' OR s.host_id = ?3)",
    )?;
    let rows = inside.query_map(rusqlite::params![since, max_gap_ms, host], |r| {
        Ok(Gap {
            host: r.get(0)?,
            metric: r.get(1)?,
            tags: r.get(2)?,
            from_ms: r.get(3)?,
            until_ms: Some(r.get(4)?),
        })
    })?;
    for gap in rows {
        gaps.push(gap?);
    }
    let mut silent = conn.prepare(
        "SELECT s.host_id, s.name, s.tags, MAX(p.ts) AS last
         FROM points p JOIN series s ON s.id = p.series_id
         WHERE p.ts >= ?1 AND (?3 = '' OR s.host_id = ?3)
         GROUP BY p.series_id HAVING last < ?2",
    )?;
    let rows = silent.query_map(rusqlite::params![since, now_ms - max_gap_ms, host], |r| {
        Ok(Gap {
            host: r.get(0)?,
            metric: r.get(1)?,
            tags: r.get(2)?,
            from_ms: r.get(3)?,
            until_ms: None,
        })
    })?;
    for gap in rows {
        gaps.push(gap?);
    }
    gaps.sort_by(|a, b| {
        (&a.host, &a.metric, &a.tags, a.from_ms).cmp(&(&b.host, &b.metric, &b.tags, b.from_ms))
    });
    Ok(Report { series, gaps })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gaps_inside_the_window_and_silent_series_are_found() -> rusqlite::Result<()> {
        let conn = Connection::open_in_memory()?;
        conn.execute_batch(
            "CREATE TABLE series (id INTEGER PRIMARY KEY, host_id TEXT, name TEXT, tags TEXT);
             CREATE TABLE points (id INTEGER PRIMARY KEY, series_id INTEGER, ts INTEGER, value REAL);
             INSERT INTO series VALUES (1, 'a', 'cpu_usage', '{}'), (2, 'b', 'cpu_usage', '{}'),
                                       (3, 'a', 'player_count', '{\"map\":\"prontera\"}');",
        )?;
        let now = 1_000_000;
        let add = |series: i64, ts: i64| {
            conn.execute(
                "INSERT INTO points (series_id, ts, value) VALUES (?1, ?2, 1)",
                [series, ts],
            )
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
