//! Frame predictions of an ONNX network over a corpus split: spectrogram, network, threshold
//! 0.5, one `predictions` row per frame.

use std::path::Path;

use rayon::prelude::*;

use crate::corpus::manifest::read_manifest;
use crate::features::{SpectrogramComputer, SpectrogramParams};
use crate::infer::{InferenceOptions, OnnxModel};
use crate::pitchset::{PIANO_KEYS, PIANO_MIN};
use crate::sink::predictions_table::PredictionRow;

/// Probabilities at or above this are notes (the paper's threshold).
pub const THRESHOLD: f32 = 0.5;

/// Predicts every frame of the `split` rows of `manifest` with the network at `model_path`,
/// whose output unit `k` is MIDI pitch `lowest_pitch + k`. Rows are named `model_name`.
pub fn predict_split(
    model_path: &Path,
    model_name: &str,
    manifest: &Path,
    split: &str,
    lowest_pitch: u8,
    options: InferenceOptions,
) -> anyhow::Result<Vec<PredictionRow>> {
    anyhow::ensure!(
        lowest_pitch >= PIANO_MIN,
        "the lowest output pitch {lowest_pitch} is below the piano's A0 ({PIANO_MIN})"
    );
    let rows: Vec<_> = read_manifest(manifest)
        .map_err(anyhow::Error::msg)?
        .into_iter()
        .filter(|r| r.split == split)
        .collect();
    anyhow::ensure!(
        !rows.is_empty(),
        "{}: the {split} split is empty",
        manifest.display()
    );
    let computer = SpectrogramComputer::new(SpectrogramParams::default())?;
    let spectrograms = rows
        .par_iter()
        .map(|r| computer.compute_wav(Path::new(&r.path)))
        .collect::<Result<Vec<_>, _>>()?;
    let mut model = OnnxModel::load(model_path, options)?;
    let mut out = Vec::new();
    for (row, spec) in rows.iter().zip(&spectrograms) {
        for (frame, outputs) in model.predict_frames(spec)?.into_iter().enumerate() {
            anyhow::ensure!(
                usize::from(lowest_pitch - PIANO_MIN) + outputs.len() <= PIANO_KEYS,
                "{}: {} outputs from pitch {lowest_pitch} go past the piano's top key",
                model_path.display(),
                outputs.len()
            );
            let mut probs = vec![0.0f32; PIANO_KEYS];
            let offset = usize::from(lowest_pitch - PIANO_MIN);
            probs[offset..offset + outputs.len()].copy_from_slice(&outputs);
            let pitches = outputs
                .iter()
                .enumerate()
                .filter(|(_, p)| **p >= THRESHOLD)
                .map(|(k, _)| lowest_pitch + k as u8)
                .collect();
            out.push(PredictionRow {
                model: model_name.to_string(),
                shard: row.shard.clone(),
                frame: frame as u32,
                pitches,
                probs: Some(probs),
            });
        }
    }
    Ok(out)
}
