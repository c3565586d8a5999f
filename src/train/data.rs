//! Training data: the spectrograms and frame targets of a corpus split, held in memory, and
//! batches of context windows drawn from them.

use std::path::Path;

use rayon::prelude::*;

use crate::corpus::manifest::{ManifestRow, read_manifest};
use crate::features::{Spectrogram, SpectrogramComputer, SpectrogramParams, context_window};
use crate::labels::{PianoRoll, ReadOptions, read_notes};

/// One split of a corpus: spectrograms and their label rolls.
pub struct FrameData {
    pub shards: Vec<(Spectrogram, PianoRoll)>,
    /// (shard, frame) of every frame, in order.
    pub index: Vec<(u32, u32)>,
    /// Output unit `k` is MIDI pitch `lowest_pitch + k`.
    pub lowest_pitch: u8,
    pub outputs: usize,
}

impl FrameData {
    /// Loads the `split` rows of a manifest (spectrograms in parallel).
    pub fn load(
        manifest: &Path,
        split: &str,
        lowest_pitch: u8,
        outputs: usize,
    ) -> Result<Self, String> {
        let rows: Vec<ManifestRow> = read_manifest(manifest)?
            .into_iter()
            .filter(|r| r.split == split)
            .collect();
        if rows.is_empty() {
            return Err(format!(
                "{}: the {split} split is empty",
                manifest.display()
            ));
        }
        let computer =
            SpectrogramComputer::new(SpectrogramParams::default()).map_err(|e| e.to_string())?;
        let shards: Vec<(Spectrogram, PianoRoll)> = rows
            .par_iter()
            .map(|row| {
                let spec = computer
                    .compute_wav(Path::new(&row.path))
                    .map_err(|e| e.to_string())?;
                let notes = read_notes(Path::new(&row.labels_path), ReadOptions::default())
                    .map_err(|e| e.to_string())?;
                if let Some(n) = notes.iter().find(|n| {
                    n.pitch < lowest_pitch || usize::from(n.pitch - lowest_pitch) >= outputs
                }) {
                    return Err(format!(
                        "{}: pitch {} does not fit {outputs} outputs starting at {lowest_pitch}",
                        row.labels_path, n.pitch
                    ));
                }
                let roll = PianoRoll::from_notes(&notes, spec.fps, Some(spec.frames));
                Ok((spec, roll))
            })
            .collect::<Result<_, String>>()?;
        let index = shards
            .iter()
            .enumerate()
            .flat_map(|(s, (spec, _))| (0..spec.frames as u32).map(move |f| (s as u32, f)))
            .collect();
        Ok(Self {
            shards,
            index,
            lowest_pitch,
            outputs,
        })
    }

    pub fn bands(&self) -> usize {
        self.shards[0].0.bands
    }

    /// Fills `inputs` (`[n, 5 * bands]`) and `targets` (`[n, outputs]`) for the frames `ids`.
    pub fn batch(
        &self,
        ids: &[(u32, u32)],
        radius: usize,
        inputs: &mut Vec<f32>,
        targets: &mut Vec<f32>,
    ) {
        let window = (2 * radius + 1) * self.bands();
        inputs.resize(ids.len() * window, 0.0);
        targets.clear();
        targets.resize(ids.len() * self.outputs, 0.0);
        for (k, &(s, f)) in ids.iter().enumerate() {
            let (spec, roll) = &self.shards[s as usize];
            context_window(
                spec,
                f as usize,
                radius,
                &mut inputs[k * window..(k + 1) * window],
            );
            for pitch in roll.frames[f as usize].iter() {
                targets[k * self.outputs + usize::from(pitch - self.lowest_pitch)] = 1.0;
            }
        }
    }
}
