//! The `predictions` table (schemas/predictions.md): one row per frame with a prediction —
//! `model`, `shard`, `frame`, `pitches` (the thresholded set) and optionally `probs` (88
//! sigmoid outputs, piano keys A0..C8). Any transcription system can be analysed by writing
//! this table; reading it validates what the analysis relies on.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow::array::{
    Array, ArrayRef, FixedSizeListArray, FixedSizeListBuilder, Float32Array, Float32Builder,
    Int16Array, Int64Array, ListArray, ListBuilder, RecordBatch, StringArray, StringBuilder,
    UInt8Builder, UInt32Builder,
};
use arrow::datatypes::{DataType, Field, Schema};
use parquet::arrow::ArrowWriter;
use parquet::arrow::arrow_reader::{
    ArrowReaderMetadata, ParquetRecordBatchReader, ParquetRecordBatchReaderBuilder,
};
use parquet::basic::Compression;
use parquet::file::metadata::ParquetMetaData;
use parquet::file::properties::WriterProperties;

use super::labels_table::FPS_METADATA_KEY;
use super::{SinkError, write_atomically};
use crate::pitchset::{PIANO_KEYS, PIANO_MAX, PIANO_MIN, PitchSet};

/// One predicted frame.
#[derive(Debug, Clone, PartialEq)]
pub struct PredictionRow {
    pub model: String,
    pub shard: String,
    pub frame: u32,
    pub pitches: PitchSet,
    /// Per piano key (MIDI 21 + k), when the predictor has probabilities.
    pub probs: Option<Vec<f32>>,
}

fn item(data_type: DataType) -> Arc<Field> {
    Arc::new(Field::new("item", data_type, false))
}

pub fn predictions_schema() -> Schema {
    Schema::new(vec![
        Field::new("model", DataType::Utf8, false),
        Field::new("shard", DataType::Utf8, false),
        Field::new("frame", DataType::UInt32, false),
        Field::new("pitches", DataType::List(item(DataType::UInt8)), false),
        Field::new(
            "probs",
            DataType::FixedSizeList(item(DataType::Float32), PIANO_KEYS as i32),
            true,
        ),
    ])
}

/// Snappy-compressed Parquet whose key-value metadata records the frame rate
/// ([`FPS_METADATA_KEY`]): the writer properties of the labels and predictions tables.
pub fn properties_with_fps(fps: f64) -> WriterProperties {
    properties_with_time_base(fps, None)
}

/// [`properties_with_fps`], and the time base (`entangle.time_base`, [`super::time_base`])
/// when the frames are not an even grid at `fps`.
pub fn properties_with_time_base(fps: f64, time_base: Option<&str>) -> WriterProperties {
    let mut kv = vec![parquet::file::metadata::KeyValue::new(
        FPS_METADATA_KEY.to_string(),
        fps.to_string(),
    )];
    if let Some(base) = time_base {
        kv.push(parquet::file::metadata::KeyValue::new(
            super::time_base::TIME_BASE_KEY.to_string(),
            base.to_string(),
        ));
    }
    WriterProperties::builder()
        .set_compression(Compression::SNAPPY)
        .set_key_value_metadata(Some(kv))
        .build()
}

/// Writes predictions atomically, at `fps` frames per second (recorded as `entangle.fps`).
pub fn write_predictions(path: &Path, rows: &[PredictionRow], fps: f64) -> Result<(), SinkError> {
    write_predictions_on(path, rows, fps, None)
}

/// [`write_predictions`] with the frames' time base recorded (`entangle.time_base`).
pub fn write_predictions_on(
    path: &Path,
    rows: &[PredictionRow],
    fps: f64,
    time_base: Option<&str>,
) -> Result<(), SinkError> {
    write_groups(path, &[rows], fps, time_base)
}

/// A predictions table with a row group per element of `groups` (which `watch` can then
/// evaluate one by one, [`super::row_groups`]); a group of more than the writer's maximum
/// row group size (1 Mi rows) is split.
pub fn write_predictions_grouped(
    path: &Path,
    groups: &[Vec<PredictionRow>],
    fps: f64,
) -> Result<(), SinkError> {
    let groups: Vec<&[PredictionRow]> = groups.iter().map(Vec::as_slice).collect();
    write_groups(path, &groups, fps, None)
}

