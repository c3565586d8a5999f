//! The data that flows through the analysis graph.
//!
//! Evaluating a source unit yields [`Outcome`]s: one record per distinct
//! (model, split, shard, truth, prediction), with the number of frames as its differential
//! multiplicity, so a corpus of millions of frames becomes a few thousand records before it
//! enters differential dataflow. Each outcome then explodes into [`TableKey`]s carrying
//! [`Counts`] as their difference type; consolidating by key *is* the aggregation, and
//! retracting a file is adding its counts negated.

use std::collections::HashSet;
use std::sync::{Arc, LazyLock, Mutex};

use differential_dataflow::difference::{Abelian, IsZero, Monoid, Multiply, Semigroup};
use serde::{Deserialize, Serialize};

use crate::analysis::classes::classify;
use crate::analysis::metrics::FrameCounts;
use crate::analysis::positions::{Position, PositionCounts};
use crate::pitchset::PitchSet;

/// A model, split, shard or unit name in a key: interned, so a key is copied without copying
/// its names and two keys' names compare equal by pointer (keys are sorted and looked up by
/// the thousand every round, nearly always under the same few names: comparing the strings,
/// `memcmp`, was the largest cost of a `watch` round). Ordered, hashed and serialised as the
/// string, so tables and logs are what they were with plain strings.
#[derive(Clone)]
pub struct Name(Arc<str>);

/// The names in use. Names are few next to the keys that carry them (models, splits,
/// shards, units); those no key holds any more (a removed file's unit, a model gone) are
/// dropped whenever the set has doubled since the last sweep, so a long `watch` does not
/// keep every name it ever saw.
static NAMES: LazyLock<Mutex<Interned>> = LazyLock::new(Default::default);

#[derive(Default)]
struct Interned {
    names: HashSet<Arc<str>>,
    /// Sweep when the set grows past this.
    sweep_at: usize,
}

impl Name {
    pub fn new(name: &str) -> Self {
        Self::intern(name, || Arc::from(name))
    }

    /// The interned name equal to `name`, made with `make` if there is none.
    fn intern(name: &str, make: impl FnOnce() -> Arc<str>) -> Self {
        let mut interned = NAMES.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(name) = interned.names.get(name) {
            return Self(name.clone());
        }
        if interned.names.len() >= interned.sweep_at {
            // Held only here: no key has it, and none can get it but through this lock.
            interned.names.retain(|n| Arc::strong_count(n) > 1);
            interned.sweep_at = (2 * interned.names.len()).max(1024);
        }
        let name = make();
        interned.names.insert(name.clone());
        Self(name)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::ops::Deref for Name {
    type Target = str;
    fn deref(&self) -> &str {
        &self.0
    }
}

impl From<&str> for Name {
    fn from(name: &str) -> Self {
        Self::new(name)
    }
}

impl From<String> for Name {
    fn from(name: String) -> Self {
        Self::new(&name)
    }
}

impl From<&String> for Name {
    fn from(name: &String) -> Self {
        Self::new(name)
    }
}

impl PartialEq for Name {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.0, &other.0) || self.0 == other.0
    }
}

impl Eq for Name {}

impl PartialOrd for Name {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Name {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        if Arc::ptr_eq(&self.0, &other.0) {
            return std::cmp::Ordering::Equal;
        }
        self.0.cmp(&other.0)
    }
}

impl std::hash::Hash for Name {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.0.hash(state)
    }
}

impl std::fmt::Debug for Name {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Debug::fmt(&*self.0, f)
    }
}

impl std::fmt::Display for Name {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl Serialize for Name {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for Name {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        // Interned again, from the borrowed string where the format allows: keys from other
        // processes then share this process's names.
        struct Visitor;
        impl serde::de::Visitor<'_> for Visitor {
            type Value = Name;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a name")
            }
            fn visit_str<E: serde::de::Error>(self, name: &str) -> Result<Name, E> {
                Ok(Name::new(name))
            }
        }
        deserializer.deserialize_str(Visitor)
    }
}

/// Frames of one model on one shard with the same truth and the same prediction.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Outcome {
    pub model: Name,
    pub split: Name,
    pub shard: Name,
    pub truth: PitchSet,
    pub predicted: PitchSet,
}

