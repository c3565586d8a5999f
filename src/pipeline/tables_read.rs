//! Reading the analysis tables back (for model selection, figures and the report): the same
//! files a user loads into DuckDB, so the figures show exactly what the tables say.

use std::path::Path;

use arrow::array::{
    Array, BooleanArray, Float64Array, ListArray, RecordBatch, StringArray, UInt8Array,
    UInt32Array, UInt64Array,
};
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

fn batches(path: &Path) -> anyhow::Result<Vec<RecordBatch>> {
    let file = std::fs::File::open(path)
        .map_err(|e| anyhow::anyhow!("{}: cannot open: {e}", path.display()))?;
    let builder = ParquetRecordBatchReaderBuilder::try_new(file)
        .map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
    crate::sink::checksum::verify(path, builder.metadata())?;
    let reader = builder
        .build()
        .map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
    reader
        .map(|b| b.map_err(|e| anyhow::anyhow!("{}: {e}", path.display())))
        .collect()
}

fn column<'a, T: 'static>(
    path: &Path,
    batch: &'a RecordBatch,
    name: &str,
) -> anyhow::Result<&'a T> {
    crate::sink::columns::typed_column(batch, name)
        .map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))
}

fn pitches(list: &ListArray, i: usize) -> Vec<u8> {
    list.value(i)
        .as_any()
        .downcast_ref::<UInt8Array>()
        .map(|a| a.values().to_vec())
        .unwrap_or_default()
}

/// A `split_metrics` row.
#[derive(Debug, Clone, PartialEq)]
pub struct SplitMetrics {
    pub model: String,
    pub split: String,
    pub shards: u32,
    pub frames: u64,
    pub precision: f64,
    pub recall: f64,
    pub f1: f64,
    pub accuracy: f64,
    pub e_tot: f64,
    pub micro_f1: f64,
}

pub fn read_split_metrics(path: &Path) -> anyhow::Result<Vec<SplitMetrics>> {
    let mut rows = Vec::new();
    for b in batches(path)? {
        let s = |n| column::<StringArray>(path, &b, n);
        let f = |n| column::<Float64Array>(path, &b, n);
        let (model, split) = (s("model")?, s("split")?);
        let (p, r, f1, acc, etot, micro) = (
            f("precision")?,
            f("recall")?,
            f("f1")?,
            f("accuracy")?,
            f("e_tot")?,
            f("micro_f1")?,
        );
        let shards = column::<UInt32Array>(path, &b, "shards")?;
        let frames = column::<UInt64Array>(path, &b, "frames")?;
        for i in 0..b.num_rows() {
            rows.push(SplitMetrics {
                model: model.value(i).into(),
                split: split.value(i).into(),
                shards: shards.value(i),
                frames: frames.value(i),
                precision: p.value(i),
                recall: r.value(i),
                f1: f1.value(i),
                accuracy: acc.value(i),
                e_tot: etot.value(i),
                micro_f1: micro.value(i),
            });
        }
    }
    Ok(rows)
}

/// A `combinations` row.
#[derive(Debug, Clone, PartialEq)]
pub struct Combination {
    pub model: String,
    pub split: String,
    pub combination: Vec<u8>,
    pub name: String,
    pub frames: u64,
    pub exact: u64,
    pub added: u64,
    pub omitted: u64,
    pub exact_ratio: f64,
    pub added_ratio: f64,
    pub omitted_ratio: f64,
    /// `None` when the analysis had no training labels.
    pub shared: Option<bool>,
}

pub fn read_combinations(path: &Path) -> anyhow::Result<Vec<Combination>> {
    let mut rows = Vec::new();
    for b in batches(path)? {
        let s = |n| column::<StringArray>(path, &b, n);
        let u = |n| column::<UInt64Array>(path, &b, n);
        let f = |n| column::<Float64Array>(path, &b, n);
        let (model, split, name) = (s("model")?, s("split")?, s("name")?);
        let combination = column::<ListArray>(path, &b, "combination")?;
        let (frames, exact, added, omitted) =
            (u("frames")?, u("exact")?, u("added")?, u("omitted")?);
        let (er, ar, or) = (f("exact_ratio")?, f("added_ratio")?, f("omitted_ratio")?);
        let shared = column::<BooleanArray>(path, &b, "shared")?;
        for i in 0..b.num_rows() {
            rows.push(Combination {
                model: model.value(i).into(),
                split: split.value(i).into(),
                combination: pitches(combination, i),
                name: name.value(i).into(),
                frames: frames.value(i),
                exact: exact.value(i),
                added: added.value(i),
                omitted: omitted.value(i),
                exact_ratio: er.value(i),
                added_ratio: ar.value(i),
                omitted_ratio: or.value(i),
                shared: shared.is_valid(i).then(|| shared.value(i)),
            });
        }
    }
    Ok(rows)
}

/// An `additions` / `omissions` row.
#[derive(Debug, Clone, PartialEq)]
pub struct PitchError {
    pub model: String,
    pub combination: Vec<u8>,
    pub name: String,
    pub pitch: u8,
    pub frames: u64,
    pub ratio: f64,
}

pub fn read_pitch_errors(path: &Path) -> anyhow::Result<Vec<PitchError>> {
    let mut rows = Vec::new();
    for b in batches(path)? {
        let model = column::<StringArray>(path, &b, "model")?;
        let name = column::<StringArray>(path, &b, "name")?;
        let combination = column::<ListArray>(path, &b, "combination")?;
        let pitch = column::<UInt8Array>(path, &b, "pitch")?;
        let frames = column::<UInt64Array>(path, &b, "frames")?;
        let ratio = column::<Float64Array>(path, &b, "ratio")?;
        for i in 0..b.num_rows() {
            rows.push(PitchError {
                model: model.value(i).into(),
                combination: pitches(combination, i),
                name: name.value(i).into(),
                pitch: pitch.value(i),
                frames: frames.value(i),
                ratio: ratio.value(i),
            });
        }
    }
    Ok(rows)
}