fn write_groups(
    path: &Path,
    groups: &[&[PredictionRow]],
    fps: f64,
    time_base: Option<&str>,
) -> Result<(), SinkError> {
    let batches: Vec<RecordBatch> = groups
        .iter()
        .map(|rows| predictions_batch(rows))
        .collect::<Result<_, _>>()
        .map_err(|e| SinkError::Write {
            path: path.to_path_buf(),
            reason: e.to_string(),
        })?;
    let props = properties_with_time_base(fps, time_base);
    write_atomically(path, |w| -> Result<(), parquet::errors::ParquetError> {
        let w = super::checksum::Checksummed::new(w);
        let mut writer = ArrowWriter::try_new(w, Arc::new(predictions_schema()), Some(props))?;
        for batch in &batches {
            writer.write(batch)?;
            // Each group of rows is a row group of its own.
            writer.flush()?;
        }
        super::checksum::close_with_checksum(writer)?;
        Ok(())
    })
}

fn predictions_batch(rows: &[PredictionRow]) -> Result<RecordBatch, arrow::error::ArrowError> {
    let mut model = StringBuilder::new();
    let mut shard = StringBuilder::new();
    let mut frame = UInt32Builder::new();
    let mut pitches = ListBuilder::new(UInt8Builder::new()).with_field(item(DataType::UInt8));
    let mut probs = FixedSizeListBuilder::new(Float32Builder::new(), PIANO_KEYS as i32)
        .with_field(item(DataType::Float32));
    for r in rows {
        model.append_value(&r.model);
        shard.append_value(&r.shard);
        frame.append_value(r.frame);
        pitches.values().append_slice(&r.pitches.to_vec());
        pitches.append(true);
        match &r.probs {
            Some(p) => {
                probs.values().append_slice(p);
                probs.append(true);
            }
            None => {
                probs.values().append_slice(&[0.0; PIANO_KEYS]);
                probs.append(false);
            }
        }
    }
    RecordBatch::try_new(
        Arc::new(predictions_schema()),
        vec![
            Arc::new(model.finish()),
            Arc::new(shard.finish()),
            Arc::new(frame.finish()),
            Arc::new(pitches.finish()),
            Arc::new(probs.finish()),
        ],
    )
}

/// One row of a predictions table, borrowed from the batch being scanned.
#[derive(Debug, Clone, Copy)]
pub struct PredictionRef<'a> {
    /// 1-based row number in the file, for error messages.
    pub row: usize,
    pub model: &'a str,
    pub shard: &'a str,
    pub frame: u32,
    pub pitches: PitchSet,
    pub probs: Option<&'a [f32]>,
}

/// The frame rate a predictions table must be at (schemas/predictions.md).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct FrameRate {
    /// The labels' frame rate; `None`: accept any (reading a table on its own).
    pub expected: Option<f64>,
    /// The rate to assume for a table without `entangle.fps` metadata (the `--fps` flag);
    /// `None`: such a table is refused when a rate is expected.
    pub assumed: Option<f64>,
}

/// The frame rate recorded in a Parquet file's `entangle.fps` metadata, if any.
pub fn metadata_fps(
    metadata: &parquet::file::metadata::ParquetMetaData,
) -> Result<Option<f64>, String> {
    let Some(value) = metadata
        .file_metadata()
        .key_value_metadata()
        .and_then(|kv| kv.iter().find(|kv| kv.key == FPS_METADATA_KEY))
        .and_then(|kv| kv.value.as_deref())
    else {
        return Ok(None);
    };
    value
        .trim()
        .parse()
        .ok()
        .filter(|f: &f64| f.is_finite() && *f > 0.0)
        .map(Some)
        .ok_or_else(|| format!("{FPS_METADATA_KEY} = {value:?} is not a frame rate"))
}

/// Whether two frame rates are the same (they come from text; allow for rounding).
pub fn same_fps(a: f64, b: f64) -> bool {
    (a - b).abs() <= 1e-9 * a.abs().max(b.abs())
}

fn check_fps(recorded: Option<f64>, rate: FrameRate) -> Result<(), String> {
    let Some(expected) = rate.expected else {
        return Ok(());
    };
    let (fps, source) = match (recorded, rate.assumed) {
        (Some(fps), _) => (fps, "its entangle.fps metadata"),
        (None, Some(fps)) => (fps, "--fps"),
        (None, None) => {
            return Err(format!(
                "no {FPS_METADATA_KEY:?} metadata, so its frame rate is unknown; write it \
                 into the file's key-value metadata or pass --fps (the labels are at {expected} fps)"
            ));
        }
    };
    if !same_fps(fps, expected) {
        return Err(format!(
            "predictions at {fps} fps (from {source}), labels at {expected} fps: frame \
             indices would not line up; predict at the labels' frame rate"
        ));
    }
    Ok(())
}

