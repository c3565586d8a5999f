//! Corpus manifests: one row per rendered (or ingested) example, written as Parquet last and
//! atomically, so a corpus directory without a manifest is known to be incomplete.

use std::path::Path;
use std::sync::Arc;

use arrow::array::{
    BooleanBuilder, Float64Builder, RecordBatch, StringBuilder, UInt8Builder, UInt16Builder,
};
use arrow::datatypes::{DataType, Field, Schema};
use parquet::arrow::ArrowWriter;
use parquet::basic::Compression;
use parquet::file::properties::WriterProperties;

use crate::sink::{SinkError, write_atomically};

/// One example of a corpus.
#[derive(Debug, Clone, PartialEq)]
pub struct ManifestRow {
    /// Unique name of the example (also its label shard name).
    pub shard: String,
    /// Audio path, relative to the manifest's directory.
    pub path: String,
    /// Note list (MAPS `.txt` or MIDI), relative to the manifest's directory.
    pub labels_path: String,
    /// `train`, `validation` or `test`.
    pub split: String,
    pub soundfont: String,
    pub bank: u16,
    pub program: u8,
    /// The velocity every note was played with (0 when it varies, as in real recordings).
    pub velocity: u8,
    pub reverb: bool,
    /// Seconds of audio.
    pub duration: f64,
    /// SHA-256 of the audio file's bytes (hex).
    pub sha256: String,
}

pub fn manifest_schema() -> Schema {
    Schema::new(vec![
        Field::new("shard", DataType::Utf8, false),
        Field::new("path", DataType::Utf8, false),
        Field::new("labels_path", DataType::Utf8, false),
        Field::new("split", DataType::Utf8, false),
        Field::new("soundfont", DataType::Utf8, false),
        Field::new("bank", DataType::UInt16, false),
        Field::new("program", DataType::UInt8, false),
        Field::new("velocity", DataType::UInt8, false),
        Field::new("reverb", DataType::Boolean, false),
        Field::new("duration", DataType::Float64, false),
        Field::new("sha256", DataType::Utf8, false),
    ])
}

fn manifest_batch(rows: &[ManifestRow]) -> RecordBatch {
    let mut shard = StringBuilder::new();
    let mut path = StringBuilder::new();
    let mut labels_path = StringBuilder::new();
    let mut split = StringBuilder::new();
    let mut soundfont = StringBuilder::new();
    let mut bank = UInt16Builder::new();
    let mut program = UInt8Builder::new();
    let mut velocity = UInt8Builder::new();
    let mut reverb = BooleanBuilder::new();
    let mut duration = Float64Builder::new();
    let mut sha256 = StringBuilder::new();
    for r in rows {
        shard.append_value(&r.shard);
        path.append_value(&r.path);
        labels_path.append_value(&r.labels_path);
        split.append_value(&r.split);
        soundfont.append_value(&r.soundfont);
        bank.append_value(r.bank);
        program.append_value(r.program);
        velocity.append_value(r.velocity);
        reverb.append_value(r.reverb);
        duration.append_value(r.duration);
        sha256.append_value(&r.sha256);
    }
    RecordBatch::try_new(
        Arc::new(manifest_schema()),
        vec![
            Arc::new(shard.finish()),
            Arc::new(path.finish()),
            Arc::new(labels_path.finish()),
            Arc::new(split.finish()),
            Arc::new(soundfont.finish()),
            Arc::new(bank.finish()),
            Arc::new(program.finish()),
            Arc::new(velocity.finish()),
            Arc::new(reverb.finish()),
            Arc::new(duration.finish()),
            Arc::new(sha256.finish()),
        ],
    )
    .expect("columns match the schema")
}

/// Writes the manifest atomically.
pub fn write_manifest(path: &Path, rows: &[ManifestRow]) -> Result<(), SinkError> {
    let props = WriterProperties::builder()
        .set_compression(Compression::SNAPPY)
        .build();
    write_atomically(path, |w| -> Result<(), parquet::errors::ParquetError> {
        let w = crate::sink::checksum::Checksummed::new(w);
        let mut writer = ArrowWriter::try_new(w, Arc::new(manifest_schema()), Some(props))?;
        writer.write(&manifest_batch(rows))?;
        crate::sink::checksum::close_with_checksum(writer)?;
        Ok(())
    })
}

