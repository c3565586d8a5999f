//! A MAPS-like multi-synthesizer corpus for Configuration II: real piano music (MIDI files,
//! e.g. exported from music21's bundled corpus by `scripts/export_music21_midi.py`) rendered
//! through ten distinct (SoundFont, preset, room) renderers. Six renderers make the training
//! split, a seventh the validation split, and three held-out ones the test split; every piece
//! belongs to exactly one split, so the piece lists are disjoint, as in MAPS Configuration II.

use std::path::{Path, PathBuf};

use super::build::{RenderJob, Renderer, render_jobs};
use super::manifest::{ManifestRow, write_manifest};
use super::{RenderError, RenderSettings, load_soundfont, resolve_soundfont};
use crate::labels::{LabelError, ReadOptions, read_notes};

/// One (SoundFont, preset, room) renderer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RendererSpec {
    pub name: &'static str,
    pub soundfont: &'static str,
    pub bank: u16,
    pub program: u8,
    pub reverb: bool,
    pub split: &'static str,
}

const fn spec(
    name: &'static str,
    soundfont: &'static str,
    bank: u16,
    program: u8,
    reverb: bool,
    split: &'static str,
) -> RendererSpec {
    RendererSpec {
        name,
        soundfont,
        bank,
        program,
        reverb,
        split,
    }
}

/// The renderers, from the four Debian SoundFont packages.
pub const RENDERERS: [RendererSpec; 10] = [
    spec("FluidGrand", "FluidR3_GM", 0, 0, false, "train"),
    spec("FluidBright", "FluidR3_GM", 0, 1, false, "train"),
    spec("MuseGrand", "MuseScore_General", 0, 0, false, "train"),
    spec("MuseBright", "MuseScore_General", 0, 1, false, "train"),
    spec("TimPiano1", "TimGM6mb", 0, 0, false, "train"),
    spec("GMbankPiano1", "sf_GMbank", 0, 0, false, "train"),
    spec("MuseMellow", "MuseScore_General", 8, 0, false, "validation"),
    spec("GMbankAcou1", "sf_GMbank", 127, 0, false, "test"),
    spec("GMbankAcou1Room", "sf_GMbank", 127, 0, true, "test"),
    spec("TimPiano2Room", "TimGM6mb", 0, 1, true, "test"),
];

/// Which split a piece goes to, by its position in the sorted piece list: of every ten
/// pieces, two are test pieces, one a validation piece, seven training pieces.
pub fn piece_split(index: usize) -> &'static str {
    match index % 10 {
        0 | 5 => "test",
        3 => "validation",
        _ => "train",
    }
}

/// The splits that get no piece when there are `pieces` pieces.
pub fn empty_splits(pieces: usize) -> Vec<&'static str> {
    ["train", "validation", "test"]
        .into_iter()
        .filter(|split| !(0..pieces).any(|i| piece_split(i) == *split))
        .collect()
}

/// Minutes of audio in `split` (0.0, never -0.0, when it is empty).
pub fn split_minutes(rows: &[ManifestRow], split: &str) -> f64 {
    rows.iter()
        .filter(|r| r.split == split)
        .fold(0.0, |sum, r| sum + r.duration)
        / 60.0
}

