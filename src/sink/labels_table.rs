//! The `labels` table (schemas/labels.md): one row per frame of every shard, with the pitches
//! sounding in it. Empty frames are written too (an empty list), so the table also says how
//! long every shard is.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow::array::{
    ListBuilder, RecordBatch, StringArray, StringBuilder, UInt8Builder, UInt32Array, UInt32Builder,
};
use arrow::datatypes::{DataType, Field, Schema};
use parquet::arrow::ArrowWriter;
use parquet::arrow::arrow_reader::{ParquetRecordBatchReader, ParquetRecordBatchReaderBuilder};

use super::columns::{pitch_lists, typed_column};
use super::{SinkError, write_atomically};
use crate::labels::PianoRoll;
use crate::labels::coded::{CodedFrames, Codes, SetCodes};
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

/// A labels table that cannot be used, naming the file (and the row, for a bad row).
#[derive(Debug, thiserror::Error)]
pub enum LabelsError {
    #[error("{}: {problem}", path.display())]
    File {
        path: PathBuf,
        #[source]
        problem: LabelsProblem,
    },
    #[error("{}: row {row}: {problem}", path.display())]
    Row {
        path: PathBuf,
        /// 1-based.
        row: usize,
        #[source]
        problem: LabelsRowProblem,
    },
    #[error(transparent)]
    Damaged(#[from] super::checksum::ChecksumError),
}

/// What is wrong with a labels file as a whole.
#[derive(Debug, thiserror::Error)]
pub enum LabelsProblem {
    #[error("cannot open: {0}")]
    Open(#[source] std::io::Error),
    #[error("not a readable Parquet file: {0}")]
    NotParquet(#[source] parquet::errors::ParquetError),
    #[error("{0}")]
    Read(#[source] parquet::errors::ParquetError),
    #[error("{0}")]
    Batch(#[source] arrow::error::ArrowError),
    #[error("no {FPS_METADATA_KEY:?} metadata: not a labels table")]
    NoFrameRate,
    #[error("{FPS_METADATA_KEY} = {0:?} is not a frame rate")]
    BadFrameRate(String),
    /// A column missing or of the wrong type.
    #[error("{0}")]
    Column(String),
    #[error(
        "shard {shard:?} has no row for frame {frame} ({missing} of its {frames} frames missing); a labels table has one row per frame (if missing frames mean silence, say so with --missing-frames-are-silence)"
    )]
    MissingFrame {
        shard: String,
        frame: usize,
        missing: usize,
        frames: usize,
    },
}

/// What is wrong with one row.
#[derive(Debug, thiserror::Error)]
pub enum LabelsRowProblem {
    #[error("pitch {0} is outside the piano range {PIANO_MIN}..={PIANO_MAX}")]
    PitchRange(u8),
    #[error("shard {shard:?} lists frame {frame} twice")]
    Twice { shard: String, frame: usize },
}

/// Reads a labels table back into one roll per shard, in the order shards first appear.
/// Rejects, naming the file and row: a missing or unreadable frame rate, pitches outside the
/// piano, a frame listed twice, and a frame missing before a shard's last one.
pub fn read_labels_table(path: &Path) -> Result<Vec<(String, PianoRoll)>, LabelsError> {
    let shards = read_labels_table_with(path, MissingFrames::Error)?;
    Ok(shards.into_iter().map(|(s, roll, _)| (s, roll)).collect())
}

/// [`read_labels_table`] with a choice of what missing frames mean; also gives the number
/// of frames each shard really has a row for.
pub fn read_labels_table_with(
    path: &Path,
    missing: MissingFrames,
) -> Result<Vec<(String, PianoRoll, usize)>, LabelsError> {
    let (fps, shards) = read_labels_table_coded(path, missing)?;
    Ok(shards
        .into_iter()
        .map(|(shard, frames, rows)| {
            let frames = frames.to_vec();
            (shard, PianoRoll { fps, frames }, rows)
        })
        .collect())
}

/// A shard's name, its coded frames, and the number of frames it has a row for.
pub type CodedShard = (String, CodedFrames, usize);

/// [`read_labels_table_with`] keeping the frames coded ([`CodedFrames`], 2 bytes a frame
/// rather than 16, and never more while reading): the frame rate, and per shard its frames
/// and the number it has a row for.
pub fn read_labels_table_coded(
    path: &Path,
    missing: MissingFrames,
) -> Result<(f64, Vec<CodedShard>), LabelsError> {
    let file_error = |problem| LabelsError::File {
        path: path.to_path_buf(),
        problem,
    };
    let (fps, reader) = open_labels(path)?;
    let mut rolls = ShardRolls::default();
    let mut rows_before = 0;
    for batch in reader {
        let batch = batch.map_err(|e| file_error(LabelsProblem::Batch(e)))?;
        rolls.add_batch(&batch).map_err(|e| match e {
            BatchProblem::Column(e) => file_error(LabelsProblem::Column(e)),
            BatchProblem::Row(i, problem) => LabelsError::Row {
                path: path.to_path_buf(),
                row: rows_before + i + 1,
                problem,
            },
        })?;
        rows_before += batch.num_rows();
    }
    Ok((fps, rolls.finish(missing).map_err(file_error)?))
}

/// Opens a labels table: checks its checksum and reads its frame rate.
fn open_labels(path: &Path) -> Result<(f64, ParquetRecordBatchReader), LabelsError> {
    let fail = |problem| LabelsError::File {
        path: path.to_path_buf(),
        problem,
    };
    let file = std::fs::File::open(path).map_err(|e| fail(LabelsProblem::Open(e)))?;
    let builder = ParquetRecordBatchReaderBuilder::try_new(file)
        .map_err(|e| fail(LabelsProblem::NotParquet(e)))?;
    super::checksum::verify(path, builder.metadata())?;
    let fps = builder
        .metadata()
        .file_metadata()
        .key_value_metadata()
        .and_then(|kv| kv.iter().find(|kv| kv.key == FPS_METADATA_KEY))
        .and_then(|kv| kv.value.as_deref())
        .ok_or_else(|| fail(LabelsProblem::NoFrameRate))?;
    let fps: f64 = fps
        .parse()
        .ok()
        .filter(|f: &f64| f.is_finite() && *f > 0.0)
        .ok_or_else(|| fail(LabelsProblem::BadFrameRate(fps.to_string())))?;
    let reader = builder
        .with_batch_size(8192)
        .build()
        .map_err(|e| fail(LabelsProblem::Read(e)))?;
    Ok((fps, reader))
}

/// A batch that cannot be taken in: a bad column, or row `.0` (0-based in the batch).
enum BatchProblem {
    Column(String),
    Row(usize, LabelsRowProblem),
}

/// The shards read so far (their frames coded), with the frames each has a row for.
#[derive(Default)]
struct ShardRolls {
    names: Vec<String>,
    frames: Vec<Codes>,
    table: SetCodes,
    index: std::collections::HashMap<String, usize>,
    seen: Vec<Vec<bool>>,
    /// The shard of the previous row: rows of a shard come together, so the name is looked
    /// up only when it changes.
    last: Option<usize>,
    /// The previous row's set and code: a chord holds for many frames.
    last_set: Option<(PitchSet, u32)>,
}

impl ShardRolls {
    fn add_batch(&mut self, batch: &RecordBatch) -> Result<(), BatchProblem> {
        let shard = typed_column::<StringArray>(batch, "shard").map_err(BatchProblem::Column)?;
        let frame = typed_column::<UInt32Array>(batch, "frame").map_err(BatchProblem::Column)?;
        let (values, offsets) = pitch_lists(batch, "pitches").map_err(BatchProblem::Column)?;
        for i in 0..batch.num_rows() {
            let mut set = PitchSet::EMPTY;
            for &p in &values[offsets[i] as usize..offsets[i + 1] as usize] {
                if !(PIANO_MIN..=PIANO_MAX).contains(&p) {
                    return Err(BatchProblem::Row(i, LabelsRowProblem::PitchRange(p)));
                }
                set.insert(p);
            }
            self.add(shard.value(i), frame.value(i) as usize, set)
                .map_err(|p| BatchProblem::Row(i, p))?;
        }
        Ok(())
    }

    fn slot(&mut self, name: &str) -> usize {
        if let Some(slot) = self.last.filter(|&slot| self.names[slot] == name) {
            return slot;
        }
        let slot = *self.index.entry(name.to_string()).or_insert_with(|| {
            self.names.push(name.to_string());
            self.frames.push(Codes::default());
            self.seen.push(Vec::new());
            self.names.len() - 1
        });
        self.last = Some(slot);
        slot
    }

    fn add(&mut self, name: &str, f: usize, set: PitchSet) -> Result<(), LabelsRowProblem> {
        let slot = self.slot(name);
        let code = match self.last_set {
            Some((last, code)) if last == set => code,
            _ => self.table.code(set),
        };
        self.last_set = Some((set, code));
        let (frames, seen) = (&mut self.frames[slot], &mut self.seen[slot]);
        if f >= frames.len() {
            frames.resize(f + 1);
            seen.resize(f + 1, false);
        }
        if std::mem::replace(&mut seen[f], true) {
            return Err(LabelsRowProblem::Twice {
                shard: name.to_string(),
                frame: f,
            });
        }
        frames.set(f, code);
        Ok(())
    }

    /// The shards with the number of frames each has a row for; with
    /// [`MissingFrames::Error`], fails naming the first shard with a gap.
    fn finish(self, missing: MissingFrames) -> Result<Vec<CodedShard>, LabelsProblem> {
        if missing == MissingFrames::Error {
            first_missing_frame(&self.names, &self.seen)?;
        }
        let rows = self.seen.iter().map(|s| s.iter().filter(|&&x| x).count());
        let table = self.table.freeze();
        Ok(self
            .names
            .into_iter()
            .zip(self.frames)
            .zip(rows)
            .map(|((shard, mut codes), rows)| {
                codes.shrink_to_fit();
                (shard, CodedFrames::new(table.clone(), codes), rows)
            })
            .collect())
    }
}

/// Fails naming the first shard with a gap, and its first missing frame.
fn first_missing_frame(shards: &[String], seen: &[Vec<bool>]) -> Result<(), LabelsProblem> {
    for (shard, seen) in shards.iter().zip(seen) {
        if let Some(frame) = seen.iter().position(|&s| !s) {
            return Err(LabelsProblem::MissingFrame {
                shard: shard.clone(),
                frame,
                missing: seen.iter().filter(|&&s| !s).count(),
                frames: seen.len(),
            });
        }
    }
    Ok(())
}
