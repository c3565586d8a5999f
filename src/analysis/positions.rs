//! Where in a note's life a pitch-frame falls (issue 12, item 9): every pitch-frame that is
//! labelled or predicted has a [`Position`] relative to the labelled notes *of the same pitch*,
//! so that timing errors (a note on a frame early, held past its offset, ringing through the
//! release) can be told apart from notes invented during other notes (entanglement).
//!
//! Positions, for pitch `p` at frame `f`, with `p`'s labelled runs of frames `[s, e)`:
//! * inside a run: `onset` when `f - s <= k`, else `offset` when `e - 1 - f <= k`, else
//!   `sustain`;
//! * outside: `onset` when `0 < s - f <= k` for the next run, `offset` when
//!   `0 < f - (e - 1) <= k` for the previous one, `release` when the previous run ended at most
//!   `release` frames before, `before_onset` when the next run starts at most `release` frames
//!   later; otherwise `silence` when nothing is labelled at `f`, and `other_notes` when other
//!   pitches are (where entanglement errors live).
//!
//! A position depends on the labels only, so the dataflow counts a frame's *predicted* pitches
//! as it reads them ([`PositionTally`]) and takes the omitted ones as the labelled pitch-frames
//! ([`NoteRuns::labelled`]) less the exact ones: no unit keeps its predictions to count them.

use serde::{Deserialize, Serialize};

use crate::pitchset::PitchSet;

/// Where a pitch-frame falls relative to the labelled notes of its pitch.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Position {
    BeforeOnset,
    Onset,
    Sustain,
    Offset,
    Release,
    Silence,
    OtherNotes,
}

impl Position {
    /// The positions, in the order tables list them.
    pub const ALL: [Position; 7] = [
        Position::BeforeOnset,
        Position::Onset,
        Position::Sustain,
        Position::Offset,
        Position::Release,
        Position::Silence,
        Position::OtherNotes,
    ];

    /// The name tables use.
    pub fn name(self) -> &'static str {
        match self {
            Position::BeforeOnset => "before_onset",
            Position::Onset => "onset",
            Position::Sustain => "sustain",
            Position::Offset => "offset",
            Position::Release => "release",
            Position::Silence => "silence",
            Position::OtherNotes => "other_notes",
        }
    }

    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|p| p.name() == name)
    }

    fn index(self) -> usize {
        self as usize
    }
}

/// The window sizes, in frames.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Windows {
    /// Frames on either side of a labelled onset or offset that count as "at" it.
    pub k: usize,
    /// Frames after an offset (before an onset) that count as release (before onset).
    pub release: usize,
}

/// The windows as a user gives them: `k` frames, and the release in seconds.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct PositionWindows {
    pub k: usize,
    pub release_seconds: f64,
}

impl Default for PositionWindows {
    /// One frame either side of an onset or offset, half a second of release.
    fn default() -> Self {
        Self {
            k: 1,
            release_seconds: 0.5,
        }
    }
}

impl PositionWindows {
    /// The windows in frames at `fps`.
    pub fn at(self, fps: f64) -> Windows {
        Windows {
            k: self.k,
            release: (self.release_seconds * fps).round() as usize,
        }
    }

    pub fn validate(self) -> Result<(), String> {
        if self.release_seconds.is_finite() && self.release_seconds >= 0.0 {
            Ok(())
        } else {
            Err(format!(
                "the release must be a non-negative number of seconds, not {}",
                self.release_seconds
            ))
        }
    }
}

/// Exact, added and omitted pitch-frames per position.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PositionCounts(pub [[u64; 3]; 7]);

impl PositionCounts {
    /// `[exact, added, omitted]` at `position`.
    pub fn at(&self, position: Position) -> [u64; 3] {
        self.0[position.index()]
    }
}

/// One shard's labelled notes: per pitch, its maximal runs `[s, e)` of labelled frames.
#[derive(Debug, Clone, Default)]
pub struct NoteRuns {
    runs: Vec<Vec<(u32, u32)>>,
}

impl NoteRuns {
    /// The runs of `frames`, in one pass that looks only at the pitches that change.
    pub fn of_frames(frames: impl Iterator<Item = PitchSet>) -> Self {
        let mut runs = vec![Vec::new(); 128];
        let mut open = [0u32; 128];
        let mut previous = PitchSet::EMPTY;
        let mut end = 0u32;
        for (f, set) in frames.enumerate() {
            let f = f as u32;
            for p in set.minus(previous).iter() {
                open[p as usize] = f;
            }
            for p in previous.minus(set).iter() {
                runs[p as usize].push((open[p as usize], f));
            }
            previous = set;
            end = f + 1;
        }
        for p in previous.iter() {
            runs[p as usize].push((open[p as usize], end));
        }
        Self { runs }
    }