/// A string column as UTF-8 whatever string type the writer chose (pandas: large strings or
/// dictionaries, polars: string views).
fn string_column(batch: &RecordBatch, name: &str) -> Result<StringArray, String> {
    let column = batch
        .column_by_name(name)
        .ok_or_else(|| format!("no column {name:?}"))?;
    match column.data_type() {
        DataType::Utf8 => Ok(column.clone()),
        DataType::LargeUtf8 | DataType::Utf8View => cast_as(column, &DataType::Utf8),
        DataType::Dictionary(_, value)
            if matches!(
                **value,
                DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View
            ) =>
        {
            cast_as(column, &DataType::Utf8)
        }
        other => Err(format!(
            "column {name:?}: expected a string (utf8), got {other}"
        )),
    }
    .and_then(|a: ArrayRef| {
        a.as_any()
            .downcast_ref::<StringArray>()
            .cloned()
            .ok_or_else(|| format!("column {name:?}: cannot read as utf8"))
    })
    .and_then(|a| {
        if a.null_count() > 0 {
            let row = (0..a.len()).find(|&i| a.is_null(i)).unwrap_or(0);
            Err(format!("column {name:?} is null in row {}", row + 1))
        } else {
            Ok(a)
        }
    })
}

fn cast_as(column: &ArrayRef, to: &DataType) -> Result<ArrayRef, String> {
    arrow::compute::cast(column, to).map_err(|e| e.to_string())
}

/// The `frame` column as i64, from any integer type (int32 from DuckDB, int64 from pandas and
/// polars, uint32 from entangle); nulls are the rows' to report.
fn frame_column(batch: &RecordBatch) -> Result<Int64Array, String> {
    let column = batch
        .column_by_name("frame")
        .ok_or_else(|| "no column \"frame\"".to_string())?;
    if !column.data_type().is_integer() {
        return Err(format!(
            "column \"frame\": expected an integer frame index (int32, int64, uint32, ...), got {}",
            column.data_type()
        ));
    }
    let cast = cast_as(column, &DataType::Int64)?;
    Ok(cast.as_any().downcast_ref::<Int64Array>().unwrap().clone())
}

/// The `pitches` column as a list of i16, from a list (or large list) of any integer type.
fn pitch_column(batch: &RecordBatch) -> Result<ListArray, String> {
    let column = batch
        .column_by_name("pitches")
        .ok_or_else(|| "no column \"pitches\"".to_string())?;
    let integer_items = match column.data_type() {
        DataType::List(item) | DataType::LargeList(item) | DataType::FixedSizeList(item, _) => {
            item.data_type().is_integer()
        }
        _ => false,
    };
    if !integer_items {
        return Err(format!(
            "column \"pitches\": expected a list of integer MIDI pitches (list<uint8>, \
             list<int64>, ...), got {}",
            column.data_type()
        ));
    }
    let target = DataType::List(Arc::new(Field::new("item", DataType::Int16, true)));
    let cast = cast_as(column, &target)?;
    Ok(cast.as_any().downcast_ref::<ListArray>().unwrap().clone())
}

/// The `probs` column as flat f32 values with per-row offsets, from a fixed-size or
/// variable-length list of float32 or float64.
struct ProbColumn {
    list: ArrayRef,
    values: Float32Array,
    offsets: Vec<usize>,
}

