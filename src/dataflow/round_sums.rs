//! One worker's contributions to one round, summed per table key before they are sent.
//!
//! The units of a round give one outcome per (model, shard, truth, prediction), so their
//! number grows with the predictions; their table keys do not (only `frame_metrics` is per
//! shard). Summing here, as the units are evaluated, keeps what a worker holds and sends
//! bounded by the keys.
//!
//! Outcomes are summed in two steps, because exploding one into its table keys (a
//! combination row, a shard row, a row per added and per omitted pitch, each key with its
//! own copies of the model and split names) and hashing those keys was the largest cost of a
//! `watch` round: first per (model, split, shard) and (truth, prediction), which costs two
//! integers per outcome and cancels a replaced file's old outcomes against its new ones
//! where they agree; then, after each unit's change, each net outcome is exploded once,
//! into name-free row shapes, and the names are put into each distinct row of a slot once.
//! [`explode`] is linear in the multiplicity, so the sums are the same.

use std::collections::HashMap;

use differential_dataflow::difference::{IsZero, Multiply, Semigroup};
use fnv::FnvHashMap;

use super::keys::{Counts, Outcome, TableKey, explode};
use super::units::Contribution;
use crate::pitchset::{PitchSet, PitchSetHash};

/// Where an outcome counts: (model, split, shard).
type Slot = (String, String, String);

/// A table row of a slot without the slot's names: comparing and hashing it touches no
/// string (a string comparison, a call to `memcmp`, was most of the cost of a key).
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
enum Shape {
    Combination(PitchSet),
    Addition(PitchSet, u8),
    Omission(PitchSet, u8),
    ShardMetrics,
}

impl Shape {
    /// The shape of a key [`explode`] made (whatever names it carries).
    fn of(key: &TableKey) -> Self {
        match *key {
            TableKey::Combination { combination, .. } => Self::Combination(combination),
            TableKey::Addition {
                combination, pitch, ..
            } => Self::Addition(combination, pitch),
            TableKey::Omission {
                combination, pitch, ..
            } => Self::Omission(combination, pitch),
            TableKey::ShardMetrics { .. } => Self::ShardMetrics,
            TableKey::Position { .. }
            | TableKey::Coverage { .. }
            | TableKey::Problem { .. }
            | TableKey::Skipped { .. } => {
                unreachable!("explode gives combination, pitch and shard rows only")
            }
        }
    }

    /// The key with the slot's names: the one [`explode`] makes from an outcome of the slot.
    fn named(self, (model, split, shard): &Slot) -> TableKey {
        let (model, split) = (model.clone(), split.clone());
        match self {
            Self::Combination(combination) => TableKey::Combination {
                model,
                split,
                combination,
            },
            Self::Addition(combination, pitch) => TableKey::Addition {
                model,
                split,
                combination,
                pitch,
            },
            Self::Omission(combination, pitch) => TableKey::Omission {
                model,
                split,
                combination,
                pitch,
            },
            Self::ShardMetrics => TableKey::ShardMetrics {
                model,
                split,
                shard: shard.clone(),
            },
        }
    }
}

#[derive(Default)]
pub(crate) struct RoundSums {
    /// Net frames per slot and (truth, prediction).
    outcomes: HashMap<Slot, HashMap<(PitchSet, PitchSet), isize, PitchSetHash>, PitchSetHash>,
    /// Facts and settled outcomes, summed per key.
    keys: FnvHashMap<TableKey, Counts>,
}

impl RoundSums {
    pub fn add(&mut self, contribution: Contribution, diff: isize) {
        match contribution {
            Contribution::Frames(outcome) => {
                let Outcome {
                    model,
                    split,
                    shard,
                    truth,
                    predicted,
                } = outcome;
                *self
                    .outcomes
                    .entry((model, split, shard))
                    .or_default()
                    .entry((truth, predicted))
                    .or_default() += diff;
            }
            Contribution::Fact(key) => add_key(&mut self.keys, key, Counts::one(diff as i64)),
            Contribution::Counted(key, counts) => {
                add_key(&mut self.keys, key, counts.multiply(&diff))
            }
        }
    }

