//! The Prometheus text exposition format (version 0.0.4), for the `/metrics`
//! endpoints of the aggregator and the agent. One renderer for both:
//! samples grouped into families, each with its HELP and TYPE lines, names
//! and label names made valid (`.` becomes `_`, a counter ends in `_total`,
//! a gauge named `..._count`, `..._sum` or `..._bucket` gets `_value`
//! appended since those suffixes belong to histograms and summaries), label
//! values escaped.

use std::collections::BTreeMap;

use crate::wire::MetricKind;

/// One sample of a family.
#[derive(Clone, Debug, PartialEq)]
pub struct Sample {
    pub name: String,
    pub help: String,
    pub kind: MetricKind,
    pub labels: Vec<(String, String)>,
    pub value: f64,
}

impl Sample {
    /// A sample of `prefix` + `name` (made valid for its kind).
    pub fn new(prefix: &str, name: &str, kind: MetricKind, help: &str, value: f64) -> Self {
        let mut full = format!("{prefix}{}", sanitize(name));
        if kind == MetricKind::Counter && !full.ends_with("_total") {
            full.push_str("_total");
        }
        if kind == MetricKind::Gauge
            && ["_count", "_sum", "_bucket"]
                .iter()
                .any(|s| full.ends_with(s))
        {
            full.push_str("_value");
        }
        Self {
            name: full,
            help: help.to_string(),
            kind,
            labels: Vec::new(),
            value,
        }
    }

    /// Add a label (its name made valid; a name already used gets `tag_` in front).
    pub fn label(mut self, name: &str, value: &str) -> Self {
        let mut name = sanitize(name);
        while self.labels.iter().any(|(n, _)| *n == name) {
            name = format!("tag_{name}");
        }
        self.labels.push((name, value.to_string()));
        self
    }
}

/// `[a-zA-Z_][a-zA-Z0-9_]*`: other characters become `_`.
fn sanitize(name: &str) -> String {
    let mut out: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect();
    if out.is_empty() || out.starts_with(|c: char| c.is_ascii_digit()) {
        out.insert(0, '_');
    }
    out
}

fn escape(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

fn number(value: f64) -> String {
    if value.is_nan() {
        "NaN".to_string()
    } else if value == f64::INFINITY {
        "+Inf".to_string()
    } else if value == f64::NEG_INFINITY {
        "-Inf".to_string()
    } else {
        format!("{value}")
    }
}

/// The exposition text of `samples`: families in name order.
pub fn render(samples: Vec<Sample>) -> String {
    let mut families: BTreeMap<String, Vec<Sample>> = BTreeMap::new();
    for sample in samples {
        families
            .entry(sample.name.clone())
            .or_default()
            .push(sample);
    }
    let mut out = String::new();
    for (name, samples) in families {
        let first = &samples[0];
        let kind = match first.kind {
            MetricKind::Counter => "counter",
            MetricKind::Gauge => "gauge",
        };
        out.push_str(&format!(
            "# HELP {name} {}\n# TYPE {name} {kind}\n",
            escape(&first.help)
        ));
        for sample in &samples {
            out.push_str(&name);
            if !sample.labels.is_empty() {
                let labels: Vec<String> = sample
                    .labels
                    .iter()
                    .map(|(k, v)| format!("{k}=\"{}\"", escape(v)))
                    .collect();
                out.push_str(&format!("{{{}}}", labels.join(",")));
            }
            out.push(' ');
            out.push_str(&number(sample.value));
            out.push('\n');
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn families_are_grouped_named_and_escaped() {
        let text = render(vec![
            Sample::new("p2pmon_", "cpu.usage", MetricKind::Gauge, "CPU", 12.5).label("host", "a"),
            Sample::new(
                "p2pmon_",
                "agent_plugin_calls",
                MetricKind::Counter,
                "Calls",
                3.0,
            )
            .label("plugin", "x"),
            Sample::new("p2pmon_", "player_count", MetricKind::Gauge, "Players", 4.0),
            Sample::new("p2pmon_", "cpu.usage", MetricKind::Gauge, "CPU", 1.0)
                .label("host", "b\"\n\\")
                .label("host", "tag"),
        ]);
        assert_eq!(
            text,
            "# HELP p2pmon_agent_plugin_calls_total Calls\n# TYPE p2pmon_agent_plugin_calls_total counter\n\
             p2pmon_agent_plugin_calls_total{plugin=\"x\"} 3\n\
             # HELP p2pmon_cpu_usage CPU\n# TYPE p2pmon_cpu_usage gauge\n\
             p2pmon_cpu_usage{host=\"a\"} 12.5\n\
             p2pmon_cpu_usage{host=\"b\\\"\\n\\\\\",tag_host=\"tag\"} 1\n\
             # HELP p2pmon_player_count_value Players\n# TYPE p2pmon_player_count_value gauge\n\
             p2pmon_player_count_value 4\n"
        );
    }
}
