//! Reading the analysis tables back (for model selection, figures and the report): the same
//! files a user loads into DuckDB, so the figures show exactly what the tables say.

use std::path::Path;

use arrow::array::RecordBatch;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

use crate::sink::rows::{CombinationRow, PitchErrorRow, SplitMetricsRow, TableRow};

fn batches(path: &Path) -> anyhow::Result<Vec<RecordBatch>> {
    let file = std::fs::File::open(path)
        .map_err(|e| anyhow::anyhow!("{}: cannot open: {e}", path.display()))?;
    let builder = ParquetRecordBatchReaderBuilder::try_new(file)
        .map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
    crate::sink::checksum::verify(path, builder.metadata())?;
    let reader = builder
        .build()
        .map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
    reader
        .map(|b| b.map_err(|e| anyhow::anyhow!("{}: {e}", path.display())))
        .collect()
}

/// Every row of the analysis table at `path`.
pub fn read_rows<R: TableRow>(path: &Path) -> anyhow::Result<Vec<R>> {
    let mut rows = Vec::new();
    for batch in batches(path)? {
        rows.extend(R::from_batch(&batch).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?);
    }
    Ok(rows)
}

/// A `split_metrics` row.
pub type SplitMetrics = SplitMetricsRow;
/// A `combinations` row.
pub type Combination = CombinationRow;
/// An `additions` / `omissions` row.
pub type PitchError = PitchErrorRow;

pub fn read_split_metrics(path: &Path) -> anyhow::Result<Vec<SplitMetrics>> {
    read_rows(path)
}

pub fn read_combinations(path: &Path) -> anyhow::Result<Vec<Combination>> {
    read_rows(path)
}

pub fn read_pitch_errors(path: &Path) -> anyhow::Result<Vec<PitchError>> {
    read_rows(path)
}
