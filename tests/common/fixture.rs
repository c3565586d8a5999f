//! Synthetic labels and predictions for the analysis tests: random piano rolls drawn from a
//! small pool of combinations (so combinations repeat, as in music), and predictions that
//! add and drop notes at random.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use entangle::dataflow::units::EvaluationOptions;
use entangle::dataflow::{AnalysisOptions, ClusterOptions, TruthSource};
use entangle::labels::PianoRoll;
use entangle::pipeline::tables_read::read_rows;
use entangle::pitchset::PitchSet;
use entangle::sink::labels_table::write_labels_table;
use entangle::sink::predictions_table::{PredictionRow, write_predictions};
use entangle::sink::rows::{CombinationRow, PitchErrorRow};

/// splitmix64: deterministic and dependency-free.
pub struct Rng(pub u64);

impl Rng {
    pub fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

fn set(p: &[u8]) -> PitchSet {
    p.iter().copied().collect()
}

/// `shards` rolls of `frames` frames each, at 100 fps.
pub fn random_rolls(
    rng: &mut Rng,
    prefix: &str,
    shards: usize,
    frames: usize,
) -> Vec<(String, PianoRoll)> {
    let pool = [
        set(&[]),
        set(&[60]),
        set(&[64]),
        set(&[60, 64]),
        set(&[60, 64, 67]),
        set(&[55, 62]),
        set(&[21, 108]),
        set(&[48, 52, 55, 60]),
    ];
    (0..shards)
        .map(|s| {
            let rolls = (0..frames)
                .map(|_| pool[rng.below(pool.len() as u64) as usize])
                .collect();
            (
                format!("{prefix}{s:03}"),
                PianoRoll {
                    fps: 100.0,
                    frames: rolls,
                },
            )
        })
        .collect()
}

/// A prediction of `truth`: each frame may lose a note, gain a neighbour or an octave.
pub fn predict(rng: &mut Rng, truth: PitchSet) -> PitchSet {
    let mut p = truth;
    match rng.below(6) {
        0 => {
            if let Some(x) = truth.iter().next() {
                p = p.minus(set(&[x]));
            }
        }
        1 => {
            if let Some(x) = truth.iter().last() {
                p.insert(if x + 12 <= 108 { x + 12 } else { x - 1 });
            }
        }
        2 => p.insert(40 + rng.below(40) as u8),
        _ => {}
    }
    p
}

/// Prediction rows of `model` for every shard; frames whose prediction is empty are left out
/// with probability 1/2 (a missing frame means the empty set).
pub fn prediction_rows(
    rng: &mut Rng,
    model: &str,
    rolls: &[(String, PianoRoll)],
) -> Vec<PredictionRow> {
    let mut rows = Vec::new();
    for (shard, roll) in rolls {
        for (frame, &truth) in roll.frames.iter().enumerate() {
            let pitches = predict(rng, truth);
            if pitches.is_empty() && rng.below(2) == 0 {
                continue;
            }
            rows.push(PredictionRow {
                model: model.to_string(),
                shard: shard.clone(),
                frame: frame as u32,
                pitches,
                probs: None,
            });
        }
    }
    rows
}

pub fn write_labels(path: &Path, rolls: &[(String, PianoRoll)]) {
    write_labels_table(path, rolls).unwrap();
}

pub fn write_rows(path: &Path, rows: &[PredictionRow]) {
    write_predictions(path, rows, 100.0).unwrap();
}

pub fn options(labels: &Path, train: Option<&Path>, out: &Path, workers: usize) -> AnalysisOptions {
    AnalysisOptions {
        truth: TruthSource::Labels(vec![("test".into(), labels.to_path_buf())]),
        train: train.map(|t| TruthSource::Labels(vec![("train".into(), t.to_path_buf())])),
        fps: 100.0,
        evaluation: EvaluationOptions::default(),
        out: out.to_path_buf(),
        cluster: ClusterOptions {
            workers,
            processes: 1,
            process: 0,
            hostfile: None,
            ..Default::default()
        },
    }
}

/// `combinations` rows: (model, split, combination) -> (frames, exact, added, omitted,
/// train_frames, shared).
pub type CombinationRows = BTreeMap<(String, String, Vec<u8>), (u64, u64, u64, u64, u64, bool)>;

pub fn read_combinations(dir: &Path) -> CombinationRows {
    let rows: Vec<CombinationRow> = read_rows(&dir.join("combinations.parquet")).unwrap();
    rows.into_iter()
        .map(|r| {
            (
                (r.model, r.split, r.combination),
                (
                    r.frames,
                    r.exact,
                    r.added,
                    r.omitted,
                    r.train_frames.unwrap_or(0),
                    r.shared.unwrap_or(false),
                ),
            )
        })
        .collect()
}

/// `additions` or `omissions` rows: (model, combination, pitch) -> frames.
pub fn read_pitch_errors(dir: &Path, table: &str) -> BTreeMap<(String, Vec<u8>, u8), u64> {
    let rows: Vec<PitchErrorRow> = read_rows(&dir.join(format!("{table}.parquet"))).unwrap();
    rows.into_iter()
        .map(|r| ((r.model, r.combination, r.pitch), r.frames))
        .collect()
}

/// Every table file's bytes, by name.
pub fn table_bytes(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    [
        "combinations",
        "additions",
        "omissions",
        "frame_metrics",
        "split_metrics",
    ]
    .iter()
    .map(|t| {
        let path: PathBuf = dir.join(format!("{t}.parquet"));
        (
            t.to_string(),
            std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display())),
        )
    })
    .collect()
}
