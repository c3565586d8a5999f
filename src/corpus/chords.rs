//! The brute-force remedy made cheap: random chords mixed into the training music on the fly.
//! The 88 piano keys are rendered once per training renderer (SoundFont, preset, room) and
//! kept as spectrograms; during training a random chord (polyphony 1 to `max_polyphony`,
//! every note with its own random onset) is mixed into an example, its labels joined to the
//! example's frame by frame. The network sees far more combinations than the music holds.
//!
//! Mixing is done on the log-filtered spectrogram by adding magnitudes under the log,
//! `log10(10^y + 10^k - 1)` (phases ignored, as in `entangle_train::mixture`'s penalty): the
//! training data holds spectrograms, not audio. Each key is peak-normalised like every
//! corpus file (madmom's `norm`), so a key is about as loud as the loudest moment of a piece.

use std::sync::Arc;

use rustysynth::SoundFont;

use super::{RenderError, RenderSettings, render_notes};
use crate::features::SpectrogramComputer;
use crate::labels::{Note, PianoRoll};
use crate::pitchset::{PIANO_MAX, PIANO_MIN, PitchSet};

/// `chords = { ... }` of a network: how often and how richly training examples get a chord.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChordMixing {
    /// Chance that a training example gets a chord.
    #[serde(default = "default_probability")]
    pub probability: f64,
    /// Chords have 1 to this many notes (uniform).
    #[serde(default = "default_max_polyphony")]
    pub max_polyphony: usize,
    /// Seconds each key is held when the keys are rendered.
    #[serde(default = "default_note_seconds")]
    pub note_seconds: f64,
    #[serde(default = "default_velocity")]
    pub velocity: u8,
}

fn default_probability() -> f64 {
    0.5
}
fn default_max_polyphony() -> usize {
    6
}
fn default_note_seconds() -> f64 {
    1.0
}
fn default_velocity() -> u8 {
    80
}

impl ChordMixing {
    /// Checks the values; the message names `key`.
    pub fn validate(&self, key: &str) -> Result<(), String> {
        if !(0.0..=1.0).contains(&self.probability) {
            return Err(format!(
                "{key}.probability = {}: not in 0..=1",
                self.probability
            ));
        }
        if !(1..=88).contains(&self.max_polyphony) {
            return Err(format!(
                "{key}.max_polyphony = {}: not in 1..=88",
                self.max_polyphony
            ));
        }
        if !(self.note_seconds.is_finite() && self.note_seconds > 0.0) {
            return Err(format!(
                "{key}.note_seconds = {}: not positive",
                self.note_seconds
            ));
        }
        if !(1..=127).contains(&self.velocity) {
            return Err(format!(
                "{key}.velocity = {}: not in 1..=127",
                self.velocity
            ));
        }
        Ok(())
    }
}

/// One rendered key: its log-filtered spectrogram (frames x bands, row-major) and the label of
/// every frame (the key's pitch while it is held, by the label rule; empty in the release).
#[derive(Debug, Clone, PartialEq)]
pub struct KeySound {
    pub pitch: u8,
    pub bands: usize,
    pub data: Vec<f32>,
    pub labels: Vec<PitchSet>,
}

impl KeySound {
    pub fn frames(&self) -> usize {
        self.labels.len()
    }

    fn row(&self, frame: usize) -> &[f32] {
        &self.data[frame * self.bands..(frame + 1) * self.bands]
    }
}

/// The keys of one renderer.
#[derive(Debug, Clone, PartialEq)]
pub struct KeyBank {
    pub keys: Vec<KeySound>,
}

/// How the keys are played.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct KeyParams {
    pub note_seconds: f64,
    pub velocity: u8,
}

impl Default for KeyParams {
    fn default() -> Self {
        Self {
            note_seconds: 1.0,
            velocity: 80,
        }
    }
}

