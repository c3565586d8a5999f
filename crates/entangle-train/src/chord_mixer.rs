//! Random chords mixed into training batches (`chords = { ... }` of a network): the keys of
//! every training renderer are rendered once ([`entangle::corpus::chords`]), and each training
//! example gets, with the configured probability, a random chord of that example's renderer
//! mixed into its input, the chord's labels joined to its targets.
//!
//! A frame-context example (ConvNet, SmallConvNet) is its window of frames with the target in
//! the middle; a segment example (AUNet) is its real frames (padding past a shard's end is
//! left alone). Either way the chord's onsets fall anywhere from which a key still reaches the
//! example, so the network sees keys in their attack, sustain and release.

use std::collections::BTreeMap;

use super::data::{FrameData, InputLayout};
use entangle::corpus::chords::{ChordMixing, KeyBank, KeyParams, mix_chord, random_chord};
use entangle::corpus::{RenderSettings, load_soundfont, resolve_soundfont};
use entangle::features::{SpectrogramComputer, SpectrogramParams};
use entangle::pitchset::PitchSet;

/// The host buffers of one batch, as [`FrameData::batch`] fills them.
pub struct BatchMut<'a> {
    pub inputs: &'a mut [f32],
    pub targets: &'a mut [f32],
    pub mask: &'a [f32],
}

/// The key banks of a training split's renderers.
pub struct ChordMixer {
    options: ChordMixing,
    banks: Vec<KeyBank>,
    /// Bank of every shard.
    shard_bank: Vec<usize>,
}

impl ChordMixer {
    /// Renders the keys the network has outputs for, once per renderer of `train`.
    pub fn new(train: &FrameData, options: ChordMixing) -> Result<Self, String> {
        let fps = train.shards.first().map(|s| s.0.fps).unwrap_or(100.0);
        let computer = SpectrogramComputer::new(SpectrogramParams {
            fps,
            ..Default::default()
        })
        .map_err(|e| e.to_string())?;
        let keys = train.lowest_pitch..train.lowest_pitch + train.outputs as u8;
        let mut ids: BTreeMap<&(String, u16, u8, bool), usize> = BTreeMap::new();
        let mut banks = Vec::new();
        let mut shard_bank = Vec::with_capacity(train.renderers.len());
        for renderer in &train.renderers {
            let next = ids.len();
            let id = *ids.entry(renderer).or_insert(next);
            if id == banks.len() {
                let (soundfont, bank, program, reverb) = renderer;
                let path = resolve_soundfont(soundfont);
                let font = load_soundfont(&path).map_err(|e| {
                    format!("chords: the training renderer's SoundFont {soundfont:?}: {e}")
                })?;
                let settings = RenderSettings {
                    bank: *bank,
                    program: *program,
                    reverb_and_chorus: *reverb,
                    ..Default::default()
                };
                let params = KeyParams {
                    note_seconds: options.note_seconds,
                    velocity: options.velocity,
                };
                let rendered =
                    KeyBank::render(&font, soundfont, &settings, &computer, keys.clone(), params)
                        .map_err(|e| format!("chords: {e}"))?;
                tracing::info!(
                    soundfont,
                    bank,
                    program,
                    keys = rendered.keys.len(),
                    "rendered the keys for the chord mixer"
                );
                banks.push(rendered);
            }
            shard_bank.push(id);
        }
        Ok(Self {
            options,
            banks,
            shard_bank,
        })
    }

