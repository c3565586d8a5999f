//! Labels: note lists from MIDI files and MAPS `.txt` files, and the frame piano roll they
//! give under the paper's label rule.

pub mod audio;
pub mod coded;
pub mod formats;
pub mod maps_txt;
pub mod midi;
pub mod roll;

use std::path::{Path, PathBuf};

pub use roll::PianoRoll;

/// A sounding note, in seconds.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Note {
    pub onset: f64,
    pub offset: f64,
    pub pitch: u8,
    pub velocity: u8,
}

/// What went wrong reading a label file. Every variant names the file (and line, where
/// there is one).
#[derive(Debug, thiserror::Error)]
pub enum LabelError {
    #[error("{path}: cannot read: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}:{line}: {message}")]
    Line {
        path: PathBuf,
        line: usize,
        message: String,
    },
    #[error("{path}: invalid MIDI file: {message}")]
    Midi { path: PathBuf, message: String },
    #[error(
        "{path}: unknown label format (expected .mid, .midi, MAPS or mir_eval .txt, madmom .notes or MusicNet .csv)"
    )]
    UnknownFormat { path: PathBuf },
}

/// Options for reading note lists.
#[derive(Debug, Clone, Copy, Default)]
pub struct ReadOptions {
    /// Extend notes while the sustain pedal (CC 64) is down; off by default, as the
    /// framewise label rule is about keys held, not strings ringing.
    pub sustain_pedal: bool,
}

/// Reads a note list, its format chosen by extension: `.mid`/`.midi`, `.txt` (MAPS, or
/// mir_eval's onset/offset/Hz; see [`formats`]), madmom `.notes`, MusicNet `.csv`.
pub fn read_notes(path: &Path, options: ReadOptions) -> Result<Vec<Note>, LabelError> {
    let ext = path
        .extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase);
    match ext.as_deref() {
        Some("mid" | "midi") => midi::read_midi(path, options),
        Some("txt") => {
            let text = std::fs::read_to_string(path).map_err(|source| LabelError::Io {
                path: path.to_path_buf(),
                source,
            })?;
            if formats::is_mir_eval_txt(&text) {
                formats::parse_mir_eval_txt(&text, path)
            } else {
                maps_txt::parse_maps_txt(&text, path)
            }
        }
        Some("notes") => formats::read_madmom_notes(path),
        Some("csv") => formats::read_musicnet_csv(path),
        _ => Err(LabelError::UnknownFormat {
            path: path.to_path_buf(),
        }),
    }
}
