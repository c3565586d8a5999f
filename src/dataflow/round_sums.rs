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
//! where they agree; then, after each unit's change, the net outcomes of a slot are sorted by
//! truth and each combination's rows are summed in arrays indexed by pitch, so no exploded
//! row is hashed, and the names are put into each distinct row of a slot once. The rows are
//! those [`explode`](super::keys::explode) gives each outcome, times its frames, summed
//! (tested below).

use std::collections::HashMap;
use std::sync::Arc;

use differential_dataflow::difference::{IsZero, Multiply, Semigroup};
use fnv::FnvHashMap;

use super::keys::{Counts, TableKey};
use super::units::{Contribution, SlotNames};
use crate::analysis::classes::classify;
use crate::analysis::metrics::FrameCounts;
use crate::pitchset::{PitchSet, PitchSetHash};

/// Net frames per (truth, prediction).
type NetFrames = HashMap<(PitchSet, PitchSet), isize, PitchSetHash>;

#[derive(Default)]
pub(crate) struct RoundSums {
    /// Net frames per slot and (truth, prediction).
    outcomes: HashMap<Arc<SlotNames>, NetFrames, PitchSetHash>,
    /// Facts and settled outcomes, summed per key.
    keys: FnvHashMap<TableKey, Counts>,
}

impl RoundSums {
    /// Adds `contribution` `diff` times (-1: retracts it).
    pub fn add(&mut self, contribution: &Contribution, diff: isize) {
        for slot in &contribution.frames {
            let frames = self.outcomes.entry(slot.names.clone()).or_default();
            for &(outcome, n) in &slot.outcomes {
                *frames.entry(outcome).or_default() += n * diff;
            }
        }
        for (key, counts) in &contribution.rows {
            add_key(&mut self.keys, key.clone(), counts.multiply(&diff));
        }
    }

