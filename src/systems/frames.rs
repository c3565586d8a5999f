//! Labels at a system's own frame times: the paper's label rule applied at the system's native
//! frame centres, so that its predictions are compared with the truth where they were made
//! (never resampled to another frame rate).
//!
//! The rule: a note is active from the frame whose centre is nearest its onset up to, not
//! including, the frame nearest its offset, and in at least one frame. On an even grid this
//! is exactly [`crate::labels::roll::note_frames`] (`round(t / dt)`, ties to even), which is
//! what is used there.

use crate::labels::Note;
use crate::labels::roll::PianoRoll;
use crate::pitchset::PitchSet;

use super::spec::FrameTimes;

/// The roll of `notes` at the `frames` frames of a system with these frame times.
pub fn roll_at(notes: &[Note], times: &FrameTimes, frames: usize) -> PianoRoll {
    let fps = times.nominal_fps();
    if times.is_even() {
        return PianoRoll::from_notes(notes, fps, Some(frames));
    }
    let centres: Vec<f64> = (0..frames).map(|i| times.time(i)).collect();
    let mut roll = vec![PitchSet::EMPTY; frames];
    for note in notes {
        let start = nearest(&centres, note.onset, times.hop_seconds);
        let end = nearest(&centres, note.offset, times.hop_seconds).max(start + 1);
        for set in roll.iter_mut().take(end).skip(start) {
            set.insert(note.pitch);
        }
    }
    PianoRoll { fps, frames: roll }
}

/// The index of the centre nearest `t` (ties to the even index, as `round` does on a grid);
/// past the last centre, the index the grid would continue with, so notes beyond the end are
/// cut like on an even grid.
fn nearest(centres: &[f64], t: f64, hop: f64) -> usize {
    let after = centres.partition_point(|&c| c < t);
    if after == centres.len() {
        let last = centres.len().saturating_sub(1);
        let beyond = centres.last().map_or(0.0, |&c| ((t - c) / hop).round());
        return last + beyond.max(0.0) as usize;
    }
    if after == 0 {
        return 0;
    }
    let (below, above) = (t - centres[after - 1], centres[after] - t);
    match below.partial_cmp(&above) {
        Some(std::cmp::Ordering::Less) => after - 1,
        Some(std::cmp::Ordering::Greater) => after,
        _ if (after - 1) % 2 == 0 => after - 1,
        _ => after,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::labels::roll::note_frames;

    fn note(onset: f64, offset: f64, pitch: u8) -> Note {
        Note {
            onset,
            offset,
            pitch,
            velocity: 64,
        }
    }

    fn basic_pitch_times() -> FrameTimes {
        FrameTimes {
            hop_seconds: 256.0 / 22050.0,
            period_frames: 172,
            period_shift_seconds: 256.0 / 22050.0 * (172.0 - 43844.0 / 256.0) + 0.0018,
        }
    }

    #[test]
    fn an_even_grid_gives_the_papers_rule() {
        let times = FrameTimes {
            hop_seconds: 0.02,
            period_frames: 0,
            period_shift_seconds: 0.0,
        };
        let notes = [note(0.51, 1.23, 60), note(2.0, 2.001, 64)];
        let roll = roll_at(&notes, &times, 200);
        assert_eq!(roll, PianoRoll::from_notes(&notes, 50.0, Some(200)));
        assert_eq!(note_frames(&notes[0], 50.0), (26, 62));
    }

    #[test]
    fn irregular_frames_are_labelled_at_their_own_centres() {
        let times = basic_pitch_times();
        // 37 s in: frame i's centre is i * 11.6 ms less 18 shifts of 10.3 ms (0.186 s), so
        // a note at 37.0 s starts at frame round((37.0 + 0.186) / 0.01161) = 3203, not at
        // round(37.0 / 0.01161) = 3187 as an even grid would say.
        let notes = [note(37.0, 38.0, 60)];
        let roll = roll_at(&notes, &times, 3400);
        let first = roll.frames.iter().position(|s| s.contains(60)).unwrap();
        let t = |i: usize| times.time(i);
        assert!(
            (t(first) - 37.0).abs() <= times.hop_seconds / 2.0,
            "{}",
            t(first)
        );
        assert!((t(first - 1) - 37.0).abs() > (t(first) - 37.0).abs());
        assert_eq!(first, 3203);
        let last = roll.frames.iter().rposition(|s| s.contains(60)).unwrap();
        assert!((t(last + 1) - 38.0).abs() <= times.hop_seconds / 2.0);
    }

    #[test]
    fn short_and_late_notes() {
        let times = basic_pitch_times();
        // Shorter than a frame: still one frame. Past the end: cut.
        let roll = roll_at(&[note(1.0, 1.001, 62), note(9.0, 9.5, 70)], &times, 400);
        assert_eq!(roll.frames.iter().filter(|s| s.contains(62)).count(), 1);
        assert!(roll.frames.iter().all(|s| !s.contains(70)));
        assert_eq!(roll.len(), 400);
    }
}
