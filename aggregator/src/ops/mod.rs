//! The operator's maintenance commands: `cleanup` (retention now), `backup`
//! and `restore` (the embedded store and the config files), and the lock
//! that keeps a restore away from a running aggregator. [`health`] checks
//! what a running aggregator depends on; [`verify`] finds gaps in the data;
//! [`compaction`] reports on the store and seals and compacts it now;
//! [`uptime_report`] is each server's uptime over a month.
//!
//! A backup is a directory:
//! - `store.db`: a consistent copy of the store (`VACUUM INTO`: one read
//!   transaction, so a running aggregator keeps writing meanwhile);
//! - `conf/`: aggregator.yml, alerts.yml and metrics.yml as they were;
//! - `manifest.json`: version, time, and size and SHA-256 of every file,
//!   written last.
//!
//! It is built in `<dir>.partial` and renamed to `<dir>` only when complete,
//! so a crash leaves no directory that looks like a backup, and the live
//! store is only ever read. A restore checks every file against the
//! manifest, keeps the current store beside it (`store.db.before-restore-<ms>`)
//! and swaps the backup in with a rename.

pub mod compaction;
pub mod debug;
pub mod health;
pub mod uptime_report;
pub mod verify;

use std::collections::BTreeMap;
use std::fs::File;
use std::io::Read;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use sha2::Digest;

use crate::clock::now_ms;
use crate::config::{AggregatorConfig, MetricsConfig};
use crate::store::{self, Store};

/// The file in the data directory a running aggregator holds locked.
pub const LOCK_FILE: &str = "aggregator.lock";
const MANIFEST: &str = "manifest.json";
const STORE_FILE: &str = "store.db";
const FORMAT: u32 = 1;

