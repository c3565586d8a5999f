//! The change log of an analysis directory: `changes.jsonl`, one JSON line per changed table
//! row per round, `{"round", "table", <row key>, "diff": {<counter>: <change>}}`. Summing the
//! diffs of a row over all lines gives its current counts, across restarts too: on start the
//! log is replayed, and the first round logs the difference between the replayed state and
//! the state rebuilt from the inputs. A line cut short by a crash is dropped on replay.

use std::collections::{BTreeMap, BTreeSet};
use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::keys::{COUNTERS, Counts, TableKey};
use super::state::TableState;
use crate::pitchset::PitchSet;

/// File name of the change log in an analysis directory.
pub const CHANGE_LOG: &str = "changes.jsonl";

const COMBINATION_COUNTERS: &[&str] = &["frames", "exact", "added", "omitted"];
const PITCH_COUNTERS: &[&str] = &["frames"];
const SHARD_COUNTERS: &[&str] = &[
    "frames",
    "tp",
    "fp",
    "fn",
    "substitutions",
    "misses",
    "false_alarms",
];

#[derive(Debug, Serialize, Deserialize)]
struct Line {
    round: u64,
    table: String,
    model: String,
    split: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    combination: Option<Vec<u8>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pitch: Option<u8>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    shard: Option<String>,
    diff: BTreeMap<String, i64>,
}

fn counter_names(key: &TableKey) -> &'static [&'static str] {
    match key {
        TableKey::Combination { .. } => COMBINATION_COUNTERS,
        TableKey::ShardMetrics { .. } => SHARD_COUNTERS,
        _ => PITCH_COUNTERS,
    }
}

fn to_line(round: u64, key: &TableKey, diff: &Counts) -> Option<Line> {
    let set = |s: &PitchSet| Some(s.to_vec());
    let (table, model, split, combination, pitch, shard) = match key {
        TableKey::Combination {
            model,
            split,
            combination,
        } => ("combinations", model, split, set(combination), None, None),
        TableKey::Addition {
            model,
            split,
            combination,
            pitch,
        } => (
            "additions",
            model,
            split,
            set(combination),
            Some(*pitch),
            None,
        ),
        TableKey::Omission {
            model,
            split,
            combination,
            pitch,
        } => (
            "omissions",
            model,
            split,
            set(combination),
            Some(*pitch),
            None,
        ),
        TableKey::ShardMetrics {
            model,
            split,
            shard,
        } => (
            "frame_metrics",
            model,
            split,
            None,
            None,
            Some(shard.clone()),
        ),
        _ => return None,
    };
    let diff = counter_names(key)
        .iter()
        .zip(diff.0)
        .filter(|(_, v)| *v != 0)
        .map(|(name, v)| (name.to_string(), v))
        .collect();
    Some(Line {
        round,
        table: table.to_string(),
        model: model.clone(),
        split: split.clone(),
        combination,
        pitch,
        shard,
        diff,
    })
}

fn from_line(line: Line) -> Option<(u64, TableKey, Counts)> {
    let combination = line
        .combination
        .map(|c| c.into_iter().collect::<PitchSet>());
    let key = match line.table.as_str() {
        "combinations" => TableKey::Combination {
            model: line.model,
            split: line.split,
            combination: combination?,
        },
        "additions" => TableKey::Addition {
            model: line.model,
            split: line.split,
            combination: combination?,
            pitch: line.pitch?,
        },
        "omissions" => TableKey::Omission {
            model: line.model,
            split: line.split,
            combination: combination?,
            pitch: line.pitch?,
        },
        "frame_metrics" => TableKey::ShardMetrics {
            model: line.model,
            split: line.split,
            shard: line.shard?,
        },
        _ => return None,
    };
    let mut counts = [0; COUNTERS];
    for (i, name) in counter_names(&key).iter().enumerate() {
        counts[i] = line.diff.get(*name).copied().unwrap_or(0);
    }
    Some((line.round, key, Counts(counts)))
}

/// An open change log and the state its lines sum to.
pub struct ChangeLog {
    path: PathBuf,
    file: File,
    logged: BTreeMap<TableKey, Counts>,
    /// The round the next record is logged at.
    pub next_round: u64,
    replayed: bool,
}

impl ChangeLog {
    /// Opens (or creates) the log in `dir` and replays it.
    pub fn open(dir: &Path) -> anyhow::Result<Self> {
        let path = dir.join(CHANGE_LOG);
        let mut logged: BTreeMap<TableKey, Counts> = BTreeMap::new();
        let mut next_round = 0;
        let mut valid_len = 0u64;
        if let Ok(file) = File::open(&path) {
            let mut reader = BufReader::new(file);
            let mut buf = String::new();
            let mut line_no = 0;
            loop {
                buf.clear();
                let n = reader.read_line(&mut buf)?;
                if n == 0 || !buf.ends_with('\n') {
                    break; // end, or a line a crash cut short
                }
                line_no += 1;
                let line: Line = serde_json::from_str(&buf)
                    .map_err(|e| anyhow::anyhow!("{}: line {line_no}: {e}", path.display()))?;
                let (round, key, diff) = from_line(line).ok_or_else(|| {
                    anyhow::anyhow!("{}: line {line_no}: not a table row", path.display())
                })?;
                let entry = logged.entry(key.clone()).or_default();
                for (a, b) in entry.0.iter_mut().zip(diff.0) {
                    *a += b;
                }
                if entry.0.iter().all(|&x| x == 0) {
                    logged.remove(&key);
                }
                next_round = next_round.max(round + 1);
                valid_len += n as u64;
            }
        }
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .map_err(|e| anyhow::anyhow!("{}: cannot open for appending: {e}", path.display()))?;
        file.set_len(valid_len)?;
        Ok(Self {
            path,
            file,
            logged,
            next_round,
            replayed: false,
        })
    }

    /// Logs how the rows in `touched` changed since the last record (every row, the first
    /// time after opening), as round `next_round`. Returns the number of lines written.
    pub fn record(
        &mut self,
        state: &TableState,
        touched: &BTreeSet<TableKey>,
    ) -> anyhow::Result<usize> {
        let mut keys: BTreeSet<TableKey> = touched
            .iter()
            .filter(|k| k.is_table_row())
            .cloned()
            .collect();
        if !self.replayed {
            keys.extend(self.logged.keys().cloned());
            keys.extend(state.table_rows().map(|(k, _)| k.clone()));
            self.replayed = true;
        }
        let mut out = Vec::new();
        let mut lines = 0;
        for key in keys {
            let now = state.rows.get(&key).copied().unwrap_or_default();
            let before = self.logged.get(&key).copied().unwrap_or_default();
            let diff = now.minus(&before);
            if diff == Counts::default() {
                continue;
            }
            let line = to_line(self.next_round, &key, &diff).expect("a table row");
            serde_json::to_writer(&mut out, &line)?;
            out.push(b'\n');
            lines += 1;
            if now == Counts::default() {
                self.logged.remove(&key);
            } else {
                self.logged.insert(key, now);
            }
        }
        if lines > 0 {
            // No fsync: the log's sum stays right whatever tail a power cut takes, because a
            // restart logs the difference between the replayed log and the rebuilt state.
            self.file
                .write_all(&out)
                .map_err(|e| anyhow::anyhow!("{}: cannot append: {e}", self.path.display()))?;
            self.next_round += 1;
        }
        Ok(lines)
    }
}
