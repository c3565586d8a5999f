//! The result tables (schemas/combinations.md, additions.md, frame_metrics.md), materialised
//! from the sink's state and written as Parquet, each atomically. Rows are sorted by key, and
//! every number is derived from integer counts, so the files are identical whatever the number
//! of workers or processes that computed them.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use arrow::array::{
    ArrayRef, BooleanBuilder, Float64Builder, ListBuilder, RecordBatch, StringBuilder,
    UInt8Builder, UInt32Builder, UInt64Builder,
};
use arrow::datatypes::{DataType, Field, Schema};
use parquet::arrow::ArrowWriter;
use parquet::basic::Compression;
use parquet::file::properties::WriterProperties;

use super::keys::TableKey;
use super::state::TableState;
use super::truth::TrainCombinations;
use crate::analysis::metrics::{FrameCounts, FrameMetrics};
use crate::pitchset::{PitchSet, note_name};
use crate::sink::checksum::{Checksummed, close_with_checksum};
use crate::sink::{Durability, SinkError, write_atomically_with};

/// File names of the tables in an analysis directory.
pub const COMBINATIONS: &str = "combinations.parquet";
pub const ADDITIONS: &str = "additions.parquet";
pub const OMISSIONS: &str = "omissions.parquet";
pub const FRAME_METRICS: &str = "frame_metrics.parquet";
pub const SPLIT_METRICS: &str = "split_metrics.parquet";

/// Column builders of one table, in schema order.
struct TableBuilder {
    fields: Vec<Field>,
    columns: Vec<Box<dyn arrow::array::ArrayBuilder>>,
}

impl TableBuilder {
    fn new(columns: &[(&str, DataType)]) -> Self {
        let fields = columns
            .iter()
            .map(|(name, t)| Field::new(*name, t.clone(), false))
            .collect();
        let columns = columns
            .iter()
            .map(|(_, t)| -> Box<dyn arrow::array::ArrayBuilder> {
                match t {
                    DataType::Utf8 => Box::new(StringBuilder::new()),
                    DataType::UInt8 => Box::new(UInt8Builder::new()),
                    DataType::UInt32 => Box::new(UInt32Builder::new()),
                    DataType::UInt64 => Box::new(UInt64Builder::new()),
                    DataType::Float64 => Box::new(Float64Builder::new()),
                    DataType::Boolean => Box::new(BooleanBuilder::new()),
                    DataType::List(_) => {
                        Box::new(ListBuilder::new(UInt8Builder::new()).with_field(pitch_item()))
                    }
                    other => unreachable!("no builder for {other}"),
                }
            })
            .collect();
        Self { fields, columns }
    }

    /// Lets column `i` hold nulls.
    fn nullable(mut self, i: usize) -> Self {
        self.fields[i] = self.fields[i].clone().with_nullable(true);
        self
    }

    fn builder<B: 'static>(&mut self, i: usize) -> &mut B {
        self.columns[i]
            .as_any_mut()
            .downcast_mut::<B>()
            .expect("column type matches the schema")
    }

    fn str(&mut self, i: usize, v: &str) {
        self.builder::<StringBuilder>(i).append_value(v);
    }
    fn u8(&mut self, i: usize, v: u8) {
        self.builder::<UInt8Builder>(i).append_value(v);
    }
    fn u32(&mut self, i: usize, v: u32) {
        self.builder::<UInt32Builder>(i).append_value(v);
    }
    fn u64(&mut self, i: usize, v: u64) {
        self.builder::<UInt64Builder>(i).append_value(v);
    }
    fn f64(&mut self, i: usize, v: f64) {
        self.builder::<Float64Builder>(i).append_value(v);
    }
    fn opt_u64(&mut self, i: usize, v: Option<u64>) {
        self.builder::<UInt64Builder>(i).append_option(v);
    }
    fn opt_bool(&mut self, i: usize, v: Option<bool>) {
        self.builder::<BooleanBuilder>(i).append_option(v);
    }
    fn pitches(&mut self, i: usize, set: PitchSet) {
        let list = self.builder::<ListBuilder<UInt8Builder>>(i);
        list.values().append_slice(&set.to_vec());
        list.append(true);
    }

    fn finish(mut self) -> RecordBatch {
        let arrays: Vec<ArrayRef> = self.columns.iter_mut().map(|c| c.finish()).collect();
        RecordBatch::try_new(Arc::new(Schema::new(self.fields)), arrays)
            .expect("columns match the schema")
    }
}

