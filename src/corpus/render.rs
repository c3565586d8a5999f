//! Rendering a note list through a SoundFont preset with rustysynth, deterministically.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustysynth::{SoundFont, Synthesizer, SynthesizerSettings};

use crate::audio::TARGET_SAMPLE_RATE;
use crate::labels::Note;
use crate::sink::{SinkError, write_atomically};

#[derive(Debug, thiserror::Error)]
pub enum RenderError {
    #[error("{path}: cannot load SoundFont: {reason}")]
    SoundFont { path: PathBuf, reason: String },
    #[error("{soundfont}: no preset bank {bank} program {program}")]
    NoPreset {
        soundfont: String,
        bank: u16,
        program: u8,
    },
    #[error("cannot start the synthesizer: {0}")]
    Synth(String),
    #[error(transparent)]
    Sink(#[from] SinkError),
}

/// What to render with.
#[derive(Debug, Clone, PartialEq)]
pub struct RenderSettings {
    pub bank: u16,
    pub program: u8,
    pub reverb_and_chorus: bool,
    /// Seconds rendered after the last note-off, for the release to ring out.
    pub tail_seconds: f64,
}

impl Default for RenderSettings {
    fn default() -> Self {
        Self {
            bank: 0,
            program: 0,
            reverb_and_chorus: false,
            tail_seconds: 0.5,
        }
    }
}

/// Renders `notes` (with their own velocities) to stereo 44.1 kHz. Events take effect at the
/// exact sample of their time: rendering is split at every event.
pub fn render_notes(
    font: &Arc<SoundFont>,
    soundfont_name: &str,
    notes: &[Note],
    settings: &RenderSettings,
) -> Result<(Vec<f32>, Vec<f32>), RenderError> {
    let has_preset = font.get_presets().iter().any(|p| {
        p.get_bank_number() == i32::from(settings.bank)
            && p.get_patch_number() == i32::from(settings.program)
    });
    if !has_preset {
        return Err(RenderError::NoPreset {
            soundfont: soundfont_name.to_string(),
            bank: settings.bank,
            program: settings.program,
        });
    }
    let mut synth_settings = SynthesizerSettings::new(TARGET_SAMPLE_RATE as i32);
    synth_settings.enable_reverb_and_chorus = settings.reverb_and_chorus;
    let mut synth = Synthesizer::new(font, &synth_settings)
        .map_err(|e| RenderError::Synth(format!("{e:?}")))?;
    const CHANNEL: i32 = 0;
    // Bank select (CC 0) then program change.
    synth.process_midi_message(CHANNEL, 0xB0, 0x00, i32::from(settings.bank));
    synth.process_midi_message(CHANNEL, 0xC0, i32::from(settings.program), 0);

    let to_sample = |t: f64| (t * f64::from(TARGET_SAMPLE_RATE)).round() as usize;
    // (sample, is_on, key, velocity); offs sort before ons at the same sample.
    let mut events: Vec<(usize, bool, u8, u8)> = notes
        .iter()
        .flat_map(|n| {
            [
                (to_sample(n.onset), true, n.pitch, n.velocity),
                (
                    to_sample(n.offset).max(to_sample(n.onset) + 1),
                    false,
                    n.pitch,
                    0,
                ),
            ]
        })
        .collect();
    events.sort_unstable();
    let end = events.last().map(|e| e.0).unwrap_or(0) + to_sample(settings.tail_seconds);
    let (mut left, mut right) = (vec![0.0f32; end], vec![0.0f32; end]);
    let mut cursor = 0;
    for (sample, on, key, velocity) in events {
        if sample > cursor {
            synth.render(&mut left[cursor..sample], &mut right[cursor..sample]);
            cursor = sample;
        }
        if on {
            synth.note_on(CHANNEL, i32::from(key), i32::from(velocity));
        } else {
            synth.note_off(CHANNEL, i32::from(key));
        }
    }
    synth.render(&mut left[cursor..], &mut right[cursor..]);
    Ok((left, right))
}

/// Encodes stereo samples as a 16-bit PCM WAV file at 44.1 kHz (MAPS' format).
pub fn encode_wav_stereo16(left: &[f32], right: &[f32]) -> Vec<u8> {
    let spec = hound::WavSpec {
        channels: 2,
        sample_rate: TARGET_SAMPLE_RATE,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    };
    let mut bytes = std::io::Cursor::new(Vec::with_capacity(44 + left.len() * 4));
    {
        let mut writer = hound::WavWriter::new(&mut bytes, spec).expect("in-memory WAV");
        let mut samples = writer.get_i16_writer((left.len() * 2) as u32);
        for (&l, &r) in left.iter().zip(right) {
            samples.write_sample(to_i16(l));
            samples.write_sample(to_i16(r));
        }
        samples.flush().expect("in-memory WAV");
        writer.finalize().expect("in-memory WAV");
    }
    bytes.into_inner()
}

/// Writes stereo samples as 16-bit PCM WAV at 44.1 kHz, atomically.
pub fn write_wav_stereo16(path: &Path, left: &[f32], right: &[f32]) -> Result<(), SinkError> {
    let bytes = encode_wav_stereo16(left, right);
    write_atomically(path, |w| std::io::Write::write_all(w, &bytes))
}

/// Rounds half away from zero, like `f32::round`, without its libm call (baseline x86-64
/// has no rounding instruction); a float-to-int `as` truncates and saturates, which clamps.
#[inline]
fn to_i16(x: f32) -> i16 {
    let v = x * 32767.0;
    (v + 0.5f32.copysign(v)) as i16
}
