//! Uptime as an SLA counts it, from a server's `server_up` minutes: each
//! minute with data is up for its share of samples that said 1 (a server
//! flapping within a minute is up part of it), a minute without data
//! counts as down (no data from a host is no game for its players) and is
//! shown apart, and minutes inside a maintenance window are left out. A
//! server is counted from its first minute with data, so a host that joined
//! mid-month is not down before it existed.
//!
//! Pure: the caller reads the minutes and windows from the store.

use serde::Serialize;

/// One minute of `server_up`: the mean of its samples (1 up, 0 down).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Minute {
    /// Start of the minute, Unix ms (a multiple of [`MINUTE_MS`]).
    pub start_ms: i64,
    pub up: f64,
}

pub const MINUTE_MS: i64 = 60_000;
pub const DAY_MS: i64 = 86_400_000;

/// A time range, start included, end excluded (Unix ms).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct Span {
    pub start_ms: i64,
    pub end_ms: i64,
}

impl Span {
    pub fn duration_ms(&self) -> i64 {
        self.end_ms - self.start_ms
    }

    fn contains(&self, ms: i64) -> bool {
        (self.start_ms..self.end_ms).contains(&ms)
    }
}

/// Where the time of a period went, in ms.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize)]
pub struct Tally {
    pub up_ms: f64,
    pub down_ms: f64,
    /// Counted as down too; shown apart.
    pub no_data_ms: f64,
    /// Left out of the figure.
    pub maintenance_ms: f64,
}

impl Tally {
    /// Up time over the time counted; `None` when nothing was counted.
    pub fn uptime(&self) -> Option<f64> {
        let counted = self.up_ms + self.down_ms + self.no_data_ms;
        (counted > 0.0).then(|| self.up_ms / counted)
    }

    fn add(&mut self, other: &Tally) {
        self.up_ms += other.up_ms;
        self.down_ms += other.down_ms;
        self.no_data_ms += other.no_data_ms;
        self.maintenance_ms += other.maintenance_ms;
    }
}

/// A period's tally and its incidents: runs of minutes not wholly up
/// (down for part of the minute or without data), outside maintenance.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Account {
    pub tally: Tally,
    pub incidents: Vec<Span>,
}

impl Account {
    /// The longest incident (of equally long ones, the first).
    pub fn worst(&self) -> Option<Span> {
        self.incidents
            .iter()
            .copied()
            .min_by_key(|s| (-s.duration_ms(), s.start_ms))
    }
}

/// Account for `period` from `minutes` (in time order, any gaps) and the
/// maintenance windows, counting from the first minute with data.
pub fn account(minutes: &[Minute], period: Span, maintenance: &[Span]) -> Account {
    match minutes.first() {
        Some(first) => account_from(minutes, period, maintenance, first.start_ms),
        None => Account::default(),
    }
}

/// [`account`] counting from `counted_from` (the server's first minute
/// ever, which may be before `minutes`: a day without any data of a server
/// that existed before it is a day without data, not a day not counted).
pub fn account_from(
    minutes: &[Minute],
    period: Span,
    maintenance: &[Span],
    counted_from: i64,
) -> Account {
    let mut account = Account::default();
    let start = period.start_ms.max(floor(counted_from));
    let mut next = minutes.partition_point(|m| m.start_ms < start);
    let mut open: Option<Span> = None;
    let mut slot = floor(start);
    while slot < period.end_ms {
        let length = (slot + MINUTE_MS).min(period.end_ms) - slot.max(start);
        let length = length as f64;
        while next < minutes.len() && minutes[next].start_ms < slot {
            next += 1;
        }
        let sample = minutes
            .get(next)
            .filter(|m| m.start_ms == slot)
            .map(|m| m.up.clamp(0.0, 1.0));
        let fully_up = if maintenance.iter().any(|w| w.contains(slot)) {
            account.tally.maintenance_ms += length;
            true
        } else if let Some(up) = sample {
            account.tally.up_ms += up * length;
            account.tally.down_ms += (1.0 - up) * length;
            up >= 1.0
        } else {
            account.tally.no_data_ms += length;
            false
        };
        match (&mut open, fully_up) {
            (Some(incident), false) => incident.end_ms = slot + MINUTE_MS,
            (None, false) => {
                open = Some(Span {
                    start_ms: slot,
                    end_ms: slot + MINUTE_MS,
                })
            }
            (Some(_), true) => account.incidents.extend(open.take()),
            (None, true) => {}
        }
        slot += MINUTE_MS;
    }
    account.incidents.extend(open);
    for incident in &mut account.incidents {
        incident.end_ms = incident.end_ms.min(period.end_ms);
    }
    account
}

/// [`account`] for each UTC day of `period`, in order, and the whole.
pub fn by_day(
    minutes: &[Minute],
    period: Span,
    maintenance: &[Span],
) -> (Vec<(i64, Account)>, Account) {
    let from = minutes.first().map_or(i64::MAX, |m| m.start_ms);
    by_day_from(minutes, period, maintenance, from)
}