    /// Explodes the outcomes summed so far into the keys, and forgets them. Called after each
    /// unit's change (which holds its retraction and its new outcomes, so they still cancel):
    /// what a worker holds between units is then bounded by the distinct keys, never by the
    /// number of shards times their distinct outcomes.
    pub fn settle(&mut self) {
        for (slot, frames) in self.outcomes.drain() {
            // Exploded without names first (an empty name is no allocation), so the names
            // are copied once per distinct row of the slot, not once per outcome and row.
            let mut rows: HashMap<Shape, Counts, PitchSetHash> = HashMap::default();
            for ((truth, predicted), n) in frames {
                if n == 0 {
                    continue;
                }
                let outcome = Outcome {
                    model: String::new(),
                    split: String::new(),
                    shard: String::new(),
                    truth,
                    predicted,
                };
                for (key, counts) in explode(&outcome) {
                    rows.entry(Shape::of(&key))
                        .or_default()
                        .plus_equals(&counts.multiply(&n));
                }
            }
            self.keys.reserve(rows.len());
            for (shape, counts) in rows {
                add_key(&mut self.keys, shape.named(&slot), counts);
            }
        }
    }

    /// The round's net change per table key (keys whose change is zero left out), in no
    /// particular order.
    pub fn into_keys(mut self) -> impl Iterator<Item = (TableKey, Counts)> {
        self.settle();
        self.keys
            .into_iter()
            .filter(|(_, counts)| !counts.is_zero())
    }
}

fn add_key(keys: &mut FnvHashMap<TableKey, Counts>, key: TableKey, counts: Counts) {
    keys.entry(key).or_default().plus_equals(&counts);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(pitches: &[u8]) -> PitchSet {
        pitches.iter().copied().collect()
    }

    fn outcome(shard: &str, truth: &[u8], predicted: &[u8]) -> Contribution {
        Contribution::Frames(Outcome {
            model: "m".into(),
            split: "test".into(),
            shard: shard.into(),
            truth: set(truth),
            predicted: set(predicted),
        })
    }

    /// Summing outcomes before exploding them gives what exploding each one gives, and an
    /// outcome retracted as often as it was added leaves no key behind.
    #[test]
    fn sums_equal_exploding_every_outcome() {
        let contributions = [
            (outcome("a", &[60, 64], &[60, 65]), 3),
            (outcome("a", &[60, 64], &[60, 65]), -1),
            (outcome("b", &[60, 64], &[60, 65]), 2),
            (outcome("a", &[62], &[]), 5),
            (outcome("a", &[67], &[67]), 4),
            (outcome("a", &[67], &[67]), -4),
            (
                Contribution::Fact(TableKey::Problem {
                    unit: "u".into(),
                    message: "x".into(),
                }),
                1,
            ),
            (
                Contribution::Counted(
                    TableKey::Position {
                        model: "m".into(),
                        split: "test".into(),
                        position: crate::analysis::positions::Position::Onset,
                    },
                    Counts::position([2, 1, 3]),
                ),
                2,
            ),
        ];
        let mut expected: std::collections::BTreeMap<TableKey, Counts> = Default::default();
        for (contribution, diff) in &contributions {
            let exploded: Vec<(TableKey, Counts)> = match contribution {
                Contribution::Frames(o) => explode(o).collect(),
                Contribution::Fact(key) => vec![(key.clone(), Counts::one(1))],
                Contribution::Counted(key, counts) => vec![(key.clone(), *counts)],
            };
            for (key, counts) in exploded {
                expected
                    .entry(key)
                    .or_default()
                    .plus_equals(&counts.multiply(diff));
            }
        }
        expected.retain(|_, counts| !counts.is_zero());
        let mut sums = RoundSums::default();
        for (i, (contribution, diff)) in contributions.into_iter().enumerate() {
            sums.add(contribution, diff);
            if i == 3 {
                sums.settle(); // settling half-way changes nothing
            }
        }
        let got: std::collections::BTreeMap<TableKey, Counts> = sums.into_keys().collect();
        assert_eq!(got, expected);
        assert!(!got.keys().any(|k| format!("{k:?}").contains("67")));
    }
}
