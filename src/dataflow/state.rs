//! The sink's view of the analysis: the current sum of every table key, what stands in the
//! way of writing the tables (failed units, conflicting coverage), and what was skipped.

use std::collections::{BTreeMap, BTreeSet};

use differential_dataflow::difference::{IsZero, Semigroup};

use super::keys::{Counts, TableKey};

/// An input that is not (or not fully) in the tables yet, and why.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, serde::Serialize)]
pub struct Pending {
    pub file: String,
    pub reason: String,
}

/// Current totals per key. Keys whose counts sum to zero are dropped, so the state of an
/// incremental run equals that of a batch run over the same final inputs, key for key.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TableState {
    pub rows: BTreeMap<TableKey, Counts>,
}

/// Frames a unit skipped, and why.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Skip {
    pub unit: String,
    pub reason: String,
    pub frames: i64,
}

impl TableState {
    /// Adds `updates`; returns the keys they touched.
    pub fn apply<I>(&mut self, updates: I) -> BTreeSet<TableKey>
    where
        I: IntoIterator<Item = (TableKey, Counts)>,
    {
        // Collected, then sorted once: a set built from sorted keys compares each key with
        // its neighbour only, where inserting one by one searches the tree (and comparing
        // keys, their names, is most of the cost here).
        let mut touched = Vec::new();
        for (key, diff) in updates {
            // A key already there is updated in place (no copy of its names).
            match self.rows.get_mut(&key) {
                Some(entry) => {
                    entry.plus_equals(&diff);
                    if entry.is_zero() {
                        self.rows.remove(&key);
                    }
                }
                None if diff.is_zero() => {}
                None => {
                    self.rows.insert(key.clone(), diff);
                }
            }
            touched.push(key);
        }
        touched.sort();
        touched.dedup();
        touched.into_iter().collect()
    }

    /// Why a batch run cannot write the tables: units that failed, and conflicts.
    pub fn problems(&self) -> Vec<String> {
        let mut problems: Vec<String> = self.quarantined().into_iter().map(|p| p.reason).collect();
        problems.extend(self.conflicts());
        problems
    }

    /// Units whose last evaluation failed (they keep their last good contribution).
    pub fn quarantined(&self) -> Vec<Pending> {
        self.rows
            .keys()
            .filter_map(|key| match key {
                TableKey::Problem { unit, message } => Some(Pending {
                    file: unit.to_string(),
                    reason: message.clone(),
                }),
                _ => None,
            })
            .collect()
    }

    /// (model, shard) pairs predicted by more than one unit: their frames would count twice,
    /// so no table can be written while one stands.
    pub fn conflicts(&self) -> Vec<String> {
        let mut coverage: BTreeMap<(&str, &str), Vec<&str>> = BTreeMap::new();
        for key in self.rows.keys() {
            if let TableKey::Coverage { model, shard, unit } = key {
                coverage.entry((model, shard)).or_default().push(unit)
            }
        }
        coverage
            .into_iter()
            .filter(|(_, units)| units.len() > 1)
            .map(|((model, shard), units)| {
                format!(
                    "model {model:?} on shard {shard:?} is predicted by {} files: {}",
                    units.len(),
                    units.join(", ")
                )
            })
            .collect()
    }

    pub fn skipped(&self) -> Vec<Skip> {
        self.rows
            .iter()
            .filter_map(|(key, counts)| match key {
                TableKey::Skipped { unit, reason } => Some(Skip {
                    unit: unit.to_string(),
                    reason: reason.clone(),
                    frames: counts.frames(),
                }),
                _ => None,
            })
            .collect()
    }

    /// The table rows only (no bookkeeping keys).
    pub fn table_rows(&self) -> impl Iterator<Item = (&TableKey, &Counts)> {
        self.rows.iter().filter(|(k, _)| k.is_table_row())
    }
}
