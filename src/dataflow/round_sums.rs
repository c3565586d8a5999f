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
//! where they agree; then, when the round is sent, each net outcome is exploded once,
//! without names, and the names are put into each distinct key of a slot once. [`explode`]
//! is linear in the multiplicity, so the sums are the same.

use std::collections::HashMap;

use differential_dataflow::difference::{IsZero, Multiply, Semigroup};
use foldhash::fast::FixedState;

use super::keys::{Counts, Outcome, TableKey, explode};
use super::units::Contribution;
use crate::pitchset::PitchSet;

/// Where an outcome counts: (model, split, shard).
type Slot = (String, String, String);

#[derive(Default)]
pub(crate) struct RoundSums {
    /// Net frames per slot and (truth, prediction).
    outcomes: HashMap<Slot, HashMap<(PitchSet, PitchSet), isize, FixedState>, FixedState>,
    /// Facts, summed per key.
    facts: HashMap<TableKey, Counts, FixedState>,
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
            Contribution::Fact(key) => add_key(&mut self.facts, key, Counts::one(diff as i64)),
        }
    }

    /// The round's net change per table key (keys whose change is zero left out), in no
    /// particular order.
    pub fn into_keys(self) -> impl Iterator<Item = (TableKey, Counts)> {
        let mut keys = self.facts;
        for (slot, frames) in self.outcomes {
            // Exploded without names first (an empty name is no allocation), so the names
            // are copied once per distinct key of the slot, not once per outcome and key.
            let mut unnamed: HashMap<TableKey, Counts, FixedState> = HashMap::default();
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
                    add_key(&mut unnamed, key, counts.multiply(&n));
                }
            }
            for (key, counts) in unnamed {
                add_key(&mut keys, named(key, &slot), counts);
            }
        }
        keys.into_iter().filter(|(_, counts)| !counts.is_zero())
    }
}

/// A key [`explode`] made from an outcome without names, with the slot's names (the ones
/// it would have copied from the outcome).
fn named(key: TableKey, (model, split, shard): &Slot) -> TableKey {
    let (model, split) = (model.clone(), split.clone());
    match key {
        TableKey::Combination { combination, .. } => TableKey::Combination {
            model,
            split,
            combination,
        },
        TableKey::Addition {
            combination, pitch, ..
        } => TableKey::Addition {
            model,
            split,
            combination,
            pitch,
        },
        TableKey::Omission {
            combination, pitch, ..
        } => TableKey::Omission {
            model,
            split,
            combination,
            pitch,
        },
        TableKey::ShardMetrics { .. } => TableKey::ShardMetrics {
            model,
            split,
            shard: shard.clone(),
        },
        TableKey::Coverage { .. } | TableKey::Problem { .. } | TableKey::Skipped { .. } => {
            unreachable!("explode gives table rows only")
        }
    }
}

fn add_key(keys: &mut HashMap<TableKey, Counts, FixedState>, key: TableKey, counts: Counts) {
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
        ];
        let mut expected: std::collections::BTreeMap<TableKey, Counts> = Default::default();
        for (contribution, diff) in &contributions {
            let exploded: Vec<(TableKey, Counts)> = match contribution {
                Contribution::Frames(o) => explode(o).collect(),
                Contribution::Fact(key) => vec![(key.clone(), Counts::one(1))],
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
        for (contribution, diff) in contributions {
            sums.add(contribution, diff);
        }
        let got: std::collections::BTreeMap<TableKey, Counts> = sums.into_keys().collect();
        assert_eq!(got, expected);
        assert!(!got.keys().any(|k| format!("{k:?}").contains("67")));
    }
}