    /// Where `pitch` at frame `f` falls; `silent`: nothing is labelled at `f`.
    pub fn position(&self, pitch: u8, f: usize, silent: bool, w: Windows) -> Position {
        let runs = self.runs.get(pitch as usize).map_or(&[][..], Vec::as_slice);
        let f = f as u32;
        let (k, release) = (w.k as u32, w.release as u32);
        // The first run that ends after f: f is inside it or before it.
        let i = runs.partition_point(|&(_, e)| e <= f);
        if let Some(&(s, e)) = runs.get(i).filter(|&&(s, _)| s <= f) {
            return inside(f - s, e - 1 - f, k);
        }
        let until_next = runs.get(i).map(|&(s, _)| s - f);
        let since_last = i.checked_sub(1).map(|j| f - (runs[j].1 - 1));
        if until_next.is_some_and(|d| d <= k) {
            Position::Onset
        } else if since_last.is_some_and(|d| d <= k) {
            Position::Offset
        } else if since_last.is_some_and(|d| d <= release) {
            Position::Release
        } else if until_next.is_some_and(|d| d <= release) {
            Position::BeforeOnset
        } else if silent {
            Position::Silence
        } else {
            Position::OtherNotes
        }
    }

    /// The labelled pitch-frames at each position (all inside runs: onset, sustain or
    /// offset), counted from the runs' lengths: what a model that predicts nothing omits.
    pub fn labelled(&self, w: Windows) -> PositionCounts {
        let k = w.k as u64;
        let mut counts = PositionCounts::default();
        for &(s, e) in self.runs.iter().flatten() {
            let length = u64::from(e - s);
            let onset = length.min(k + 1);
            let offset = (length - onset).min(k + 1);
            counts.0[Position::Onset.index()][2] += onset;
            counts.0[Position::Offset.index()][2] += offset;
            counts.0[Position::Sustain.index()][2] += length - onset - offset;
        }
        counts
    }
}

/// A pitch-frame inside a run, `from_start` frames after its first frame and `to_end` before
/// its last.
fn inside(from_start: u32, to_end: u32, k: u32) -> Position {
    if from_start <= k {
        Position::Onset
    } else if to_end <= k {
        Position::Offset
    } else {
        Position::Sustain
    }
}

/// Counts one (model, shard)'s predicted pitch-frames by position as its frames arrive, in any
/// order; [`Self::finish`] adds the omitted ones.
#[derive(Debug, Clone, Default)]
pub struct PositionTally {
    /// `[exact, added]` per position.
    predicted: [[u64; 2]; 7],
}

impl PositionTally {
    /// Counts the pitches `predicted` at frame `f`, whose labels are `truth`.
    pub fn frame(
        &mut self,
        runs: &NoteRuns,
        w: Windows,
        f: usize,
        truth: PitchSet,
        predicted: PitchSet,
    ) {
        for pitch in predicted.iter() {
            let at = runs.position(pitch, f, truth.is_empty(), w);
            let labelled = truth.contains(pitch);
            self.predicted[at.index()][usize::from(!labelled)] += 1;
        }
    }

    /// The counts, with every labelled pitch-frame not predicted exactly as omitted.
    pub fn finish(&self, runs: &NoteRuns, w: Windows) -> PositionCounts {
        let mut counts = runs.labelled(w);
        for (row, [exact, added]) in counts.0.iter_mut().zip(self.predicted) {
            row[0] = exact;
            row[1] = added;
            row[2] -= exact;
        }
        counts
    }
}

