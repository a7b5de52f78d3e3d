//! Realistic series for measuring chunk codecs: what p2pmon's plugins
//! report for a host, with the precision they report it at.
//!
//! A host has [`SERIES_PER_HOST`] series, shaped after the metrics of
//! `plugins/system`, `plugins/network` and `plugins/game`: CPU as f32
//! percentages (sysinfo's type), memory and disk as full-precision ratios
//! of byte counts, load averages with two decimals (`/proc/loadavg`),
//! latencies to the microsecond, byte rates as a counter's increase over the
//! measured interval (full-precision floats), error counters, uptime,
//! player, monster and process counts, up/down flags, packet loss of ten
//! probes. Points are 5 s apart with the few milliseconds of jitter a
//! collect's clock reading has; the series of one plugin share timestamps.
//! Everything is drawn from a seeded generator: a (host, series) pair gives
//! the same points every time, so two stores can be fed the same data.

/// Series per host.
pub const SERIES_PER_HOST: usize = 50;
/// Collect interval.
pub const STEP_MS: i64 = 5_000;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Shape {
    /// Random walk in [0, 100], as f32.
    Percent32,
    /// Used bytes (random walk) over a total, as a percentage.
    MemoryRatio,
    /// Used bytes growing slowly, as a percentage.
    DiskRatio,
    /// Random walk, two decimals.
    Load,
    /// Around a base with noise, three decimals (ms to the microsecond).
    LatencyMs,
    /// A byte counter's increase over the measured interval, per second.
    ByteRate,
    /// A counter that rarely moves.
    Errors,
    /// Seconds since boot.
    Uptime,
    /// A small integer that wanders.
    Count,
    /// 1, now and then 0 for a while.
    Flag,
    /// Lost probes of ten, in percent.
    Loss,
    /// Mostly 0, sometimes a large integer.
    Bursts,
}

