//! The time base of a `labels` or `predictions` table: when its frames are, not only how many
//! there are per second. Tables record it as Parquet key-value metadata `entangle.time_base`
//! next to `entangle.fps`; a table without it is on an even grid at its `entangle.fps`.
//!
//! Two tables at the same nominal rate can still disagree on time: basic-pitch's frames are
//! 86.13 per second on average but jump back 10.3 ms every 172 frames, so its frame 3,200 is
//! 0.19 s earlier than frame 3,200 of an even 86.13 fps grid. The analysis joins labels and
//! predictions by frame index, so it refuses a pair whose time bases differ
//! ([`check_join`]).

use std::path::{Path, PathBuf};

use parquet::file::metadata::ParquetMetaData;
use parquet::file::reader::{FileReader, SerializedFileReader};

/// Parquet key-value metadata key holding a table's time base.
pub const TIME_BASE_KEY: &str = "entangle.time_base";

/// The time base of an even grid at `fps`: what a table without [`TIME_BASE_KEY`] is on.
pub fn even_grid(fps: f64) -> String {
    format!("even grid, {fps} fps")
}

/// The time base a table's metadata records, or the even grid at its `entangle.fps` (`None`
/// without either: a table of unknown rate, left to the frame-rate checks).
pub fn of_metadata(metadata: &ParquetMetaData) -> Result<Option<String>, String> {
    let kv = metadata.file_metadata().key_value_metadata();
    let value = |key: &str| {
        kv.and_then(|kv| kv.iter().find(|kv| kv.key == key))
            .and_then(|kv| kv.value.clone())
    };
    if let Some(base) = value(TIME_BASE_KEY) {
        return Ok(Some(base));
    }
    Ok(super::predictions_table::metadata_fps(metadata)?.map(even_grid))
}

/// The time base of the Parquet file at `path` (reads only its footer).
pub fn of_file(path: &Path) -> Result<Option<String>, String> {
    let fail = |what: String| format!("{}: {what}", path.display());
    let file = std::fs::File::open(path).map_err(|e| fail(format!("cannot open: {e}")))?;
    let reader = SerializedFileReader::new(file)
        .map_err(|e| fail(format!("not a readable Parquet file: {e}")))?;
    of_metadata(reader.metadata()).map_err(fail)
}

/// Where the labels' time base comes from, and what it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LabelsTimeBase {
    /// The labels table (or the corpus manifest the labels were framed from).
    pub source: PathBuf,
    pub time_base: String,
}

/// Refuses to join the predictions table at `predictions` (its footer read into `metadata`)
/// with labels on another time base, naming both files and both time bases. A table of
/// unknown rate, or an even grid against an even grid, passes here (the frame-rate check
/// decides about it).
pub fn check_join(
    labels: &LabelsTimeBase,
    predictions: &Path,
    metadata: &ParquetMetaData,
) -> Result<(), String> {
    let even = |base: &str| base.starts_with("even grid, ");
    let base = of_metadata(metadata).map_err(|e| format!("{}: {e}", predictions.display()))?;
    match base {
        // Two even grids differ only in their rates: the frame-rate check says that better.
        Some(base) if even(&base) && even(&labels.time_base) => Ok(()),
        Some(base) if base != labels.time_base => Err(format!(
            "{}: predictions on the time base \"{base}\", but the labels {} are on \"{}\": \
             frame i is not the same instant in both; frame the labels at the predictions' \
             own frame times (entangle system predict writes both)",
            predictions.display(),
            labels.source.display(),
            labels.time_base
        )),
        _ => Ok(()),
    }
}
