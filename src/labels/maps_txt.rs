//! MAPS `.txt` note lists: a header `OnsetTime OffsetTime MidiPitch`, then one note per line,
//! tab- or space-separated, seconds and a MIDI pitch. MAPS writes CRLF line endings.

use std::path::Path;

use super::{LabelError, Note};
use crate::pitchset::{PIANO_MAX, PIANO_MIN};

/// Parses a MAPS `.txt` file.
pub fn read_maps_txt(path: &Path) -> Result<Vec<Note>, LabelError> {
    let text = std::fs::read_to_string(path).map_err(|source| LabelError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    parse_maps_txt(&text, path)
}

/// Parses the text of a MAPS `.txt` file; `path` is only used in error messages.
pub fn parse_maps_txt(text: &str, path: &Path) -> Result<Vec<Note>, LabelError> {
    let error = |line: usize, message: String| LabelError::Line {
        path: path.to_path_buf(),
        line,
        message,
    };
    let mut notes = Vec::new();
    let mut seen_content = false;
    for (index, raw) in text.lines().enumerate() {
        let line_no = index + 1;
        let line = raw.trim();
        if line.is_empty() {
            continue;
        }
        let fields: Vec<&str> = line.split_whitespace().collect();
        if !seen_content {
            seen_content = true;
            if fields
                .first()
                .is_some_and(|f| f.eq_ignore_ascii_case("OnsetTime"))
            {
                continue;
            }
        }
        if fields.len() != 3 {
            return Err(error(
                line_no,
                format!(
                    "expected 3 fields (OnsetTime OffsetTime MidiPitch), found {}: {line:?}",
                    fields.len()
                ),
            ));
        }
        let time = |field: &str, name: &str| -> Result<f64, LabelError> {
            match field.parse::<f64>() {
                Ok(t) if t.is_finite() && t >= 0.0 => Ok(t),
                _ => Err(error(
                    line_no,
                    format!("{name} {field:?} is not a non-negative number of seconds"),
                )),
            }
        };
        let onset = time(fields[0], "OnsetTime")?;
        let offset = time(fields[1], "OffsetTime")?;
        let pitch: u8 = fields[2]
            .parse()
            .ok()
            .filter(|p| (PIANO_MIN..=PIANO_MAX).contains(p))
            .ok_or_else(|| {
                error(
                    line_no,
                    format!(
                        "MidiPitch {:?} is outside the piano range {PIANO_MIN}..={PIANO_MAX}",
                        fields[2]
                    ),
                )
            })?;
        if offset < onset {
            return Err(error(
                line_no,
                format!("offset {offset} s is before onset {onset} s"),
            ));
        }
        notes.push(Note {
            onset,
            offset,
            pitch,
            velocity: 64,
        });
    }
    Ok(notes)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Vec<Note>, LabelError> {
        parse_maps_txt(text, Path::new("piece.txt"))
    }

    #[test]
    fn reads_header_crlf_and_tabs() {
        let notes =
            parse("OnsetTime\tOffsetTime\tMidiPitch\r\n0.5\t1.25\t60\r\n1.0\t1.5\t64\r\n\r\n")
                .unwrap();
        assert_eq!(notes.len(), 2);
        assert_eq!(
            (notes[0].onset, notes[0].offset, notes[0].pitch),
            (0.5, 1.25, 60)
        );
        assert_eq!(notes[1].pitch, 64);
    }

    #[test]
    fn errors_name_file_and_line() {
        let msg = |t: &str| parse(t).unwrap_err().to_string();
        assert_eq!(
            msg("OnsetTime OffsetTime MidiPitch\n0.5 1.0\n"),
            "piece.txt:2: expected 3 fields (OnsetTime OffsetTime MidiPitch), found 2: \"0.5 1.0\""
        );
        assert_eq!(
            msg("0.5 1.0 60\n0.7 1.0 120\n"),
            "piece.txt:2: MidiPitch \"120\" is outside the piano range 21..=108"
        );
        assert_eq!(
            msg("1.0 0.5 60\n"),
            "piece.txt:1: offset 0.5 s is before onset 1 s"
        );
        assert_eq!(
            msg("x 0.5 60\n"),
            "piece.txt:1: OnsetTime \"x\" is not a non-negative number of seconds"
        );
    }
}
