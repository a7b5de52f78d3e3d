//! The embedded store: SQLite in WAL mode, one file under `data_dir`.
//!
//! One writer thread owns the only read-write connection. Ingest hands it
//! batches over a bounded channel; it takes whatever is queued (up to
//! [`GROUP_MAX_POINTS`]) into one transaction with prepared statements, then
//! answers each batch. A batch is acknowledged only once its transaction has
//! committed, which is what makes "acked means stored" true across a kill -9.
//!
//! Rollups (1 min and 1 h: min, max, sum, count) are accumulated in memory
//! and written every few seconds together with a watermark: the id of the
//! last head row ([`head`], a row per batch) they include. At start-up, rows
//! past the watermark are folded in again, so a crash between the two never loses or double-counts.
//!
//! Between groups of batches the writer seals closed windows of the head
//! into compressed chunks and compacts closed days ([`upkeep`]); a ticker
//! thread wakes it when ingest is quiet.
//!
//! Readers (the API) use a small pool of read-only connections; WAL lets them
//! run while the writer writes.

pub mod actions;
pub mod alerts;
pub mod auth;
pub mod chunks;
pub mod head;
mod read;
pub mod rollups;
pub mod schema;
pub mod silences;
pub mod status;
pub mod upkeep;
pub mod verify;
mod writer;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use rusqlite::Connection;
use tokio::sync::{mpsc, oneshot};

pub use read::*;
pub use upkeep::StoreFigures;
pub use writer::{Deleted, WriteJob, WriteOutcome, severity_str};

use crate::config::Retention;

/// Most points the writer puts in one transaction.
pub const GROUP_MAX_POINTS: usize = 100_000;
/// Batches waiting for the writer; a full queue makes ingest wait.
const QUEUE: usize = 1024;
const READERS: usize = 3;
/// How often the ticker wakes a quiet writer (rollups, sealing).
const TICK: std::time::Duration = std::time::Duration::from_secs(2);

