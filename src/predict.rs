//! Frame predictions of an ONNX network over a corpus split: spectrogram, network, threshold
//! 0.5, one `predictions` row per frame. Frame-context networks (ConvNet, SmallConvNet) and
//! segment networks (AUNet) alike; what output `k` means and the frame rate come from the
//! file's metadata ([`crate::model::metadata`]).

use std::path::Path;

use rayon::prelude::*;

use crate::corpus::manifest::read_manifest_split;
use crate::features::{SpectrogramComputer, SpectrogramParams};
use crate::infer::{InferenceOptions, OnnxModel};
use crate::pitchset::{PIANO_KEYS, PIANO_MIN};
use crate::sink::predictions_table::PredictionRow;

/// Probabilities at or above this are notes (the paper's threshold).
pub const THRESHOLD: f32 = 0.5;

/// Predicts every frame of the `split` rows of `manifest` with the network at `model_path`.
/// Output unit `k` is MIDI pitch `lowest + k`, where `lowest` is what the file records, or
/// `lowest_pitch` (`--lowest-pitch`) for a file that records nothing; the spectrogram runs at
/// the recorded frame rate (100 fps for a file that records none). Rows are named
/// `model_name`; the frame rate they were predicted at comes with them (for the table's
/// `entangle.fps`).
pub fn predict_split(
    model_path: &Path,
    model_name: &str,
    manifest: &Path,
    split: &str,
    lowest_pitch: Option<u8>,
    options: InferenceOptions,
) -> anyhow::Result<(Vec<PredictionRow>, f64)> {
    let rows = read_manifest_split(manifest, split)?;
    let mut model = OnnxModel::load(model_path, options)?;
    let fps = model
        .metadata()
        .fps
        .unwrap_or(SpectrogramParams::default().fps);
    // Checked before the spectrograms are computed: a model that does not say which pitch
    // its first output is fails at once.
    let recorded = model.metadata().outputs;
    let lowest = model
        .metadata()
        .output_pitch(model_path, lowest_pitch, recorded, fps)?;
    let computer = SpectrogramComputer::new(SpectrogramParams {
        fps,
        ..Default::default()
    })?;
    let spectrograms = rows
        .par_iter()
        .map(|r| computer.compute_wav(Path::new(&r.path)))
        .collect::<Result<Vec<_>, _>>()?;
    let mut out = Vec::new();
    for (row, spec) in rows.iter().zip(&spectrograms) {
        let outputs = model.predict(spec)?;
        if let Some(first) = outputs.first() {
            model
                .metadata()
                .output_pitch(model_path, lowest_pitch, Some(first.len()), fps)?;
        }
        let offset = usize::from(lowest - PIANO_MIN);
        for (frame, outputs) in outputs.into_iter().enumerate() {
            let mut probs = vec![0.0f32; PIANO_KEYS];
            probs[offset..offset + outputs.len()].copy_from_slice(&outputs);
            let pitches = outputs
                .iter()
                .enumerate()
                .filter(|(_, p)| **p >= THRESHOLD)
                .map(|(k, _)| lowest + k as u8)
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
    Ok((out, fps))
}
