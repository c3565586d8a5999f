//! Note list -> frame piano roll, by the paper's label rule: a note `(onset, offset)` is active
//! in frames `round(onset / dt) .. round(offset / dt)` (end exclusive), and in at least one
//! frame. Rounding is half-to-even, as Python's `round` and numpy's `np.round` (which the
//! paper's pipeline used) do.

use super::Note;
use crate::pitchset::PitchSet;

/// One pitch set per frame.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct PianoRoll {
    pub fps: f64,
    pub frames: Vec<PitchSet>,
}

/// The frame range `[start, end)` a note is active in, before clipping to the roll length.
pub fn note_frames(note: &Note, fps: f64) -> (usize, usize) {
    let dt = 1.0 / fps;
    let start = (note.onset / dt).round_ties_even().max(0.0) as usize;
    let end = (note.offset / dt).round_ties_even().max(0.0) as usize;
    (start, end.max(start + 1))
}

impl PianoRoll {
    /// The roll of `notes` at `fps`. `num_frames` fixes its length (the spectrogram's frame
    /// count, when the audio is known); notes past it are cut. Without it the roll ends with
    /// the last active frame.
    pub fn from_notes(notes: &[Note], fps: f64, num_frames: Option<usize>) -> Self {
        let natural = notes
            .iter()
            .map(|n| note_frames(n, fps).1)
            .max()
            .unwrap_or(0);
        let len = num_frames.unwrap_or(natural);
        let mut frames = vec![PitchSet::EMPTY; len];
        for note in notes {
            let (start, end) = note_frames(note, fps);
            for set in frames.iter_mut().take(end).skip(start) {
                set.insert(note.pitch);
            }
        }
        Self { fps, frames }
    }

    pub fn len(&self) -> usize {
        self.frames.len()
    }

    pub fn is_empty(&self) -> bool {
        self.frames.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn note(onset: f64, offset: f64, pitch: u8) -> Note {
        Note {
            onset,
            offset,
            pitch,
            velocity: 64,
        }
    }

    fn pitches(roll: &PianoRoll) -> Vec<Vec<u8>> {
        roll.frames.iter().map(|s| s.to_vec()).collect()
    }

    #[test]
    fn hand_computed_rolls() {
        // At 8 fps (dt = 0.125 s, exact in binary, so the ties are real ties):
        // [0, 0.3125): 2.5 rounds to even 2 -> frames 0, 1;
        // [0.1875, 0.4375): 1.5 -> 2, 3.5 -> 4 -> frames 2, 3;
        // a zero-length note at 0.75 s still gets frame 6;
        // a note shorter than a frame (3.2 .. 3.36 -> 3 .. 3) gets frame 3.
        let notes = [
            note(0.0, 0.3125, 60),
            note(0.1875, 0.4375, 64),
            note(0.75, 0.75, 67),
            note(0.40, 0.42, 72),
        ];
        let roll = PianoRoll::from_notes(&notes, 8.0, None);
        assert_eq!(
            pitches(&roll),
            vec![
                vec![60],
                vec![60],
                vec![64],
                vec![64, 72],
                vec![],
                vec![],
                vec![67],
            ]
        );
    }

    #[test]
    fn fixed_length_cuts_and_pads() {
        let notes = [note(0.0, 1.0, 60)];
        assert_eq!(PianoRoll::from_notes(&notes, 10.0, Some(3)).len(), 3);
        let padded = PianoRoll::from_notes(&notes, 10.0, Some(12));
        assert_eq!(padded.len(), 12);
        assert!(padded.frames[10].is_empty() && padded.frames[9].contains(60));
    }

    #[test]
    fn overlapping_notes_of_one_pitch_merge() {
        let notes = [note(0.0, 0.3, 60), note(0.2, 0.5, 60)];
        let roll = PianoRoll::from_notes(&notes, 10.0, None);
        assert_eq!(roll.frames.iter().filter(|s| s.contains(60)).count(), 5);
    }
}
