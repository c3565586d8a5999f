//! The change log of an analysis directory: `changes.jsonl`, one JSON line per changed table
//! row per round, `{"round", "table", <row key>, "diff": {<counter>: <change>}}`. Summing the
//! diffs of a row over all lines gives its current counts, across restarts too: on start the
//! log is replayed, and the first record logs the difference between the replayed state and
//! the state rebuilt from the inputs. A line cut short by a crash is dropped on replay. A
//! record is all or nothing: a failed append is cut off again and changes nothing, so the
//! next record still logs everything since the last one that succeeded. The file is created
//! by the first record, so a run that fails before writing leaves none.

use std::collections::{BTreeMap, BTreeSet};
use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::keys::{COUNTERS, Counts, TableKey};
use super::state::TableState;
use crate::analysis::positions::Position;
use crate::pitchset::PitchSet;

/// File name of the change log in an analysis directory.
pub const CHANGE_LOG: &str = "changes.jsonl";

const COMBINATION_COUNTERS: &[&str] = &["frames", "exact", "added", "omitted"];
const PITCH_COUNTERS: &[&str] = &["frames"];
const POSITION_COUNTERS: &[&str] = &["exact", "added", "omitted"];
const SHARD_COUNTERS: &[&str] = &[
    "frames",
    "tp",
    "fp",
    "fn",
    "substitutions",
    "misses",
    "false_alarms",
];

#[derive(Debug, Deserialize)]
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
    #[serde(default, skip_serializing_if = "Option::is_none")]
    position: Option<Position>,
    diff: BTreeMap<String, i64>,
}

fn counter_names(key: &TableKey) -> &'static [&'static str] {
    match key {
        TableKey::Combination { .. } => COMBINATION_COUNTERS,
        TableKey::ShardMetrics { .. } => SHARD_COUNTERS,
        TableKey::Position { .. } => POSITION_COUNTERS,
        _ => PITCH_COUNTERS,
    }
}

/// A [`Line`] borrowing its names: what [`ChangeLog::prepare`] writes (the same JSON, field
/// for field; no copies of the names for each of a round's thousands of lines).
#[derive(Serialize)]
struct LineRef<'a> {
    round: u64,
    table: &'static str,
    model: &'a str,
    split: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    combination: Option<Vec<u8>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pitch: Option<u8>,
    #[serde(skip_serializing_if = "Option::is_none")]
    shard: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    position: Option<Position>,
    diff: BTreeMap<&'static str, i64>,
}

fn to_line<'a>(round: u64, key: &'a TableKey, diff: &Counts) -> Option<LineRef<'a>> {
    let set = |s: &PitchSet| Some(s.to_vec());
    let mut position = None;
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
            Some(shard.as_str()),
        ),
        TableKey::Position {
            model,
            split,
            position: at,
        } => {
            position = Some(*at);
            ("positions", model, split, None, None, None)
        }
        _ => return None,
    };
    let diff = counter_names(key)
        .iter()
        .zip(diff.0)
        .filter(|(_, v)| *v != 0)
        .map(|(name, v)| (*name, v))
        .collect();
    Some(LineRef {
        round,
        table,
        model,
        split,
        combination,
        pitch,
        shard,
        position,
        diff,
    })
}

fn from_line(line: Line) -> Option<(u64, TableKey, Counts)> {
    let combination = line
        .combination
        .map(|c| c.into_iter().collect::<PitchSet>());
    let key = match line.table.as_str() {
        "combinations" => TableKey::Combination {
            model: line.model.into(),
            split: line.split.into(),
            combination: combination?,
        },
        "additions" => TableKey::Addition {
            model: line.model.into(),
            split: line.split.into(),
            combination: combination?,
            pitch: line.pitch?,
        },
        "omissions" => TableKey::Omission {
            model: line.model.into(),
            split: line.split.into(),
            combination: combination?,
            pitch: line.pitch?,
        },
        "frame_metrics" => TableKey::ShardMetrics {
            model: line.model.into(),
            split: line.split.into(),
            shard: line.shard?.into(),
        },
        "positions" => TableKey::Position {
            model: line.model.into(),
            split: line.split.into(),
            position: line.position?,
        },
        _ => return None,
    };
    let mut counts = [0; COUNTERS];
    for (i, name) in counter_names(&key).iter().enumerate() {
        counts[i] = line.diff.get(*name).copied().unwrap_or(0);
    }
    Some((line.round, key, Counts(counts)))
}

