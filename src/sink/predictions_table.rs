//! The `predictions` table (schemas/predictions.md): one row per frame with a prediction —
//! `model`, `shard`, `frame`, `pitches` (the thresholded set) and optionally `probs` (88
//! sigmoid outputs, piano keys A0..C8). Any transcription system can be analysed by writing
//! this table; reading it validates what the analysis relies on.

use std::collections::HashSet;
use std::path::Path;
use std::sync::Arc;

use arrow::array::{
    Array, FixedSizeListArray, FixedSizeListBuilder, Float32Builder, ListBuilder, RecordBatch,
    StringArray, StringBuilder, UInt8Builder, UInt32Array, UInt32Builder,
};
use arrow::datatypes::{DataType, Field, Schema};
use parquet::arrow::ArrowWriter;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use parquet::basic::Compression;
use parquet::file::properties::WriterProperties;

use super::columns::{pitch_lists, typed_column};
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

/// Writes predictions atomically.
pub fn write_predictions(path: &Path, rows: &[PredictionRow]) -> Result<(), SinkError> {
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
    let batch = RecordBatch::try_new(
        Arc::new(predictions_schema()),
        vec![
            Arc::new(model.finish()),
            Arc::new(shard.finish()),
            Arc::new(frame.finish()),
            Arc::new(pitches.finish()),
            Arc::new(probs.finish()),
        ],
    )
    .map_err(|e| SinkError::Write {
        path: path.to_path_buf(),
        reason: e.to_string(),
    })?;
    let props = WriterProperties::builder()
        .set_compression(Compression::SNAPPY)
        .build();
    write_atomically(path, |w| -> Result<(), parquet::errors::ParquetError> {
        let w = super::checksum::Checksummed::new(w);
        let mut writer = ArrowWriter::try_new(w, batch.schema(), Some(props))?;
        writer.write(&batch)?;
        super::checksum::close_with_checksum(writer)?;
        Ok(())
    })
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

/// Streams a predictions table batch by batch, validating each row: pitches inside the piano,
/// probabilities finite and in [0, 1]. `visit` sees every valid row; the first error (the
/// file's or `visit`'s) stops the scan. Errors name the file and the row. Duplicate rows are
/// the caller's to detect (it knows what a row is keyed by).
pub fn scan_predictions<F>(path: &Path, mut visit: F) -> Result<(), String>
where
    F: FnMut(PredictionRef<'_>) -> Result<(), String>,
{
    let fail = |what: String| format!("{}: {what}", path.display());
    let file = std::fs::File::open(path).map_err(|e| fail(format!("cannot open: {e}")))?;
    let builder = ParquetRecordBatchReaderBuilder::try_new(file)
        .map_err(|e| fail(format!("not a readable Parquet file: {e}")))?;
    super::checksum::verify(path, builder.metadata())?;
    // A `probs` column that is null in every row (the column statistics say so) has nothing
    // to validate; decoding its 88 placeholder slots per row would dominate the scan.
    let metadata = builder.metadata().clone();
    let schema = builder.parquet_schema();
    let probs_all_null = metadata.row_groups().iter().all(|rg| {
        rg.columns()
            .iter()
            .filter(|c| c.column_path().parts().first().map(String::as_str) == Some("probs"))
            .all(|c| {
                c.statistics()
                    .and_then(|s| s.null_count_opt())
                    .is_some_and(|nulls| nulls as i64 == c.num_values())
            })
    });
    let roots: Vec<usize> = (0..schema.root_schema().get_fields().len())
        .filter(|&i| !(probs_all_null && schema.root_schema().get_fields()[i].name() == "probs"))
        .collect();
    let mask = parquet::arrow::ProjectionMask::roots(schema, roots);
    let reader = builder
        .with_projection(mask)
        .with_batch_size(8192)
        .build()
        .map_err(|e| fail(format!("not a readable Parquet file: {e}")))?;
    let mut rows_before = 0;
    for batch in reader {
        let batch = batch.map_err(|e| fail(e.to_string()))?;
        let model = typed_column::<StringArray>(&batch, "model").map_err(fail)?;
        let shard = typed_column::<StringArray>(&batch, "shard").map_err(fail)?;
        let frame = typed_column::<UInt32Array>(&batch, "frame").map_err(fail)?;
        let (pitch_values, pitch_offsets) = pitch_lists(&batch, "pitches").map_err(fail)?;
        let probs = batch.column_by_name("probs").cloned();
        let mistyped = |name: &str| fail(format!("column {name:?} has the wrong type"));
        let probs = match &probs {
            Some(p) => {
                let list = p
                    .as_any()
                    .downcast_ref::<FixedSizeListArray>()
                    .ok_or_else(|| mistyped("probs"))?;
                let values = list
                    .values()
                    .as_any()
                    .downcast_ref::<arrow::array::Float32Array>()
                    .ok_or_else(|| mistyped("probs"))?;
                if list.value_length() as usize != PIANO_KEYS {
                    return Err(fail(format!(
                        "column \"probs\" holds {} values per row, not {PIANO_KEYS}",
                        list.value_length()
                    )));
                }
                Some((list, values.values()))
            }
            None => None,
        };
        for i in 0..batch.num_rows() {
            let row = rows_before + i + 1;
            let row_error = |what: String| fail(format!("row {row}: {what}"));
            let mut set = PitchSet::EMPTY;
            let (start, end) = (pitch_offsets[i] as usize, pitch_offsets[i + 1] as usize);
            for &p in &pitch_values[start..end] {
                if !(PIANO_MIN..=PIANO_MAX).contains(&p) {
                    return Err(row_error(format!(
                        "pitch {p} is outside the piano range {PIANO_MIN}..={PIANO_MAX}"
                    )));
                }
                set.insert(p);
            }
            let row_probs = match probs {
                Some((list, values)) if list.is_valid(i) => {
                    let at = list.value_offset_at(i);
                    let v = &values[at..at + PIANO_KEYS];
                    if let Some(bad) = v.iter().find(|x| !(0.0..=1.0).contains(*x)) {
                        return Err(row_error(format!("probability {bad} is not in [0, 1]")));
                    }
                    Some(v)
                }
                _ => None,
            };
            visit(PredictionRef {
                row,
                model: model.value(i),
                shard: shard.value(i),
                frame: frame.value(i),
                pitches: set,
                probs: row_probs,
            })
            .map_err(|e| fail(format!("row {row}: {e}")))?;
        }
        rows_before += batch.num_rows();
    }
    Ok(())
}

/// Reads a whole predictions table into memory, rejecting what would make the analysis wrong:
/// pitches outside the piano, non-finite or out-of-range probabilities, and duplicate (model,
/// shard, frame) rows. Errors name the file and the row.
pub fn read_predictions(path: &Path) -> Result<Vec<PredictionRow>, String> {
    let mut rows = Vec::new();
    let mut seen = HashSet::new();
    scan_predictions(path, |r| {
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
