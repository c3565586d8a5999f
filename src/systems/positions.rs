//! Where in a note's life the errors fall (issue 12, item 9), as a batch table: every
//! pitch-frame that is labelled or predicted is counted as exact (labelled and predicted),
//! added or omitted, by its position relative to the nearest labelled note *of the same
//! pitch*, so that timing errors (a note on a frame early, held past its offset, ringing
//! through the release) can be told apart from notes invented elsewhere.
//!
//! Positions, for pitch `p` at frame `f`, with `p`'s labelled runs of frames `[s, e)`:
//! * inside a run: `onset` when `f - s <= k`, else `offset` when `e - 1 - f <= k`, else
//!   `sustain`;
//! * outside: `onset` when `0 < s - f <= k` for the next run, `offset` when
//!   `0 < f - (e - 1) <= k` for the previous one, `release` when the previous run ended at most
//!   `release` frames before, `before_onset` when the next run starts at most `release` frames
//!   later; otherwise `silence` when nothing is labelled at `f`, and `other_notes` when other
//!   pitches are (where entanglement errors live).
//!
//! Works on any `labels` + `predictions` pair at one frame rate (any model). Not incremental:
//! it is recomputed from the tables (the dataflow's tables are; this one is not yet).

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use arrow::array::{StringBuilder, UInt32Builder, UInt64Builder};
use arrow::datatypes::{DataType, Field, Schema};
use arrow::record_batch::RecordBatch;
use parquet::arrow::ArrowWriter;

use crate::labels::PianoRoll;
use crate::pitchset::{PIANO_MAX, PIANO_MIN, PitchSet};
use crate::sink::SinkError;
use crate::sink::atomic::write_atomically;

/// The positions, in the order tables list them.
pub const POSITIONS: [&str; 7] = [
    "before_onset",
    "onset",
    "sustain",
    "offset",
    "release",
    "silence",
    "other_notes",
];

/// Counts of pitch-frames at one position.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts {
    pub exact: u64,
    pub added: u64,
    pub omitted: u64,
}

/// The window sizes, in frames.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Windows {
    /// Frames on either side of a labelled onset or offset that count as "at" it.
    pub k: usize,
    /// Frames after an offset (before an onset) that count as release (before onset).
    pub release: usize,
}

/// Counts per position for one shard: `truth` and `predicted` frame by frame (a predicted
/// frame past the truth's end is ignored; a missing one is empty).
pub fn count_shard(truth: &[PitchSet], predicted: &[PitchSet], w: Windows) -> [Counts; 7] {
    let mut counts = [Counts::default(); 7];
    for pitch in PIANO_MIN..=PIANO_MAX {
        let runs = runs_of(truth, pitch);
        for (f, t) in truth.iter().enumerate() {
            let labelled = t.contains(pitch);
            let guessed = predicted.get(f).is_some_and(|p| p.contains(pitch));
            if !labelled && !guessed {
                continue;
            }
            let at = position(&runs, f, w, t.is_empty());
            let c = &mut counts[at];
            match (labelled, guessed) {
                (true, true) => c.exact += 1,
                (false, true) => c.added += 1,
                (true, false) => c.omitted += 1,
                (false, false) => unreachable!(),
            }
        }
    }
    counts
}

/// The maximal runs `[s, e)` of frames labelled with `pitch`.
fn runs_of(truth: &[PitchSet], pitch: u8) -> Vec<(usize, usize)> {
    let mut runs = Vec::new();
    let mut start = None;
    for (f, t) in truth.iter().enumerate() {
        match (t.contains(pitch), start) {
            (true, None) => start = Some(f),
            (false, Some(s)) => {
                runs.push((s, f));
                start = None;
            }
            _ => {}
        }
    }
    if let Some(s) = start {
        runs.push((s, truth.len()));
    }
    runs
}

/// Index into [`POSITIONS`] of frame `f` relative to `runs`.
fn position(runs: &[(usize, usize)], f: usize, w: Windows, silent: bool) -> usize {
    // The first run that ends after f: f is inside it or before it.
    let i = runs.partition_point(|&(_, e)| e <= f);
    if let Some(&(s, e)) = runs.get(i).filter(|&&(s, _)| s <= f) {
        return if f - s <= w.k {
            1
        } else if e - 1 - f <= w.k {
            3
        } else {
            2
        };
    }
    let until_next = runs.get(i).map(|&(s, _)| s - f);
    let since_last = i.checked_sub(1).map(|j| f - (runs[j].1 - 1));
    if until_next.is_some_and(|d| d <= w.k) {
        1
    } else if since_last.is_some_and(|d| d <= w.k) {
        3
    } else if since_last.is_some_and(|d| d <= w.release) {
        4
    } else if until_next.is_some_and(|d| d <= w.release) {
        0
    } else if silent {
        5
    } else {
        6
    }
}

