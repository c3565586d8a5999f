//! The row groups of a predictions table as parts that can be evaluated on their own.
//!
//! When every row group of a table holds the rows of one (model, shard), and no two hold the
//! same one, whatever the analysis derives per (model, shard) (the frames a table does not
//! predict, counted as empty; a frame predicted twice) stays inside one row group, so each
//! group's contribution is independent of the others. A table rewritten with most of its
//! groups unchanged (a shard predicted again, shards appended) then needs only the groups
//! whose bytes changed decoded and evaluated again: `watch` keeps each group's contribution
//! under a fingerprint of its bytes ([`RowGroupPrint`]).
//!
//! Which (model, shard) a group holds is read from its column statistics, taken only when they
//! are exact and the minimum equals the maximum; a table whose statistics do not show that
//! (or that has one row group) is evaluated whole, as before.

use std::collections::HashSet;
use std::fs::File;
use std::os::unix::fs::FileExt;

use parquet::file::metadata::{ParquetMetaData, RowGroupMetaData};
use twox_hash::xxhash3_128::Hasher;

use super::checksum::DATA_CRC_KEY;

/// One row group of a table and a fingerprint of everything its evaluation reads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RowGroupPrint {
    /// The group's index in the file.
    pub index: usize,
    /// The (model, shard) its statistics say it holds, and nothing else; the evaluation
    /// checks the rows agree.
    pub model: String,
    pub shard: String,
    /// XXH3-128 of the file's schema and key-value metadata (frame rate, time base) and of
    /// the bytes of the group's column chunks: equal prints, equal rows (a 128-bit hash of
    /// the data, not of its statistics, so no change that leaves sizes and statistics alone
    /// goes unseen).
    pub print: u128,
}

/// The row groups of a predictions table (open as `file`, its footer read into `metadata`),
/// each with its fingerprint, when they are independent (see the module); `None` when they
/// are not, or cannot be shown to be. The bytes are read from `file`, the version of the
/// table the footer came from. A read error reads as `None`: the whole-table evaluation then
/// reports it with its own message.
pub fn independent_row_groups(
    file: &File,
    metadata: &ParquetMetaData,
) -> Option<Vec<RowGroupPrint>> {
    let groups = metadata.row_groups();
    if groups.len() < 2 {
        return None;
    }
    let mut slots = HashSet::new();
    let mut names = Vec::with_capacity(groups.len());
    for group in groups {
        let slot = (single_value(group, "model")?, single_value(group, "shard")?);
        if !slots.insert(slot.clone()) {
            return None;
        }
        names.push(slot);
    }
    let file_print = file_print(metadata);
    let mut buffer = Vec::new();
    groups
        .iter()
        .zip(names)
        .enumerate()
        .map(|(index, (group, (model, shard)))| {
            let mut hash = Hasher::new();
            hash.write(&file_print.to_le_bytes());
            hash.write(&group.num_rows().to_le_bytes());
            for column in group.columns() {
                let (start, length) = column.byte_range();
                buffer.resize(usize::try_from(length).ok()?, 0);
                file.read_exact_at(&mut buffer, start).ok()?;
                hash.write(column.column_path().string().as_bytes());
                hash.write(&length.to_le_bytes());
                hash.write(&buffer);
            }
            Some(RowGroupPrint {
                index,
                model: String::from_utf8(model).ok()?,
                shard: String::from_utf8(shard).ok()?,
                print: hash.finish_128(),
            })
        })
        .collect()
}

/// What every group of the file is read with: the schema and the key-value metadata.
fn file_print(metadata: &ParquetMetaData) -> u128 {
    let file = metadata.file_metadata();
    let mut hash = Hasher::new();
    hash.write(format!("{:?}", file.schema()).as_bytes());
    // Not the data's checksum: it changes with every group, and it is checked every time the
    // table is opened (`PredictionsFile::open`).
    let metadata = file.key_value_metadata().into_iter().flatten();
    for kv in metadata.filter(|kv| kv.key != DATA_CRC_KEY) {
        hash.write(kv.key.as_bytes());
        hash.write(&[0]);
        hash.write(kv.value.as_deref().unwrap_or_default().as_bytes());
        hash.write(&[0]);
    }
    hash.finish_128()
}

/// The one value of the top-level column `name` in `group`, when its statistics say exactly
/// that every row holds it (no nulls, exact minimum equal to exact maximum).
fn single_value(group: &RowGroupMetaData, name: &str) -> Option<Vec<u8>> {
    let column = group
        .columns()
        .iter()
        .find(|c| c.column_path().parts() == [name])?;
    let stats = column.statistics()?;
    let (min, max) = (stats.min_bytes_opt()?, stats.max_bytes_opt()?);
    let exact = stats.min_is_exact() && stats.max_is_exact();
    (exact && min == max && stats.null_count_opt() == Some(0)).then(|| min.to_vec())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pitchset::PitchSet;
    use crate::sink::predictions_table::{
        FrameRate, PredictionRow, PredictionsFile, write_predictions_grouped,
    };

    fn rows(model: &str, shard: &str, pitch: u8) -> Vec<PredictionRow> {
        (0..50)
            .map(|frame| PredictionRow {
                model: model.into(),
                shard: shard.into(),
                frame,
                pitches: PitchSet::from_iter([pitch]),
                probs: None,
            })
            .collect()
    }

    fn prints_at(groups: &[Vec<PredictionRow>], fps: f64) -> Option<Vec<u128>> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("p.parquet");
        write_predictions_grouped(&path, groups, fps).unwrap();
        let table = PredictionsFile::open(&path, FrameRate::default()).unwrap();
        let groups = independent_row_groups(table.file(), table.metadata())?;
        Some(groups.iter().map(|g| g.print).collect())
    }

    fn prints(groups: &[Vec<PredictionRow>]) -> Option<Vec<u128>> {
        prints_at(groups, 100.0)
    }

    /// A group whose rows change gets another print; the others keep theirs.
    #[test]
    fn only_a_changed_group_changes_its_print() {
        let before = prints(&[rows("m", "a", 60), rows("m", "b", 62)]).unwrap();
        let after = prints(&[rows("m", "a", 60), rows("m", "b", 63)]).unwrap();
        assert_eq!(before[0], after[0]);
        assert_ne!(before[1], after[1]);
        // What every group is read with (here the frame rate in the footer) is in every print.
        let other_rate = prints_at(&[rows("m", "a", 60), rows("m", "b", 62)], 50.0).unwrap();
        assert_ne!(before[0], other_rate[0]);
        assert_ne!(before[1], other_rate[1]);
    }

    /// Groups that share a (model, shard), or hold two, or a single group: not independent.
    #[test]
    fn groups_are_independent_only_with_one_model_and_shard_each() {
        assert!(prints(&[rows("m", "a", 60), rows("n", "a", 60)]).is_some());
        assert!(prints(&[rows("m", "a", 60), rows("m", "a", 62)]).is_none());
        let mixed: Vec<PredictionRow> = rows("m", "a", 60)
            .into_iter()
            .chain(rows("m", "b", 60))
            .collect();
        assert!(prints(&[mixed, rows("m", "c", 60)]).is_none());
        assert!(prints(&[rows("m", "a", 60)]).is_none());
    }
}