impl KeyBank {
    /// Renders `pitches` (all 88 keys for a training renderer) through a SoundFont preset.
    pub fn render(
        font: &Arc<SoundFont>,
        soundfont_name: &str,
        settings: &RenderSettings,
        computer: &SpectrogramComputer,
        pitches: impl IntoIterator<Item = u8>,
        params: KeyParams,
    ) -> Result<Self, RenderError> {
        let fps = computer.params().fps;
        let mut keys = Vec::new();
        for pitch in pitches {
            let note = Note {
                onset: 0.0,
                offset: params.note_seconds,
                pitch,
                velocity: params.velocity,
            };
            let (left, right) =
                render_notes(font, soundfont_name, std::slice::from_ref(&note), settings)?;
            let mono: Vec<f32> = left
                .iter()
                .zip(&right)
                .map(|(l, r)| 0.5 * (l + r))
                .collect();
            let spec = computer.compute(&mono);
            let roll = PianoRoll::from_notes(&[note], fps, Some(spec.frames));
            keys.push(KeySound {
                pitch,
                bands: spec.bands,
                data: spec.data,
                labels: roll.frames,
            });
        }
        Ok(Self { keys })
    }

    /// All 88 piano keys.
    pub fn piano_keys() -> impl Iterator<Item = u8> {
        PIANO_MIN..=PIANO_MAX
    }
}

/// One note of a chord: key `key` of the bank, starting at frame `onset` of the example
/// (negative: it started before the example, which then sees its later frames).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChordPart {
    pub key: usize,
    pub onset: i64,
}

/// A random chord for an example of `frames` frames: polyphony uniform in
/// `1..=max_polyphony`, distinct keys, each onset uniform in the frames from which the key
/// still sounds somewhere in the example. `below(n)` draws uniformly from `0..n`.
pub fn random_chord(
    bank: &KeyBank,
    frames: usize,
    max_polyphony: usize,
    below: &mut impl FnMut(usize) -> usize,
) -> Vec<ChordPart> {
    let polyphony = 1 + below(max_polyphony.clamp(1, bank.keys.len()));
    let mut keys: Vec<usize> = Vec::with_capacity(polyphony);
    while keys.len() < polyphony {
        let key = below(bank.keys.len());
        if !keys.contains(&key) {
            keys.push(key);
        }
    }
    keys.into_iter()
        .map(|key| {
            let length = bank.keys[key].frames() as i64;
            // Onsets from -(length - 1) (only the last frame falls inside) to frames - 1.
            let span = (frames as i64 + length - 1).max(1) as usize;
            ChordPart {
                key,
                onset: below(span) as i64 - (length - 1),
            }
        })
        .collect()
}