/// One row of the `positions` table.
#[derive(Debug, Clone, PartialEq)]
pub struct PositionRow {
    pub model: String,
    pub position: &'static str,
    pub counts: Counts,
}

/// Counts per model and position over all shards of `labels`; predictions of shards the labels
/// lack are ignored, labelled shards a model lacks count as predicted empty.
pub fn count(
    labels: &[(String, PianoRoll)],
    predictions: &BTreeMap<String, BTreeMap<String, Vec<PitchSet>>>,
    w: Windows,
) -> Vec<PositionRow> {
    let mut rows = Vec::new();
    for (model, shards) in predictions {
        let mut total = [Counts::default(); 7];
        for (shard, roll) in labels {
            let predicted = shards.get(shard).map_or(&[][..], Vec::as_slice);
            for (t, c) in total
                .iter_mut()
                .zip(count_shard(&roll.frames, predicted, w))
            {
                t.exact += c.exact;
                t.added += c.added;
                t.omitted += c.omitted;
            }
        }
        rows.extend(
            POSITIONS
                .iter()
                .zip(total)
                .map(|(&position, counts)| PositionRow {
                    model: model.clone(),
                    position,
                    counts,
                }),
        );
    }
    rows
}

/// The positions of a `labels` and a `predictions` table (the two must be on one time base:
/// [`crate::sink::time_base::check_join`]), with `k` frames around onsets and offsets and
/// `release_seconds` of release; the counts, the windows in frames, and the time base.
pub fn positions_of_tables(
    labels: &Path,
    predictions: &Path,
    k: usize,
    release_seconds: f64,
) -> anyhow::Result<(Vec<PositionRow>, Windows, String)> {
    use crate::sink::predictions_table::{FrameRate, scan_predictions};
    use crate::sink::time_base::{LabelsTimeBase, check_join, even_grid, of_file};
    anyhow::ensure!(
        release_seconds.is_finite() && release_seconds >= 0.0,
        "the release must be a non-negative number of seconds, not {release_seconds}"
    );
    let truth = crate::sink::labels_table::read_labels_table(labels)?;
    let fps = truth.first().map_or(0.0, |(_, r)| r.fps);
    let time_base = LabelsTimeBase {
        source: labels.to_path_buf(),
        time_base: of_file(labels)
            .map_err(anyhow::Error::msg)?
            .unwrap_or_else(|| even_grid(fps)),
    };
    check_join(&time_base, predictions).map_err(anyhow::Error::msg)?;
    let rate = FrameRate {
        expected: Some(fps),
        assumed: None,
    };
    let mut predicted = BTreeMap::<String, BTreeMap<String, Vec<PitchSet>>>::new();
    scan_predictions(predictions, rate, |r| {
        let frames = predicted
            .entry(r.model.to_string())
            .or_default()
            .entry(r.shard.to_string())
            .or_default();
        let f = r.frame as usize;
        if frames.len() <= f {
            frames.resize(f + 1, Default::default());
        }
        frames[f] = r.pitches;
        Ok(())
    })
    .map_err(anyhow::Error::msg)?;
    let windows = Windows {
        k,
        release: (release_seconds * fps).round() as usize,
    };
    Ok((
        count(&truth, &predicted, windows),
        windows,
        time_base.time_base,
    ))
}

/// Writes the `positions` table atomically (schemas/positions.md); every row says the time
/// base its frames were counted on.
pub fn write_positions(
    path: &Path,
    rows: &[PositionRow],
    w: Windows,
    time_base: &str,
) -> Result<(), SinkError> {
    let schema = Arc::new(Schema::new(vec![
        Field::new("model", DataType::Utf8, false),
        Field::new("position", DataType::Utf8, false),
        Field::new("exact", DataType::UInt64, false),
        Field::new("added", DataType::UInt64, false),
        Field::new("omitted", DataType::UInt64, false),
        Field::new("k_frames", DataType::UInt32, false),
        Field::new("release_frames", DataType::UInt32, false),
        Field::new("time_base", DataType::Utf8, false),
    ]));
    let mut model = StringBuilder::new();
    let mut position = StringBuilder::new();
    let (mut exact, mut added, mut omitted) = (
        UInt64Builder::new(),
        UInt64Builder::new(),
        UInt64Builder::new(),
    );
    let (mut k, mut release) = (UInt32Builder::new(), UInt32Builder::new());
    let mut base = StringBuilder::new();
    for r in rows {
        base.append_value(time_base);
        model.append_value(&r.model);
        position.append_value(r.position);
        exact.append_value(r.counts.exact);
        added.append_value(r.counts.added);
        omitted.append_value(r.counts.omitted);
        k.append_value(w.k as u32);
        release.append_value(w.release as u32);
    }
    let batch = RecordBatch::try_new(
        schema.clone(),
        vec![
            Arc::new(model.finish()),
            Arc::new(position.finish()),
            Arc::new(exact.finish()),
            Arc::new(added.finish()),
            Arc::new(omitted.finish()),
            Arc::new(k.finish()),
            Arc::new(release.finish()),
            Arc::new(base.finish()),
        ],
    )
    .map_err(|e| SinkError::Write {
        path: path.to_path_buf(),
        reason: e.to_string(),
    })?;
    write_atomically(path, |out| -> Result<(), parquet::errors::ParquetError> {
        let mut writer = ArrowWriter::try_new(out, schema, None)?;
        writer.write(&batch)?;
        writer.close()?;
        Ok(())
    })
}

