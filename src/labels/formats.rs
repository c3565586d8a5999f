//! Note-list formats other transcription work uses, beside MIDI and MAPS `.txt`:
//!
//! - madmom `.notes`: `onset pitch duration [velocity]` per line (seconds, MIDI), whitespace
//!   separated, `#` comments (what `madmom.utils.write_notes` writes);
//! - MusicNet `.csv`: a header with `start_time`, `end_time` and `note` columns (others
//!   ignored), times in samples at 44.1 kHz;
//! - mir_eval note `.txt`: `onset offset frequency` per line (seconds, Hz), whitespace or
//!   comma separated (what `mir_eval.io.load_valued_intervals` reads). A `.txt` is read as
//!   mir_eval's when it has no MAPS header and its third column is written as a decimal
//!   number (`261.63`), or its fields are comma separated; otherwise it is MAPS.

use std::path::Path;

use super::{LabelError, Note};
use crate::pitchset::{PIANO_MAX, PIANO_MIN};

/// MusicNet's sample rate: its label times are sample indices at this rate.
pub const MUSICNET_SAMPLE_RATE: f64 = 44100.0;

fn read(path: &Path) -> Result<String, LabelError> {
    std::fs::read_to_string(path).map_err(|source| LabelError::Io {
        path: path.to_path_buf(),
        source,
    })
}

fn line_error(path: &Path, line: usize, message: String) -> LabelError {
    LabelError::Line {
        path: path.to_path_buf(),
        line,
        message,
    }
}

/// A non-negative, finite number, or an error naming what it should have been.
fn number(field: &str, what: &str) -> Result<f64, String> {
    match field.trim().parse::<f64>() {
        Ok(t) if t.is_finite() && t >= 0.0 => Ok(t),
        _ => Err(format!("{what} {field:?} is not a non-negative number")),
    }
}

fn piano_pitch(value: f64, shown: &str) -> Result<u8, String> {
    let rounded = value.round();
    if (rounded - value).abs() > 1e-6
        || !(f64::from(PIANO_MIN)..=f64::from(PIANO_MAX)).contains(&rounded)
    {
        return Err(format!(
            "pitch {shown:?} is not a MIDI number in the piano range {PIANO_MIN}..={PIANO_MAX}"
        ));
    }
    Ok(rounded as u8)
}

fn note(onset: f64, offset: f64, pitch: u8, velocity: u8) -> Result<Note, String> {
    if offset < onset {
        return Err(format!("offset {offset} s is before onset {onset} s"));
    }
    Ok(Note {
        onset,
        offset,
        pitch,
        velocity,
    })
}

/// Content lines: (1-based number, trimmed text), skipping blanks and `#` comments.
fn content_lines(text: &str) -> impl Iterator<Item = (usize, &str)> {
    text.lines()
        .enumerate()
        .map(|(i, l)| (i + 1, l.trim()))
        .filter(|(_, l)| !l.is_empty() && !l.starts_with('#'))
}

/// A madmom `.notes` file.
pub fn read_madmom_notes(path: &Path) -> Result<Vec<Note>, LabelError> {
    let text = read(path)?;
    let mut notes = Vec::new();
    for (n, line) in content_lines(&text) {
        let fields: Vec<&str> = line.split_whitespace().collect();
        let parsed = (|| {
            if !(3..=5).contains(&fields.len()) {
                return Err(format!(
                    "expected onset, pitch, duration[, velocity], found {} fields: {line:?}",
                    fields.len()
                ));
            }
            let onset = number(fields[0], "onset")?;
            let pitch = piano_pitch(
                fields[1]
                    .parse::<f64>()
                    .map_err(|_| format!("pitch {:?} is not a number", fields[1]))?,
                fields[1],
            )?;
            let duration = number(fields[2], "duration")?;
            let velocity = match fields.get(3) {
                Some(v) => v
                    .parse::<f64>()
                    .ok()
                    .filter(|v| (0.0..=127.0).contains(v))
                    .ok_or_else(|| format!("velocity {v:?} is not in 0..=127"))?
                    .round() as u8,
                None => 64,
            };
            note(onset, onset + duration, pitch, velocity)
        })();
        notes.push(parsed.map_err(|m| line_error(path, n, m))?);
    }
    Ok(notes)
}

