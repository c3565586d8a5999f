//! Batch per-combination aggregation (DESIGN.md section 4): for every truth combination, its
//! frame count and how many of its frames were exact, had notes added, had notes omitted;
//! and which pitches were added or omitted how often. This is the straightforward reference
//! that the incremental dataflow is tested against.

use std::collections::BTreeMap;

use super::classes::classify;
use crate::pitchset::PitchSet;

/// Per-combination counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct CombinationCounts {
    pub frames: u64,
    pub exact: u64,
    pub added: u64,
    pub omitted: u64,
}

/// The three tables for one (model, split).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct CombinationTables {
    pub combinations: BTreeMap<PitchSet, CombinationCounts>,
    /// (combination, added pitch) -> frames
    pub additions: BTreeMap<(PitchSet, u8), u64>,
    /// (combination, omitted pitch) -> frames
    pub omissions: BTreeMap<(PitchSet, u8), u64>,
}

/// Aggregates `(truth, predicted)` frames.
pub fn aggregate<I: IntoIterator<Item = (PitchSet, PitchSet)>>(frames: I) -> CombinationTables {
    let mut tables = CombinationTables::default();
    for (truth, predicted) in frames {
        let class = classify(truth, predicted);
        let counts = tables.combinations.entry(truth).or_default();
        counts.frames += 1;
        counts.exact += u64::from(class.exact);
        counts.added += u64::from(class.added);
        counts.omitted += u64::from(class.omitted);
        for pitch in predicted.minus(truth).iter() {
            *tables.additions.entry((truth, pitch)).or_default() += 1;
        }
        for pitch in truth.minus(predicted).iter() {
            *tables.omissions.entry((truth, pitch)).or_default() += 1;
        }
    }
    tables
}
