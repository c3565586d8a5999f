//! Interval subsets of the FLUID corpus for the coverage sweep ("how many intervals must a
//! network see?"): the 253 two-note intervals are split at random, fixed by a seed, into a
//! held-out set (never trained on) and a trainable set; a run trains on the 23 isolated notes
//! plus the first `coverage` % of the trainable intervals in a seeded order, so the trained
//! sets of one seed are nested (10 % is inside 25 %, ...), and it is tested on the held-out
//! intervals (unseen) and the trained ones (seen).
//!
//! The shuffle is a Fisher-Yates over SplitMix64, written out here rather than taken from a
//! crate so that a seed means the same subsets in every version.

use crate::pitchset::PitchSet;

/// Which intervals a FLUID-ISOL corpus trains on besides the isolated notes.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IntervalSubsets {
    /// Seed of the held-out / trainable split and of the order trainable intervals are taken in.
    #[serde(default)]
    pub seed: u64,
    /// Fraction of the 253 intervals held out (rounded to a whole number of intervals).
    #[serde(default = "default_held_out")]
    pub held_out: f64,
    /// Percentage (0..=100) of the trainable intervals in the training split.
    pub coverage: f64,
}

fn default_held_out() -> f64 {
    0.3
}

/// SplitMix64 (Steele, Lea & Flood 2014): a full-period 64-bit generator.
struct SplitMix64(u64);

impl SplitMix64 {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (Lemire's multiply-shift; the bias is below 2^-56 for n < 256).
    fn below(&mut self, n: usize) -> usize {
        ((u128::from(self.next()) * n as u128) >> 64) as usize
    }
}

impl IntervalSubsets {
    /// Checks the fractions; the message names the key.
    pub fn validate(&self, key: &str) -> Result<(), String> {
        if !(self.held_out.is_finite() && self.held_out > 0.0 && self.held_out < 1.0) {
            return Err(format!(
                "{key}.held_out = {}: must be a fraction strictly between 0 and 1",
                self.held_out
            ));
        }
        if !(self.coverage.is_finite() && (0.0..=100.0).contains(&self.coverage)) {
            return Err(format!(
                "{key}.coverage = {}: must be a percentage in 0..=100",
                self.coverage
            ));
        }
        Ok(())
    }

    /// The 253 intervals in this seed's order: the held-out ones first, then the trainable
    /// ones in the order coverage takes them.
    fn order(&self) -> Vec<PitchSet> {
        let mut all = super::fluid::intervals();
        let mut rng = SplitMix64(self.seed);
        for i in (1..all.len()).rev() {
            all.swap(i, rng.below(i + 1));
        }
        all
    }

    fn held_out_count(&self) -> usize {
        (self.held_out * super::fluid::intervals().len() as f64).round() as usize
    }

    /// The intervals never trained on, ascending.
    pub fn held_out(&self) -> Vec<PitchSet> {
        let mut v: Vec<PitchSet> = self.order()[..self.held_out_count()].to_vec();
        v.sort();
        v
    }

    /// The intervals a run may train on, in the order coverage takes them.
    pub fn trainable(&self) -> Vec<PitchSet> {
        self.order()[self.held_out_count()..].to_vec()
    }

    /// The intervals trained on at this coverage, ascending.
    pub fn trained(&self) -> Vec<PitchSet> {
        let trainable = self.trainable();
        let count = (self.coverage / 100.0 * trainable.len() as f64).round() as usize;
        let mut v = trainable[..count.min(trainable.len())].to_vec();
        v.sort();
        v
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;

    fn subsets(seed: u64, coverage: f64) -> IntervalSubsets {
        IntervalSubsets {
            seed,
            held_out: 0.3,
            coverage,
        }
    }

    #[test]
    fn held_out_and_trainable_are_disjoint_and_cover_every_interval() {
        for seed in [0, 1, 2, 12345] {
            let s = subsets(seed, 100.0);
            let held: BTreeSet<PitchSet> = s.held_out().into_iter().collect();
            let trainable: BTreeSet<PitchSet> = s.trainable().into_iter().collect();
            assert_eq!(held.len(), 76, "round(0.3 * 253)");
            assert_eq!(trainable.len(), 253 - 76);
            assert!(held.is_disjoint(&trainable), "seed {seed}");
            let all: BTreeSet<PitchSet> = super::super::fluid::intervals().into_iter().collect();
            assert_eq!(&held | &trainable, all);
            assert_eq!(s.trained().len(), 177);
        }
    }

    #[test]
    fn subsets_are_reproducible_from_the_seed_and_differ_between_seeds() {
        assert_eq!(subsets(7, 25.0).held_out(), subsets(7, 25.0).held_out());
        assert_eq!(subsets(7, 25.0).trained(), subsets(7, 25.0).trained());
        assert_ne!(subsets(7, 25.0).held_out(), subsets(8, 25.0).held_out());
        // The held-out set does not depend on the coverage: the unseen test set is the same
        // at every point of a sweep.
        assert_eq!(subsets(7, 0.0).held_out(), subsets(7, 100.0).held_out());
    }

    #[test]
    fn trained_sets_grow_nested_with_coverage() {
        let held: BTreeSet<PitchSet> = subsets(3, 0.0).held_out().into_iter().collect();
        let mut previous = BTreeSet::new();
        for (coverage, count) in [
            (0.0, 0),
            (10.0, 18),
            (25.0, 44),
            (50.0, 89),
            (75.0, 133),
            (100.0, 177),
        ] {
            let trained: BTreeSet<PitchSet> = subsets(3, coverage).trained().into_iter().collect();
            assert_eq!(trained.len(), count, "coverage {coverage}");
            assert!(previous.is_subset(&trained), "coverage {coverage}");
            assert!(trained.is_disjoint(&held));
            previous = trained;
        }
    }

    #[test]
    fn a_fluid_isol_corpus_with_subsets_trains_on_notes_and_trained_intervals() {
        use super::super::fluid::{FluidDataset, FluidParams, splits};
        let subsets = subsets(5, 50.0);
        let params = FluidParams {
            subsets: Some(subsets.clone()),
            ..Default::default()
        };
        let s = splits(FluidDataset::Isol, &params);
        let items = |i: usize| -> BTreeSet<PitchSet> { s[i].1.iter().map(|e| e.pitches).collect() };
        let trained: BTreeSet<PitchSet> = subsets.trained().into_iter().collect();
        let held: BTreeSet<PitchSet> = subsets.held_out().into_iter().collect();
        let notes: BTreeSet<PitchSet> = super::super::fluid::isolated_notes().into_iter().collect();
        assert_eq!(items(0), &notes | &trained);
        assert_eq!(items(1), items(0), "validation holds the training items");
        assert_eq!(
            items(2),
            &held | &trained,
            "test: unseen and seen intervals"
        );
        assert!(items(0).is_disjoint(&held));
        // FLUID-COMBI is the paper's whatever the subsets.
        assert_eq!(
            splits(FluidDataset::Combi, &params),
            splits(FluidDataset::Combi, &FluidParams::default())
        );
    }

    #[test]
    fn fractions_out_of_range_are_refused_naming_the_key() {
        let bad = IntervalSubsets {
            seed: 0,
            held_out: 1.0,
            coverage: 10.0,
        };
        assert!(
            bad.validate("corpus.subsets")
                .unwrap_err()
                .contains("corpus.subsets.held_out")
        );
        let bad = subsets(0, 101.0);
        assert!(
            bad.validate("corpus.subsets")
                .unwrap_err()
                .contains("coverage")
        );
    }
}