/// A row of one of the result tables, or a fact about the inputs the sink must know.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum TableKey {
    /// `combinations`: counts are `[frames, exact, added, omitted]`.
    Combination {
        model: Name,
        split: Name,
        combination: PitchSet,
    },
    /// `additions`: counts are `[frames]` in which `pitch` was added to `combination`.
    Addition {
        model: Name,
        split: Name,
        combination: PitchSet,
        pitch: u8,
    },
    /// `omissions`: counts are `[frames]` in which `pitch` of `combination` was omitted.
    Omission {
        model: Name,
        split: Name,
        combination: PitchSet,
        pitch: u8,
    },
    /// `frame_metrics`: counts are [`FrameCounts`] in field order.
    ShardMetrics {
        model: Name,
        split: Name,
        shard: Name,
    },
    /// `positions`: counts are `[exact, added, omitted]` pitch-frames at `position`.
    Position {
        model: Name,
        split: Name,
        position: Position,
    },
    /// A source unit predicts (model, shard); more than one unit doing so is a conflict.
    Coverage {
        model: Name,
        shard: Name,
        unit: Name,
    },
    /// A source unit could not be evaluated; the tables are not written while one stands.
    Problem { unit: Name, message: String },
    /// Frames a unit skipped, and why (counts are `[frames]`).
    Skipped { unit: Name, reason: String },
}

impl TableKey {
    /// Whether the key is a row of a result table (as opposed to bookkeeping).
    pub fn is_table_row(&self) -> bool {
        matches!(
            self,
            Self::Combination { .. }
                | Self::Addition { .. }
                | Self::Omission { .. }
                | Self::ShardMetrics { .. }
                | Self::Position { .. }
        )
    }
}

/// Number of counters a [`Counts`] carries (the widest row, `frame_metrics`, needs seven).
pub const COUNTERS: usize = 7;

/// Additive counters: the difference type of the aggregation.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, Serialize, Deserialize,
)]
pub struct Counts(pub [i64; COUNTERS]);

/// What a [`Counts`] of a `Combination` key holds, by name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct CombinationTally {
    pub frames: u64,
    pub exact: u64,
    pub added: u64,
    pub omitted: u64,
}

/// Which slot holds what. Keys other than `Combination`, `ShardMetrics` and `Position`
/// (additions, omissions, skipped frames, facts) count one thing: frames, in slot 0.
impl Counts {
    pub fn one(value: i64) -> Self {
        let mut c = [0; COUNTERS];
        c[0] = value;
        Self(c)
    }

    /// The frames a single-counter key counts (slot 0).
    pub fn frames(&self) -> i64 {
        self.0[0]
    }

    /// One frame of a `Combination` key: exact, added, omitted as 0 or 1.
    pub fn combination_frame(exact: bool, added: bool, omitted: bool) -> Self {
        let mut c = [0; COUNTERS];
        c[..4].copy_from_slice(&[1, i64::from(exact), i64::from(added), i64::from(omitted)]);
        Self(c)
    }

    /// A `Combination` key's counts, by name (negative sums, impossible once consolidated,
    /// read as 0).
    pub fn combination(&self) -> CombinationTally {
        let v = |i: usize| self.0[i].max(0) as u64;
        CombinationTally {
            frames: v(0),
            exact: v(1),
            added: v(2),
            omitted: v(3),
        }
    }

    /// A `Position` key's counts: `[exact, added, omitted]`.
    pub fn position(exact_added_omitted: [u64; 3]) -> Self {
        let mut c = [0; COUNTERS];
        for (slot, n) in c.iter_mut().zip(exact_added_omitted) {
            *slot = n as i64;
        }
        Self(c)
    }

    /// A `Position` key's `[exact, added, omitted]` (negative sums read as 0).
    pub fn exact_added_omitted(&self) -> [u64; 3] {
        [0, 1, 2].map(|i| self.0[i].max(0) as u64)
    }

    pub fn from_frame_counts(f: &FrameCounts) -> Self {
        let v = |x: u64| x as i64;
        Self([
            v(f.frames),
            v(f.tp),
            v(f.fp),
            v(f.fn_),
            v(f.substitutions),
            v(f.misses),
            v(f.false_alarms),
        ])
    }

    pub fn to_frame_counts(&self) -> FrameCounts {
        let v = |i: usize| self.0[i].max(0) as u64;
        FrameCounts {
            frames: v(0),
            tp: v(1),
            fp: v(2),
            fn_: v(3),
            substitutions: v(4),
            misses: v(5),
            false_alarms: v(6),
        }
    }

    pub fn minus(&self, other: &Self) -> Self {
        let mut out = *self;
        for (a, b) in out.0.iter_mut().zip(other.0) {
            *a -= b;
        }
        out
    }
}