    /// Mixes chords into a batch that [`FrameData::batch`] filled; `below(n)` draws uniformly
    /// from `0..n`.
    pub fn mix(
        &self,
        data: &FrameData,
        ids: &[(u32, u32)],
        layout: InputLayout,
        batch: BatchMut,
        below: &mut impl FnMut(usize) -> usize,
    ) {
        let BatchMut {
            inputs,
            targets,
            mask,
        } = batch;
        const RESOLUTION: usize = 1 << 20;
        let bands = data.bands();
        let outputs = data.outputs;
        let to_set = |row: &[f32]| -> PitchSet {
            row.iter()
                .enumerate()
                .filter(|(_, v)| **v >= 0.5)
                .map(|(i, _)| data.lowest_pitch + i as u8)
                .collect()
        };
        let write = |set: PitchSet, row: &mut [f32]| {
            row.fill(0.0);
            for p in set.iter() {
                row[usize::from(p - data.lowest_pitch)] = 1.0;
            }
        };
        for (k, &(s, _)) in ids.iter().enumerate() {
            if (below(RESOLUTION) as f64) >= self.options.probability * RESOLUTION as f64 {
                continue;
            }
            let bank = &self.banks[self.shard_bank[s as usize]];
            match layout {
                InputLayout::Context { radius } => {
                    let width = 2 * radius + 1;
                    let rows = &mut inputs[k * width * bands..(k + 1) * width * bands];
                    let target = &mut targets[k * outputs..(k + 1) * outputs];
                    let mut labels = vec![PitchSet::EMPTY; width];
                    labels[radius] = to_set(target);
                    let chord = random_chord(bank, width, self.options.max_polyphony, below);
                    mix_chord(bank, &chord, rows, bands, &mut labels);
                    write(labels[radius], target);
                }
                InputLayout::Segment { frames, bins } => {
                    let rows_of = |x: &[f32]| x.chunks_exact(outputs).map(|r| r[0]).collect();
                    let real_rows: Vec<f32> =
                        rows_of(&mask[k * frames * outputs..(k + 1) * frames * outputs]);
                    let real = real_rows.iter().take_while(|&&m| m > 0.0).count();
                    if real == 0 {
                        continue;
                    }
                    let rows = &mut inputs[k * frames * bins..(k + 1) * frames * bins];
                    let target = &mut targets[k * frames * outputs..][..real * outputs];
                    let mut labels: Vec<PitchSet> =
                        target.chunks_exact(outputs).map(to_set).collect();
                    let chord = random_chord(bank, real, self.options.max_polyphony, below);
                    mix_chord(bank, &chord, rows, bins, &mut labels);
                    for (set, row) in labels.into_iter().zip(target.chunks_exact_mut(outputs)) {
                        write(set, row);
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use entangle::features::Spectrogram;
    use entangle::labels::PianoRoll;

    /// Two silent 50-frame shards of one renderer (FluidR3_GM's grand piano); outputs for
    /// MIDI 60..=62, the first shard labelled 61 in frames 10..40.
    fn data() -> FrameData {
        let spec = Spectrogram {
            frames: 50,
            bands: 229,
            fps: 100.0,
            data: vec![0.0; 50 * 229],
        };
        let mut labelled = PianoRoll {
            fps: 100.0,
            frames: vec![PitchSet::EMPTY; 50],
        };
        for set in &mut labelled.frames[10..40] {
            set.insert(61);
        }
        let silent = PianoRoll {
            fps: 100.0,
            frames: vec![PitchSet::EMPTY; 50],
        };
        FrameData {
            shards: vec![(spec.clone(), labelled), (spec, silent)],
            index: (0..2).flat_map(|s| (0..50).map(move |f| (s, f))).collect(),
            lowest_pitch: 60,
            outputs: 3,
            renderers: vec![("FluidR3_GM".into(), 0, 0, false); 2],
        }
    }

    fn options(probability: f64) -> ChordMixing {
        ChordMixing {
            probability,
            max_polyphony: 2,
            note_seconds: 0.3,
            velocity: 80,
        }
    }

    #[test]
    fn chords_only_add_notes_and_sound_and_probability_zero_changes_nothing() {
        let data = data();
        let mixer = ChordMixer::new(&data, options(1.0)).unwrap();
        assert_eq!(mixer.banks.len(), 1, "one renderer, one bank");
        assert_eq!(mixer.banks[0].keys.len(), 3, "keys of the outputs only");
        let mut state = 7u64;
        let mut below = |n: usize| {
            state = state
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            ((state >> 33) % n as u64) as usize
        };
        for layout in [
            InputLayout::Context { radius: 2 },
            InputLayout::Segment {
                frames: 64,
                bins: 256,
            },
        ] {
            let ids: Vec<(u32, u32)> = match layout {
                InputLayout::Context { .. } => vec![(0, 5), (0, 20), (1, 30), (1, 49)],
                InputLayout::Segment { .. } => vec![(0, 0), (1, 0)],
            };
            let (mut inputs, mut targets, mut mask) = (Vec::new(), Vec::new(), Vec::new());
            data.batch(&ids, layout, &mut inputs, &mut targets, &mut mask);
            let (plain_inputs, plain_targets) = (inputs.clone(), targets.clone());
            ChordMixer::new(&data, options(0.0)).unwrap().mix(
                &data,
                &ids,
                layout,
                BatchMut {
                    inputs: &mut inputs,
                    targets: &mut targets,
                    mask: &mask,
                },
                &mut below,
            );
            assert_eq!((&inputs, &targets), (&plain_inputs, &plain_targets));
            for _ in 0..20 {
                let (mut inputs, mut targets) = (plain_inputs.clone(), plain_targets.clone());
                mixer.mix(
                    &data,
                    &ids,
                    layout,
                    BatchMut {
                        inputs: &mut inputs,
                        targets: &mut targets,
                        mask: &mask,
                    },
                    &mut below,
                );
                // Every original note stays; padding rows stay silent and unlabelled.
                for ((t, p), m) in targets.iter().zip(&plain_targets).zip(&mask) {
                    assert!(t >= p);
                    if *m == 0.0 {
                        assert_eq!(*t, 0.0, "{layout:?}: a padding frame got a label");
                    }
                }
                assert!(inputs.iter().zip(&plain_inputs).all(|(m, o)| m >= o));
                if let InputLayout::Segment { bins, .. } = layout {
                    assert!(
                        inputs
                            .chunks_exact(bins)
                            .all(|row| row[229..].iter().all(|&v| v == 0.0)),
                        "bins past the bands stay zero"
                    );
                }
            }
        }
    }
}