fn probs_column(column: &ArrayRef) -> Result<ProbColumn, String> {
    let float_item = |item: &Field| {
        matches!(
            item.data_type(),
            DataType::Float16 | DataType::Float32 | DataType::Float64
        )
    };
    let item = Arc::new(Field::new("item", DataType::Float32, true));
    let (list, values, offsets): (ArrayRef, ArrayRef, Vec<usize>) = match column.data_type() {
        DataType::FixedSizeList(f, n) if float_item(f) => {
            let list = cast_as(column, &DataType::FixedSizeList(item, *n))?;
            let fixed = list.as_any().downcast_ref::<FixedSizeListArray>().unwrap();
            let n = *n as usize;
            let values = fixed.values().clone();
            let offsets = (0..=fixed.len()).map(|i| i * n).collect();
            (list.clone(), values, offsets)
        }
        DataType::List(f) | DataType::LargeList(f) if float_item(f) => {
            let list = cast_as(column, &DataType::List(item))?;
            let var = list.as_any().downcast_ref::<ListArray>().unwrap();
            let values = var.values().clone();
            let offsets = var.value_offsets().iter().map(|&o| o as usize).collect();
            (list.clone(), values, offsets)
        }
        other => {
            return Err(format!(
                "column \"probs\": expected a list of {PIANO_KEYS} floats (fixed_size_list<float32, \
                 {PIANO_KEYS}> or list<float32|float64>), got {other}"
            ));
        }
    };
    let values = values
        .as_any()
        .downcast_ref::<Float32Array>()
        .unwrap()
        .clone();
    Ok(ProbColumn {
        list,
        values,
        offsets,
    })
}