/// Reads a `positions` table back (for its figure): its rows, in file order.
pub fn read_positions(path: &Path) -> anyhow::Result<Vec<PositionRow>> {
    use crate::sink::columns::typed_column;
    use arrow::array::{StringArray, UInt64Array};
    let fail = |what: String| anyhow::anyhow!("{}: {what}", path.display());
    let file = std::fs::File::open(path).map_err(|e| fail(format!("cannot open: {e}")))?;
    let reader = parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(file)
        .and_then(|b| b.build())
        .map_err(|e| fail(format!("not a readable Parquet file: {e}")))?;
    let mut rows = Vec::new();
    for batch in reader {
        let batch = batch.map_err(|e| fail(e.to_string()))?;
        let text = |name: &str| typed_column::<StringArray>(&batch, name).map_err(&fail);
        let number = |name: &str| typed_column::<UInt64Array>(&batch, name).map_err(&fail);
        let (model, position) = (text("model")?, text("position")?);
        let (exact, added, omitted) = (number("exact")?, number("added")?, number("omitted")?);
        for i in 0..batch.num_rows() {
            let name = position.value(i);
            let position = POSITIONS
                .iter()
                .find(|&&p| p == name)
                .ok_or_else(|| fail(format!("row {}: unknown position {name:?}", i + 1)))?;
            rows.push(PositionRow {
                model: model.value(i).to_string(),
                position,
                counts: Counts {
                    exact: exact.value(i),
                    added: added.value(i),
                    omitted: omitted.value(i),
                },
            });
        }
    }
    Ok(rows)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sets(frames: &[&[u8]]) -> Vec<PitchSet> {
        frames.iter().map(|p| p.iter().copied().collect()).collect()
    }

    fn at(counts: &[Counts; 7], name: &str) -> Counts {
        counts[POSITIONS.iter().position(|&p| p == name).unwrap()]
    }

    #[test]
    fn hand_counted_positions() {
        // C4 (60) labelled in frames 3..9; E4 (64) in 12..14. k = 1, release = 3.
        let truth = sets(&[
            &[],
            &[],
            &[],
            &[60],
            &[60],
            &[60],
            &[60],
            &[60],
            &[60],
            &[],
            &[],
            &[],
            &[64],
            &[64],
            &[],
            &[],
            &[],
            &[],
        ]);
        // Predicted: 60 a frame early (2), missed at its onset (3), held 3 frames past its
        // offset (9, 10, 11); 72 invented during 64 (12) and in silence (17); 64 exact.
        let predicted = sets(&[
            &[],
            &[],
            &[60],
            &[],
            &[60],
            &[60],
            &[60],
            &[60],
            &[60],
            &[60],
            &[60],
            &[60],
            &[64, 72],
            &[64],
            &[],
            &[],
            &[],
            &[72],
        ]);
        let c = count_shard(&truth, &predicted, Windows { k: 1, release: 3 });
        // onset: 60 at 2 (added, early), 3 (omitted), 4 (exact); 64 at 12, 13 (exact;
        // 13 is also within k of the offset, onset wins). The offset (8, 9): 60 at 7 exact,
        // 8 exact, 9 added.
        assert_eq!(
            at(&c, "onset"),
            Counts {
                exact: 3,
                added: 1,
                omitted: 1
            }
        );
        assert_eq!(
            at(&c, "sustain"),
            Counts {
                exact: 2,
                added: 0,
                omitted: 0
            }
        );
        assert_eq!(
            at(&c, "offset"),
            Counts {
                exact: 2,
                added: 1,
                omitted: 0
            }
        );
        assert_eq!(
            at(&c, "release"),
            Counts {
                exact: 0,
                added: 2,
                omitted: 0
            }
        );
        assert_eq!(
            at(&c, "other_notes"),
            Counts {
                exact: 0,
                added: 1,
                omitted: 0
            }
        );
        assert_eq!(
            at(&c, "silence"),
            Counts {
                exact: 0,
                added: 1,
                omitted: 0
            }
        );
        assert_eq!(at(&c, "before_onset"), Counts::default());
        let total: u64 = c.iter().map(|c| c.exact + c.omitted).sum();
        assert_eq!(total, 8, "every labelled pitch-frame counted once");
    }
}
