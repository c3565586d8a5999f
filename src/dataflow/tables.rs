//! The result tables (schemas/combinations.md, additions.md, frame_metrics.md, positions.md),
//! materialised from the sink's state and written as Parquet, each atomically. Rows are sorted
//! by key, and every number is derived from integer counts, so the files are identical whatever
//! the number of workers or processes that computed them. Every row names the time base its
//! frames were counted on.

use std::collections::BTreeMap;
use std::path::Path;

use arrow::array::RecordBatch;
use parquet::arrow::ArrowWriter;
use parquet::basic::Compression;
use parquet::file::properties::WriterProperties;

use super::keys::{CombinationTally, Counts, TableKey};
use super::state::TableState;
use super::truth::TrainCombinations;
use crate::analysis::metrics::{FrameCounts, FrameMetrics};
use crate::analysis::positions::{Position, Windows};
use crate::pitchset::{PitchSet, note_name};
use crate::sink::checksum::{Checksummed, close_with_checksum};
use crate::sink::rows::{
    CombinationRow, FrameMetricsRow, PitchErrorRow, PositionRow, SplitMetricsRow, TableRow,
};
use crate::sink::{Durability, SinkError, write_atomically_with};

/// File names of the tables in an analysis directory.
pub const COMBINATIONS: &str = "combinations.parquet";
pub const ADDITIONS: &str = "additions.parquet";
pub const OMISSIONS: &str = "omissions.parquet";
pub const FRAME_METRICS: &str = "frame_metrics.parquet";
pub const SPLIT_METRICS: &str = "split_metrics.parquet";
pub const POSITIONS: &str = "positions.parquet";

/// What the tables need besides the counts.
#[derive(Debug, Clone, Copy)]
pub struct TableContext<'a> {
    /// The training labels, for `train_frames` and `shared` (`None`: NULL).
    pub train: Option<&'a TrainCombinations>,
    /// The labels' time base (`crate::sink::time_base`), on every row.
    pub time_base: &'a str,
    /// The windows the `positions` table was counted with.
    pub windows: Windows,
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
fn combination_counts(state: &TableState) -> BTreeMap<(&str, &str, PitchSet), CombinationTally> {
    state
        .table_rows()
        .filter_map(|(key, c)| match key {
            TableKey::Combination {
                model,
                split,
                combination,
            } => Some((
                (model.as_str(), split.as_str(), *combination),
                c.combination(),
            )),
            _ => None,
        })
        .collect()
}

fn combinations_batch(state: &TableState, context: TableContext<'_>) -> RecordBatch {
    let rows: Vec<CombinationRow> = combination_counts(state)
        .into_iter()
        .map(|((model, split, set), tally)| {
            let CombinationTally {
                frames,
                exact,
                added,
                omitted,
            } = tally;
            // Without training labels whether a combination was seen in training is unknown
            // (NULL), not "no".
            let train_frames = context.train.map(|t| t.frames(set));
            CombinationRow {
                model: model.into(),
                split: split.into(),
                combination: set.to_vec(),
                name: set.name(),
                polyphony: set.len() as u8,
                frames,
                exact,
                added,
                omitted,
                exact_ratio: ratio(exact, frames),
                added_ratio: ratio(added, frames),
                omitted_ratio: ratio(omitted, frames),
                train_frames,
                shared: train_frames.map(|n| n > 0),
                time_base: context.time_base.into(),
            }
        })
        .collect();
    CombinationRow::to_batch(&rows)
}

/// `additions` or `omissions`: which pitch, in how many of the combination's frames.
fn pitch_errors_batch(state: &TableState, additions: bool, time_base: &str) -> RecordBatch {
    let mut rows = Vec::new();
    let mut last: Option<((&str, &str, PitchSet), String, u64)> = None;
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
        // Rows come sorted, a combination's pitches together: its name (formatted note by
        // note) and its frames (its `combinations` row in the state) are looked up once per
        // combination, not once per row.
        let slot = (model.as_str(), split.as_str(), combination);
        if last.as_ref().is_none_or(|(at, ..)| *at != slot) {
            let row = TableKey::Combination {
                model: model.clone(),
                split: split.clone(),
                combination,
            };
            let total = state.rows.get(&row).map_or(0, |c| c.combination().frames);
            last = Some((slot, combination.name(), total));
        }
        let (_, name, total) = last.as_ref().expect("set above");
        let frames = count(c.frames());
        rows.push(PitchErrorRow {
            model: model.to_string(),
            split: split.to_string(),
            combination: combination.to_vec(),
            name: name.clone(),
            pitch,
            note: note_name(pitch),
            frames,
            ratio: ratio(frames, *total),
            time_base: time_base.into(),
        });
    }
    PitchErrorRow::to_batch(&rows)
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

fn frame_metrics_batch(state: &TableState, time_base: &str) -> RecordBatch {
    let mut rows = Vec::new();
    for ((model, split), shards) in shard_counts(state) {
        for (shard, counts) in shards {
            let m = counts.metrics();
            rows.push(FrameMetricsRow {
                model: model.into(),
                split: split.into(),
                shard: shard.into(),
                frames: counts.frames,
                tp: counts.tp,
                fp: counts.fp,
                fn_: counts.fn_,
                precision: m.precision,
                recall: m.recall,
                f1: m.f1,
                accuracy: m.accuracy,
                e_sub: m.e_sub,
                e_miss: m.e_miss,
                e_fa: m.e_fa,
                e_tot: m.e_tot,
                time_base: time_base.into(),
            });
        }
    }
    FrameMetricsRow::to_batch(&rows)
}