/// A record prepared by [`ChangeLog::prepare`]: its lines, and the rows they bring up to
/// date.
pub struct Record {
    round: u64,
    bytes: Vec<u8>,
    rows: Vec<(TableKey, Counts)>,
}

/// The line of `key` (a table row), if its counts changed since it was last logged.
fn prepare_row(
    record: &mut Record,
    key: &TableKey,
    now: Counts,
    before: Counts,
) -> anyhow::Result<()> {
    let diff = now.minus(&before);
    if diff == Counts::default() {
        return Ok(());
    }
    let line = to_line(record.round, key, &diff).expect("a table row");
    serde_json::to_writer(&mut record.bytes, &line)?;
    record.bytes.push(b'\n');
    record.rows.push((key.clone(), now));
    Ok(())
}

/// Walks a map in key order, for looking up ascending keys.
struct Cursor<'a> {
    rows: std::iter::Peekable<std::collections::btree_map::Iter<'a, TableKey, Counts>>,
}

impl<'a> Cursor<'a> {
    fn new(map: &'a BTreeMap<TableKey, Counts>) -> Self {
        Self {
            rows: map.iter().peekable(),
        }
    }

    /// The counts of `key` (zero when absent); keys must be asked for in ascending order.
    fn seek(&mut self, key: &TableKey) -> Counts {
        while let Some((k, counts)) = self.rows.peek() {
            match (*k).cmp(key) {
                std::cmp::Ordering::Less => {
                    self.rows.next();
                }
                std::cmp::Ordering::Equal => return **counts,
                std::cmp::Ordering::Greater => break,
            }
        }
        Counts::default()
    }
}

/// An open change log and the state its lines sum to.
pub struct ChangeLog {
    path: PathBuf,
    /// Opened (and created) by the first record that has lines.
    file: Option<File>,
    /// Bytes of whole lines in the file: what replay kept plus what this run appended.
    len: u64,
    logged: BTreeMap<TableKey, Counts>,
    /// One past the last logged round: where a new run's rounds start.
    pub next_round: u64,
    replayed: bool,
}

