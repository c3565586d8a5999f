//! The `labels` table (schemas/labels.md): one row per frame of every shard, with the pitches
//! sounding in it. Empty frames are written too (an empty list), so the table also says how
//! long every shard is.

use std::path::Path;
use std::sync::Arc;

use arrow::array::{
    ListBuilder, RecordBatch, StringArray, StringBuilder, UInt8Builder, UInt32Array, UInt32Builder,
};
use arrow::datatypes::{DataType, Field, Schema};
use parquet::arrow::ArrowWriter;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

use super::columns::{pitch_lists, typed_column};
use super::{SinkError, write_atomically};
use crate::labels::PianoRoll;
use crate::pitchset::{PIANO_MAX, PIANO_MIN, PitchSet};

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
    write_labels_table_on(path, shards, None)
}

/// [`write_labels_table`] with the frames' time base recorded (`entangle.time_base`,
/// [`super::time_base`]), for labels framed at another system's irregular frame times.
pub fn write_labels_table_on(
    path: &Path,
    shards: &[(String, PianoRoll)],
    time_base: Option<&str>,
) -> Result<(), SinkError> {
    let fps = shards.first().map(|(_, r)| r.fps).unwrap_or(0.0);
    if let Some((name, roll)) = shards.iter().find(|(_, r)| r.fps != fps) {
        return Err(SinkError::Write {
            path: path.to_path_buf(),
            reason: format!("shard {name} is at {} fps, the others at {fps}", roll.fps),
        });
    }
    let schema = Arc::new(labels_schema());
    let props = super::predictions_table::properties_with_time_base(fps, time_base);
    write_atomically(path, |w| -> Result<(), parquet::errors::ParquetError> {
        let w = super::checksum::Checksummed::new(w);
        let mut writer = ArrowWriter::try_new(w, schema.clone(), Some(props))?;
        for (shard, roll) in shards {
            writer.write(&labels_batch(shard, roll))?;
        }
        super::checksum::close_with_checksum(writer)?;
        Ok(())
    })
}

/// What a frame a shard has no row for means (the table promises one row per frame).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum MissingFrames {
    /// An error naming the shard and the first missing frame.
    #[default]
    Error,
    /// Silence (an empty frame), for writers that leave empty frames out.
    Silence,
}

/// Reads a labels table back into one roll per shard, in the order shards first appear.
/// Rejects, naming the file and row: a missing or unreadable frame rate, pitches outside the
/// piano, a frame listed twice, and a frame missing before a shard's last one.
pub fn read_labels_table(path: &Path) -> Result<Vec<(String, PianoRoll)>, String> {
    let shards = read_labels_table_with(path, MissingFrames::Error)?;
    Ok(shards.into_iter().map(|(s, roll, _)| (s, roll)).collect())
}

/// [`read_labels_table`] with a choice of what missing frames mean; also gives the number
/// of frames each shard really has a row for.
pub fn read_labels_table_with(
    path: &Path,
    missing: MissingFrames,
) -> Result<Vec<(String, PianoRoll, usize)>, String> {
    let fail = |what: String| format!("{}: {what}", path.display());
    let file = std::fs::File::open(path).map_err(|e| fail(format!("cannot open: {e}")))?;
    let builder = ParquetRecordBatchReaderBuilder::try_new(file)
        .map_err(|e| fail(format!("not a readable Parquet file: {e}")))?;
    super::checksum::verify(path, builder.metadata()).map_err(|e| e.to_string())?;
    let fps = builder
        .metadata()
        .file_metadata()
        .key_value_metadata()
        .and_then(|kv| kv.iter().find(|kv| kv.key == FPS_METADATA_KEY))
        .and_then(|kv| kv.value.as_deref())
        .ok_or_else(|| {
            fail(format!(
                "no {FPS_METADATA_KEY:?} metadata: not a labels table"
            ))
        })?;
    let fps: f64 = fps
        .parse()
        .ok()
        .filter(|f: &f64| f.is_finite() && *f > 0.0)
        .ok_or_else(|| fail(format!("{FPS_METADATA_KEY} = {fps:?} is not a frame rate")))?;
    let reader = builder
        .with_batch_size(8192)
        .build()
        .map_err(|e| fail(e.to_string()))?;
    let mut shards: Vec<(String, PianoRoll)> = Vec::new();
    let mut index = std::collections::HashMap::new();
    let mut seen: Vec<Vec<bool>> = Vec::new();
    let mut rows_before = 0;
    let mut last: Option<usize> = None;
    for batch in reader {
        let batch = batch.map_err(|e| fail(e.to_string()))?;
        let shard = typed_column::<StringArray>(&batch, "shard").map_err(fail)?;
        let frame = typed_column::<UInt32Array>(&batch, "frame").map_err(fail)?;
        let (values, offsets) = pitch_lists(&batch, "pitches").map_err(fail)?;
        for i in 0..batch.num_rows() {
            let row = rows_before + i + 1;
            let name = shard.value(i);
            // Rows of a shard come together: look the name up only when it changes.
            let slot = match last {
                Some(slot) if shards[slot].0 == name => slot,
                _ => *index.entry(name.to_string()).or_insert_with(|| {
                    shards.push((
                        name.to_string(),
                        PianoRoll {
                            fps,
                            frames: Vec::new(),
                        },
                    ));
                    seen.push(Vec::new());
                    shards.len() - 1
                }),
            };
            last = Some(slot);
            let mut set = PitchSet::EMPTY;
            for &p in &values[offsets[i] as usize..offsets[i + 1] as usize] {
                if !(PIANO_MIN..=PIANO_MAX).contains(&p) {
                    return Err(fail(format!(
                        "row {row}: pitch {p} is outside the piano range {PIANO_MIN}..={PIANO_MAX}"
                    )));
                }
                set.insert(p);
            }
            let f = frame.value(i) as usize;
            let (frames, seen) = (&mut shards[slot].1.frames, &mut seen[slot]);
            if f >= frames.len() {
                frames.resize(f + 1, PitchSet::EMPTY);
                seen.resize(f + 1, false);
            }
            if std::mem::replace(&mut seen[f], true) {
                return Err(fail(format!(
                    "row {row}: shard {name:?} lists frame {f} twice"
                )));
            }
            frames[f] = set;
        }
        rows_before += batch.num_rows();
    }
    if missing == MissingFrames::Error {
        first_missing_frame(&shards, &seen).map_err(fail)?;
    }
    let rows = seen.iter().map(|s| s.iter().filter(|&&x| x).count());
    Ok(shards
        .into_iter()
        .zip(rows)
        .map(|((shard, roll), rows)| (shard, roll, rows))
        .collect())
}

/// Fails naming the first shard with a gap, and its first missing frame.
fn first_missing_frame(shards: &[(String, PianoRoll)], seen: &[Vec<bool>]) -> Result<(), String> {
    for ((shard, _), seen) in shards.iter().zip(seen) {
        if let Some(frame) = seen.iter().position(|&s| !s) {
            let missing = seen.iter().filter(|&&s| !s).count();
            return Err(format!(
                "shard {shard:?} has no row for frame {frame} ({missing} of its {} frames missing); a labels table has one row per frame (if missing frames mean silence, say so with --missing-frames-are-silence)",
                seen.len()
            ));
        }
    }
    Ok(())
}