/// A manifest that cannot be read.
#[derive(Debug, thiserror::Error)]
pub enum ManifestError {
    #[error("{}: cannot read manifest: {problem}", path.display())]
    Unreadable {
        path: std::path::PathBuf,
        #[source]
        problem: ManifestProblem,
    },
    #[error(transparent)]
    Damaged(#[from] crate::sink::checksum::ChecksumError),
    #[error("{}: no split {split:?}; the manifest has {present}", path.display())]
    NoSuchSplit {
        path: std::path::PathBuf,
        split: String,
        present: String,
    },
}

#[derive(Debug, thiserror::Error)]
pub enum ManifestProblem {
    #[error(transparent)]
    Io(#[from] std::io::Error),
    #[error(transparent)]
    Parquet(#[from] parquet::errors::ParquetError),
    #[error(transparent)]
    Arrow(#[from] arrow::error::ArrowError),
    #[error("missing or mistyped column {0}")]
    Column(&'static str),
}

/// The rows of split `split` of the manifest at `path`; a split it lacks is an error that
/// lists the ones it has.
pub fn read_manifest_split(path: &Path, split: &str) -> Result<Vec<ManifestRow>, ManifestError> {
    let all = read_manifest(path)?;
    let present: std::collections::BTreeSet<&str> = all.iter().map(|r| r.split.as_str()).collect();
    if !present.contains(split) {
        return Err(ManifestError::NoSuchSplit {
            path: path.to_path_buf(),
            split: split.to_string(),
            present: present.into_iter().collect::<Vec<_>>().join(", "),
        });
    }
    Ok(all.into_iter().filter(|r| r.split == split).collect())
}

/// Reads a manifest written by [`write_manifest`]; relative paths are resolved against the
/// manifest's directory.
pub fn read_manifest(path: &Path) -> Result<Vec<ManifestRow>, ManifestError> {
    use arrow::array::{Array, BooleanArray, Float64Array, StringArray, UInt8Array, UInt16Array};
    use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

    let fail = |problem: ManifestProblem| ManifestError::Unreadable {
        path: path.to_path_buf(),
        problem,
    };
    let file = std::fs::File::open(path).map_err(|e| fail(e.into()))?;
    let builder = ParquetRecordBatchReaderBuilder::try_new(file).map_err(|e| fail(e.into()))?;
    crate::sink::checksum::verify(path, builder.metadata())?;
    let reader = builder.build().map_err(|e| fail(e.into()))?;
    let base = path.parent().unwrap_or(Path::new("."));
    let resolve = |p: &str| base.join(p).to_string_lossy().into_owned();
    let mut rows = Vec::new();
    for batch in reader {
        let batch = batch.map_err(|e| fail(e.into()))?;
        macro_rules! column {
            ($name:literal, $ty:ty) => {
                batch
                    .column_by_name($name)
                    .and_then(|c| c.as_any().downcast_ref::<$ty>())
                    .ok_or_else(|| fail(ManifestProblem::Column($name)))?
            };
        }
        let shard = column!("shard", StringArray);
        let audio = column!("path", StringArray);
        let labels = column!("labels_path", StringArray);
        let split = column!("split", StringArray);
        let soundfont = column!("soundfont", StringArray);
        let bank = column!("bank", UInt16Array);
        let program = column!("program", UInt8Array);
        let velocity = column!("velocity", UInt8Array);
        let reverb = column!("reverb", BooleanArray);
        let duration = column!("duration", Float64Array);
        let sha256 = column!("sha256", StringArray);
        for i in 0..batch.num_rows() {
            rows.push(ManifestRow {
                shard: shard.value(i).to_string(),
                path: resolve(audio.value(i)),
                labels_path: resolve(labels.value(i)),
                split: split.value(i).to_string(),
                soundfont: soundfont.value(i).to_string(),
                bank: bank.value(i),
                program: program.value(i),
                velocity: velocity.value(i),
                reverb: reverb.value(i),
                duration: duration.value(i),
                sha256: sha256.value(i).to_string(),
            });
        }
    }
    Ok(rows)
}
