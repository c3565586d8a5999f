//! Training data: the spectrograms and frame targets of a corpus split, held in memory, and
//! batches of context windows drawn from them.

use std::path::Path;

use rayon::prelude::*;

use super::fit::TrainError;
use entangle::corpus::manifest::{ManifestRow, read_manifest};
use entangle::features::{Spectrogram, SpectrogramComputer, SpectrogramParams, context_window};
use entangle::labels::{PianoRoll, ReadOptions, read_notes};

/// One split of a corpus: spectrograms and their label rolls.
pub struct FrameData {
    pub shards: Vec<(Spectrogram, PianoRoll)>,
    /// (shard, frame) of every frame, in order.
    pub index: Vec<(u32, u32)>,
    /// Output unit `k` is MIDI pitch `lowest_pitch + k`.
    pub lowest_pitch: u8,
    pub outputs: usize,
    /// What rendered each shard: (SoundFont, bank, program, reverb) of its manifest row (the
    /// chord mixer renders the keys of each training renderer).
    pub renderers: Vec<(String, u16, u8, bool)>,
}

impl FrameData {
    /// Loads the `split` rows of a manifest (spectrograms in parallel).
    pub fn load(
        manifest: &Path,
        split: &str,
        lowest_pitch: u8,
        outputs: usize,
    ) -> Result<Self, TrainError> {
        let rows: Vec<ManifestRow> = read_manifest(manifest)?
            .into_iter()
            .filter(|r| r.split == split)
            .collect();
        if rows.is_empty() {
            return Err(TrainError::EmptySplit {
                manifest: manifest.to_path_buf(),
                split: split.to_string(),
            });
        }
        let computer = SpectrogramComputer::new(SpectrogramParams::default())?;
        let shards: Vec<(Spectrogram, PianoRoll)> = rows
            .par_iter()
            .map(|row| {
                let spec = computer.compute_wav(Path::new(&row.path))?;
                let notes = read_notes(Path::new(&row.labels_path), ReadOptions::default())?;
                if let Some(n) = notes.iter().find(|n| {
                    n.pitch < lowest_pitch || usize::from(n.pitch - lowest_pitch) >= outputs
                }) {
                    return Err(TrainError::PitchOutsideOutputs {
                        labels: row.labels_path.clone(),
                        pitch: n.pitch,
                        outputs,
                        lowest_pitch,
                    });
                }
                let roll = PianoRoll::from_notes(&notes, spec.fps, Some(spec.frames));
                Ok((spec, roll))
            })
            .collect::<Result<_, TrainError>>()?;
        let renderers = rows
            .iter()
            .map(|r| (r.soundfont.clone(), r.bank, r.program, r.reverb))
            .collect();
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
            renderers,
        })
    }

    pub fn bands(&self) -> usize {
        self.shards[0].0.bands
    }

    /// Per output unit: the fraction of frames in which its pitch sounds.
    pub fn label_priors(&self) -> Vec<f64> {
        let mut active = vec![0u64; self.outputs];
        let mut frames = 0u64;
        for (_, roll) in &self.shards {
            for set in &roll.frames {
                frames += 1;
                for pitch in set.iter() {
                    if let Some(k) = pitch.checked_sub(self.lowest_pitch) {
                        if let Some(a) = active.get_mut(usize::from(k)) {
                            *a += 1;
                        }
                    }
                }
            }
        }
        active
            .iter()
            .map(|&a| a as f64 / frames.max(1) as f64)
            .collect()
    }
}

/// How a network reads the spectrogram, and so what one training example is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InputLayout {
    /// One frame with `radius` frames of context either side (ConvNet, SmallConvNet);
    /// an example is a frame.
    Context { radius: usize },
    /// `frames` consecutive frames with the bands zero-padded to `bins` (AUNet, 256 x 256);
    /// an example is a segment start. Frames past a shard's end are padding: zero input,
    /// masked out of loss and metrics.
    Segment { frames: usize, bins: usize },
}

impl InputLayout {
    /// Training examples: every frame, or segment starts every half segment.
    pub fn training_examples(&self, data: &FrameData) -> Vec<(u32, u32)> {
        self.examples(data, 2)
    }

    /// Evaluation examples: every frame, or non-overlapping segments covering every frame.
    pub fn evaluation_examples(&self, data: &FrameData) -> Vec<(u32, u32)> {
        self.examples(data, 1)
    }

    fn examples(&self, data: &FrameData, overlap: usize) -> Vec<(u32, u32)> {
        match *self {
            InputLayout::Context { .. } => data.index.clone(),
            InputLayout::Segment { frames, .. } => data
                .shards
                .iter()
                .enumerate()
                .flat_map(|(s, (spec, _))| {
                    (0..spec.frames.max(1))
                        .step_by((frames / overlap).max(1))
                        .map(move |start| (s as u32, start as u32))
                })
                .collect(),
        }
    }

    /// Input tensor dims for `n` examples.
    pub fn input_dims(&self, n: usize, bands: usize) -> [i64; 4] {
        match *self {
            InputLayout::Context { radius } => [n as i64, 1, (2 * radius + 1) as i64, bands as i64],
            InputLayout::Segment { frames, bins } => [n as i64, 1, frames as i64, bins as i64],
        }
    }

    /// Target tensor dims for `n` examples (the network's output shape).
    pub fn target_dims(&self, n: usize, outputs: usize) -> Vec<i64> {
        match *self {
            InputLayout::Context { .. } => vec![n as i64, outputs as i64],
            InputLayout::Segment { frames, .. } => vec![n as i64, 1, frames as i64, outputs as i64],
        }
    }
}

impl FrameData {
    /// Fills `inputs`, `targets` (one row of `outputs` per frame) and `mask` (1 where a
    /// target row is a real frame, 0 for padding) for the examples `ids`.
    pub fn batch(
        &self,
        ids: &[(u32, u32)],
        layout: InputLayout,
        inputs: &mut Vec<f32>,
        targets: &mut Vec<f32>,
        mask: &mut Vec<f32>,
    ) {
        let bands = self.bands();
        let rows_per_example = match layout {
            InputLayout::Context { .. } => 1,
            InputLayout::Segment { frames, .. } => frames,
        };
        let input_size = match layout {
            InputLayout::Context { radius } => (2 * radius + 1) * bands,
            InputLayout::Segment { frames, bins } => frames * bins,
        };
        inputs.clear();
        inputs.resize(ids.len() * input_size, 0.0);
        targets.clear();
        targets.resize(ids.len() * rows_per_example * self.outputs, 0.0);
        mask.clear();
        mask.resize(ids.len() * rows_per_example * self.outputs, 0.0);
        for (k, &(s, first)) in ids.iter().enumerate() {
            let (spec, roll) = &self.shards[s as usize];
            let input = &mut inputs[k * input_size..(k + 1) * input_size];
            match layout {
                InputLayout::Context { radius } => {
                    context_window(spec, first as usize, radius, input)
                }
                InputLayout::Segment { bins, .. } => {
                    for (row, dst) in input.chunks_exact_mut(bins).enumerate() {
                        let frame = first as usize + row;
                        if frame < spec.frames {
                            dst[..bands].copy_from_slice(spec.row(frame));
                        }
                    }
                }
            }
            for row in 0..rows_per_example {
                let frame = first as usize + row;
                if frame >= spec.frames {
                    break;
                }
                let at = (k * rows_per_example + row) * self.outputs;
                mask[at..at + self.outputs].fill(1.0);
                for pitch in roll.frames[frame].iter() {
                    targets[at + usize::from(pitch - self.lowest_pitch)] = 1.0;
                }
            }
        }
    }
}
