//! What the aggregator's benches share: a VictoriaMetrics of their own (the
//! baseline they are measured against, Debian's `victoria-metrics`, run as
//! `tests/src/victoria.rs` runs it), a one-shot HTTP client, and sizes on
//! disk. Each bench uses a part of it.
#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::time::{Duration, Instant};

pub type Result<T> = std::result::Result<T, Box<dyn std::error::Error>>;

const VICTORIA: &str = "/usr/bin/victoria-metrics";

/// Apparent size of every file under `dir`.
pub fn dir_bytes(dir: &Path) -> u64 {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return 0;
    };
    entries
        .flatten()
        .map(|e| match e.metadata() {
            Ok(m) if m.is_dir() => dir_bytes(&e.path()),
            Ok(m) => m.len(),
            Err(_) => 0,
        })
        .sum()
}

/// One HTTP/1.1 request with `Connection: close`; the status and body.
pub fn http(addr: &str, method: &str, path: &str, body: &[u8]) -> Result<(u16, String)> {
    let mut stream = TcpStream::connect(addr)?;
    stream.set_read_timeout(Some(Duration::from_secs(600)))?;
    write!(
        stream,
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    )?;
    stream.write_all(body)?;
    let mut answer = Vec::new();
    stream.read_to_end(&mut answer)?;
    // The head as text; the body moved out once and checked as UTF-8 (no
    // lossy copy of a large answer, which the timings would include).
    let end = answer
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map_or(answer.len(), |at| at + 4);
    let body = answer.split_off(end);
    let head = String::from_utf8_lossy(&answer);
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| format!("not an HTTP answer: {head:.200}"))?;
    let body = String::from_utf8(body)
        .unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned());
    Ok((status, body))
}

/// User and system CPU seconds of process `pid` so far.
pub fn cpu_seconds(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .map(|(_, rest)| rest.split_whitespace().collect())
        .unwrap_or_default();
    // utime and stime are fields 14 and 15 of proc(5), in clock ticks (100 Hz).
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|f| f.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    (ticks(11) + ticks(12)) / 100.0
}

/// A running VictoriaMetrics, killed on drop.
pub struct Victoria {
    child: std::process::Child,
    /// `127.0.0.1:port`.
    pub addr: String,
}

impl Victoria {
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Start one storing into `dir` on a free port; wait until it answers.
    pub fn start(dir: &Path) -> Result<Self> {
        let port = std::net::TcpListener::bind("127.0.0.1:0")?
            .local_addr()?
            .port();
        let addr = format!("127.0.0.1:{port}");
        let child = std::process::Command::new(VICTORIA)
            .arg(format!("-storageDataPath={}", dir.display()))
            .arg(format!("-httpListenAddr={addr}"))
            .arg("-retentionPeriod=2y")
            .arg("-loggerLevel=ERROR")
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .map_err(|e| format!("{VICTORIA}: {e} (run `make test-deps`)"))?;
        let vm = Self { child, addr };
        let deadline = Instant::now() + Duration::from_secs(60);
        while !matches!(http(&vm.addr, "GET", "/health", b""), Ok((200, _))) {
            if Instant::now() > deadline {
                return Err("victoria-metrics did not come up".into());
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        Ok(vm)
    }
}

impl Drop for Victoria {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