fn pitch_item() -> Arc<Field> {
    Arc::new(Field::new("item", DataType::UInt8, false))
}

fn pitch_list() -> DataType {
    DataType::List(pitch_item())
}

fn ratio(num: u64, den: u64) -> f64 {
    if den == 0 {
        0.0
    } else {
        num as f64 / den as f64
    }
}

fn count(c: i64) -> u64 {
    c.max(0) as u64
}

/// Per (model, split, combination): `[frames, exact, added, omitted]`.
fn combination_counts(state: &TableState) -> BTreeMap<(&str, &str, PitchSet), [u64; 4]> {
    state
        .table_rows()
        .filter_map(|(key, c)| match key {
            TableKey::Combination {
                model,
                split,
                combination,
            } => Some((
                (model.as_str(), split.as_str(), *combination),
                [count(c.0[0]), count(c.0[1]), count(c.0[2]), count(c.0[3])],
            )),
            _ => None,
        })
        .collect()
}

fn combinations_batch(state: &TableState, train: Option<&TrainCombinations>) -> RecordBatch {
    let mut t = TableBuilder::new(&[
        ("model", DataType::Utf8),
        ("split", DataType::Utf8),
        ("combination", pitch_list()),
        ("name", DataType::Utf8),
        ("polyphony", DataType::UInt8),
        ("frames", DataType::UInt64),
        ("exact", DataType::UInt64),
        ("added", DataType::UInt64),
        ("omitted", DataType::UInt64),
        ("exact_ratio", DataType::Float64),
        ("added_ratio", DataType::Float64),
        ("omitted_ratio", DataType::Float64),
        ("train_frames", DataType::UInt64),
        ("shared", DataType::Boolean),
    ])
    .nullable(12)
    .nullable(13);
    for ((model, split, set), [frames, exact, added, omitted]) in combination_counts(state) {
        // Without training labels whether a combination was seen in training is unknown
        // (NULL), not "no".
        let train_frames = train.map(|t| t.frames(set));
        t.str(0, model);
        t.str(1, split);
        t.pitches(2, set);
        t.str(3, &set.name());
        t.u8(4, set.len() as u8);
        t.u64(5, frames);
        t.u64(6, exact);
        t.u64(7, added);
        t.u64(8, omitted);
        t.f64(9, ratio(exact, frames));
        t.f64(10, ratio(added, frames));
        t.f64(11, ratio(omitted, frames));
        t.opt_u64(12, train_frames);
        t.opt_bool(13, train_frames.map(|n| n > 0));
    }
    t.finish()
}

/// `additions` or `omissions`: which pitch, in how many of the combination's frames.
fn pitch_errors_batch(state: &TableState, additions: bool) -> RecordBatch {
    let totals = combination_counts(state);
    let mut t = TableBuilder::new(&[
        ("model", DataType::Utf8),
        ("split", DataType::Utf8),
        ("combination", pitch_list()),
        ("name", DataType::Utf8),
        ("pitch", DataType::UInt8),
        ("note", DataType::Utf8),
        ("frames", DataType::UInt64),
        ("ratio", DataType::Float64),
    ]);
    for (key, c) in state.table_rows() {
        let (model, split, combination, pitch) = match (key, additions) {
            (
                TableKey::Addition {
                    model,
                    split,
                    combination,
                    pitch,
                },
                true,
            )
            | (
                TableKey::Omission {
                    model,
                    split,
                    combination,
                    pitch,
                },
                false,
            ) => (model, split, *combination, *pitch),
            _ => continue,
        };
        let frames = count(c.0[0]);
        let total = totals
            .get(&(model.as_str(), split.as_str(), combination))
            .map_or(0, |c| c[0]);
        t.str(0, model);
        t.str(1, split);
        t.pitches(2, combination);
        t.str(3, &combination.name());
        t.u8(4, pitch);
        t.str(5, &note_name(pitch));
        t.u64(6, frames);
        t.f64(7, ratio(frames, total));
    }
    t.finish()
}

const METRIC_COLUMNS: [&str; 7] = [
    "precision",
    "recall",
    "f1",
    "accuracy",
    "e_sub",
    "e_miss",
    "e_fa",
];

fn metric_values(m: &FrameMetrics) -> [f64; 8] {
    [
        m.precision,
        m.recall,
        m.f1,
        m.accuracy,
        m.e_sub,
        m.e_miss,
        m.e_fa,
        m.e_tot,
    ]
}