/// How the store is opened.
#[derive(Clone, Copy, Debug)]
pub struct Options {
    pub durability: schema::Durability,
    /// Seal closed windows into chunks and compact closed days in the
    /// background (on unless a test wants the head as it was written).
    pub sealing: bool,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            durability: schema::Durability::default(),
            sealing: true,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("cannot open the store {path}: {error}")]
    Open {
        path: PathBuf,
        error: rusqlite::Error,
    },
    #[error("{path}: {error}")]
    Io {
        path: PathBuf,
        error: std::io::Error,
    },
    #[error(
        "the store {path} has schema version {found}, newer than this aggregator ({}); upgrade the aggregator",
        schema::SCHEMA_VERSION
    )]
    NewerSchema { path: PathBuf, found: i64 },
    #[error("store: {0}")]
    Sqlite(#[from] rusqlite::Error),
    /// The writer thread's transaction failed (every batch of the group
    /// gets the message).
    #[error("store write failed: {0}")]
    Write(String),
    #[error("the store is shut down")]
    Closed,
    /// A value the store could not encode (the writer's tags).
    #[error("{0}")]
    Invalid(String),
    #[error("no random source: {0}")]
    NoRandomSource(getrandom::Error),
    #[error("a store reader panicked earlier")]
    ReaderPoisoned,
    #[error("a store read did not finish: {0}")]
    ReaderLost(#[from] tokio::task::JoinError),
}

/// Whether the store answers a query (`GET /api/v1/health`).
pub fn ping(conn: &Connection) -> Result<(), StoreError> {
    conn.query_row("SELECT 1", [], |r| r.get::<_, i64>(0))?;
    Ok(())
}

enum Command {
    Write(WriteJob),
    Exec(Box<dyn FnOnce(&mut Connection) + Send>),
    /// Retention on the writer's connection, which forgets what it cached
    /// of series it removes.
    Retention(
        Retention,
        i64,
        oneshot::Sender<Result<writer::Deleted, StoreError>>,
    ),
    Flush(oneshot::Sender<Result<(), StoreError>>),
    /// Nothing to do but the writer's upkeep (sent by the ticker).
    Tick,
    Stop(oneshot::Sender<Result<(), StoreError>>),
}

pub struct Store {
    path: PathBuf,
    commands: mpsc::Sender<Command>,
    readers: Vec<Mutex<Connection>>,
    next_reader: AtomicUsize,
    thread: Mutex<Option<std::thread::JoinHandle<()>>>,
    /// Kept current by the writer.
    pub figures: Arc<StoreFigures>,
}

impl Store {
    /// Open the store at `path`, recover rollups past the watermark, and
    /// start the writer thread.
    pub fn open(path: &Path) -> Result<Arc<Self>, StoreError> {
        Self::open_with(path, Options::default())
    }

    /// [`Store::open`] with `options`.
    pub fn open_with(path: &Path, options: Options) -> Result<Arc<Self>, StoreError> {
        let conn = schema::open(path)?;
        schema::set_durability(&conn, options.durability)?;
        let figures = Arc::new(StoreFigures::default());
        let mut writer = writer::Writer::new(conn, options.sealing, figures.clone())?;
        writer.recover()?;
        let readers = (0..READERS)
            .map(|_| schema::open_read_only(path).map(Mutex::new))
            .collect::<Result<Vec<_>, _>>()?;
        let (commands, receiver) = mpsc::channel(QUEUE);
        let thread = std::thread::Builder::new()
            .name("p2pmon-store".to_string())
            .spawn(move || writer.run(receiver))
            .map_err(|error| StoreError::Io {
                path: path.to_path_buf(),
                error,
            })?;
        // The ticker holds a weak sender: it ends with the store.
        let ticker = commands.downgrade();
        std::thread::Builder::new()
            .name("p2pmon-store-tick".to_string())
            .spawn(move || {
                loop {
                    std::thread::sleep(TICK);
                    let Some(commands) = ticker.upgrade() else {
                        return;
                    };
                    // A full queue wakes the writer anyway.
                    if let Err(mpsc::error::TrySendError::Closed(_)) =
                        commands.try_send(Command::Tick)
                    {
                        return;
                    }
                }
            })
            .map_err(|error| StoreError::Io {
                path: path.to_path_buf(),
                error,
            })?;
        Ok(Arc::new(Self {
            path: path.to_path_buf(),
            commands,
            readers,
            next_reader: AtomicUsize::new(0),
            thread: Mutex::new(Some(thread)),
            figures,
        }))
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Store one batch; resolves once it has committed (or was a duplicate).
    pub async fn write(&self, job: WriteJob) -> Result<WriteOutcome, StoreError> {
        let (reply, answer) = oneshot::channel();
        let job = WriteJob {
            reply: Some(reply),
            ..job
        };
        self.commands
            .send(Command::Write(job))
            .await
            .map_err(|_| StoreError::Closed)?;
        answer.await.map_err(|_| StoreError::Closed)?
    }

    /// Run `f` on the writer's connection, in order with batch writes.
    pub async fn exec<R: Send + 'static>(
        &self,
        f: impl FnOnce(&mut Connection) -> Result<R, StoreError> + Send + 'static,
    ) -> Result<R, StoreError> {
        let (reply, answer) = oneshot::channel();
        let command = Command::Exec(Box::new(move |conn| {
            let _ = reply.send(f(conn));
        }));
        self.commands
            .send(command)
            .await
            .map_err(|_| StoreError::Closed)?;
        answer.await.map_err(|_| StoreError::Closed)?
    }

    /// Write pending rollups now.
    pub async fn flush(&self) -> Result<(), StoreError> {
        let (reply, answer) = oneshot::channel();
        self.commands
            .send(Command::Flush(reply))
            .await
            .map_err(|_| StoreError::Closed)?;
        answer.await.map_err(|_| StoreError::Closed)?
    }

    /// Delete what is older than `retention` allows.
    pub async fn apply_retention(
        &self,
        retention: Retention,
        now_ms: i64,
    ) -> Result<writer::Deleted, StoreError> {
        let (reply, answer) = oneshot::channel();
        self.commands
            .send(Command::Retention(retention, now_ms, reply))
            .await
            .map_err(|_| StoreError::Closed)?;
        answer.await.map_err(|_| StoreError::Closed)?
    }

    /// Run a read on a pooled read-only connection, off the async threads,
    /// in one snapshot of the file ([`snapshot`]).
    pub async fn read<R: Send + 'static>(
        self: &Arc<Self>,
        f: impl FnOnce(&Connection) -> Result<R, StoreError> + Send + 'static,
    ) -> Result<R, StoreError> {
        let store = self.clone();
        tokio::task::spawn_blocking(move || {
            let index = store.next_reader.fetch_add(1, Ordering::Relaxed) % store.readers.len();
            let conn = store.readers[index]
                .lock()
                .map_err(|_| StoreError::ReaderPoisoned)?;
            snapshot(&conn, || f(&conn))
        })
        .await?
    }

    /// Stop the writer once everything queued before this call is written,
    /// flushing rollups, and wait for it. Later writes fail with
    /// [`StoreError::Closed`].
    pub async fn close(&self) -> Result<(), StoreError> {
        let (reply, answer) = oneshot::channel();
        if self.commands.send(Command::Stop(reply)).await.is_err() {
            return Ok(());
        }
        let result = answer.await.map_err(|_| StoreError::Closed)?;
        let handle = self.thread.lock().ok().and_then(|mut t| t.take());
        if let Some(handle) = handle {
            let _ = tokio::task::spawn_blocking(move || handle.join()).await;
        }
        result
    }
}

/// Whether the store has a table `name` (an older store may lack one).
pub fn has_table(conn: &Connection, name: &str) -> Result<bool, StoreError> {
    Ok(conn
        .prepare_cached(
            "SELECT EXISTS (SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?1)",
        )?
        .query_row([name], |r| r.get(0))?)
}

/// `read` in one snapshot of the file. A read of more than one statement
/// (head rows and chunks, rollup rows and rollup chunks, point counts)
/// must not see a seal or a fold commit half-way: it would count those
/// points twice, or not at all. Inside a transaction already, that one is
/// the snapshot.
pub fn snapshot<R>(
    conn: &Connection,
    read: impl FnOnce() -> Result<R, StoreError>,
) -> Result<R, StoreError> {
    if !conn.is_autocommit() {
        return read();
    }
    // Deferred: the snapshot starts at the first read, and ends with it.
    let tx = conn.unchecked_transaction()?;
    let out = read();
    drop(tx);
    out
}