#[derive(Debug, thiserror::Error)]
pub enum OpsError {
    #[error("{0}")]
    Refused(String),
    #[error("{path}: {error}")]
    Io {
        path: PathBuf,
        error: std::io::Error,
    },
    #[error(transparent)]
    Store(#[from] store::StoreError),
    #[error("store: {0}")]
    Sqlite(#[from] rusqlite::Error),
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> OpsError + '_ {
    move |error| OpsError::Io {
        path: path.to_path_buf(),
        error,
    }
}

/// Hold the data directory's lock: one aggregator (or one restore) at a
/// time. The lock goes with the returned file, and with the process.
pub fn lock_data_dir(data_dir: &Path) -> Result<File, OpsError> {
    std::fs::create_dir_all(data_dir).map_err(io(data_dir))?;
    let path = data_dir.join(LOCK_FILE);
    let file = File::options()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(io(&path))?;
    match file.try_lock() {
        Ok(()) => Ok(file),
        Err(std::fs::TryLockError::WouldBlock) => Err(OpsError::Refused(format!(
            "an aggregator is running on {} (it holds {LOCK_FILE}); stop it first",
            data_dir.display()
        ))),
        Err(std::fs::TryLockError::Error(error)) => Err(OpsError::Io { path, error }),
    }
}

/// Apply metrics.yml's retention now; what was deleted.
pub async fn cleanup(config: &AggregatorConfig) -> Result<store::Deleted, OpsError> {
    let metrics = MetricsConfig::load(&config.metrics_path())
        .map_err(|e| OpsError::Refused(e.to_string()))?;
    let store = Store::open_with(
        &config.store_path(),
        store::Options {
            sealing: false,
            ..store::Options::default()
        },
    )?;
    let deleted = store.apply_retention(metrics.retention(), now_ms()).await;
    store.close().await?;
    Ok(deleted?)
}

#[derive(Debug, Serialize, Deserialize, PartialEq)]
pub struct FileEntry {
    pub bytes: u64,
    pub sha256: String,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct Manifest {
    pub format: u32,
    pub version: String,
    pub created_ms: i64,
    /// Relative path -> size and digest.
    pub files: BTreeMap<String, FileEntry>,
}

fn digest(path: &Path) -> Result<FileEntry, OpsError> {
    let mut file = File::open(path).map_err(io(path))?;
    let mut hasher = sha2::Sha256::new();
    let mut buffer = vec![0u8; 1 << 16];
    let mut bytes = 0u64;
    loop {
        let n = file.read(&mut buffer).map_err(io(path))?;
        if n == 0 {
            break;
        }
        hasher.update(&buffer[..n]);
        bytes += n as u64;
    }
    let sha256 = hex::encode(hasher.finalize());
    Ok(FileEntry { bytes, sha256 })
}

/// The config files a backup carries: (name in the backup, path).
fn config_files(config: &AggregatorConfig, config_path: &Path) -> Vec<(String, PathBuf)> {
    [
        ("conf/aggregator.yml", config_path.to_path_buf()),
        ("conf/alerts.yml", config.alerts_path()),
        ("conf/metrics.yml", config.metrics_path()),
    ]
    .into_iter()
    .filter(|(_, path)| path.is_file())
    .map(|(name, path)| (name.to_string(), path))
    .collect()
}

/// Back up the store and config files into `dest` (which must not exist).
pub fn backup(
    config: &AggregatorConfig,
    config_path: &Path,
    dest: &Path,
    progress: &mut dyn FnMut(&str),
) -> Result<Manifest, OpsError> {
    if dest.exists() {
        return Err(OpsError::Refused(format!(
            "{} exists; give a new directory",
            dest.display()
        )));
    }
    let store_path = config.store_path();
    if !store_path.is_file() {
        return Err(OpsError::Refused(format!(
            "no store at {}",
            store_path.display()
        )));
    }
    let mut partial = dest.as_os_str().to_owned();
    partial.push(".partial");
    let partial = PathBuf::from(partial);
    if partial.exists() {
        std::fs::remove_dir_all(&partial).map_err(io(&partial))?;
    }
    std::fs::create_dir_all(partial.join("conf")).map_err(io(&partial))?;

    progress(&format!("copying the store {}", store_path.display()));
    let copy = partial.join(STORE_FILE);
    let source = rusqlite::Connection::open_with_flags(
        &store_path,
        rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY,
    )?;
    source.busy_timeout(std::time::Duration::from_secs(30))?;
    source.execute("VACUUM INTO ?1", [copy.to_string_lossy()])?;
    drop(source);

    let mut files = BTreeMap::new();
    files.insert(STORE_FILE.to_string(), digest(&copy)?);
    for (name, path) in config_files(config, config_path) {
        let target = partial.join(&name);
        std::fs::copy(&path, &target).map_err(io(&path))?;
        files.insert(name, digest(&target)?);
    }
    let manifest = Manifest {
        format: FORMAT,
        version: env!("CARGO_PKG_VERSION").to_string(),
        created_ms: now_ms(),
        files,
    };
    let text =
        serde_json::to_vec_pretty(&manifest).map_err(|e| OpsError::Refused(e.to_string()))?;
    let manifest_path = partial.join(MANIFEST);
    std::fs::write(&manifest_path, text).map_err(io(&manifest_path))?;
    std::fs::rename(&partial, dest).map_err(io(dest))?;
    progress(&format!(
        "backup complete: {} ({} bytes of store)",
        dest.display(),
        manifest.files[STORE_FILE].bytes
    ));
    Ok(manifest)
}

/// Read `dir`'s manifest and check every file against it.
pub fn verify(dir: &Path) -> Result<Manifest, OpsError> {
    let path = dir.join(MANIFEST);
    let text = std::fs::read(&path).map_err(io(&path))?;
    let manifest: Manifest = serde_json::from_slice(&text).map_err(|e| {
        OpsError::Refused(format!("{}: not a backup manifest: {e}", path.display()))
    })?;
    if manifest.format != FORMAT {
        return Err(OpsError::Refused(format!(
            "backup format {} is not {FORMAT}",
            manifest.format
        )));
    }
    if !manifest.files.contains_key(STORE_FILE) {
        return Err(OpsError::Refused("the backup holds no store".to_string()));
    }
    for (name, expected) in &manifest.files {
        if name.contains("..") || name.starts_with('/') {
            return Err(OpsError::Refused(format!(
                "unsafe path {name} in the manifest"
            )));
        }
        let found = digest(&dir.join(name))?;
        if &found != expected {
            return Err(OpsError::Refused(format!(
                "{name} does not match the manifest (damaged or edited backup)"
            )));
        }
    }
    Ok(manifest)
}

/// Restore the store (and, with `with_config`, the config files) from a
/// verified backup. Refused while an aggregator runs on the data directory.
/// Returns where the replaced store was kept.
pub fn restore(
    config: &AggregatorConfig,
    config_path: &Path,
    from: &Path,
    with_config: bool,
    progress: &mut dyn FnMut(&str),
) -> Result<Option<PathBuf>, OpsError> {
    let manifest = verify(from)?;
    progress(&format!(
        "backup of {} (version {}) verified",
        manifest.created_ms, manifest.version
    ));
    let data_dir = config.data_dir();
    let _lock = lock_data_dir(&data_dir)?;
    let store_path = config.store_path();
    let staged = store_path.with_extension("db.restoring");
    std::fs::copy(from.join(STORE_FILE), &staged).map_err(io(&staged))?;
    // The copy must open as a store before it replaces anything.
    rusqlite::Connection::open(&staged)?
        .query_row("PRAGMA integrity_check", [], |r| r.get::<_, String>(0))
        .map_err(OpsError::from)
        .and_then(|answer| match answer.as_str() {
            "ok" => Ok(()),
            other => Err(OpsError::Refused(format!(
                "the backup's store is damaged: {other}"
            ))),
        })?;
    let kept = if store_path.exists() {
        let kept = store_path.with_extension(format!("db.before-restore-{}", now_ms()));
        std::fs::rename(&store_path, &kept).map_err(io(&store_path))?;
        Some(kept)
    } else {
        None
    };
    for suffix in ["db-wal", "db-shm"] {
        let side = store_path.with_extension(suffix);
        if side.exists() {
            if let Some(kept) = &kept {
                let mut moved = kept.as_os_str().to_owned();
                moved.push(format!("-{}", &suffix[3..]));
                std::fs::rename(&side, PathBuf::from(moved)).map_err(io(&side))?;
            } else {
                std::fs::remove_file(&side).map_err(io(&side))?;
            }
        }
    }
    std::fs::rename(&staged, &store_path).map_err(io(&store_path))?;
    progress(&format!("store restored to {}", store_path.display()));
    if with_config {
        for (name, path) in config_files(config, config_path) {
            if manifest.files.contains_key(&name) {
                std::fs::copy(from.join(&name), &path).map_err(io(&path))?;
                progress(&format!("{} restored", path.display()));
            }
        }
    }
    Ok(kept)
}