fn metric_fields() -> Vec<(&'static str, DataType)> {
    METRIC_COLUMNS
        .iter()
        .chain(&["e_tot"])
        .map(|c| (*c, DataType::Float64))
        .collect()
}

/// Per (model, split, shard) counts.
fn shard_counts(state: &TableState) -> BTreeMap<(&str, &str), Vec<(&str, FrameCounts)>> {
    let mut out: BTreeMap<(&str, &str), Vec<(&str, FrameCounts)>> = BTreeMap::new();
    for (key, c) in state.table_rows() {
        if let TableKey::ShardMetrics {
            model,
            split,
            shard,
        } = key
        {
            out.entry((model, split))
                .or_default()
                .push((shard, c.to_frame_counts()));
        }
    }
    out
}

fn frame_metrics_batch(state: &TableState) -> RecordBatch {
    let mut columns = vec![
        ("model", DataType::Utf8),
        ("split", DataType::Utf8),
        ("shard", DataType::Utf8),
        ("frames", DataType::UInt64),
        ("tp", DataType::UInt64),
        ("fp", DataType::UInt64),
        ("fn", DataType::UInt64),
    ];
    columns.extend(metric_fields());
    let mut t = TableBuilder::new(&columns);
    for ((model, split), shards) in shard_counts(state) {
        for (shard, counts) in shards {
            t.str(0, model);
            t.str(1, split);
            t.str(2, shard);
            t.u64(3, counts.frames);
            t.u64(4, counts.tp);
            t.u64(5, counts.fp);
            t.u64(6, counts.fn_);
            for (i, v) in metric_values(&counts.metrics()).into_iter().enumerate() {
                t.f64(7 + i, v);
            }
        }
    }
    t.finish()
}

/// Per (model, split): the mean over shards of every shard metric (the 2016 port's
/// protocol), and the micro P/R/F over all frames.
fn split_metrics_batch(state: &TableState) -> RecordBatch {
    let mut columns = vec![
        ("model", DataType::Utf8),
        ("split", DataType::Utf8),
        ("shards", DataType::UInt32),
        ("frames", DataType::UInt64),
    ];
    columns.extend(metric_fields());
    columns.extend([
        ("micro_precision", DataType::Float64),
        ("micro_recall", DataType::Float64),
        ("micro_f1", DataType::Float64),
    ]);
    let mut t = TableBuilder::new(&columns);
    for ((model, split), shards) in shard_counts(state) {
        let mut total = FrameCounts::default();
        let mut sums = [0.0; 8];
        for (_, counts) in &shards {
            total.add(counts);
            for (s, v) in sums.iter_mut().zip(metric_values(&counts.metrics())) {
                *s += v;
            }
        }
        t.str(0, model);
        t.str(1, split);
        t.u32(2, shards.len() as u32);
        t.u64(3, total.frames);
        for (i, s) in sums.into_iter().enumerate() {
            t.f64(4 + i, s / shards.len() as f64);
        }
        let micro = total.metrics();
        t.f64(12, micro.precision);
        t.f64(13, micro.recall);
        t.f64(14, micro.f1);
    }
    t.finish()
}

fn write_batch(path: &Path, batch: &RecordBatch) -> Result<(), SinkError> {
    let props = WriterProperties::builder()
        .set_compression(Compression::SNAPPY)
        .build();
    // No fsync: a rename never exposes a half-written table, and after a crash `watch`
    // rebuilds every table from its inputs anyway; the change log is the durable record.
    write_atomically_with(
        path,
        Durability::Deferred,
        |w| -> Result<(), parquet::errors::ParquetError> {
            let w = Checksummed::new(w);
            let mut writer = ArrowWriter::try_new(w, batch.schema(), Some(props))?;
            writer.write(batch)?;
            close_with_checksum(writer)?;
            Ok(())
        },
    )
}

/// Writes all five tables into `dir`, each atomically.
pub fn write_tables(
    dir: &Path,
    state: &TableState,
    train: Option<&TrainCombinations>,
) -> Result<(), SinkError> {
    write_batch(&dir.join(COMBINATIONS), &combinations_batch(state, train))?;
    write_batch(&dir.join(ADDITIONS), &pitch_errors_batch(state, true))?;
    write_batch(&dir.join(OMISSIONS), &pitch_errors_batch(state, false))?;
    write_batch(&dir.join(FRAME_METRICS), &frame_metrics_batch(state))?;
    write_batch(&dir.join(SPLIT_METRICS), &split_metrics_batch(state))?;
    Ok(())
}