/// A MusicNet label `.csv`.
pub fn read_musicnet_csv(path: &Path) -> Result<Vec<Note>, LabelError> {
    let mut reader = csv::ReaderBuilder::new()
        .trim(csv::Trim::All)
        .from_path(path)
        .map_err(|e| LabelError::Io {
            path: path.to_path_buf(),
            source: std::io::Error::other(e.to_string()),
        })?;
    let headers = reader
        .headers()
        .map_err(|e| line_error(path, 1, e.to_string()))?
        .clone();
    let column = |name: &str| {
        headers.iter().position(|h| h == name).ok_or_else(|| {
            line_error(
                path,
                1,
                format!(
                    "no {name:?} column (MusicNet labels have start_time, end_time, note; found {})",
                    headers.iter().collect::<Vec<_>>().join(", ")
                ),
            )
        })
    };
    let (start, end, pitch) = (column("start_time")?, column("end_time")?, column("note")?);
    let mut notes = Vec::new();
    for record in reader.records() {
        let record = record.map_err(|e| {
            let line = e.position().map_or(0, |p| p.line() as usize);
            line_error(path, line, e.to_string())
        })?;
        let line = record.position().map_or(0, |p| p.line() as usize);
        let field = |i: usize| record.get(i).unwrap_or("");
        let parsed = (|| {
            let onset = number(field(start), "start_time")? / MUSICNET_SAMPLE_RATE;
            let offset = number(field(end), "end_time")? / MUSICNET_SAMPLE_RATE;
            let value = field(pitch)
                .parse::<f64>()
                .map_err(|_| format!("note {:?} is not a number", field(pitch)))?;
            note(onset, offset, piano_pitch(value, field(pitch))?, 64)
        })();
        notes.push(parsed.map_err(|m| line_error(path, line, m))?);
    }
    Ok(notes)
}

/// Whether a `.txt` note list is mir_eval's (frequencies in Hz) rather than MAPS'.
pub fn is_mir_eval_txt(text: &str) -> bool {
    let mut lines = content_lines(text).peekable();
    if lines
        .peek()
        .is_some_and(|(_, l)| l.to_ascii_lowercase().starts_with("onsettime"))
    {
        return false;
    }
    lines.any(|(_, l)| {
        l.contains(',')
            || l.split_whitespace()
                .nth(2)
                .is_some_and(|f| f.contains(['.', 'e', 'E']))
    })
}

/// A mir_eval note `.txt` (onset, offset in seconds, frequency in Hz): each frequency becomes
/// the nearest MIDI pitch, `69 + 12 log2(f / 440)`.
pub fn read_mir_eval_txt(path: &Path) -> Result<Vec<Note>, LabelError> {
    let text = read(path)?;
    parse_mir_eval_txt(&text, path)
}

pub fn parse_mir_eval_txt(text: &str, path: &Path) -> Result<Vec<Note>, LabelError> {
    let mut notes = Vec::new();
    for (n, line) in content_lines(text) {
        let fields: Vec<&str> = line
            .split(|c: char| c == ',' || c.is_whitespace())
            .filter(|f| !f.is_empty())
            .collect();
        let parsed = (|| {
            if fields.len() != 3 {
                return Err(format!(
                    "expected onset, offset, frequency (Hz), found {} fields: {line:?}",
                    fields.len()
                ));
            }
            let onset = number(fields[0], "onset")?;
            let offset = number(fields[1], "offset")?;
            let hz = number(fields[2], "frequency")?;
            let midi = 69.0 + 12.0 * (hz / 440.0).log2();
            let pitch = midi.round();
            if !(f64::from(PIANO_MIN)..=f64::from(PIANO_MAX)).contains(&pitch) {
                return Err(format!(
                    "frequency {hz} Hz (MIDI {midi:.2}) is outside the piano range {PIANO_MIN}..={PIANO_MAX}"
                ));
            }
            note(onset, offset, pitch as u8, 64)
        })();
        notes.push(parsed.map_err(|m| line_error(path, n, m))?);
    }
    Ok(notes)
}
