//! The `file` capability: read and tail files under granted paths.
//!
//! A requested path is resolved (symlinks, `.` and `..`) and must lie under a
//! granted path, itself resolved; on Linux the opened file's real path is
//! checked again, so swapping a directory for a symlink between the check and
//! the open does not escape either. Reads are bounded per call and a line is
//! cut at [`MAX_LINE`], so a 10 MB line or a 1 GB file costs the agent no more
//! memory than a small one.
//!
//! Nothing here may block the agent. A path is opened non-blocking (a FIFO
//! with no writer would otherwise hang the open in the kernel) and checked
//! with `fstat` before a byte is read: only a regular file with one link
//! is read (a hard link inside a grant can name a file outside it, and
//! nothing on the path tells). The calls run on the blocking pool under the
//! plugin's deadline ([`FileAccess::off_worker`]), so even a filesystem that
//! stops answering (a hung network mount) costs one blocking thread, not the
//! async workers, and a plugin has at most one such call outstanding.

use std::collections::HashMap;
use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::os::unix::fs::OpenOptionsExt;
use std::os::unix::fs::{FileExt, MetadataExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::bindings::p2pmon::plugin::file::{StartAt, TailResult};
use crate::bindings::p2pmon::plugin::types::HostError;

/// Most bytes one call reads, whatever the plugin asks.
pub const MAX_READ: usize = 1 << 20;
/// Longest line handed to a plugin; the rest of a longer line is skipped.
pub const MAX_LINE: usize = 64 * 1024;
/// Files one plugin may tail at once.
const MAX_TAILS: usize = 64;
const CHUNK: usize = 64 * 1024;
/// Bytes at the start of a tailed file remembered to notice a truncation
/// that the file has already grown back past (size alone cannot tell).
const HEAD_BYTES: usize = 256;

/// Open flags: never wait for a FIFO's writer or a device, never make a
/// terminal the agent's. (Linux and macOS values; std has no names for them.)
#[cfg(target_os = "linux")]
const OPEN_FLAGS: i32 = 0o4000 /* O_NONBLOCK */ | 0o400 /* O_NOCTTY */;
#[cfg(target_os = "macos")]
const OPEN_FLAGS: i32 = 0x0004 /* O_NONBLOCK */ | 0x20000 /* O_NOCTTY */;

/// One plugin's granted paths and its tail positions.
#[derive(Default)]
pub struct FileAccess {
    roots: Vec<PathBuf>,
    tails: Mutex<HashMap<PathBuf, Tail>>,
    /// A call is running on the blocking pool (possibly stuck in the
    /// kernel past its deadline): the next one is refused until it returns.
    busy: Arc<AtomicBool>,
}

/// Clears [`FileAccess::busy`] when the blocking call ends, however it ends.
struct Busy(Arc<AtomicBool>);

impl Drop for Busy {
    fn drop(&mut self) {
        self.0.store(false, Ordering::Release);
    }
}

struct Tail {
    file: File,
    /// Device and inode of the open file, to notice rotation.
    id: (u64, u64),
    offset: u64,
    /// The start of a line whose end has not been written yet.
    partial: Vec<u8>,
    /// Inside a line already cut at MAX_LINE: skip to its end.
    skipping: bool,
    /// The file's first bytes as last read (up to HEAD_BYTES).
    head: Vec<u8>,
}

impl FileAccess {
    pub fn new(roots: Vec<PathBuf>) -> Self {
        Self {
            roots,
            tails: Mutex::default(),
            busy: Arc::default(),
        }
    }

    /// Run `op` on `owner`'s file access on the blocking pool, giving up
    /// after `deadline`. A call still stuck from before refuses this one.
    pub async fn off_worker<O, T>(
        owner: Arc<O>,
        files: fn(&O) -> &FileAccess,
        deadline: Duration,
        op: impl FnOnce(&FileAccess) -> Result<T, HostError> + Send + 'static,
    ) -> Result<T, HostError>
    where
        O: Send + Sync + 'static,
        T: Send + 'static,
    {
        let busy = files(&owner).busy.clone();
        if busy.swap(true, Ordering::AcqRel) {
            return Err(HostError::Unavailable(
                "file: an earlier call of this plugin is still waiting on the filesystem"
                    .to_string(),
            ));
        }
        let guard = Busy(busy);
        let task = tokio::task::spawn_blocking(move || {
            let _guard = guard;
            op(files(&owner))
        });
        match tokio::time::timeout(deadline, task).await {
            Ok(Ok(result)) => result,
            Ok(Err(error)) => Err(HostError::Unavailable(format!("file: {error}"))),
            Err(_) => Err(HostError::Unavailable(format!(
                "file: the filesystem did not answer within {} ms",
                deadline.as_millis()
            ))),
        }
    }

    /// `path` resolved, if it lies under a granted path.
    fn resolve(&self, path: &str) -> Result<PathBuf, HostError> {
        if self.roots.is_empty() {
            return Err(HostError::Denied("file: no paths granted".to_string()));
        }
        let requested = Path::new(path);
        if !requested.is_absolute() {
            return Err(HostError::Invalid(format!(
                "{path:?} is not an absolute path"
            )));
        }
        let resolved = std::fs::canonicalize(requested)
            .map_err(|e| HostError::Unavailable(format!("{path}: {e}")))?;
        if self.is_granted(&resolved) {
            Ok(resolved)
        } else {
            Err(self.outside(path, &resolved))
        }
    }

    fn is_granted(&self, resolved: &Path) -> bool {
        self.roots
            .iter()
            .any(|root| std::fs::canonicalize(root).is_ok_and(|root| resolved.starts_with(root)))
    }

    fn outside(&self, path: &str, resolved: &Path) -> HostError {
        let roots = self
            .roots
            .iter()
            .map(|r| r.display().to_string())
            .collect::<Vec<_>>()
            .join(", ");
        let shown = if Path::new(path) == resolved {
            String::new()
        } else {
            format!(" (it resolves to {})", resolved.display())
        };
        HostError::Denied(format!(
            "file: {path}{shown} is outside the granted paths ({roots})"
        ))
    }

    /// Open a resolved path without blocking and check what was opened: a
    /// regular file with one link, still inside the grant.
    fn open(&self, path: &str) -> Result<(PathBuf, File), HostError> {
        let resolved = self.resolve(path)?;
        let file = std::fs::OpenOptions::new()
            .read(true)
            .custom_flags(OPEN_FLAGS)
            .open(&resolved)
            .map_err(|e| HostError::Unavailable(format!("{path}: {e}")))?;
        // fstat on the opened descriptor: what is read is what is checked.
        let meta = file
            .metadata()
            .map_err(|e| HostError::Unavailable(format!("{path}: {e}")))?;
        if !meta.is_file() {
            return Err(HostError::Invalid(format!(
                "{path} is not a regular file (FIFOs, devices, sockets and directories are not read)"
            )));
        }
        if meta.nlink() > 1 {
            return Err(HostError::Denied(format!(
                "file: {path} has {} hard links; a linked file may lie outside the granted paths, so it is not read",
                meta.nlink()
            )));
        }
        #[cfg(target_os = "linux")]
        {
            use std::os::fd::AsRawFd;
            let real = std::fs::read_link(format!("/proc/self/fd/{}", file.as_raw_fd()))
                .map_err(|e| HostError::Unavailable(format!("{path}: {e}")))?;
            if !self.is_granted(&real) {
                return Err(self.outside(path, &real));
            }
        }
        Ok((resolved, file))
    }

    /// The first `max_bytes` (at most [`MAX_READ`]) of a file.
    pub fn read(&self, path: &str, max_bytes: u32) -> Result<Vec<u8>, HostError> {
        let (_, file) = self.open(path)?;
        let limit = (max_bytes as usize).min(MAX_READ);
        let mut bytes = Vec::with_capacity(limit.min(CHUNK));
        file.take(limit as u64)
            .read_to_end(&mut bytes)
            .map_err(|e| HostError::Unavailable(format!("{path}: {e}")))?;
        Ok(bytes)
    }

    /// Lines appended since the last call (see the WIT `file.tail`).
    pub fn tail(
        &self,
        path: &str,
        start: StartAt,
        max_bytes: u32,
    ) -> Result<TailResult, HostError> {
        let (resolved, opened) = self.open(path)?;
        let mut tails = self
            .tails
            .lock()
            .map_err(|_| HostError::Unavailable("tail state poisoned".to_string()))?;
        if !tails.contains_key(&resolved) && tails.len() >= MAX_TAILS {
            return Err(HostError::Invalid(format!(
                "a plugin may tail at most {MAX_TAILS} files"
            )));
        }
        let budget = (max_bytes as usize).clamp(1, MAX_READ);
        let mut out = TailResult {
            lines: Vec::new(),
            cut_lines: 0,
            reset: false,
            backlog_bytes: 0,
        };
        let io = |e: std::io::Error| HostError::Unavailable(format!("{path}: {e}"));
        let opened_meta = opened.metadata().map_err(io)?;
        let opened_id = (opened_meta.dev(), opened_meta.ino());
        let tail = match tails.entry(resolved) {
            std::collections::hash_map::Entry::Occupied(entry) => entry.into_mut(),
            std::collections::hash_map::Entry::Vacant(entry) => {
                let offset = match start {
                    StartAt::Beginning => 0,
                    StartAt::End => opened_meta.len(),
                };
                entry.insert(Tail {
                    file: opened,
                    id: opened_id,
                    offset,
                    partial: Vec::new(),
                    skipping: false,
                    head: Vec::new(),
                })
            }
        };
        let mut remaining = budget;
        if tail.id != opened_id {
            // Rotated: finish the old file, then start the new one from its
            // beginning. (The already-opened handle to the new file is
            // `opened` when the entry existed; reopen to keep it simple.)
            remaining -= tail.read_lines(remaining, &mut out).map_err(io)?;
            if remaining > 0 {
                tail.flush_partial(&mut out);
                let (_, file) = self.open(path)?;
                *tail = Tail {
                    file,
                    id: opened_id,
                    offset: 0,
                    partial: Vec::new(),
                    skipping: false,
                    head: Vec::new(),
                };
                out.reset = true;
            }
        } else if opened_meta.len() < tail.offset || tail.head_changed().map_err(io)? {
            // Truncated in place (copytruncate): start again from the top.
            tail.offset = 0;
            tail.partial.clear();
            tail.skipping = false;
            tail.head.clear();
            out.reset = true;
        }
        if tail.id == opened_id && remaining > 0 {
            tail.read_lines(remaining, &mut out).map_err(io)?;
        }
        tail.remember_head().map_err(io)?;
        let len = tail.file.metadata().map_err(io)?.len();
        out.backlog_bytes = len.saturating_sub(tail.offset);
        Ok(out)
    }
}

impl Tail {
    /// The first bytes differ from those remembered: the file was truncated
    /// and written again.
    fn head_changed(&self) -> std::io::Result<bool> {
        if self.head.is_empty() {
            return Ok(false);
        }
        let mut now = vec![0u8; self.head.len()];
        let n = self.file.read_at(&mut now, 0)?;
        Ok(now[..n] != self.head[..])
    }

    fn remember_head(&mut self) -> std::io::Result<()> {
        let want = usize::try_from(self.offset)
            .unwrap_or(HEAD_BYTES)
            .min(HEAD_BYTES);
        if self.head.len() < want {
            self.head.resize(want, 0);
            let n = self.file.read_at(&mut self.head, 0)?;
            self.head.truncate(n);
        }
        Ok(())
    }

    /// Read up to `budget` bytes from the offset, turning complete lines into
    /// output; returns the bytes read.
    fn read_lines(&mut self, budget: usize, out: &mut TailResult) -> std::io::Result<usize> {
        self.file.seek(SeekFrom::Start(self.offset))?;
        let mut buffer = vec![0u8; CHUNK.min(budget)];
        let mut total = 0;
        while total < budget {
            let want = buffer.len().min(budget - total);
            let n = self.file.read(&mut buffer[..want])?;
            if n == 0 {
                break;
            }
            total += n;
            self.offset += n as u64;
            self.take_bytes(&buffer[..n], out);
        }
        Ok(total)
    }

    fn take_bytes(&mut self, mut bytes: &[u8], out: &mut TailResult) {
        while !bytes.is_empty() {
            let newline = bytes.iter().position(|&b| b == b'\n');
            let (piece, rest) = match newline {
                Some(at) => (&bytes[..at], Some(&bytes[at + 1..])),
                None => (bytes, None),
            };
            if !self.skipping {
                let room = MAX_LINE - self.partial.len();
                if piece.len() > room {
                    self.partial.extend_from_slice(&piece[..room]);
                    self.skipping = true;
                } else {
                    self.partial.extend_from_slice(piece);
                }
            }
            match rest {
                Some(rest) => {
                    if self.skipping {
                        out.cut_lines += 1;
                    }
                    self.emit(out);
                    bytes = rest;
                }
                None => break,
            }
        }
    }

    fn emit(&mut self, out: &mut TailResult) {
        let mut line = std::mem::take(&mut self.partial);
        if line.last() == Some(&b'\r') {
            line.pop();
        }
        out.lines.push(String::from_utf8_lossy(&line).into_owned());
        self.skipping = false;
    }

    /// A rotated file's last line may lack its newline: hand it over as is.
    fn flush_partial(&mut self, out: &mut TailResult) {
        if !self.partial.is_empty() {
            if self.skipping {
                out.cut_lines += 1;
            }
            self.emit(out);
        }
    }
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use super::*;

    fn append(path: &Path, text: &str) {
        let mut file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .expect("open for append");
        file.write_all(text.as_bytes()).expect("append");
    }

    fn tail(access: &FileAccess, path: &Path) -> TailResult {
        access
            .tail(
                path.to_str().expect("utf-8 path"),
                StartAt::Beginning,
                1 << 20,
            )
            .expect("tail")
    }

    #[test]
    fn tails_complete_lines_and_keeps_the_partial_one() {
        let dir = tempfile::tempdir().expect("tempdir");
        let log = dir.path().join("map.log");
        append(&log, "one\ntwo\nthr");
        let access = FileAccess::new(vec![dir.path().to_path_buf()]);
        assert_eq!(tail(&access, &log).lines, ["one", "two"]);
        append(&log, "ee\r\n");
        let next = tail(&access, &log);
        assert_eq!(next.lines, ["three"]);
        assert!(!next.reset);
        assert!(tail(&access, &log).lines.is_empty());
    }

    #[test]
    fn starting_at_the_end_skips_history() {
        let dir = tempfile::tempdir().expect("tempdir");
        let log = dir.path().join("map.log");
        append(&log, "old\n");
        let access = FileAccess::new(vec![dir.path().to_path_buf()]);
        let path = log.to_str().expect("utf-8");
        assert!(
            access
                .tail(path, StartAt::End, 4096)
                .expect("tail")
                .lines
                .is_empty()
        );
        append(&log, "new\n");
        assert_eq!(
            access.tail(path, StartAt::End, 4096).expect("tail").lines,
            ["new"]
        );
    }

    #[test]
    fn survives_rotation_and_truncation() {
        let dir = tempfile::tempdir().expect("tempdir");
        let log = dir.path().join("map.log");
        append(&log, "a\n");
        let access = FileAccess::new(vec![dir.path().to_path_buf()]);
        assert_eq!(tail(&access, &log).lines, ["a"]);
        // Rotation by rename: the end of the old file, then the new one.
        append(&log, "b\n");
        std::fs::rename(&log, dir.path().join("map.log.1")).expect("rotate");
        append(&log, "c\n");
        let rotated = tail(&access, &log);
        assert_eq!(rotated.lines, ["b", "c"]);
        assert!(rotated.reset);
        // Truncation in place.
        std::fs::write(&log, "").expect("truncate");
        append(&log, "d\n");
        let truncated = tail(&access, &log);
        assert_eq!(truncated.lines, ["d"]);
        assert!(truncated.reset);
    }

    #[test]
    fn a_huge_line_is_cut_and_reading_is_bounded() {
        let dir = tempfile::tempdir().expect("tempdir");
        let log = dir.path().join("map.log");
        let huge = "x".repeat(10 << 20);
        append(&log, &format!("before\n{huge}\nafter\n"));
        let access = FileAccess::new(vec![dir.path().to_path_buf()]);
        let mut lines = Vec::new();
        let mut cut = 0;
        for _ in 0..20 {
            let got = tail(&access, &log);
            assert!(got.lines.iter().all(|l| l.len() <= MAX_LINE));
            cut += got.cut_lines;
            lines.extend(got.lines);
            if got.backlog_bytes == 0 {
                break;
            }
        }
        assert_eq!(lines.len(), 3);
        assert_eq!(lines[0], "before");
        assert_eq!(lines[1].len(), MAX_LINE);
        assert_eq!(lines[2], "after");
        assert_eq!(cut, 1);
    }

    #[test]
    fn paths_outside_the_grant_are_refused() {
        let dir = tempfile::tempdir().expect("tempdir");
        let granted = dir.path().join("log");
        std::fs::create_dir(&granted).expect("mkdir");
        append(&granted.join("map.log"), "x\n");
        let secret = dir.path().join("secret.txt");
        append(&secret, "password\n");
        std::os::unix::fs::symlink(&secret, granted.join("link.log")).expect("symlink");
        let access = FileAccess::new(vec![granted.clone()]);

        let dotdot = format!("{}/../secret.txt", granted.display());
        let link = format!("{}/link.log", granted.display());
        for path in [dotdot.as_str(), link.as_str(), "/etc/passwd"] {
            match access.read(path, 100) {
                Err(HostError::Denied(message)) => {
                    assert!(message.contains("outside the granted paths"), "{message}")
                }
                other => panic!("{path}: expected a denial, got {other:?}"),
            }
        }
        assert!(matches!(
            access.read("log/map.log", 100),
            Err(HostError::Invalid(_))
        ));
        assert_eq!(
            access
                .read(granted.join("map.log").to_str().expect("utf-8"), 100)
                .expect("inside"),
            b"x\n"
        );
    }

    #[test]
    fn fifos_devices_and_directories_are_refused_without_blocking() {
        let dir = tempfile::tempdir().expect("tempdir");
        let fifo = dir.path().join("map.log");
        let made = std::process::Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .expect("mkfifo");
        assert!(made.success());
        std::os::unix::fs::symlink("/dev/zero", dir.path().join("zero.log")).expect("symlink");
        let access = FileAccess::new(vec![dir.path().to_path_buf(), PathBuf::from("/dev")]);
        let started = std::time::Instant::now();
        for path in [
            fifo.clone(),
            dir.path().join("zero.log"),
            dir.path().to_path_buf(),
        ] {
            let path = path.to_str().expect("utf-8");
            for result in [
                access.read(path, 100).map(|_| ()),
                access.tail(path, StartAt::Beginning, 100).map(|_| ()),
            ] {
                match result {
                    Err(HostError::Invalid(message)) => {
                        assert!(message.contains("not a regular file"), "{message}")
                    }
                    other => panic!("{path}: expected a refusal, got {other:?}"),
                }
            }
        }
        // A FIFO without a writer used to hang the open for good.
        assert!(started.elapsed() < Duration::from_secs(1));
    }

    #[test]
    fn hard_links_are_refused() {
        let dir = tempfile::tempdir().expect("tempdir");
        let granted = dir.path().join("log");
        std::fs::create_dir(&granted).expect("mkdir");
        let secret = dir.path().join("secret.txt");
        append(&secret, "password\n");
        std::fs::hard_link(&secret, granted.join("map.log")).expect("hard link");
        let access = FileAccess::new(vec![granted.clone()]);
        let path = granted.join("map.log");
        let path = path.to_str().expect("utf-8");
        for result in [
            access.read(path, 100).map(|_| ()),
            access.tail(path, StartAt::Beginning, 100).map(|_| ()),
        ] {
            match result {
                Err(HostError::Denied(message)) => {
                    assert!(message.contains("2 hard links"), "{message}")
                }
                other => panic!("expected a denial, got {other:?}"),
            }
        }
    }

    #[tokio::test]
    async fn a_call_that_never_returns_ends_at_its_deadline_and_blocks_the_next() {
        let access = Arc::new(FileAccess::new(vec![PathBuf::from("/")]));
        let (release, stuck) = std::sync::mpsc::channel::<()>();
        let started = std::time::Instant::now();
        let first = FileAccess::off_worker(
            access.clone(),
            |files: &FileAccess| files,
            Duration::from_millis(200),
            move |_| {
                // As a read on a hung mount would: held in the "kernel".
                let _ = stuck.recv();
                Ok(())
            },
        )
        .await;
        assert!(
            matches!(&first, Err(HostError::Unavailable(m)) if m.contains("within 200 ms")),
            "{first:?}"
        );
        assert!(started.elapsed() < Duration::from_millis(500));
        // While it is stuck, the plugin's next call is refused at once.
        let second = FileAccess::off_worker(
            access.clone(),
            |files: &FileAccess| files,
            Duration::from_millis(200),
            |_| Ok(()),
        )
        .await;
        assert!(
            matches!(&second, Err(HostError::Unavailable(m)) if m.contains("still waiting")),
            "{second:?}"
        );
        release.send(()).expect("release");
        // Once it returns, calls go through again.
        let mut third = Err(HostError::Unavailable(String::new()));
        for _ in 0..50 {
            third = FileAccess::off_worker(
                access.clone(),
                |files: &FileAccess| files,
                Duration::from_millis(200),
                |_| Ok(()),
            )
            .await;
            if third.is_ok() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        assert!(third.is_ok(), "{third:?}");
    }
}
