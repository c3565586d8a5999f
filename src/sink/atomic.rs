//! Atomic file output: temp file in the destination directory, fsync, rename. The file gets
//! the permissions any other program's output would get (0666 less the umask), not the
//! owner-only 0600 of a temporary file: tables are made to be read by others.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

/// What went wrong writing an output file. Every variant names the destination.
#[derive(Debug, thiserror::Error)]
pub enum SinkError {
    #[error("{path}: cannot write here: {source}")]
    Create {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: write failed: {reason}")]
    Write { path: PathBuf, reason: String },
}

/// How hard [`write_atomically_with`] works to make a file survive a power cut.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Durability {
    /// fsync the file before the rename: for tables and manifests.
    Fsync,
    /// Rename without fsync: for bulk files (thousands of corpus WAVs) whose writer calls
    /// [`sync_filesystem`] once before writing the manifest that vouches for them. A crash
    /// of the process never exposes a partial file either way; only a power cut differs.
    Deferred,
}

/// Flushes every deferred write on the filesystem holding `dir` (one `syncfs`).
pub fn sync_filesystem(dir: &Path) -> Result<(), SinkError> {
    let sync_error = |source: std::io::Error| SinkError::Create {
        path: dir.to_path_buf(),
        source,
    };
    let handle = File::open(dir).map_err(sync_error)?;
    rustix::fs::syncfs(&handle).map_err(|e| sync_error(e.into()))
}

/// Writes `path` atomically: `write` fills a temporary file in the same directory, which is
/// then flushed to disk and renamed over `path`. On any error the temporary file is removed
/// and `path` is left as it was.
pub fn write_atomically<F, E>(path: &Path, write: F) -> Result<(), SinkError>
where
    F: FnOnce(&mut BufWriter<&File>) -> Result<(), E>,
    E: std::fmt::Display,
{
    write_atomically_with(path, Durability::Fsync, write)
}

/// [`write_atomically`] with a choice of [`Durability`].
pub fn write_atomically_with<F, E>(
    path: &Path,
    durability: Durability,
    write: F,
) -> Result<(), SinkError>
where
    F: FnOnce(&mut BufWriter<&File>) -> Result<(), E>,
    E: std::fmt::Display,
{
    let pending = write_pending(path, write)?;
    match durability {
        Durability::Fsync => pending.commit(),
        Durability::Deferred => pending.rename(),
    }
}

/// A file written under a temporary name beside its destination, not yet in place.
/// [`PendingFile::commit`] flushes it to disk and renames it over the destination; dropping
/// it instead removes the temporary file. Lets a caller do the slow flush on another thread
/// while it goes on computing, without giving up [`Durability::Fsync`].
pub struct PendingFile {
    temp: tempfile::NamedTempFile,
    path: PathBuf,
}

/// The first half of [`write_atomically`]: `write` fills a temporary file beside `path`.
/// On any error the temporary file is removed.
pub fn write_pending<F, E>(path: &Path, write: F) -> Result<PendingFile, SinkError>
where
    F: FnOnce(&mut BufWriter<&File>) -> Result<(), E>,
    E: std::fmt::Display,
{
    let create_error = |source| SinkError::Create {
        path: path.to_path_buf(),
        source,
    };
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let prefix = format!(".{name}.");
    let mut builder = tempfile::Builder::new();
    builder.prefix(&prefix).suffix(".partial");
    #[cfg(unix)]
    {
        // The mode goes to open(2), which applies the umask, as for any new file.
        use std::os::unix::fs::PermissionsExt;
        builder.permissions(std::fs::Permissions::from_mode(0o666));
    }
    let temp = builder.tempfile_in(dir).map_err(create_error)?;
    let pending = PendingFile {
        temp,
        path: path.to_path_buf(),
    };
    {
        let mut writer = BufWriter::new(pending.temp.as_file());
        write(&mut writer).map_err(|e| pending.error(e.to_string()))?;
        writer.flush().map_err(|e| pending.error(e.to_string()))?;
    }
    Ok(pending)
}

impl PendingFile {
    /// fsync, then rename into place.
    pub fn commit(self) -> Result<(), SinkError> {
        self.temp
            .as_file()
            .sync_all()
            .map_err(|e| self.error(e.to_string()))?;
        self.rename()
    }

    /// Rename into place without fsync ([`Durability::Deferred`]).
    fn rename(self) -> Result<(), SinkError> {
        let Self { temp, path } = self;
        match temp.persist(&path) {
            Ok(_) => Ok(()),
            Err(e) => Err(SinkError::Write {
                reason: e.error.to_string(),
                path,
            }),
        }
    }

    fn error(&self, reason: String) -> SinkError {
        SinkError::Write {
            path: self.path.clone(),
            reason,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failed_write_leaves_the_old_file_and_no_temporary() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("table.parquet");
        std::fs::write(&path, b"old").unwrap();
        let result = write_atomically(&path, |w| {
            w.write_all(b"half").map_err(|e| e.to_string())?;
            Err::<(), _>("disk on fire".to_string())
        });
        assert!(result.unwrap_err().to_string().contains("disk on fire"));
        assert_eq!(std::fs::read(&path).unwrap(), b"old");
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    }

    #[cfg(unix)]
    #[test]
    fn outputs_get_the_umask_not_0600() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("table.parquet");
        write_atomically(&path, |w| w.write_all(b"x")).unwrap();
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        // What the umask leaves of 0666 (read without changing it: umask(2) is per process
        // and tests run in threads).
        let status = std::fs::read_to_string("/proc/self/status").unwrap();
        let umask = status
            .lines()
            .find_map(|l| l.strip_prefix("Umask:"))
            .map(|m| u32::from_str_radix(m.trim(), 8).unwrap())
            .unwrap();
        assert_eq!(mode, 0o666 & !umask, "mode {mode:o}, umask {umask:o}");
    }

    #[test]
    fn a_missing_directory_is_named() {
        let err = write_atomically(
            Path::new("/nonexistent-dir/x.npy"),
            |_| Ok::<(), String>(()),
        )
        .unwrap_err()
        .to_string();
        assert!(
            err.starts_with("/nonexistent-dir/x.npy: cannot write here"),
            "{err}"
        );
    }
}