impl IsZero for Counts {
    fn is_zero(&self) -> bool {
        self.0 == [0; COUNTERS]
    }
}

impl Semigroup for Counts {
    fn plus_equals(&mut self, rhs: &Self) {
        for (a, b) in self.0.iter_mut().zip(rhs.0) {
            *a += b;
        }
    }
}

impl Monoid for Counts {
    fn zero() -> Self {
        Self::default()
    }
}

impl Abelian for Counts {
    fn negate(&mut self) {
        for a in &mut self.0 {
            *a = -*a;
        }
    }
}

impl Multiply<isize> for Counts {
    type Output = Counts;
    fn multiply(mut self, rhs: &isize) -> Counts {
        for a in &mut self.0 {
            *a *= *rhs as i64;
        }
        self
    }
}

/// Every table row one frame outcome contributes to, with its counts for a single frame.
pub fn explode(outcome: &Outcome) -> impl Iterator<Item = (TableKey, Counts)> + use<> {
    let (truth, predicted) = (outcome.truth, outcome.predicted);
    let class = classify(truth, predicted);
    let combination = TableKey::Combination {
        model: outcome.model.clone(),
        split: outcome.split.clone(),
        combination: truth,
    };
    let counts = Counts::combination_frame(class.exact, class.added, class.omitted);
    let shard = TableKey::ShardMetrics {
        model: outcome.model.clone(),
        split: outcome.split.clone(),
        shard: outcome.shard.clone(),
    };
    let frame_counts = Counts::from_frame_counts(&FrameCounts::of_frame(truth, predicted));
    let (model, split) = (outcome.model.clone(), outcome.split.clone());
    let (model2, split2) = (model.clone(), split.clone());
    let additions = predicted.minus(truth).iter().map(move |pitch| {
        let key = TableKey::Addition {
            model: model.clone(),
            split: split.clone(),
            combination: truth,
            pitch,
        };
        (key, Counts::one(1))
    });
    let omissions = truth.minus(predicted).iter().map(move |pitch| {
        let key = TableKey::Omission {
            model: model2.clone(),
            split: split2.clone(),
            combination: truth,
            pitch,
        };
        (key, Counts::one(1))
    });
    [(combination, counts), (shard, frame_counts)]
        .into_iter()
        .chain(additions)
        .chain(omissions)
}

/// The `positions` rows of one (model, split)'s counts: one key per position with a count.
pub fn position_keys(
    model: &Name,
    split: &Name,
    counts: &PositionCounts,
) -> impl Iterator<Item = (TableKey, Counts)> + use<> {
    let (model, split, counts) = (model.clone(), split.clone(), *counts);
    Position::ALL.into_iter().filter_map(move |position| {
        let c = counts.at(position);
        (c != [0; 3]).then(|| {
            let key = TableKey::Position {
                model: model.clone(),
                split: split.clone(),
                position,
            };
            (key, Counts::position(c))
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Names order, compare and serialise as their strings; the same string is one name,
    /// whether made here or read back from another process's bytes.
    #[test]
    fn names_are_their_strings_interned() {
        let strings = ["convnet", "Convnet", "conv", "", "convnet-mix1", "é"];
        let mut by_name: Vec<Name> = strings.iter().map(|s| Name::new(s)).collect();
        let mut by_string = strings.to_vec();
        by_name.sort();
        by_string.sort();
        let sorted: Vec<&str> = by_name.iter().map(Name::as_str).collect();
        assert_eq!(sorted, by_string);
        let a = Name::new("convnet");
        let b = Name::from(String::from("conv") + "net");
        assert!(Arc::ptr_eq(&a.0, &b.0));
        let json = serde_json::to_string(&a).unwrap();
        assert_eq!(json, "\"convnet\"");
        let back: Name = serde_json::from_str(&json).unwrap();
        assert!(Arc::ptr_eq(&a.0, &back.0));
        assert_eq!(format!("{a:?} {a}"), "\"convnet\" convnet");
        assert_ne!(Name::new("convnet"), Name::new("Convnet"));
    }

    /// Names no key holds are swept as new ones come; names in use stay one.
    #[test]
    fn unused_names_are_swept() {
        let kept = Name::new("kept while others come and go");
        for i in 0..5000 {
            drop(Name::new(&format!("gone {i}")));
        }
        let len = NAMES.lock().unwrap().names.len();
        assert!(len < 5000, "{len} names interned");
        let again = Name::new("kept while others come and go");
        assert!(Arc::ptr_eq(&kept.0, &again.0));
    }
}
