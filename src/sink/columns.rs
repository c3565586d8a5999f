//! Typed access to a column of a record batch read back from Parquet, with the messages every
//! table reader gives (the caller prefixes the file).

use arrow::array::{Array, ListArray, RecordBatch, UInt8Array};

/// The column `name` of `batch` as a `T`: "no column ..." when it is absent, "column ... has
/// the wrong type" when it is not a `T`.
pub fn typed_column<'a, T: 'static>(batch: &'a RecordBatch, name: &str) -> Result<&'a T, String> {
    batch
        .column_by_name(name)
        .ok_or_else(|| format!("no column {name:?}"))?
        .as_any()
        .downcast_ref::<T>()
        .ok_or_else(|| format!("column {name:?} has the wrong type"))
}

/// A `list<uint8>` column (`pitches`, `combination`): its flat values and row offsets.
pub fn pitch_lists<'a>(
    batch: &'a RecordBatch,
    name: &str,
) -> Result<(&'a [u8], &'a [i32]), String> {
    let list = typed_column::<ListArray>(batch, name)?;
    let values = list
        .values()
        .as_any()
        .downcast_ref::<UInt8Array>()
        .ok_or_else(|| format!("column {name:?} has the wrong type"))?;
    Ok((values.values(), list.value_offsets()))
}