#[derive(Debug, thiserror::Error)]
pub enum MapsLikeError {
    #[error("{path}: cannot list MIDI files: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: no .mid files found")]
    NoPieces { path: PathBuf },
    #[error(transparent)]
    Labels(#[from] LabelError),
    #[error(transparent)]
    Render(#[from] RenderError),
    #[error(transparent)]
    Sink(#[from] crate::sink::SinkError),
}

/// Options of [`build_maps_like`].
#[derive(Debug, Clone, PartialEq)]
pub struct MapsLikeParams {
    /// Cut every piece after this many seconds (None: whole pieces).
    pub max_seconds_per_piece: Option<f64>,
    pub tail_seconds: f64,
}

impl Default for MapsLikeParams {
    fn default() -> Self {
        Self {
            max_seconds_per_piece: None,
            tail_seconds: 1.0,
        }
    }
}

/// Manifest file name of the corpus.
pub const MANIFEST: &str = "synth-mus.manifest.parquet";

/// Renders every piece of `midi_dir` with the renderers of its split into `out_dir` and
/// writes the manifest last. Returns the manifest rows.
pub fn build_maps_like(
    midi_dir: &Path,
    out_dir: &Path,
    params: &MapsLikeParams,
    progress: bool,
) -> Result<Vec<ManifestRow>, MapsLikeError> {
    let _ = std::fs::remove_file(out_dir.join(MANIFEST));
    let midi = list_pieces(midi_dir)?;
    let renderers = load_renderers(params.tail_seconds)?;
    for split in empty_splits(midi.len()) {
        tracing::warn!(
            pieces = midi.len(),
            "the {split} split is empty: of every ten pieces 7 train, 1 validation (the 4th) \
             and 2 test (the 1st and 6th); give at least 4 pieces"
        );
    }
    let mut jobs = Vec::new();
    let mut splits = Vec::new();
    for (index, path) in midi.iter().enumerate() {
        let mut notes = read_notes(path, ReadOptions::default())?;
        if let Some(max) = params.max_seconds_per_piece {
            notes.retain(|n| n.onset < max);
            notes.iter_mut().for_each(|n| n.offset = n.offset.min(max));
        }
        let piece = path
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default();
        let split = piece_split(index);
        for (spec, renderer) in renderers.iter().filter(|(s, _)| s.split == split) {
            jobs.push(RenderJob {
                shard: format!("{piece}_{}", spec.name),
                notes: notes.clone(),
                renderer: renderer.clone(),
                velocity: 0,
            });
            splits.push(split);
        }
    }
    let rows: Vec<ManifestRow> = render_jobs(out_dir, &jobs, progress)?
        .into_iter()
        .zip(splits)
        .map(|(r, split)| r.into_row(split))
        .collect();
    write_manifest(&out_dir.join(MANIFEST), &rows)?;
    Ok(rows)
}

/// The `.mid` files of `midi_dir`, sorted; an error when there are none.
fn list_pieces(midi_dir: &Path) -> Result<Vec<PathBuf>, MapsLikeError> {
    let io = |source| MapsLikeError::Io {
        path: midi_dir.to_path_buf(),
        source,
    };
    let mut midi: Vec<PathBuf> = std::fs::read_dir(midi_dir)
        .map_err(io)?
        .map(|e| e.map(|e| e.path()))
        .collect::<Result<_, _>>()
        .map_err(io)?;
    midi.retain(|p| p.extension().is_some_and(|e| e.eq_ignore_ascii_case("mid")));
    midi.sort();
    if midi.is_empty() {
        return Err(MapsLikeError::NoPieces {
            path: midi_dir.to_path_buf(),
        });
    }
    Ok(midi)
}

/// Every renderer of [`RENDERERS`] with its SoundFont loaded (each font once: MuseScore_General
/// is 490 MB).
fn load_renderers(tail_seconds: f64) -> Result<Vec<(RendererSpec, Renderer)>, MapsLikeError> {
    let mut renderers = Vec::new();
    let mut fonts = std::collections::BTreeMap::new();
    for r in RENDERERS {
        if !fonts.contains_key(r.soundfont) {
            fonts.insert(
                r.soundfont,
                load_soundfont(&resolve_soundfont(r.soundfont))?,
            );
        }
        let renderer = Renderer {
            soundfont_name: r.soundfont.to_string(),
            font: fonts[r.soundfont].clone(),
            settings: RenderSettings {
                bank: r.bank,
                program: r.program,
                reverb_and_chorus: r.reverb,
                tail_seconds,
            },
        };
        renderers.push((r, renderer));
    }
    Ok(renderers)
}

#[cfg(test)]
mod tests {
    #[test]
    fn too_few_pieces_leave_splits_empty_and_their_minutes_zero() {
        assert_eq!(super::empty_splits(1), ["train", "validation"]);
        assert_eq!(super::empty_splits(3), ["validation"]);
        assert!(super::empty_splits(4).is_empty());
        // An empty float sum is -0.0, which printed as "-0.0" minutes.
        let minutes = super::split_minutes(&[], "validation");
        assert_eq!(format!("{minutes:.1}"), "0.0");
    }

    use super::*;
    use std::collections::BTreeSet;

    #[test]
    fn ten_distinct_renderers_six_one_three() {
        let distinct: BTreeSet<_> = RENDERERS
            .iter()
            .map(|r| (r.soundfont, r.bank, r.program, r.reverb))
            .collect();
        assert_eq!(distinct.len(), 10);
        let count = |s| RENDERERS.iter().filter(|r| r.split == s).count();
        assert_eq!(
            (count("train"), count("validation"), count("test")),
            (6, 1, 3)
        );
    }
}
