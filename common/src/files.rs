//! Files written whole or not at all.

use std::io::Write;
use std::path::{Path, PathBuf};

/// What a file being written is called until it is complete: `<name>.tmp`.
/// A crash can leave one behind; it is never the file itself.
pub const TMP_SUFFIX: &str = ".tmp";

/// Write `bytes` to `path` so that a crash leaves either the old file or the
/// whole new one: a temporary file (owner-only), synced, then renamed over.
pub fn write_atomically(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(TMP_SUFFIX);
    let tmp = PathBuf::from(tmp);
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(&tmp)?;
    file.write_all(bytes)?;
    file.sync_data()?;
    drop(file);
    std::fs::rename(&tmp, path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_file_is_replaced_whole_and_no_temporary_stays() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("state.json");
        write_atomically(&path, b"old").expect("first");
        write_atomically(&path, b"new and longer").expect("second");
        assert_eq!(std::fs::read(&path).expect("read"), b"new and longer");
        let names: Vec<_> = std::fs::read_dir(dir.path())
            .expect("list")
            .map(|e| e.expect("entry").file_name())
            .collect();
        assert_eq!(names, ["state.json"]);
    }
}