/// One series of a host: its metric name, its tags and what it looks like.
#[derive(Clone, Debug)]
pub struct Spec {
    pub name: &'static str,
    pub tags: Vec<(&'static str, String)>,
    /// Which plugin reports it (series of one plugin share timestamps).
    pub plugin: &'static str,
    shape: Shape,
}

fn spec(
    name: &'static str,
    tag: Option<(&'static str, &str)>,
    plugin: &'static str,
    shape: Shape,
) -> Spec {
    Spec {
        name,
        tags: tag.map(|(k, v)| (k, v.to_string())).into_iter().collect(),
        plugin,
        shape,
    }
}

/// The series every host has, in a fixed order.
pub fn specs() -> Vec<Spec> {
    use Shape::*;
    let mut out = vec![spec("cpu_usage", None, "system", Percent32)];
    for core in 0..4 {
        out.push(spec(
            "cpu_core_usage",
            Some(("core", &core.to_string())),
            "system",
            Percent32,
        ));
    }
    out.push(spec("memory_usage", None, "system", MemoryRatio));
    out.push(spec("swap_usage", None, "system", MemoryRatio));
    for mount in ["/", "/var", "/home"] {
        out.push(spec(
            "disk_usage",
            Some(("mount", mount)),
            "system",
            DiskRatio,
        ));
    }
    for period in ["1m", "5m", "15m"] {
        out.push(spec(
            "load_average",
            Some(("period", period)),
            "system",
            Load,
        ));
    }
    for (iface, dir) in [
        ("eth0", "rx"),
        ("eth0", "tx"),
        ("eth1", "rx"),
        ("eth1", "tx"),
    ] {
        out.push(spec(
            "network_io",
            Some(("interface", &format!("{iface}-{dir}"))),
            "system",
            ByteRate,
        ));
    }
    for iface in ["eth0", "eth1"] {
        out.push(spec(
            "network_errors",
            Some(("interface", iface)),
            "system",
            Errors,
        ));
    }
    out.push(spec("uptime", None, "system", Uptime));
    out.push(spec("process_count", None, "system", Count));
    for dir in ["rx", "tx"] {
        out.push(spec(
            "bandwidth_usage",
            Some(("direction", dir)),
            "network",
            ByteRate,
        ));
    }
    out.push(spec("connection_count", None, "network", Count));
    out.push(spec("connections_half_open", None, "network", Count));
    for peer in ["peer-a", "peer-b", "peer-c"] {
        out.push(spec(
            "network_latency",
            Some(("peer", peer)),
            "network",
            LatencyMs,
        ));
        out.push(spec(
            "network_jitter",
            Some(("peer", peer)),
            "network",
            LatencyMs,
        ));
        out.push(spec("packet_loss", Some(("peer", peer)), "network", Loss));
    }
    out.push(spec("player_count", None, "game", Count));
    for map in ["prontera", "geffen", "payon", "morocc"] {
        out.push(spec("player_count", Some(("map", map)), "game", Count));
        out.push(spec("mob_count", Some(("map", map)), "game", Count));
    }
    for server in ["login", "char", "map"] {
        out.push(spec("server_up", Some(("server", server)), "game", Flag));
    }
    for map in ["prontera", "geffen", "payon"] {
        out.push(spec("map_status", Some(("map", map)), "game", Flag));
    }
    out.push(spec("zeny_flow", None, "game", Bursts));
    debug_assert_eq!(out.len(), SERIES_PER_HOST);
    out
}

fn seed(host: usize, salt: u64) -> u64 {
    (host as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ salt.wrapping_mul(0xc2b2_ae3d_27d4_eb4f)
}

/// Roughly normal noise with standard deviation `sd`.
fn noise(rng: &mut fastrand::Rng, sd: f64) -> f64 {
    (rng.f64() + rng.f64() + rng.f64() - 1.5) * 2.0 * sd
}

/// The timestamps of `plugin`'s collects on `host`: `points` of them from
/// `start_ms`, [`STEP_MS`] apart with 0-15 ms of jitter.
pub fn timestamps(host: usize, plugin: &str, start_ms: i64, points: usize) -> Vec<i64> {
    let salt = plugin
        .bytes()
        .fold(7u64, |h, b| h.wrapping_mul(31).wrapping_add(u64::from(b)));
    let mut rng = fastrand::Rng::with_seed(seed(host, salt));
    (0..points)
        .map(|i| start_ms + i as i64 * STEP_MS + rng.i64(0..=15))
        .collect()
}

/// Series `index` (of [`specs`]) of `host`: `points` points from `start_ms`.
pub fn series(host: usize, index: usize, start_ms: i64, points: usize) -> (Vec<i64>, Vec<f64>) {
    let specs = specs();
    let spec = &specs[index % specs.len()];
    let ts = timestamps(host, spec.plugin, start_ms, points);
    let mut rng = fastrand::Rng::with_seed(seed(host, 1_000 + index as u64));
    let mut values = Vec::with_capacity(points);
    match spec.shape {
        Shape::Percent32 => {
            let mut x = rng.f64() * 60.0;
            for _ in 0..points {
                x = (x + noise(&mut rng, 2.0)).clamp(0.0, 100.0);
                values.push(f64::from(x as f32));
            }
        }
        Shape::MemoryRatio => {
            let total = (4 + rng.u64(0..28)) * (1 << 30);
            let mut used = total as f64 * (0.2 + rng.f64() * 0.5);
            for _ in 0..points {
                used = (used + noise(&mut rng, 4.0 * 1_048_576.0)).clamp(0.0, total as f64);
                values.push(used.round() * 100.0 / total as f64);
            }
        }
        Shape::DiskRatio => {
            let total = (50 + rng.u64(0..450)) * (1 << 30);
            let mut used = total * (10 + rng.u64(0..70)) / 100;
            for _ in 0..points {
                if rng.f64() < 0.1 {
                    used = (used + rng.u64(0..64) * 4096).min(total);
                }
                values.push(used as f64 * 100.0 / total as f64);
            }
        }
        Shape::Load => {
            let mut x = rng.f64() * 2.0;
            for _ in 0..points {
                x = (x + noise(&mut rng, 0.05)).max(0.0);
                values.push((x * 100.0).round() / 100.0);
            }
        }
        Shape::LatencyMs => {
            let base = 5.0 + rng.f64() * 80.0;
            for _ in 0..points {
                let x = (base + noise(&mut rng, base * 0.1)).max(0.1);
                values.push((x * 1000.0).round() / 1000.0);
            }
        }
        Shape::ByteRate => {
            let mut rate = 50_000.0 + rng.f64() * 5_000_000.0;
            for pair in std::iter::once(STEP_MS).chain(ts.windows(2).map(|w| w[1] - w[0])) {
                rate = (rate + noise(&mut rng, rate * 0.05)).max(0.0);
                let bytes = (rate * pair as f64 / 1000.0).round();
                values.push(bytes / (pair as f64 / 1000.0));
            }
        }
        Shape::Errors => {
            let mut n = rng.u64(0..1000) as f64;
            for _ in 0..points {
                if rng.f64() < 0.01 {
                    n += rng.u64(1..4) as f64;
                }
                values.push(n);
            }
        }
        Shape::Uptime => {
            let boot = rng.i64(3_600..30 * 86_400);
            for &t in &ts {
                values.push(((t - start_ms) / 1000 + boot) as f64);
            }
        }
        Shape::Count => {
            let mut n = rng.i64(0..300);
            for _ in 0..points {
                if rng.f64() < 0.3 {
                    n = (n + rng.i64(-3..=3)).max(0);
                }
                values.push(n as f64);
            }
        }
        Shape::Flag => {
            let mut down = 0u32;
            for _ in 0..points {
                if down == 0 && rng.f64() < 0.0005 {
                    down = rng.u32(1..12);
                }
                values.push(if down > 0 { 0.0 } else { 1.0 });
                down = down.saturating_sub(1);
            }
        }
        Shape::Loss => {
            for _ in 0..points {
                let lost = if rng.f64() < 0.05 { rng.u32(1..3) } else { 0 };
                values.push(f64::from(lost) * 100.0 / 10.0);
            }
        }
        Shape::Bursts => {
            for _ in 0..points {
                values.push(if rng.f64() < 0.1 {
                    rng.u64(100..10_000_000) as f64
                } else {
                    0.0
                });
            }
        }
    }
    (ts, values)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_host_has_fifty_distinct_series_and_the_same_points_each_time() {
        let specs = specs();
        assert_eq!(specs.len(), SERIES_PER_HOST);
        let keys: std::collections::BTreeSet<_> =
            specs.iter().map(|s| (s.name, s.tags.clone())).collect();
        assert_eq!(keys.len(), SERIES_PER_HOST, "series keys must be unique");
        for index in 0..SERIES_PER_HOST {
            let a = series(3, index, 1_000_000, 200);
            let b = series(3, index, 1_000_000, 200);
            assert_eq!(a.0, b.0);
            assert_eq!(
                a.1.iter().map(|v| v.to_bits()).collect::<Vec<_>>(),
                b.1.iter().map(|v| v.to_bits()).collect::<Vec<_>>()
            );
            assert!(a.1.iter().all(|v| v.is_finite() && *v >= 0.0), "{index}");
            assert!(
                a.0.windows(2)
                    .all(|w| (5_000 - 15..=5_000 + 15).contains(&(w[1] - w[0])))
            );
        }
        // Another host differs.
        assert_ne!(
            series(4, 0, 1_000_000, 200).1,
            series(3, 0, 1_000_000, 200).1
        );
    }
}
