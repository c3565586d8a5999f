//! Checksums for the Parquet files entangle writes, so that damaged data is an error naming
//! the file rather than garbage rows. The `parquet` crate verifies page CRCs on read (its
//! `crc` feature, on here), which covers files from writers that store them (parquet-mr,
//! pyarrow with `write_page_checksum=True`), but version 60 cannot write them. So our
//! writers also store a CRC-32 of every byte before the footer's indexes in the footer's
//! key-value metadata, and our readers check it before decoding: a damaged data page under
//! an intact footer (which the decoders can read as plausible numbers) is caught either way.

use std::io::Write;
use std::path::{Path, PathBuf};

use parquet::arrow::ArrowWriter;
use parquet::errors::ParquetError;
use parquet::file::metadata::{KeyValue, ParquetMetaData};

/// Key-value metadata key: `"<bytes>:<crc32 in hex>"` of the file's first `<bytes>` bytes.
pub const DATA_CRC_KEY: &str = "entangle.data_crc32";

/// A Parquet file whose data does not match the checksum in its footer, or cannot be read.
#[derive(Debug, thiserror::Error)]
#[error("{}: {problem}", path.display())]
pub struct ChecksumError {
    pub path: PathBuf,
    #[source]
    pub problem: ChecksumProblem,
}

#[derive(Debug, thiserror::Error)]
pub enum ChecksumProblem {
    #[error("{DATA_CRC_KEY} = {0:?} is not a checksum")]
    Malformed(String),
    #[error("cannot read: {0}")]
    Io(#[from] std::io::Error),
    #[error(
        "damaged: its data does not match the checksum in its footer (CRC-32 {actual:08x} over \
         {read} bytes, written as {expected:08x} over {len}); write it again"
    )]
    Damaged {
        actual: u32,
        read: u64,
        expected: u32,
        len: u64,
    },
}

/// A writer that checksums and counts what passes through it.
pub struct Checksummed<W> {
    inner: W,
    crc: crc32fast::Hasher,
    len: u64,
}

impl<W: Write> Checksummed<W> {
    pub fn new(inner: W) -> Self {
        Self {
            inner,
            crc: crc32fast::Hasher::new(),
            len: 0,
        }
    }
}

impl<W: Write> Write for Checksummed<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.crc.update(&buf[..n]);
        self.len += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

/// Closes `writer` (made with [`Checksummed::new`] around the output) with the checksum of
/// everything written so far in its footer.
pub fn close_with_checksum<W: Write + Send>(
    mut writer: ArrowWriter<Checksummed<W>>,
) -> Result<(), ParquetError> {
    writer.flush()?;
    writer.sync()?;
    let inner = writer.inner();
    let value = format!("{}:{:08x}", inner.len, inner.crc.clone().finalize());
    writer.append_key_value_metadata(KeyValue::new(DATA_CRC_KEY.to_string(), value));
    writer.close()?;
    Ok(())
}

/// Checks the data of the Parquet file at `path` against the checksum in its footer (read
/// into `metadata`). Files without one (other writers') pass; their page CRCs, if any, are
/// checked as the pages are read.
pub fn verify(path: &Path, metadata: &ParquetMetaData) -> Result<(), ChecksumError> {
    let file = std::fs::File::open(path).map_err(|e| ChecksumError {
        path: path.to_path_buf(),
        problem: e.into(),
    })?;
    verify_open(path, &file, metadata)
}

/// [`verify`] of a file already open (read with positioned reads), so the checksum is of the
/// same version of the file as the footer it came from.
pub fn verify_open(
    path: &Path,
    file: &std::fs::File,
    metadata: &ParquetMetaData,
) -> Result<(), ChecksumError> {
    let Some(value) = metadata
        .file_metadata()
        .key_value_metadata()
        .and_then(|kv| kv.iter().find(|kv| kv.key == DATA_CRC_KEY))
        .and_then(|kv| kv.value.as_deref())
    else {
        return Ok(());
    };
    let fail = |problem: ChecksumProblem| ChecksumError {
        path: path.to_path_buf(),
        problem,
    };
    let parsed = value.split_once(':').and_then(|(len, crc)| {
        Some((len.parse::<u64>().ok()?, u32::from_str_radix(crc, 16).ok()?))
    });
    let Some((len, expected)) = parsed else {
        return Err(fail(ChecksumProblem::Malformed(value.to_string())));
    };
    let (read, actual) = crc_of_prefix(file, len).map_err(|e| fail(e.into()))?;
    if read != len || actual != expected {
        return Err(fail(ChecksumProblem::Damaged {
            actual,
            read,
            expected,
            len,
        }));
    }
    Ok(())
}

/// The bytes read (at most `len`) from the start of `file`, and their CRC-32.
fn crc_of_prefix(file: &std::fs::File, len: u64) -> std::io::Result<(u64, u32)> {
    use std::os::unix::fs::FileExt;
    let mut crc = crc32fast::Hasher::new();
    let mut buf = vec![0u8; 1 << 20];
    let mut read = 0u64;
    while read < len {
        let want = buf.len().min((len - read) as usize);
        let n = file.read_at(&mut buf[..want], read)?;
        if n == 0 {
            break;
        }
        crc.update(&buf[..n]);
        read += n as u64;
    }
    Ok((read, crc.finalize()))
}
