//! Sets of MIDI pitches as a `u128` bitmask: equality, `P \ T` and `T \ P` are one instruction
//! each, which is what the per-frame error classes need.

use std::fmt;
use std::hash::BuildHasher;

use serde::{Deserialize, Serialize};

/// Lowest and highest piano key (A0 and C8) as MIDI numbers.
pub const PIANO_MIN: u8 = 21;
pub const PIANO_MAX: u8 = 108;
/// Number of piano keys: the output size of the piano networks.
pub const PIANO_KEYS: usize = (PIANO_MAX - PIANO_MIN + 1) as usize;

/// A set of MIDI pitches 0..=127.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, Serialize, Deserialize,
)]
pub struct PitchSet(pub u128);

impl PitchSet {
    pub const EMPTY: PitchSet = PitchSet(0);

    pub fn insert(&mut self, pitch: u8) {
        debug_assert!(pitch < 128);
        self.0 |= 1u128 << pitch;
    }

    pub fn contains(self, pitch: u8) -> bool {
        pitch < 128 && self.0 >> pitch & 1 == 1
    }

    pub fn len(self) -> u32 {
        self.0.count_ones()
    }

    pub fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// Pitches in `self` but not in `other`.
    pub fn minus(self, other: PitchSet) -> PitchSet {
        PitchSet(self.0 & !other.0)
    }

    /// Ascending pitches.
    pub fn iter(self) -> impl Iterator<Item = u8> {
        let mut bits = self.0;
        std::iter::from_fn(move || {
            (bits != 0).then(|| {
                let p = bits.trailing_zeros() as u8;
                bits &= bits - 1;
                p
            })
        })
    }

    pub fn to_vec(self) -> Vec<u8> {
        self.iter().collect()
    }

    /// Space-separated note names, e.g. `"G3 A3 C4 D4"`; empty for the empty set.
    pub fn name(self) -> String {
        self.iter().map(note_name).collect::<Vec<_>>().join(" ")
    }
}

impl FromIterator<u8> for PitchSet {
    fn from_iter<I: IntoIterator<Item = u8>>(iter: I) -> Self {
        let mut set = PitchSet::EMPTY;
        iter.into_iter().for_each(|p| set.insert(p));
        set
    }
}

impl fmt::Display for PitchSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.name())
    }
}

/// Scientific pitch notation with sharps; MIDI 60 is `C4`.
pub fn note_name(pitch: u8) -> String {
    const NAMES: [&str; 12] = [
        "C", "C#", "D", "D#", "E", "F", "F#", "G", "G#", "A", "A#", "B",
    ];
    let octave = i32::from(pitch) / 12 - 1;
    format!("{}{}", NAMES[usize::from(pitch % 12)], octave)
}

/// The hasher for maps keyed by pitch sets (and the analysis' other hot maps), which the
/// analysis hashes once per frame: aHash with fixed seeds. FNV hashes a byte at a time (32
/// steps for a pair of sets) and SipHash's DoS resistance buys nothing for keys we make
/// ourselves. The iteration order of such a map can still differ between builds (aHash
/// depends on the CPU's features and its version), so no output may depend on it: every
/// caller sorts or sums.
#[derive(Clone, Copy, Default)]
pub struct PitchSetHash;

impl BuildHasher for PitchSetHash {
    type Hasher = ahash::AHasher;
    fn build_hasher(&self) -> Self::Hasher {
        ahash::RandomState::with_seeds(0x243f_6a88, 0x85a3_08d3, 0x1319_8a2e, 0x0370_7344)
            .build_hasher()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_scientific_pitch_notation() {
        assert_eq!(note_name(60), "C4");
        assert_eq!(note_name(21), "A0");
        assert_eq!(note_name(108), "C8");
        assert_eq!(note_name(61), "C#4");
        let set: PitchSet = [62, 55, 57, 60].into_iter().collect();
        assert_eq!(set.name(), "G3 A3 C4 D4");
    }

    #[test]
    fn set_algebra() {
        let t: PitchSet = [60, 64].into_iter().collect();
        let p: PitchSet = [60, 67, 127].into_iter().collect();
        assert_eq!(p.minus(t).to_vec(), vec![67, 127]);
        assert_eq!(t.minus(p).to_vec(), vec![64]);
        assert_eq!(p.len(), 3);
        assert!(p.contains(127) && !p.contains(64));
    }
}