    /// Explodes the outcomes summed so far into the keys, and forgets them. Called after each
    /// unit's change (which holds its retraction and its new outcomes, so they still cancel):
    /// what a worker holds between units is then bounded by the distinct keys, never by the
    /// number of shards times their distinct outcomes.
    pub fn settle(&mut self) {
        for (slot, frames) in self.outcomes.drain() {
            // Grouped by truth, a combination's rows are summed in plain arrays (one slot per
            // pitch) and named once each: hashing every exploded row was the cost here.
            let mut net: Vec<_> = frames.into_iter().filter(|&(_, n)| n != 0).collect();
            net.sort_unstable_by_key(|&((truth, _), _)| truth);
            let mut shard = Counts::default();
            for group in net.chunk_by(|a, b| a.0.0 == b.0.0) {
                let truth = group[0].0.0;
                shard.plus_equals(&combination_rows(&slot, truth, group, &mut self.keys));
            }
            // Nothing left of the slot (a file replaced by the same rows): no shard row either.
            if !shard.is_zero() {
                let key = TableKey::ShardMetrics {
                    model: slot.model.clone(),
                    split: slot.split.clone(),
                    shard: slot.shard.clone(),
                };
                add_key(&mut self.keys, key, shard);
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

/// Adds the rows of combination `truth` of `slot` that its net outcomes
/// (`(truth, prediction)`, frames) give to `keys` (what [`explode`](super::keys::explode)
/// gives each outcome, times its frames, summed per row); returns their `frame_metrics`
/// counts, which go to the slot's one shard row.
fn combination_rows(
    slot: &SlotNames,
    truth: PitchSet,
    outcomes: &[((PitchSet, PitchSet), isize)],
    keys: &mut FnvHashMap<TableKey, Counts>,
) -> Counts {
    let (mut combination, mut shard) = (Counts::default(), Counts::default());
    let (mut added, mut omitted) = ([0i64; 128], [0i64; 128]);
    let (mut any_added, mut any_omitted) = (PitchSet::EMPTY, PitchSet::EMPTY);
    for &((_, predicted), n) in outcomes {
        let class = classify(truth, predicted);
        let frame = Counts::combination_frame(class.exact, class.added, class.omitted);
        combination.plus_equals(&frame.multiply(&n));
        let counts = Counts::from_frame_counts(&FrameCounts::of_frame(truth, predicted));
        shard.plus_equals(&counts.multiply(&n));
        let (extra, missing) = (predicted.minus(truth), truth.minus(predicted));
        extra.iter().for_each(|p| added[usize::from(p)] += n as i64);
        missing
            .iter()
            .for_each(|p| omitted[usize::from(p)] += n as i64);
        any_added = PitchSet(any_added.0 | extra.0);
        any_omitted = PitchSet(any_omitted.0 | missing.0);
    }
    let (model, split) = (&slot.model, &slot.split);
    let key = TableKey::Combination {
        model: model.clone(),
        split: split.clone(),
        combination: truth,
    };
    add_key(keys, key, combination);
    for pitch in any_added.iter() {
        let key = TableKey::Addition {
            model: model.clone(),
            split: split.clone(),
            combination: truth,
            pitch,
        };
        add_key(keys, key, Counts::one(added[usize::from(pitch)]));
    }
    for pitch in any_omitted.iter() {
        let key = TableKey::Omission {
            model: model.clone(),
            split: split.clone(),
            combination: truth,
            pitch,
        };
        add_key(keys, key, Counts::one(omitted[usize::from(pitch)]));
    }
    shard
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use proptest::prelude::*;

    use super::*;
    use crate::dataflow::keys::{Outcome, explode};

    fn set(pitches: &[u8]) -> PitchSet {
        pitches.iter().copied().collect()
    }

    /// A contribution of `n` frames of (truth, predicted) on shard `shard` of model "m".
    fn outcome(shard: &str, truth: &[u8], predicted: &[u8], n: isize) -> Contribution {
        let names = SlotNames {
            model: "m".into(),
            split: "test".into(),
            shard: shard.into(),
        };
        Contribution {
            frames: vec![super::super::units::SlotFrames {
                names: Arc::new(names),
                outcomes: vec![((set(truth), set(predicted)), n)],
            }],
            rows: Vec::new(),
        }
    }

    fn row(key: TableKey, counts: Counts) -> Contribution {
        Contribution {
            frames: Vec::new(),
            rows: vec![(key, counts)],
        }
    }

    /// The reference: every outcome exploded on its own (`explode`), times its frames and
    /// `diff`, summed per key, zero sums left out.
    fn exploded_sums(contributions: &[(Contribution, isize)]) -> BTreeMap<TableKey, Counts> {
        let mut expected: BTreeMap<TableKey, Counts> = BTreeMap::new();
        for (contribution, diff) in contributions {
            let mut exploded: Vec<(TableKey, Counts)> = contribution.rows.clone();
            for slot in &contribution.frames {
                for &((truth, predicted), n) in &slot.outcomes {
                    let outcome = Outcome {
                        model: slot.names.model.clone(),
                        split: slot.names.split.clone(),
                        shard: slot.names.shard.clone(),
                        truth,
                        predicted,
                    };
                    exploded.extend(explode(&outcome).map(|(k, c)| (k, c.multiply(&n))));
                }
            }
            for (key, counts) in exploded {
                expected
                    .entry(key)
                    .or_default()
                    .plus_equals(&counts.multiply(diff));
            }
        }
        expected.retain(|_, counts| !counts.is_zero());
        expected
    }

    proptest! {
        /// Any outcomes on a few pitches, added and retracted in any order and settled at
        /// any point, sum to what exploding each of them gives.
        #[test]
        fn sums_equal_exploding_any_outcomes(
            outcomes in prop::collection::vec(
                (0usize..2, prop::collection::vec(60u8..66, 0..4),
                 prop::collection::vec(60u8..66, 0..4), 1isize..4, prop::bool::ANY,
                 prop::bool::ANY),
                0..40,
            )
        ) {
            let contributions: Vec<(Contribution, isize)> = outcomes
                .iter()
                .map(|(shard, truth, predicted, n, retract, _)| {
                    let shard = ["a", "b"][*shard];
                    (outcome(shard, truth, predicted, *n), if *retract { -1 } else { 1 })
                })
                .collect();
            let mut sums = RoundSums::default();
            for ((contribution, diff), (.., settle)) in contributions.iter().zip(&outcomes) {
                sums.add(contribution, *diff);
                if *settle {
                    sums.settle();
                }
            }
            let got: BTreeMap<TableKey, Counts> = sums.into_keys().collect();
            prop_assert_eq!(got, exploded_sums(&contributions));
        }
    }

    /// Summing outcomes before exploding them gives what exploding each one gives, and an
    /// outcome retracted as often as it was added leaves no key behind.
    #[test]
    fn sums_equal_exploding_every_outcome() {
        let problem = TableKey::Problem {
            unit: "u".into(),
            message: "x".into(),
        };
        let position = TableKey::Position {
            model: "m".into(),
            split: "test".into(),
            position: crate::analysis::positions::Position::Onset,
        };
        let contributions = [
            (outcome("a", &[60, 64], &[60, 65], 3), 1),
            (outcome("a", &[60, 64], &[60, 65], 1), -1),
            (outcome("b", &[60, 64], &[60, 65], 1), 2),
            (outcome("a", &[62], &[], 5), 1),
            (outcome("a", &[67], &[67], 2), 2),
            (outcome("a", &[67], &[67], 4), -1),
            (row(problem, Counts::one(1)), 1),
            (row(position, Counts::position([2, 1, 3])), 2),
        ];
        let expected = exploded_sums(&contributions);
        let mut sums = RoundSums::default();
        for (i, (contribution, diff)) in contributions.iter().enumerate() {
            sums.add(contribution, *diff);
            if i == 3 {
                sums.settle(); // settling half-way changes nothing
            }
        }
        let got: BTreeMap<TableKey, Counts> = sums.into_keys().collect();
        assert_eq!(got, expected);
        let g4: PitchSet = set(&[67]);
        let cancelled = |key: &TableKey| match key {
            TableKey::Combination { combination, .. }
            | TableKey::Addition { combination, .. }
            | TableKey::Omission { combination, .. } => *combination == g4,
            _ => false,
        };
        assert!(!got.keys().any(cancelled), "G4's frames cancel out: no row");
    }
}