/// [`by_day`] counting from `counted_from` (see [`account_from`]).
pub fn by_day_from(
    minutes: &[Minute],
    period: Span,
    maintenance: &[Span],
    counted_from: i64,
) -> (Vec<(i64, Account)>, Account) {
    let mut days = Vec::new();
    let mut whole = Account::default();
    let mut day = period.start_ms.div_euclid(DAY_MS) * DAY_MS;
    while day < period.end_ms {
        let span = Span {
            start_ms: day.max(period.start_ms),
            end_ms: (day + DAY_MS).min(period.end_ms),
        };
        let one = account_from(minutes, span, maintenance, counted_from);
        whole.tally.add(&one.tally);
        // An incident across midnight is one incident of the whole.
        for incident in &one.incidents {
            match whole.incidents.last_mut() {
                Some(last) if last.end_ms == incident.start_ms => last.end_ms = incident.end_ms,
                _ => whole.incidents.push(*incident),
            }
        }
        days.push((day, one));
        day += DAY_MS;
    }
    (days, whole)
}

fn floor(ms: i64) -> i64 {
    ms.div_euclid(MINUTE_MS) * MINUTE_MS
}

#[cfg(test)]
mod tests {
    use super::*;

    const T0: i64 = 1_764_547_200_000; // 2025-12-01T00:00:00Z

    fn minutes(from: i64, values: &[f64]) -> Vec<Minute> {
        values
            .iter()
            .enumerate()
            .map(|(i, &up)| Minute {
                start_ms: from + i as i64 * MINUTE_MS,
                up,
            })
            .collect()
    }

    fn span(from_min: i64, to_min: i64) -> Span {
        Span {
            start_ms: T0 + from_min * MINUTE_MS,
            end_ms: T0 + to_min * MINUTE_MS,
        }
    }

    #[test]
    fn gaps_count_as_down_and_are_shown_apart() {
        // 10 minutes up, 5 without data, 5 down, 10 up.
        let mut history = minutes(T0, &[1.0; 10]);
        history.extend(minutes(T0 + 15 * MINUTE_MS, &[0.0; 5]));
        history.extend(minutes(T0 + 20 * MINUTE_MS, &[1.0; 10]));
        let got = account(&history, span(0, 30), &[]);
        assert_eq!(got.tally.up_ms, 20.0 * 60_000.0);
        assert_eq!(got.tally.no_data_ms, 5.0 * 60_000.0);
        assert_eq!(got.tally.down_ms, 5.0 * 60_000.0);
        assert_eq!(got.tally.uptime(), Some(20.0 / 30.0));
        // The gap and the down minutes are one incident.
        assert_eq!(got.incidents, vec![span(10, 20)]);
    }

    #[test]
    fn maintenance_is_left_out_and_ends_no_incident_early() {
        // Down from minute 5 to 15; maintenance announced for 8 to 12.
        let mut values = vec![1.0; 20];
        values[5..15].fill(0.0);
        let history = minutes(T0, &values);
        let got = account(&history, span(0, 20), &[span(8, 12)]);
        assert_eq!(got.tally.maintenance_ms, 4.0 * 60_000.0);
        assert_eq!(got.tally.down_ms, 6.0 * 60_000.0);
        assert_eq!(got.tally.uptime(), Some(10.0 / 16.0));
        assert_eq!(got.incidents, vec![span(5, 8), span(12, 15)]);
        assert_eq!(got.worst(), Some(span(5, 8)));
    }

    #[test]
    fn a_flapping_server_is_up_for_its_share_of_each_minute() {
        // Up 3 samples out of 12, every minute.
        let history = minutes(T0, &[0.25; 60]);
        let got = account(&history, span(0, 60), &[]);
        assert!((got.tally.uptime().unwrap_or(0.0) - 0.25).abs() < 1e-9);
        assert_eq!(got.incidents, vec![span(0, 60)], "flapping is one incident");
    }

    #[test]
    fn a_server_counts_from_its_first_minute_and_days_split_at_midnight() {
        // First seen at 23:00 on day 0, down from 23:50 to 00:10, then up.
        let start = T0 + 23 * 60 * MINUTE_MS;
        let mut values = vec![1.0; 120];
        values[50..70].fill(0.0);
        let history = minutes(start, &values);
        let period = Span {
            start_ms: T0,
            end_ms: T0 + 2 * DAY_MS,
        };
        let (days, whole) = by_day(&history, period, &[]);
        assert_eq!(days.len(), 2);
        assert_eq!(
            days[0].1.tally.up_ms,
            50.0 * 60_000.0,
            "nothing before 23:00"
        );
        assert_eq!(days[0].1.tally.down_ms, 10.0 * 60_000.0);
        // Day 1: 10 down, 50 up, then no data for the rest of the day.
        assert_eq!(days[1].1.tally.no_data_ms, (24.0 * 60.0 - 60.0) * 60_000.0);
        let across = Span {
            start_ms: start + 50 * MINUTE_MS,
            end_ms: start + 70 * MINUTE_MS,
        };
        assert_eq!(whole.incidents[0], across, "one incident across midnight");
        assert_eq!(account(&[], period, &[]).tally.uptime(), None);
        // Counted from before: a day without any data is a day down.
        let silent = account_from(&[], period, &[], T0 - DAY_MS);
        assert_eq!(silent.tally.no_data_ms, 2.0 * DAY_MS as f64);
        assert_eq!(silent.incidents, vec![period]);
    }
}
