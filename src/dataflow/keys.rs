//! The data that flows through the analysis graph.
//!
//! Evaluating a source unit yields [`Outcome`]s: one record per distinct
//! (model, split, shard, truth, prediction), with the number of frames as its differential
//! multiplicity, so a corpus of millions of frames becomes a few thousand records before it
//! enters differential dataflow. Each outcome then explodes into [`TableKey`]s carrying
//! [`Counts`] as their difference type; consolidating by key *is* the aggregation, and
//! retracting a file is adding its counts negated.

use differential_dataflow::difference::{Abelian, IsZero, Monoid, Multiply, Semigroup};
use serde::{Deserialize, Serialize};

use crate::analysis::classes::classify;
use crate::analysis::metrics::FrameCounts;
use crate::analysis::positions::{Position, PositionCounts};
use crate::pitchset::PitchSet;

/// Frames of one model on one shard with the same truth and the same prediction.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Outcome {
    pub model: String,
    pub split: String,
    pub shard: String,
    pub truth: PitchSet,
    pub predicted: PitchSet,
}

/// A row of one of the result tables, or a fact about the inputs the sink must know.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum TableKey {
    /// `combinations`: counts are `[frames, exact, added, omitted]`.
    Combination {
        model: String,
        split: String,
        combination: PitchSet,
    },
    /// `additions`: counts are `[frames]` in which `pitch` was added to `combination`.
    Addition {
        model: String,
        split: String,
        combination: PitchSet,
        pitch: u8,
    },
    /// `omissions`: counts are `[frames]` in which `pitch` of `combination` was omitted.
    Omission {
        model: String,
        split: String,
        combination: PitchSet,
        pitch: u8,
    },
    /// `frame_metrics`: counts are [`FrameCounts`] in field order.
    ShardMetrics {
        model: String,
        split: String,
        shard: String,
    },
    /// `positions`: counts are `[exact, added, omitted]` pitch-frames at `position`.
    Position {
        model: String,
        split: String,
        position: Position,
    },
    /// A source unit predicts (model, shard); more than one unit doing so is a conflict.
    Coverage {
        model: String,
        shard: String,
        unit: String,
    },
    /// A source unit could not be evaluated; the tables are not written while one stands.
    Problem { unit: String, message: String },
    /// Frames a unit skipped, and why (counts are `[frames]`).
    Skipped { unit: String, reason: String },
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
    model: &str,
    split: &str,
    counts: &PositionCounts,
) -> impl Iterator<Item = (TableKey, Counts)> + use<> {
    let (model, split, counts) = (model.to_string(), split.to_string(), *counts);
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
