//! Logging set-up shared by both binaries: a tracing filter from `--log`
//! (or its environment variable), written to stderr so stdout carries data.
//!
//! The aggregator's `serve` also writes its four log files into a
//! directory ([`init_with_files`]): `monitor.log` (everything but access
//! lines), `alerts.log` (alerting), `access.log` (one line per HTTP request,
//! target `access`) and `error.log` (warnings and errors), as text or JSON
//! lines. [`LogFiles::reopen`] reopens them (on SIGHUP), so logrotate can move
//! them away without losing a line.
//!
//! Every text line escapes its message and field values with
//! [`crate::rules::escape_text`]'s rule, so text a host or plugin supplied
//! (an agent version, a panic message, an event) cannot start a forged line
//! or carry terminal escapes; JSON lines are escaped by the encoder.

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

/// An adapter that writes what it is given with unsafe characters escaped.
struct Escaping<'a, W: std::fmt::Write>(&'a mut W);

impl<W: std::fmt::Write> std::fmt::Write for Escaping<'_, W> {
    fn write_str(&mut self, text: &str) -> std::fmt::Result {
        // Runs of safe text pass through whole; only the odd character is
        // written one at a time.
        let mut rest = text;
        while let Some(at) = rest.find(crate::rules::is_unsafe_char) {
            self.0.write_str(&rest[..at])?;
            let c = rest[at..].chars().next().unwrap_or(' ');
            crate::rules::push_escaped(self.0, c);
            rest = &rest[at + c.len_utf8()..];
        }
        self.0.write_str(rest)
    }
}

/// The text formatter's fields: `name=value` (the message bare), each
/// escaped as it is written.
fn escaped_fields() -> impl for<'w> tracing_subscriber::fmt::FormatFields<'w> + Send + Sync + 'static
{
    use tracing_subscriber::field::MakeExt;
    tracing_subscriber::fmt::format::debug_fn(|writer, field, value| {
        use std::fmt::Write as _;
        let mut escaped = Escaping(writer);
        if field.name() == "message" {
            write!(escaped, "{value:?}")
        } else {
            write!(escaped, "{}={value:?}", field.name())
        }
    })
    .delimited(" ")
}

fn stderr_layer(filter: &str) -> Box<dyn Layer<tracing_subscriber::Registry> + Send + Sync> {
    tracing_subscriber::fmt::layer()
        .fmt_fields(escaped_fields())
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

/// The four log files and what goes into each: (file, keeps this event).
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
            layer.fmt_fields(escaped_fields()).with_filter(keep).boxed()
        });
    }
    layers.push(stderr_layer(filter));
    tracing_subscriber::registry().with(layers).init();
    Ok(LogFiles { files })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_text_cannot_start_a_log_line() {
        let buffer = Arc::new(Mutex::new(Vec::<u8>::new()));
        let sink = buffer.clone();
        let subscriber = tracing_subscriber::fmt()
            .fmt_fields(escaped_fields())
            .with_ansi(false)
            .with_writer(move || SinkWriter(sink.clone()))
            .finish();
        tracing::subscriber::with_default(subscriber, || {
            let version = "1.0\n2026-12-01T00:00:00Z ERROR p2pmon: Host revoked. host=victim";
            tracing::info!(agent_version = %version, other = "a\u{1b}[2Jb\u{202E}c", "Hello from\r{}", "x\0y");
        });
        let text =
            String::from_utf8(buffer.lock().map(|b| b.clone()).unwrap_or_default()).expect("utf-8");
        assert_eq!(text.lines().count(), 1, "{text}");
        assert!(text.contains("agent_version=1.0\\n2026"), "{text}");
        assert!(text.contains("Hello from\\rx\\u{0}y"), "{text}");
        assert!(
            !text.contains('\u{1b}') && !text.contains('\u{202E}'),
            "{text}"
        );
    }

    struct SinkWriter(Arc<Mutex<Vec<u8>>>);

    impl Write for SinkWriter {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            if let Ok(mut sink) = self.0.lock() {
                sink.extend_from_slice(buf);
            }
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
}