/// A predictions table that cannot be used, naming the file (and the row, for a bad row).
#[derive(Debug, thiserror::Error)]
pub enum PredictionsError {
    #[error("{}: {problem}", path.display())]
    File {
        path: PathBuf,
        #[source]
        problem: FileProblem,
    },
    #[error("{}: row {row}: {problem}", path.display())]
    Row {
        path: PathBuf,
        /// 1-based.
        row: usize,
        #[source]
        problem: RowProblem,
    },
    #[error(transparent)]
    Damaged(#[from] super::checksum::ChecksumError),
}

/// What is wrong with a predictions file as a whole.
#[derive(Debug, thiserror::Error)]
pub enum FileProblem {
    #[error("cannot open: {0}")]
    Open(#[source] std::io::Error),
    #[error("not a readable Parquet file: {0}")]
    NotParquet(#[source] parquet::errors::ParquetError),
    #[error("{0}")]
    Read(#[source] arrow::error::ArrowError),
    /// Missing, unreadable or mismatched frame rate.
    #[error("{0}")]
    FrameRate(String),
    /// A column missing or of a type no reading of the schema accepts.
    #[error("{0}")]
    Column(String),
}

/// What is wrong with one row.
#[derive(Debug, thiserror::Error)]
pub enum RowProblem {
    #[error("frame is null or too large")]
    FrameNull,
    #[error("frame {0} is not a frame index")]
    Frame(i64),
    #[error("pitches is null (write an empty list)")]
    PitchesNull,
    #[error("a pitch is null or not a MIDI number")]
    PitchNull,
    #[error("pitch {0} is outside the piano range {PIANO_MIN}..={PIANO_MAX}")]
    PitchRange(i16),
    #[error("probs: expected {PIANO_KEYS} values (one per piano key), got {0}")]
    ProbCount(usize),
    #[error("a probability is null")]
    ProbNull,
    #[error("probability {0} is not in [0, 1]")]
    ProbRange(f32),
    /// Refused by the caller's visitor (e.g. a duplicate).
    #[error("{0}")]
    Rejected(String),
}

/// Whether the `probs` column is null in every row of every row group, by the column
/// statistics (a column without them counts as not null).
fn probs_all_null(metadata: &ParquetMetaData) -> bool {
    metadata.row_groups().iter().all(|rg| {
        rg.columns()
            .iter()
            .filter(|c| c.column_path().parts().first().map(String::as_str) == Some("probs"))
            .all(|c| {
                c.statistics()
                    .and_then(|s| s.null_count_opt())
                    .is_some_and(|nulls| nulls as i64 == c.num_values())
            })
    })
}

/// A predictions table opened once: its footer read, its checksum and frame rate checked.
/// Every scan of it reads through this one handle, so a table replaced by rename meanwhile
/// is never half one version and half the other (what `watch` fingerprints and what it
/// decodes are the same bytes).
pub struct PredictionsFile {
    path: PathBuf,
    file: std::fs::File,
    metadata: ArrowReaderMetadata,
    /// The `probs` column is null in every row (its statistics say so): scans leave it out.
    probs_all_null: bool,
}

impl PredictionsFile {
    pub fn open(path: &Path, rate: FrameRate) -> Result<Self, PredictionsError> {
        let fail = |problem| PredictionsError::File {
            path: path.to_path_buf(),
            problem,
        };
        let file = std::fs::File::open(path).map_err(|e| fail(FileProblem::Open(e)))?;
        let metadata = ArrowReaderMetadata::load(&file, Default::default())
            .map_err(|e| fail(FileProblem::NotParquet(e)))?;
        super::checksum::verify_open(path, &file, metadata.metadata())?;
        metadata_fps(metadata.metadata())
            .and_then(|fps| check_fps(fps, rate))
            .map_err(|e| fail(FileProblem::FrameRate(e)))?;
        let probs_all_null = probs_all_null(metadata.metadata());
        Ok(Self {
            path: path.to_path_buf(),
            file,
            metadata,
            probs_all_null,
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn metadata(&self) -> &ParquetMetaData {
        self.metadata.metadata()
    }

    /// The open file (positioned reads only: scans read it through duplicates of the handle).
    pub fn file(&self) -> &std::fs::File {
        &self.file
    }

    /// A reader of the table, or (`row_group`) of one of its row groups, leaving out a `probs`
    /// column that is null in every row (the column statistics say so): there is nothing in
    /// it to validate, and decoding its 88 placeholder slots per row would dominate the scan.
    /// Returns the reader and the number of rows before the first it reads (for row numbers
    /// in messages).
    fn reader(
        &self,
        row_group: Option<usize>,
    ) -> Result<(ParquetRecordBatchReader, usize), PredictionsError> {
        let fail = |problem| PredictionsError::File {
            path: self.path.clone(),
            problem,
        };
        let file = self
            .file
            .try_clone()
            .map_err(|e| fail(FileProblem::Open(e)))?;
        let builder =
            ParquetRecordBatchReaderBuilder::new_with_metadata(file, self.metadata.clone());
        let metadata = self.metadata();
        let schema = builder.parquet_schema();
        let fields = schema.root_schema().get_fields();
        let roots: Vec<usize> = (0..fields.len())
            .filter(|&i| !(self.probs_all_null && fields[i].name() == "probs"))
            .collect();
        let mask = parquet::arrow::ProjectionMask::roots(schema, roots);
        let builder = builder.with_projection(mask).with_batch_size(8192);
        let (builder, rows_before) = match row_group {
            Some(group) => {
                let groups = metadata.row_groups();
                if group >= groups.len() {
                    let message = format!("no row group {group} (it has {})", groups.len());
                    return Err(fail(FileProblem::Column(message)));
                }
                let before = groups[..group].iter().map(|g| g.num_rows() as usize).sum();
                (builder.with_row_groups(vec![group]), before)
            }
            None => (builder, 0),
        };
        let reader = builder
            .build()
            .map_err(|e| fail(FileProblem::NotParquet(e)))?;
        Ok((reader, rows_before))
    }

    /// Streams the table, or (`row_group`) one of its row groups, batch by batch, validating
    /// each row (see [`scan_predictions`]); rows are numbered from the top of the file.
    pub fn scan<F>(&self, row_group: Option<usize>, mut visit: F) -> Result<(), PredictionsError>
    where
        F: FnMut(PredictionRef<'_>) -> Result<(), String>,
    {
        let path = &self.path;
        let row_error = |row, problem| PredictionsError::Row {
            path: path.clone(),
            row,
            problem,
        };
        let file_error = |problem| PredictionsError::File {
            path: path.clone(),
            problem,
        };
        let (reader, mut rows_before) = self.reader(row_group)?;
        for batch in reader {
            let batch = batch.map_err(|e| file_error(FileProblem::Read(e)))?;
            let columns = PredictionColumns::of(&batch).map_err(file_error)?;
            for i in 0..batch.num_rows() {
                let row = rows_before + i + 1;
                let prediction = columns.row(i, row).map_err(|p| row_error(row, p))?;
                visit(prediction).map_err(|e| row_error(row, RowProblem::Rejected(e)))?;
            }
            rows_before += batch.num_rows();
        }
        Ok(())
    }
}

/// One decoded batch, its columns in the types the checks read.
struct PredictionColumns {
    model: StringArray,
    shard: StringArray,
    frame: Int64Array,
    pitches: ListArray,
    probs: Option<ProbColumn>,
}

impl PredictionColumns {
    fn of(batch: &RecordBatch) -> Result<Self, FileProblem> {
        Ok(Self {
            model: string_column(batch, "model").map_err(FileProblem::Column)?,
            shard: string_column(batch, "shard").map_err(FileProblem::Column)?,
            frame: frame_column(batch).map_err(FileProblem::Column)?,
            pitches: pitch_column(batch).map_err(FileProblem::Column)?,
            probs: batch
                .column_by_name("probs")
                .map(probs_column)
                .transpose()
                .map_err(FileProblem::Column)?,
        })
    }

    /// Row `i` of the batch (`row` in the file), checked.
    fn row(&self, i: usize, row: usize) -> Result<PredictionRef<'_>, RowProblem> {
        if self.frame.is_null(i) {
            // A uint64 past i64::MAX casts to null, as does a null frame.
            return Err(RowProblem::FrameNull);
        }
        let frame = self.frame.value(i);
        let frame = u32::try_from(frame).map_err(|_| RowProblem::Frame(frame))?;
        Ok(PredictionRef {
            row,
            model: self.model.value(i),
            shard: self.shard.value(i),
            frame,
            pitches: self.pitches(i)?,
            probs: self.probs(i)?,
        })
    }

    fn pitches(&self, i: usize) -> Result<PitchSet, RowProblem> {
        if self.pitches.is_null(i) {
            return Err(RowProblem::PitchesNull);
        }
        let values = self
            .pitches
            .values()
            .as_any()
            .downcast_ref::<Int16Array>()
            .expect("cast to list<int16>");
        let offsets = self.pitches.value_offsets();
        let mut set = PitchSet::EMPTY;
        for k in offsets[i] as usize..offsets[i + 1] as usize {
            if values.is_null(k) {
                return Err(RowProblem::PitchNull);
            }
            let p = values.value(k);
            if !(i16::from(PIANO_MIN)..=i16::from(PIANO_MAX)).contains(&p) {
                return Err(RowProblem::PitchRange(p));
            }
            set.insert(p as u8);
        }
        Ok(set)
    }

    fn probs(&self, i: usize) -> Result<Option<&[f32]>, RowProblem> {
        let Some(column) = self.probs.as_ref().filter(|c| c.list.is_valid(i)) else {
            return Ok(None);
        };
        let (at, to) = (column.offsets[i], column.offsets[i + 1]);
        if to - at != PIANO_KEYS {
            return Err(RowProblem::ProbCount(to - at));
        }
        if column.values.null_count() > 0 && (at..to).any(|k| column.values.is_null(k)) {
            return Err(RowProblem::ProbNull);
        }
        let v = &column.values.values()[at..to];
        if let Some(&bad) = v.iter().find(|x| !(0.0..=1.0).contains(*x)) {
            return Err(RowProblem::ProbRange(bad));
        }
        Ok(Some(v))
    }
}

/// Streams a predictions table batch by batch (so memory does not grow with the file),
/// validating each row: pitches inside the piano, probabilities finite, in [0, 1] and one per
/// piano key, and the frame rate (`rate`). Column types are what pandas, polars, pyarrow and
/// DuckDB write by default (schemas/predictions.md); any compression Parquet defines. `visit`
/// sees every valid row; the first error (the file's or `visit`'s) stops the scan. Errors
/// name the file and the row. Duplicate rows are the caller's to detect (it knows what a row
/// is keyed by).
pub fn scan_predictions<F>(path: &Path, rate: FrameRate, visit: F) -> Result<(), PredictionsError>
where
    F: FnMut(PredictionRef<'_>) -> Result<(), String>,
{
    PredictionsFile::open(path, rate)?.scan(None, visit)
}

/// Reads a whole predictions table into memory, rejecting what would make the analysis wrong:
/// pitches outside the piano, non-finite or out-of-range probabilities, and duplicate (model,
/// shard, frame) rows. Errors name the file and the row.
pub fn read_predictions(path: &Path) -> Result<Vec<PredictionRow>, PredictionsError> {
    let mut rows = Vec::new();
    let mut seen = HashSet::new();
    scan_predictions(path, FrameRate::default(), |r| {
        let key = (r.model.to_string(), r.shard.to_string(), r.frame);
        if !seen.insert(key.clone()) {
            return Err(format!(
                "duplicate prediction for model {:?}, shard {:?}, frame {}",
                key.0, key.1, key.2
            ));
        }
        rows.push(PredictionRow {
            model: key.0,
            shard: key.1,
            frame: key.2,
            pitches: r.pitches,
            probs: r.probs.map(<[f32]>::to_vec),
        });
        Ok(())
    })?;
    Ok(rows)
}
