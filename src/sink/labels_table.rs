//! The `labels` table (schemas/labels.md): one row per frame of every shard, with the pitches
//! sounding in it. Empty frames are written too (an empty list), so the table also says how
//! long every shard is.

use std::path::Path;
use std::sync::Arc;

use arrow::array::{ListBuilder, RecordBatch, StringBuilder, UInt8Builder, UInt32Builder};
use arrow::datatypes::{DataType, Field, Schema};
use parquet::arrow::ArrowWriter;
use parquet::basic::Compression;
use parquet::file::properties::WriterProperties;

use super::{SinkError, write_atomically};
use crate::labels::PianoRoll;

/// Parquet key-value metadata key holding the frame rate of the table.
pub const FPS_METADATA_KEY: &str = "entangle.fps";

/// Arrow schema of the `labels` table.
pub fn labels_schema() -> Schema {
    Schema::new(vec![
        Field::new("shard", DataType::Utf8, false),
        Field::new("frame", DataType::UInt32, false),
        Field::new(
            "pitches",
            DataType::List(Arc::new(Field::new("item", DataType::UInt8, false))),
            false,
        ),
    ])
}

/// Builds the record batch for one shard's roll.
pub fn labels_batch(shard: &str, roll: &PianoRoll) -> RecordBatch {
    let mut shards = StringBuilder::with_capacity(roll.len(), roll.len() * shard.len());
    let mut frames = UInt32Builder::with_capacity(roll.len());
    let mut pitches = ListBuilder::new(UInt8Builder::new()).with_field(Arc::new(Field::new(
        "item",
        DataType::UInt8,
        false,
    )));
    for (frame, set) in roll.frames.iter().enumerate() {
        shards.append_value(shard);
        frames.append_value(frame as u32);
        pitches.values().append_slice(&set.to_vec());
        pitches.append(true);
    }
    RecordBatch::try_new(
        Arc::new(labels_schema()),
        vec![
            Arc::new(shards.finish()),
            Arc::new(frames.finish()),
            Arc::new(pitches.finish()),
        ],
    )
    .expect("columns match the schema")
}

/// Writes `(shard, roll)` pairs as one `labels` Parquet file, atomically. All rolls must
/// share one frame rate, recorded in the file's metadata.
pub fn write_labels_table(path: &Path, shards: &[(String, PianoRoll)]) -> Result<(), SinkError> {
    let fps = shards.first().map(|(_, r)| r.fps).unwrap_or(0.0);
    if let Some((name, roll)) = shards.iter().find(|(_, r)| r.fps != fps) {
        return Err(SinkError::Write {
            path: path.to_path_buf(),
            reason: format!("shard {name} is at {} fps, the others at {fps}", roll.fps),
        });
    }
    let schema = Arc::new(labels_schema());
    let props = WriterProperties::builder()
        .set_compression(Compression::SNAPPY)
        .set_key_value_metadata(Some(vec![parquet::file::metadata::KeyValue::new(
            FPS_METADATA_KEY.to_string(),
            fps.to_string(),
        )]))
        .build();
    write_atomically(path, |w| -> Result<(), parquet::errors::ParquetError> {
        let mut writer = ArrowWriter::try_new(w, schema.clone(), Some(props))?;
        for (shard, roll) in shards {
            writer.write(&labels_batch(shard, roll))?;
        }
        writer.close()?;
        Ok(())
    })
}
