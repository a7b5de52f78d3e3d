//! Logging set-up shared by both binaries: a tracing filter from `--log`
//! (or its environment variable), written to stderr so stdout carries data.
//!
//! The aggregator's `serve` also writes the seed's four log files into a
//! directory ([`init_with_files`]): `monitor.log` (everything but access
//! lines), `alerts.log` (alerting), `access.log` (one line per HTTP request,
//! target `access`) and `error.log` (warnings and errors), as text or JSON
//! lines. [`LogFiles::reopen`] reopens them (on SIGHUP), so logrotate can move
//! them away without losing a line.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};

use tracing_subscriber::Layer;
use tracing_subscriber::filter::{self, LevelFilter};
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

/// The target of access lines.
pub const ACCESS: &str = "access";

fn env_filter(filter: &str) -> tracing_subscriber::EnvFilter {
    tracing_subscriber::EnvFilter::try_new(filter)
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"))
}

/// Install the global subscriber; an invalid filter falls back to `info`.
/// Access lines stay out of stderr: they are for access.log.
pub fn init(filter: &str) {
    tracing_subscriber::registry()
        .with(stderr_layer(filter))
        .init();
}

fn stderr_layer(filter: &str) -> Box<dyn Layer<tracing_subscriber::Registry> + Send + Sync> {
    tracing_subscriber::fmt::layer()
        .with_writer(std::io::stderr)
        .with_target(false)
        .with_filter(filter::filter_fn(|meta| meta.target() != ACCESS))
        .with_filter(env_filter(filter))
        .boxed()
}

/// One log file, reopened in place on request.
pub struct LogFile {
    path: PathBuf,
    file: Mutex<File>,
}

impl LogFile {
    fn open(path: PathBuf) -> std::io::Result<Arc<Self>> {
        let file = Self::open_file(&path)?;
        Ok(Arc::new(Self {
            path,
            file: Mutex::new(file),
        }))
    }

    fn open_file(path: &Path) -> std::io::Result<File> {
        OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .map_err(|e| std::io::Error::new(e.kind(), format!("{}: {e}", path.display())))
    }

    fn reopen(&self) -> std::io::Result<()> {
        let file = Self::open_file(&self.path)?;
        if let Ok(mut current) = self.file.lock() {
            *current = file;
        }
        Ok(())
    }
}

/// What a layer writes each event through: the file, locked for one line.
#[derive(Clone)]
struct FileWriter(Arc<LogFile>);

struct Locked<'a>(Option<MutexGuard<'a, File>>);

impl Write for Locked<'_> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        match self.0.as_mut() {
            Some(file) => file.write(buf),
            None => Ok(buf.len()),
        }
    }

    fn flush(&mut self) -> std::io::Result<()> {
        match self.0.as_mut() {
            Some(file) => file.flush(),
            None => Ok(()),
        }
    }
}

impl<'a> MakeWriter<'a> for FileWriter {
    type Writer = Locked<'a>;

    fn make_writer(&'a self) -> Self::Writer {
        Locked(self.0.file.lock().ok())
    }
}

/// The log files of a running process.
pub struct LogFiles {
    files: Vec<Arc<LogFile>>,
}

impl LogFiles {
    /// Reopen every file at its path (after logrotate moved it away).
    pub fn reopen(&self) -> std::io::Result<()> {
        for file in &self.files {
            file.reopen()?;
        }
        Ok(())
    }
}

/// The seed's files and what goes into each: (file, keeps this event).
type Route = (&'static str, fn(&tracing::Metadata<'_>) -> bool);

const ROUTES: [Route; 4] = [
    ("monitor.log", |m| m.target() != ACCESS),
    ("alerts.log", |m| m.target().contains("::alerting")),
    ("access.log", |m| m.target() == ACCESS),
    ("error.log", |m| *m.level() <= tracing::Level::WARN),
];

/// stderr as [`init`] does, plus the four files in `dir` (created if
/// needed), as JSON lines when `json`. Access lines go to access.log only.
pub fn init_with_files(filter: &str, dir: &Path, json: bool) -> std::io::Result<LogFiles> {
    std::fs::create_dir_all(dir)
        .map_err(|e| std::io::Error::new(e.kind(), format!("{}: {e}", dir.display())))?;
    let level = env_filter(filter)
        .max_level_hint()
        .unwrap_or(LevelFilter::INFO);
    let mut files = Vec::new();
    let mut layers: Vec<Box<dyn Layer<tracing_subscriber::Registry> + Send + Sync>> = Vec::new();
    for (name, keeps) in ROUTES {
        let file = LogFile::open(dir.join(name))?;
        files.push(file.clone());
        let writer = FileWriter(file);
        let keep = filter::filter_fn(move |meta| keeps(meta) && *meta.level() <= level);
        let layer = tracing_subscriber::fmt::layer()
            .with_writer(writer)
            .with_ansi(false);
        layers.push(if json {
            layer.json().with_filter(keep).boxed()
        } else {
            layer.with_filter(keep).boxed()
        });
    }
    layers.push(stderr_layer(filter));
    tracing_subscriber::registry().with(layers).init();
    Ok(LogFiles { files })
}