impl ChangeLog {
    /// Replays the log in `dir`, if there is one.
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
        Ok(Self {
            path,
            file: None,
            len: valid_len,
            logged,
            next_round,
            replayed: false,
        })
    }

    /// Logs, as `round`, how the rows in `touched` changed since the last successful record
    /// (every row, the first time after opening). Returns the number of lines written. On
    /// error nothing is logged: the file is cut back and the log's sum is unchanged.
    pub fn record(
        &mut self,
        round: u64,
        state: &TableState,
        touched: &BTreeSet<TableKey>,
    ) -> anyhow::Result<usize> {
        let record = self.prepare(round, state, touched)?;
        self.append_record(record)
    }

    /// The lines [`Self::record`] would append, without touching the log: the costly part,
    /// which only reads, so it can run beside the writing of the tables.
    pub fn prepare(
        &self,
        round: u64,
        state: &TableState,
        touched: &BTreeSet<TableKey>,
    ) -> anyhow::Result<Record> {
        let mut record = Record {
            round,
            bytes: Vec::new(),
            rows: Vec::new(),
        };
        let rows = touched.iter().filter(|k| k.is_table_row());
        if !self.replayed {
            // The first record after a start: every row the log or the state knows.
            let mut keys: BTreeSet<&TableKey> = rows.collect();
            keys.extend(self.logged.keys());
            keys.extend(state.table_rows().map(|(k, _)| k));
            self.prepare_by_lookup(&mut record, state, keys)?;
        } else if touched.len() * 8 < state.rows.len() {
            self.prepare_by_lookup(&mut record, state, rows)?;
        } else {
            // Most rows changed (a replaced file touches most of them): one walk along
            // the state and the log in key order instead of two searches a row.
            let (mut now, mut before) = (Cursor::new(&state.rows), Cursor::new(&self.logged));
            for key in rows {
                prepare_row(&mut record, key, now.seek(key), before.seek(key))?;
            }
        }
        Ok(record)
    }

    /// The lines of `keys`, each looked up in the state and the log.
    fn prepare_by_lookup<'k>(
        &self,
        record: &mut Record,
        state: &TableState,
        keys: impl IntoIterator<Item = &'k TableKey>,
    ) -> anyhow::Result<()> {
        for key in keys {
            let now = state.rows.get(key).copied().unwrap_or_default();
            let before = self.logged.get(key).copied().unwrap_or_default();
            prepare_row(record, key, now, before)?;
        }
        Ok(())
    }

    /// Appends a record from [`Self::prepare`] (of this log, with no other record appended
    /// in between). Returns the number of lines written. On error nothing is logged: the
    /// file is cut back and the log's sum is unchanged.
    pub fn append_record(&mut self, record: Record) -> anyhow::Result<usize> {
        // The file exists once tables do (an empty log sums to empty tables).
        self.open_file()?;
        if !record.bytes.is_empty() {
            // No fsync: the log's sum stays right whatever tail a power cut takes, because a
            // restart logs the difference between the replayed log and the rebuilt state.
            self.append(&record.bytes)?;
            for (key, now) in &record.rows {
                if *now == Counts::default() {
                    self.logged.remove(key);
                } else if let Some(logged) = self.logged.get_mut(key) {
                    *logged = *now;
                } else {
                    self.logged.insert(key.clone(), *now);
                }
            }
            self.next_round = self.next_round.max(record.round + 1);
        }
        self.replayed = true;
        Ok(record.rows.len())
    }

    /// Opens (creating) the file for appending, once.
    fn open_file(&mut self) -> anyhow::Result<&mut File> {
        if self.file.is_none() {
            let path = &self.path;
            let fail = |e| anyhow::anyhow!("{}: cannot open for appending: {e}", path.display());
            let file = OpenOptions::new()
                .create(true)
                .append(true)
                .open(path)
                .map_err(fail)?;
            // Drop a line a crash cut short before appending after it.
            file.set_len(self.len).map_err(fail)?;
            self.file = Some(file);
        }
        Ok(self.file.as_mut().expect("opened above"))
    }

    /// Appends whole lines, or (on error) nothing: a partial append is cut off again.
    fn append(&mut self, bytes: &[u8]) -> anyhow::Result<()> {
        let len = self.len;
        let file = self.open_file()?;
        if let Err(e) = file.write_all(bytes) {
            let _ = file.set_len(len);
            anyhow::bail!("{}: cannot append: {e}", self.path.display());
        }
        self.len += bytes.len() as u64;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use differential_dataflow::difference::Multiply;

    use super::*;

    fn key(model: &str, pitch: u8) -> TableKey {
        TableKey::Combination {
            model: model.into(),
            split: "test".into(),
            combination: [pitch].into_iter().collect(),
        }
    }

    /// Rounds that change a few rows (looked up one by one) and rounds that change most of
    /// them (found by one walk along the state and the log) log lines that sum to the state:
    /// the log replayed from its file equals the table rows after every round.
    #[test]
    fn a_replayed_log_sums_to_the_state_after_few_and_many_changes() {
        let dir = tempfile::tempdir().unwrap();
        let mut log = ChangeLog::open(dir.path()).unwrap();
        let mut state = TableState::default();
        let rounds: Vec<Vec<(TableKey, i64)>> = vec![
            (0..60)
                .map(|p| (key("a", p), 1 + i64::from(p % 3)))
                .collect(),
            vec![(key("a", 5), 2), (key("b", 1), 1)],
            (0..60)
                .map(|p| (key("a", p), -1))
                .chain([(key("c", 9), 4)])
                .collect(),
            vec![(key("a", 7), -2)],
            (0..60)
                .map(|p| (key(["a", "b"][usize::from(p % 2)], p), 1))
                .collect(),
        ];
        for (round, changes) in rounds.into_iter().enumerate() {
            let touched = state.apply(
                changes
                    .into_iter()
                    .map(|(k, n)| (k, Counts::one(1).multiply(&(n as isize)))),
            );
            log.record(round as u64, &state, &touched).unwrap();
            let replayed = ChangeLog::open(dir.path()).unwrap().logged;
            let rows: BTreeMap<TableKey, Counts> =
                state.table_rows().map(|(k, c)| (k.clone(), *c)).collect();
            assert_eq!(replayed, rows, "after round {round}");
        }
    }
}
