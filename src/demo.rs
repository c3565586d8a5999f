//! `entangle demo`: render a piano chord through a SoundFont (FluidR3_GM by default), compute
//! its spectrogram, and summarise what the spectrogram shows: a quick check of the audio path.

use std::fmt::Write as _;
use std::path::Path;

use anyhow::Context;

use crate::corpus::soundfonts::KNOWN_SOUNDFONTS;
use crate::corpus::{
    RenderSettings, load_soundfont, render_notes, resolve_soundfont, write_wav_stereo16,
};
use crate::features::{Spectrogram, SpectrogramComputer, SpectrogramParams};
use crate::labels::{Note, PianoRoll};
use crate::pitchset::{PitchSet, note_name};
use crate::sink::labels_table::write_labels_table;
use crate::sink::npy::write_spectrogram_npy;

/// C major triad around middle C, inside the FLUID range 49..71.
pub const DEMO_CHORD: [u8; 3] = [60, 64, 67];

/// Renders the demo chord through `soundfont` (a known name such as `TimGM6mb`, or a path),
/// writes `chord.wav`, `chord.npy` and `chord-labels.parquet` to `out_dir`, and returns a
/// human-readable summary.
pub fn run(out_dir: &Path, soundfont: &str) -> anyhow::Result<String> {
    std::fs::create_dir_all(out_dir)
        .with_context(|| format!("{}: cannot create output directory", out_dir.display()))?;
    let path = resolve_soundfont(soundfont);
    let font = load_soundfont(&path)?;
    // The name the summary shows: the known name, else the file's stem.
    let font_name = KNOWN_SOUNDFONTS
        .iter()
        .find(|k| Path::new(k.path) == path)
        .map(|k| k.name.to_string())
        .or_else(|| path.file_stem().map(|s| s.to_string_lossy().into_owned()))
        .unwrap_or_else(|| soundfont.to_string());
    let notes: Vec<Note> = DEMO_CHORD
        .iter()
        .map(|&pitch| Note {
            onset: 0.25,
            offset: 1.25,
            pitch,
            velocity: 80,
        })
        .collect();
    let (left, right) = render_notes(&font, &font_name, &notes, &RenderSettings::default())?;
    let wav = out_dir.join("chord.wav");
    write_wav_stereo16(&wav, &left, &right)?;

    let computer = SpectrogramComputer::new(SpectrogramParams::default())?;
    let spec = computer.compute_wav(&wav)?;
    write_spectrogram_npy(&out_dir.join("chord.npy"), &spec)?;
    let roll = PianoRoll::from_notes(&notes, spec.fps, Some(spec.frames));
    write_labels_table(
        &out_dir.join("chord-labels.parquet"),
        &[("chord".to_string(), roll.clone())],
    )?;
    Ok(summarise(&computer, &spec, &roll, out_dir, &font_name))
}

/// Frames, loudest bands in the middle of the chord, and where the labels say notes sound.
fn summarise(
    computer: &SpectrogramComputer,
    spec: &Spectrogram,
    roll: &PianoRoll,
    out_dir: &Path,
    font_name: &str,
) -> String {
    let mut s = String::new();
    let _ = writeln!(
        s,
        "rendered {} ({font_name}, bank 0 program 0: grand piano) -> {}",
        PitchSet::from_iter(DEMO_CHORD).name(),
        out_dir.join("chord.wav").display()
    );
    let _ = writeln!(
        s,
        "spectrogram: {} frames x {} bands at {} fps ({:.2} s) -> chord.npy",
        spec.frames,
        spec.bands,
        spec.fps,
        spec.frames as f64 / spec.fps
    );
    let sounding = roll.frames.iter().filter(|f| !f.is_empty()).count();
    let _ = writeln!(
        s,
        "labels: {sounding} frames with notes -> chord-labels.parquet"
    );
    let middle = roll
        .frames
        .iter()
        .enumerate()
        .filter(|(_, f)| !f.is_empty())
        .map(|(i, _)| i)
        .nth(sounding / 2)
        .unwrap_or(0);
    let row = spec.row(middle);
    // Local maxima of the band energies, loudest first: the partials of the chord.
    let mut peaks: Vec<(usize, f32)> = (1..row.len() - 1)
        .filter(|&b| row[b] > row[b - 1] && row[b] >= row[b + 1])
        .map(|b| (b, row[b]))
        .collect();
    peaks.sort_by(|a, b| b.1.total_cmp(&a.1));
    let _ = writeln!(s, "loudest spectral peaks at frame {middle}:");
    for &(band, value) in peaks.iter().take(5) {
        let hz = computer.filterbank().bands[band].center_hz;
        let midi = 69.0 + 12.0 * (hz / 440.0).log2();
        let _ = writeln!(
            s,
            "  band {band:3}  {hz:7.1} Hz  ~{:<4} log-magnitude {value:.3}",
            note_name(midi.round() as u8)
        );
    }
    s
}
