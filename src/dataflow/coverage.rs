//! Shards a model did not predict. A model that outputs nothing for a piece must be charged
//! for every note of it: for every model, every labelled shard of every split it predicts at
//! least one shard of counts, and a shard no source covers is predicted empty (schemas/
//! predictions.md). The sink keeps these "empty" contributions in its state next to the
//! evaluated ones, adding and retracting them as coverage changes, so the tables and the
//! change log agree in `watch` as in `analyze`.

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;

use super::keys::{Counts, Name, Outcome, TableKey, explode, position_keys};
use super::state::TableState;
use super::truth::TruthIndex;
use crate::analysis::positions::{NoteRuns, PositionCounts, Windows};
use crate::pitchset::PitchSet;

/// A labelled shard a model has no prediction for.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct MissingShard {
    pub model: String,
    pub split: String,
    pub shard: String,
    /// Its labelled frames, all counted as predicted empty.
    pub frames: u64,
}

/// A labelled shard's split, its frames consolidated by truth combination, its length, and its
/// labelled pitch-frames by position.
type ShardSummary = (String, Vec<(PitchSet, i64)>, u64, PositionCounts);

/// Per labelled shard, what predicting it empty contributes.
#[derive(Debug, Clone, Default)]
pub struct MissingShards {
    shards: BTreeMap<String, ShardSummary>,
    /// The (model, shard) pairs currently filled in as empty.
    filled: BTreeSet<(String, String)>,
}

impl MissingShards {
    pub fn new(truth: &TruthIndex, windows: Windows) -> Self {
        let shards = truth
            .shards
            .iter()
            .map(|(name, t)| {
                let mut counts: BTreeMap<PitchSet, i64> = BTreeMap::new();
                for set in t.frames.iter() {
                    *counts.entry(set).or_insert(0) += 1;
                }
                let frames = t.frames.len() as u64;
                let labelled = NoteRuns::of_frames(t.frames.iter()).labelled(windows);
                let summary = (
                    t.split.clone(),
                    counts.into_iter().collect(),
                    frames,
                    labelled,
                );
                (name.clone(), summary)
            })
            .collect();
        Self {
            shards,
            filled: BTreeSet::new(),
        }
    }

    /// Brings the empty predictions in `state` up to date with its coverage: adds those of
    /// newly missing (model, shard) pairs, retracts those now covered. Returns the keys it
    /// touched.
    pub fn update(&mut self, state: &mut TableState) -> BTreeSet<TableKey> {
        let mut covered: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
        for key in state.rows.keys() {
            if let TableKey::Coverage { model, shard, .. } = key {
                covered.entry(model).or_default().insert(shard);
            }
        }
        let mut wanted = BTreeSet::new();
        for (model, shards) in &covered {
            let splits: BTreeSet<&str> = shards
                .iter()
                .filter_map(|s| self.shards.get(*s).map(|(split, ..)| split.as_str()))
                .collect();
            for (shard, (split, ..)) in &self.shards {
                if splits.contains(split.as_str()) && !shards.contains(shard.as_str()) {
                    wanted.insert((model.to_string(), shard.clone()));
                }
            }
        }
        let mut updates = Vec::new();
        for (pair, sign) in self
            .filled
            .difference(&wanted)
            .map(|p| (p, -1))
            .chain(wanted.difference(&self.filled).map(|p| (p, 1)))
        {
            let (split, counts, _, labelled) = &self.shards[&pair.1];
            let (model, split, shard) = (Name::new(&pair.0), Name::new(split), Name::new(&pair.1));
            for (key, c) in position_keys(&model, &split, labelled) {
                updates.push((key, scale(c, sign)));
            }
            for &(truth, n) in counts {
                let outcome = Outcome {
                    model: model.clone(),
                    split: split.clone(),
                    shard: shard.clone(),
                    truth,
                    predicted: PitchSet::EMPTY,
                };
                for (key, c) in explode(&outcome) {
                    updates.push((key, scale(c, n * sign)));
                }
            }
        }
        self.filled = wanted;
        state.apply(updates)
    }

    /// The shards currently predicted empty because no source covers them.
    pub fn missing(&self) -> Vec<MissingShard> {
        self.filled
            .iter()
            .map(|(model, shard)| {
                let (split, _, frames, _) = &self.shards[shard];
                MissingShard {
                    model: model.clone(),
                    split: split.clone(),
                    shard: shard.clone(),
                    frames: *frames,
                }
            })
            .collect()
    }
}

fn scale(mut c: Counts, n: i64) -> Counts {
    for x in &mut c.0 {
        *x *= n;
    }
    c
}

/// One line per (model, split) that misses shards, for the log and `--strict`'s error.
pub fn describe(missing: &[MissingShard], truth: &TruthIndex) -> Vec<String> {
    let mut by: BTreeMap<(&str, &str), Vec<&str>> = BTreeMap::new();
    for m in missing {
        by.entry((&m.model, &m.split)).or_default().push(&m.shard);
    }
    by.into_iter()
        .map(|((model, split), shards)| {
            let total = truth.shards.values().filter(|t| t.split == split).count();
            let shown: Vec<_> = shards.iter().take(5).map(|s| format!("{s:?}")).collect();
            let more = if shards.len() > 5 {
                format!(" and {} more", shards.len() - 5)
            } else {
                String::new()
            };
            format!(
                "model {model:?} has no predictions for {} of the {total} labelled shards of split \
                 {split:?} ({}{more}); they count as predicted empty",
                shards.len(),
                shown.join(", ")
            )
        })
        .collect()
}
