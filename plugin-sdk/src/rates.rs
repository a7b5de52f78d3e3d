//! Per-second rates of counters over a plugin's own interval.
//!
//! The host's snapshot gives byte counters and a rate over its short refresh
//! window (a few seconds). A plugin that collects every 10 s and reports that
//! rate sees only part of each interval; [`IntervalRates`] remembers the
//! counters of the previous collect and divides the difference by the time
//! between the two, so the figure covers the whole interval.

use std::collections::HashMap;
use std::hash::Hash;

/// Counters seen at the previous collect, by key (for example interface and
/// direction), with the time they were read.
#[derive(Debug, Default)]
pub struct IntervalRates<K> {
    previous: Option<(u64, HashMap<K, u64>)>,
}

impl<K: Eq + Hash> IntervalRates<K> {
    pub fn new() -> Self {
        Self { previous: None }
    }

    /// Records `counters` read at `now_ms` and returns each key's rate per
    /// second since the previous call. A key gets `None` where there is no
    /// usable earlier reading: the first call, a key not seen before, no time
    /// elapsed, or a counter that went backwards (the interface was reset);
    /// the caller then falls back to the host's own short-window rate.
    pub fn update(
        &mut self,
        now_ms: u64,
        counters: impl IntoIterator<Item = (K, u64)>,
    ) -> Vec<(K, Option<f64>)>
    where
        K: Clone,
    {
        let current: Vec<(K, u64)> = counters.into_iter().collect();
        let previous = self.previous.take();
        let seconds = previous.as_ref().map_or(0.0, |(then, _)| {
            now_ms.saturating_sub(*then) as f64 / 1000.0
        });
        let rates = current
            .iter()
            .map(|(key, now)| {
                let before = previous.as_ref().and_then(|(_, all)| all.get(key));
                let rate = match before {
                    Some(then) if seconds > 0.0 && now >= then => {
                        Some((now - then) as f64 / seconds)
                    }
                    _ => None,
                };
                (key.clone(), rate)
            })
            .collect();
        self.previous = Some((now_ms, current.into_iter().collect()));
        rates
    }
}

#[cfg(test)]
mod tests {
    use super::IntervalRates;

    #[test]
    fn the_rate_covers_the_time_between_two_readings() {
        let mut rates = IntervalRates::new();
        assert_eq!(rates.update(1_000, [("eth0", 100)]), vec![("eth0", None)]);
        // 10 s later, 50,000 bytes more: 5,000 per second.
        assert_eq!(
            rates.update(11_000, [("eth0", 50_100), ("eth1", 7)]),
            vec![("eth0", Some(5_000.0)), ("eth1", None)]
        );
        // A counter that went backwards has no rate; the next one does.
        assert_eq!(rates.update(12_000, [("eth0", 10)]), vec![("eth0", None)]);
        assert_eq!(
            rates.update(14_000, [("eth0", 2_010)]),
            vec![("eth0", Some(1_000.0))]
        );
        // No time elapsed (a clock that did not move): no rate.
        assert_eq!(
            rates.update(14_000, [("eth0", 3_000)]),
            vec![("eth0", None)]
        );
    }
}
