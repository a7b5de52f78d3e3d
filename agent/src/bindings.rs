//! Host bindings generated from the WIT contract in plugin-sdk/wit: the
//! types the host functions take and return, shared by the runtime (which
//! links them) and `access` (which fills them in).
#![allow(missing_docs, clippy::all)]

wasmtime::component::bindgen!({
    path: "../plugin-sdk/wit",
    world: "plugin",
    imports: {
        "p2pmon:plugin/sql": async,
        "p2pmon:plugin/file": async,
        "p2pmon:plugin/net": async,
        "p2pmon:plugin/http": async,
    },
    exports: { default: async },
});

use p2pmon::plugin::types::{MetricKind, Severity};

impl From<MetricKind> for p2pmon_common::wire::MetricKind {
    fn from(kind: MetricKind) -> Self {
        match kind {
            MetricKind::Gauge => Self::Gauge,
            MetricKind::Counter => Self::Counter,
        }
    }
}

impl From<Severity> for p2pmon_common::wire::Severity {
    fn from(severity: Severity) -> Self {
        match severity {
            Severity::Info => Self::Info,
            Severity::Warning => Self::Warning,
            Severity::Error => Self::Error,
            Severity::Critical => Self::Critical,
        }
    }
}