/// Mixes `chord` into an example: `rows` (one row of `stride` values per frame, the first
/// `bands` of them the log-filtered spectrogram, the rest padding left alone) and its frame
/// labels `labels`. Frames of a key outside the example are cut.
pub fn mix_chord(
    bank: &KeyBank,
    chord: &[ChordPart],
    rows: &mut [f32],
    stride: usize,
    labels: &mut [PitchSet],
) {
    let frames = labels.len();
    assert!(rows.len() >= frames * stride, "a row per labelled frame");
    for part in chord {
        let key = &bank.keys[part.key];
        let bands = key.bands;
        assert!(bands <= stride, "keys fit the example's rows");
        for f in 0..key.frames() {
            let t = part.onset + f as i64;
            if t < 0 || t >= frames as i64 {
                continue;
            }
            let t = t as usize;
            labels[t] = PitchSet(labels[t].0 | key.labels[f].0);
            let row = &mut rows[t * stride..t * stride + bands];
            for (y, &k) in row.iter_mut().zip(key.row(f)) {
                let linear = (10f64.powf(f64::from(*y)) - 1.0) + (10f64.powf(f64::from(k)) - 1.0);
                *y = (linear.max(0.0).ln_1p() / std::f64::consts::LN_10) as f32;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::features::SpectrogramParams;

    fn bank() -> KeyBank {
        let font = super::super::load_soundfont(&super::super::resolve_soundfont("FluidR3_GM"))
            .expect("FluidR3_GM (Debian fluid-soundfont-gm)");
        let computer = SpectrogramComputer::new(SpectrogramParams::default()).unwrap();
        let params = KeyParams {
            note_seconds: 0.2,
            velocity: 80,
        };
        KeyBank::render(
            &font,
            "FluidR3_GM",
            &RenderSettings {
                tail_seconds: 0.1,
                ..Default::default()
            },
            &computer,
            [48, 60, 64, 67],
            params,
        )
        .unwrap()
    }

    #[test]
    fn mixed_labels_are_the_union_of_the_parts_frame_by_frame() {
        let bank = bank();
        assert!(bank.keys.iter().all(|k| k.frames() == 30 && k.bands == 229));
        // A "music" example of 40 frames: C5 held in frames 10..25, silence elsewhere.
        let frames = 40;
        let mut labels = vec![PitchSet::EMPTY; frames];
        for set in &mut labels[10..25] {
            set.insert(72);
        }
        let music_labels = labels.clone();
        let mut rows = vec![0.0f32; frames * 229];
        for row in rows.chunks_exact_mut(229).skip(10).take(15) {
            row.fill(0.3);
        }
        let music_rows = rows.clone();
        // E4 from frame 5, G4 from frame 30 (cut at the end), C3 started 28 frames earlier
        // (only its release reaches frames 0 and 1).
        let chord = [
            ChordPart { key: 2, onset: 5 },
            ChordPart { key: 3, onset: 30 },
            ChordPart { key: 0, onset: -28 },
        ];
        mix_chord(&bank, &chord, &mut rows, 229, &mut labels);
        for t in 0..frames {
            let mut expected = music_labels[t];
            for part in &chord {
                let f = t as i64 - part.onset;
                let key = &bank.keys[part.key];
                if (0..key.frames() as i64).contains(&f) {
                    expected = PitchSet(expected.0 | key.labels[f as usize].0);
                }
            }
            assert_eq!(labels[t], expected, "frame {t}");
        }
        // The label rule for a 0.2 s note at 100 fps: frames 0..20 of each key.
        assert_eq!(labels[5].to_vec(), vec![64]);
        assert_eq!(labels[12].to_vec(), vec![64, 72]);
        assert_eq!(labels[24].to_vec(), vec![64, 72]);
        assert!(labels[0].is_empty());
        assert!(labels[25].is_empty(), "E4 ends at frame 5 + 20");
        assert_eq!(labels[31].to_vec(), vec![67]);
        // Magnitudes add: the mixture is at least as loud as the music everywhere and louder
        // where a key sounds; untouched where none does.
        assert!(rows.iter().zip(&music_rows).all(|(m, o)| m >= o));
        let loudness = |r: &[f32], t: usize| r[t * 229..(t + 1) * 229].iter().sum::<f32>();
        assert!(loudness(&rows, 12) > loudness(&music_rows, 12) + 1.0);
        assert!(
            loudness(&rows, 1) > loudness(&music_rows, 1),
            "C3's release"
        );
        assert_eq!(loudness(&rows, 3), loudness(&music_rows, 3));
    }

    #[test]
    fn random_chords_have_distinct_keys_polyphony_in_range_and_onsets_that_reach_the_example() {
        let bank = KeyBank {
            keys: (0..10)
                .map(|p| KeySound {
                    pitch: 60 + p,
                    bands: 1,
                    data: vec![0.0; 30],
                    labels: vec![PitchSet::EMPTY; 30],
                })
                .collect(),
        };
        let mut state = 12345u64;
        let mut below = |n: usize| {
            state = state
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            ((state >> 33) % n as u64) as usize
        };
        let mut polyphonies = std::collections::BTreeSet::new();
        for _ in 0..500 {
            let chord = random_chord(&bank, 40, 6, &mut below);
            polyphonies.insert(chord.len());
            let keys: std::collections::BTreeSet<usize> = chord.iter().map(|p| p.key).collect();
            assert_eq!(keys.len(), chord.len());
            assert!(chord.iter().all(|p| p.onset > -30 && p.onset < 40));
        }
        assert_eq!(polyphonies, (1..=6).collect());
    }
}