/// The positions of one shard counted frame by frame: `truth` and `predicted` (a predicted
/// frame past the truth's end is ignored; a missing one is empty).
pub fn count_shard(truth: &[PitchSet], predicted: &[PitchSet], w: Windows) -> PositionCounts {
    let runs = NoteRuns::of_frames(truth.iter().copied());
    let mut tally = PositionTally::default();
    for (f, (&t, &p)) in truth.iter().zip(predicted).enumerate() {
        tally.frame(&runs, w, f, t, p);
    }
    tally.finish(&runs, w)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn sets(frames: &[&[u8]]) -> Vec<PitchSet> {
        frames.iter().map(|p| p.iter().copied().collect()).collect()
    }

    /// The position of every labelled or predicted pitch-frame, looked up one by one from the
    /// rule in the module comment, independently of the runs.
    fn by_definition(truth: &[PitchSet], predicted: &[PitchSet], w: Windows) -> PositionCounts {
        let labelled =
            |p: u8, f: isize| f >= 0 && (f as usize) < truth.len() && truth[f as usize].contains(p);
        let mut counts = PositionCounts::default();
        for (f, &t) in truth.iter().enumerate() {
            let guessed = predicted.get(f).copied().unwrap_or_default();
            for p in 0..128u8 {
                let (is_labelled, is_guessed) = (t.contains(p), guessed.contains(p));
                if !is_labelled && !is_guessed {
                    continue;
                }
                let f = f as isize;
                let at = if is_labelled {
                    let from_start = (0..).take_while(|d| labelled(p, f - d - 1)).count();
                    let to_end = (0..).take_while(|d| labelled(p, f + d + 1)).count();
                    inside(from_start as u32, to_end as u32, w.k as u32)
                } else {
                    let next = (1..)
                        .take_while(|d| f + d < truth.len() as isize)
                        .find(|d| labelled(p, f + d));
                    let last = (1..=f).find(|d| labelled(p, f - d));
                    let (k, r) = (w.k as isize, w.release as isize);
                    if next.is_some_and(|d| d <= k) {
                        Position::Onset
                    } else if last.is_some_and(|d| d <= k) {
                        Position::Offset
                    } else if last.is_some_and(|d| d <= r) {
                        Position::Release
                    } else if next.is_some_and(|d| d <= r) {
                        Position::BeforeOnset
                    } else if t.is_empty() {
                        Position::Silence
                    } else {
                        Position::OtherNotes
                    }
                };
                let class = match (is_labelled, is_guessed) {
                    (true, true) => 0,
                    (false, true) => 1,
                    _ => 2,
                };
                counts.0[at.index()][class] += 1;
            }
        }
        counts
    }

    #[test]
    fn hand_counted_positions() {
        // C4 (60) labelled in frames 3..9; E4 (64) in 12..14. k = 1, release = 3.
        let mut truth = vec![PitchSet::EMPTY; 18];
        truth[3..9].fill(sets(&[&[60]])[0]);
        truth[12..14].fill(sets(&[&[64]])[0]);
        // Predicted: 60 a frame early (2), missed at its onset (3), held 3 frames past its
        // offset (9, 10, 11); 72 invented during 64 (12) and in silence (17); 64 exact.
        let mut predicted = vec![PitchSet::EMPTY; 18];
        predicted[2] = sets(&[&[60]])[0];
        predicted[4..12].fill(sets(&[&[60]])[0]);
        predicted[12] = sets(&[&[64, 72]])[0];
        predicted[13] = sets(&[&[64]])[0];
        predicted[17] = sets(&[&[72]])[0];
        let c = count_shard(&truth, &predicted, Windows { k: 1, release: 3 });
        // onset: 60 at 2 (added, early), 3 (omitted), 4 (exact); 64 at 12, 13 (exact;
        // 13 is also within k of the offset, onset wins). The offset (7, 8): 60 exact; at 9
        // added. Release: 60 at 10, 11.
        assert_eq!(c.at(Position::Onset), [3, 1, 1]);
        assert_eq!(c.at(Position::Sustain), [2, 0, 0]);
        assert_eq!(c.at(Position::Offset), [2, 1, 0]);
        assert_eq!(c.at(Position::Release), [0, 2, 0]);
        assert_eq!(c.at(Position::OtherNotes), [0, 1, 0]);
        assert_eq!(c.at(Position::Silence), [0, 1, 0]);
        assert_eq!(c.at(Position::BeforeOnset), [0, 0, 0]);
        assert_eq!(
            c,
            by_definition(&truth, &predicted, Windows { k: 1, release: 3 })
        );
    }

    fn frames(len: usize) -> impl Strategy<Value = Vec<PitchSet>> {
        // Few pitches, so that runs, gaps and overlaps are common.
        proptest::collection::vec(0u8..16, len).prop_map(|bits| {
            bits.into_iter()
                .map(|b| PitchSet(u128::from(b) << 58))
                .collect()
        })
    }

    proptest! {
        #[test]
        fn runs_count_what_the_definition_counts(
            (truth, predicted) in (1usize..60)
                .prop_flat_map(|n| (frames(n), (0..n + 4).prop_flat_map(frames))),
            k in 0usize..4,
            release in 0usize..8,
        ) {
            let w = Windows { k, release };
            prop_assert_eq!(count_shard(&truth, &predicted, w), by_definition(&truth, &predicted, w));
        }
    }
}
