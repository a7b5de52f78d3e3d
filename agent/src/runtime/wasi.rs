//! WASI 0.2 for plugins built by toolchains that import it (componentize-py,
//! componentize-js), denying everything: no preopened directory, no socket
//! address, no name lookup, no environment, no arguments, stdin closed. The
//! wall clock reads the real time only with the `clock` capability (without
//! it, the Unix epoch); the monotonic clock and random numbers are real, as a
//! language runtime needs them to start. stdout and stderr become lines of
//! the agent's log, under the same per-call budget as `host.log`.
//!
//! A plugin reaches the host only through the p2pmon interfaces, each behind
//! its capability; WASI adds no way out.

use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use wasmtime_wasi::cli::{IsTerminal, StdoutStream};
use wasmtime_wasi::p2::{OutputStream, Pollable, StreamResult};
use wasmtime_wasi::{HostWallClock, WasiCtx, WasiCtxBuilder};

use super::log_budget::LogBudget;

/// The WASI packages a plugin may import: what wasmtime-wasi provides for
/// WASI 0.2, with nothing reachable. `wasi:http` and the rest are refused.
const PROVIDED_PACKAGES: [&str; 6] = [
    "wasi:cli/",
    "wasi:io/",
    "wasi:clocks/",
    "wasi:random/",
    "wasi:filesystem/",
    "wasi:sockets/",
];

/// Whether `import` (`wasi:cli/environment@0.2.3`) is a WASI 0.2 interface
/// this agent provides.
pub fn is_provided(import: &str) -> bool {
    let Some(package) = PROVIDED_PACKAGES.iter().find(|p| import.starts_with(*p)) else {
        return false;
    };
    let Some((_, version)) = import[package.len()..].split_once('@') else {
        return false;
    };
    version
        .strip_prefix("0.2.")
        .is_some_and(|patch| !patch.is_empty() && patch.bytes().all(|b| b.is_ascii_digit()))
}

/// The WASI context of one plugin instance: nothing granted.
pub fn context(name: Arc<str>, budget: Arc<Mutex<LogBudget>>, real_clock: bool) -> WasiCtx {
    let mut builder = WasiCtxBuilder::new();
    builder
        .allow_tcp(false)
        .allow_udp(false)
        .allow_ip_name_lookup(false)
        .socket_addr_check(|_, _| Box::pin(async { false }))
        .stdout(LogStream::new(name.clone(), budget.clone(), "stdout"))
        .stderr(LogStream::new(name, budget, "stderr"));
    if !real_clock {
        builder.wall_clock(EpochClock);
    }
    builder.build()
}

/// A wall clock stopped at the Unix epoch: the time of day is `clock`'s.
struct EpochClock;

impl HostWallClock for EpochClock {
    fn resolution(&self) -> Duration {
        Duration::from_secs(1)
    }

    fn now(&self) -> Duration {
        Duration::ZERO
    }
}

/// Longest partial line kept before it is written out as a line.
const MAX_PENDING: usize = 8 * 1024;

/// A plugin's stdout or stderr: complete lines go to the agent's log at
/// info (stdout) or warn (stderr), counted against the call's log budget.
#[derive(Clone)]
struct LogStream {
    inner: Arc<Mutex<LineSink>>,
}

struct LineSink {
    plugin: Arc<str>,
    stream: &'static str,
    budget: Arc<Mutex<LogBudget>>,
    pending: Vec<u8>,
}

impl LogStream {
    fn new(plugin: Arc<str>, budget: Arc<Mutex<LogBudget>>, stream: &'static str) -> Self {
        Self {
            inner: Arc::new(Mutex::new(LineSink {
                plugin,
                stream,
                budget,
                pending: Vec::new(),
            })),
        }
    }

    fn write_bytes(&self, bytes: &[u8]) {
        if let Ok(mut sink) = self.inner.lock() {
            sink.write(bytes);
        }
    }
}

impl LineSink {
    fn write(&mut self, mut bytes: &[u8]) {
        while let Some(end) = bytes.iter().position(|&b| b == b'\n') {
            self.pending.extend_from_slice(&bytes[..end]);
            self.emit();
            bytes = &bytes[end + 1..];
        }
        self.pending.extend_from_slice(bytes);
        if self.pending.len() >= MAX_PENDING {
            self.emit();
        }
    }

    fn emit(&mut self) {
        let line = String::from_utf8_lossy(&self.pending).into_owned();
        self.pending.clear();
        let line = line.strip_suffix('\r').unwrap_or(&line);
        let allowed = self
            .budget
            .lock()
            .map(|mut budget| budget.allow(&self.plugin, line.len()))
            .unwrap_or(false);
        if !allowed {
            return;
        }
        let plugin = &*self.plugin;
        let stream = self.stream;
        if stream == "stderr" {
            tracing::warn!(plugin, stream, "{line}");
        } else {
            tracing::info!(plugin, stream, "{line}");
        }
    }
}

impl IsTerminal for LogStream {
    fn is_terminal(&self) -> bool {
        false
    }
}

impl StdoutStream for LogStream {
    fn p2_stream(&self) -> Box<dyn OutputStream> {
        Box::new(self.clone())
    }

    fn async_stream(&self) -> Box<dyn tokio::io::AsyncWrite + Send + Sync> {
        Box::new(self.clone())
    }
}

impl OutputStream for LogStream {
    fn write(&mut self, bytes: Bytes) -> StreamResult<()> {
        self.write_bytes(&bytes);
        Ok(())
    }

    fn flush(&mut self) -> StreamResult<()> {
        Ok(())
    }

    fn check_write(&mut self) -> StreamResult<usize> {
        Ok(64 * 1024)
    }
}

#[wasmtime_wasi::async_trait]
impl Pollable for LogStream {
    async fn ready(&mut self) {}
}

impl tokio::io::AsyncWrite for LogStream {
    fn poll_write(
        self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        self.write_bytes(buf);
        Poll::Ready(Ok(buf.len()))
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

#[cfg(test)]
mod tests {
    use super::is_provided;

    #[test]
    fn only_wasi_0_2_interfaces_the_agent_provides_are_accepted() {
        for (import, ok) in [
            ("wasi:cli/environment@0.2.3", true),
            ("wasi:io/streams@0.2.0", true),
            ("wasi:sockets/tcp@0.2.6", true),
            ("wasi:filesystem/preopens@0.2.3", true),
            ("wasi:http/outgoing-handler@0.2.3", false),
            ("wasi:cli/environment@0.3.0", false),
            ("wasi:cli/environment", false),
            ("wasi:cli/environment@0.2.", false),
            ("wasi:clocks/wall-clock@0.2.x", false),
            ("wasi:keyvalue/store@0.2.0-draft", false),
            ("evil:wasi/cli@0.2.0", false),
        ] {
            assert_eq!(is_provided(import), ok, "{import}");
        }
    }
}