/// Per (model, split): the mean over shards of every shard metric (the 2016 port's
/// protocol), and the micro P/R/F over all frames.
fn split_metrics_batch(state: &TableState, time_base: &str) -> RecordBatch {
    let mut rows = Vec::new();
    for ((model, split), shards) in shard_counts(state) {
        let mut total = FrameCounts::default();
        let metrics: Vec<FrameMetrics> = shards
            .iter()
            .map(|(_, counts)| {
                total.add(counts);
                counts.metrics()
            })
            .collect();
        let mean = |pick: fn(&FrameMetrics) -> f64| {
            metrics.iter().map(pick).sum::<f64>() / metrics.len() as f64
        };
        let micro = total.metrics();
        rows.push(SplitMetricsRow {
            model: model.into(),
            split: split.into(),
            shards: shards.len() as u32,
            frames: total.frames,
            precision: mean(|m| m.precision),
            recall: mean(|m| m.recall),
            f1: mean(|m| m.f1),
            accuracy: mean(|m| m.accuracy),
            e_sub: mean(|m| m.e_sub),
            e_miss: mean(|m| m.e_miss),
            e_fa: mean(|m| m.e_fa),
            e_tot: mean(|m| m.e_tot),
            micro_precision: micro.precision,
            micro_recall: micro.recall,
            micro_f1: micro.f1,
            time_base: time_base.into(),
        });
    }
    SplitMetricsRow::to_batch(&rows)
}

/// Per (model, split), every position, with zeros where no pitch-frame fell (so each
/// model's rows add up without a missing position reading as NULL).
fn positions_batch(state: &TableState, context: TableContext<'_>) -> RecordBatch {
    let mut counts: BTreeMap<(&str, &str), BTreeMap<Position, Counts>> = BTreeMap::new();
    for (key, c) in state.table_rows() {
        if let TableKey::Position {
            model,
            split,
            position,
        } = key
        {
            counts
                .entry((model, split))
                .or_default()
                .insert(*position, *c);
        }
    }
    let mut rows = Vec::new();
    for ((model, split), by_position) in counts {
        for position in Position::ALL {
            let c = by_position.get(&position).copied().unwrap_or_default();
            let [exact, added, omitted] = c.exact_added_omitted();
            rows.push(PositionRow {
                model: model.into(),
                split: split.into(),
                position: position.name().into(),
                exact,
                added,
                omitted,
                k_frames: context.windows.k as u32,
                release_frames: context.windows.release as u32,
                time_base: context.time_base.into(),
            });
        }
    }
    PositionRow::to_batch(&rows)
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

/// The six result tables.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Table {
    Combinations,
    Additions,
    Omissions,
    FrameMetrics,
    SplitMetrics,
    Positions,
}

impl Table {
    pub const ALL: [Table; 6] = [
        Table::Combinations,
        Table::Additions,
        Table::Omissions,
        Table::FrameMetrics,
        Table::SplitMetrics,
        Table::Positions,
    ];

    /// The table's file name in an analysis directory.
    pub fn file(self) -> &'static str {
        match self {
            Table::Combinations => COMBINATIONS,
            Table::Additions => ADDITIONS,
            Table::Omissions => OMISSIONS,
            Table::FrameMetrics => FRAME_METRICS,
            Table::SplitMetrics => SPLIT_METRICS,
            Table::Positions => POSITIONS,
        }
    }

    /// The tables whose rows a change to `key` can change: a combination's frames are the
    /// denominator of its additions' and omissions' ratios; the shard rows give both metric
    /// tables. Bookkeeping keys are in no table.
    pub fn of_key(key: &TableKey) -> &'static [Table] {
        match key {
            TableKey::Combination { .. } => {
                &[Table::Combinations, Table::Additions, Table::Omissions]
            }
            TableKey::Addition { .. } => &[Table::Additions],
            TableKey::Omission { .. } => &[Table::Omissions],
            TableKey::ShardMetrics { .. } => &[Table::FrameMetrics, Table::SplitMetrics],
            TableKey::Position { .. } => &[Table::Positions],
            _ => &[],
        }
    }

    fn batch(self, state: &TableState, context: TableContext<'_>) -> RecordBatch {
        let time_base = context.time_base;
        match self {
            Table::Combinations => combinations_batch(state, context),
            Table::Additions => pitch_errors_batch(state, true, time_base),
            Table::Omissions => pitch_errors_batch(state, false, time_base),
            Table::FrameMetrics => frame_metrics_batch(state, time_base),
            Table::SplitMetrics => split_metrics_batch(state, time_base),
            Table::Positions => positions_batch(state, context),
        }
    }
}

/// Writes all six tables into `dir`, each atomically.
pub fn write_tables(
    dir: &Path,
    state: &TableState,
    context: TableContext<'_>,
) -> Result<(), SinkError> {
    write_some_tables(dir, state, context, &Table::ALL)
}

/// Writes `tables` into `dir`, each atomically, in parallel (each is built and encoded on its
/// own; a watch round that changed one shard should not pay for the tables it left alone, nor
/// for the others one after another).
pub fn write_some_tables(
    dir: &Path,
    state: &TableState,
    context: TableContext<'_>,
    tables: &[Table],
) -> Result<(), SinkError> {
    use rayon::prelude::*;
    tables
        .par_iter()
        .try_for_each(|table| write_batch(&dir.join(table.file()), &table.batch(state, context)))
}
