//! Third-party transcription systems analysed as they are: basic-pitch, madmom's ADSR piano
//! CNN, or any system described by a `systems/NAME.toml` whose front end is one we have.
//!
//! A system runs over a corpus split with its own front end at its own frames
//! ([`run`]); the labels are framed at those same frames ([`frames`]); both go out as the
//! usual `labels` and `predictions` tables, which `entangle analyze` turns into the usual
//! tables. No training set is known for these systems, so their `shared` column is NULL.

pub mod frames;
pub mod positions;
pub mod resample;
pub mod run;
pub mod spec;

use std::path::Path;

use anyhow::Context;

use crate::corpus::manifest::read_manifest_split;
use crate::labels::{PianoRoll, ReadOptions, read_notes};
use crate::pitchset::{PIANO_KEYS, PIANO_MIN, PitchSet};
use crate::sink::predictions_table::PredictionRow;

pub use run::{Posteriorgram, System};
pub use spec::{FrameTimes, FrontEnd, SystemSpec};

/// What [`predict_split`] gives: prediction rows and the labels at the same frames.
pub struct SplitPredictions {
    pub predictions: Vec<PredictionRow>,
    pub labels: Vec<(String, PianoRoll)>,
    /// The nominal frame rate both tables record (`entangle.fps`).
    pub fps: f64,
}

/// Runs `system` over the `split` rows of `manifest`: one prediction row per native frame
/// (thresholded at the system's own default, probabilities kept), and every shard's labels
/// framed at the system's frame times, as long as its predictions.
pub fn predict_split(
    system: &mut System,
    manifest: &Path,
    split: &str,
) -> anyhow::Result<SplitPredictions> {
    let rows = read_manifest_split(manifest, split)?;
    let spec = system.spec().clone();
    let mut predictions = Vec::new();
    let mut labels = Vec::new();
    for row in rows {
        let gram = system
            .run_wav(Path::new(&row.path))
            .with_context(|| format!("system {:?} on shard {}", spec.name, row.shard))?;
        let notes = read_notes(Path::new(&row.labels_path), ReadOptions::default())
            .with_context(|| format!("{}: shard {}", manifest.display(), row.shard))?;
        labels.push((
            row.shard.clone(),
            frames::roll_at(&notes, &spec.frame_times, gram.probs.len()),
        ));
        predictions.extend(rows_of(&gram, &spec, &row.shard));
    }
    Ok(SplitPredictions {
        predictions,
        labels,
        fps: spec.frame_times.nominal_fps(),
    })
}

/// One `predictions` row per frame of a posteriorgram.
pub fn rows_of(gram: &Posteriorgram, spec: &SystemSpec, shard: &str) -> Vec<PredictionRow> {
    let offset = usize::from(gram.lowest_pitch - PIANO_MIN);
    gram.probs
        .iter()
        .enumerate()
        .map(|(frame, row)| {
            let mut probs = vec![0.0f32; PIANO_KEYS];
            probs[offset..offset + row.len()].copy_from_slice(row);
            let mut pitches = PitchSet::EMPTY;
            for (k, &p) in row.iter().enumerate() {
                if p >= spec.output.threshold {
                    pitches.insert(gram.lowest_pitch + k as u8);
                }
            }
            PredictionRow {
                model: spec.name.clone(),
                shard: shard.to_string(),
                frame: frame as u32,
                pitches,
                probs: Some(probs),
            }
        })
        .collect()
}
