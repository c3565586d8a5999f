//! One typed row per analysis table, shared by the writer (`dataflow::tables`) and the
//! readers (`pipeline::tables_read`, the tests): a struct per table whose fields name their
//! columns, and the Arrow schema, batch builder and batch reader derived from it. Adding a
//! column is one edit to the struct, checked by the compiler on both sides.

use std::sync::Arc;

use arrow::array::{
    Array, ArrayBuilder, ArrayRef, BooleanArray, BooleanBuilder, Float64Array, Float64Builder,
    ListArray, ListBuilder, RecordBatch, StringArray, StringBuilder, UInt8Array, UInt8Builder,
    UInt32Array, UInt32Builder, UInt64Array, UInt64Builder,
};
use arrow::datatypes::{DataType, Field, Schema};

/// A Rust type stored as one Arrow column.
pub trait Cell: Sized {
    type Builder: ArrayBuilder;
    type Array: Array + 'static;
    fn data_type() -> DataType;
    fn nullable() -> bool {
        false
    }
    fn builder() -> Self::Builder;
    fn append(builder: &mut Self::Builder, value: &Self);
    fn value(array: &Self::Array, i: usize) -> Self;
}

macro_rules! plain_cell {
    ($ty:ty, $builder:ty, $array:ty, $data_type:expr, |$b:ident, $v:ident| $append:expr) => {
        impl Cell for $ty {
            type Builder = $builder;
            type Array = $array;
            fn data_type() -> DataType {
                $data_type
            }
            fn builder() -> Self::Builder {
                <$builder>::new()
            }
            fn append($b: &mut Self::Builder, $v: &Self) {
                $append
            }
            fn value(array: &Self::Array, i: usize) -> Self {
                array.value(i).into()
            }
        }
    };
}

plain_cell!(
    String,
    StringBuilder,
    StringArray,
    DataType::Utf8,
    |b, v| b.append_value(v)
);
plain_cell!(u8, UInt8Builder, UInt8Array, DataType::UInt8, |b, v| b
    .append_value(*v));
plain_cell!(u32, UInt32Builder, UInt32Array, DataType::UInt32, |b, v| b
    .append_value(*v));
plain_cell!(u64, UInt64Builder, UInt64Array, DataType::UInt64, |b, v| b
    .append_value(*v));
plain_cell!(
    f64,
    Float64Builder,
    Float64Array,
    DataType::Float64,
    |b, v| b.append_value(*v)
);

macro_rules! optional_cell {
    ($ty:ty, $builder:ty, $array:ty, $data_type:expr) => {
        impl Cell for Option<$ty> {
            type Builder = $builder;
            type Array = $array;
            fn data_type() -> DataType {
                $data_type
            }
            fn nullable() -> bool {
                true
            }
            fn builder() -> Self::Builder {
                <$builder>::new()
            }
            fn append(builder: &mut Self::Builder, value: &Self) {
                builder.append_option(*value);
            }
            fn value(array: &Self::Array, i: usize) -> Self {
                array.is_valid(i).then(|| array.value(i))
            }
        }
    };
}

optional_cell!(u64, UInt64Builder, UInt64Array, DataType::UInt64);
optional_cell!(bool, BooleanBuilder, BooleanArray, DataType::Boolean);

fn pitch_item() -> Arc<Field> {
    Arc::new(Field::new("item", DataType::UInt8, false))
}

/// A set of MIDI pitches, ascending: `list<uint8>`.
impl Cell for Vec<u8> {
    type Builder = ListBuilder<UInt8Builder>;
    type Array = ListArray;
    fn data_type() -> DataType {
        DataType::List(pitch_item())
    }
    fn builder() -> Self::Builder {
        ListBuilder::new(UInt8Builder::new()).with_field(pitch_item())
    }
    fn append(builder: &mut Self::Builder, value: &Self) {
        builder.values().append_slice(value);
        builder.append(true);
    }
    fn value(array: &Self::Array, i: usize) -> Self {
        array
            .value(i)
            .as_any()
            .downcast_ref::<UInt8Array>()
            .map(|a| a.values().to_vec())
            .unwrap_or_default()
    }
}

/// A row of one table: its schema, and batches of rows to and from Arrow.
pub trait TableRow: Sized {
    fn schema() -> Schema;
    fn to_batch(rows: &[Self]) -> RecordBatch;
    /// The rows of `batch`; a missing or mistyped column is named.
    fn from_batch(batch: &RecordBatch) -> Result<Vec<Self>, String>;
}

/// Whether a column was marked `added_later` (absent from older tables).
macro_rules! is_added_later {
    () => {
        false
    };
    (added_later) => {
        true
    };
}

/// Declares a row struct (each field with its column name) and derives [`TableRow`]. A column
/// marked `added_later` reads as its type's default (`time_base`: empty, unknown) from tables
/// written before it existed, so runs made by an older entangle stay readable.
macro_rules! table_row {
    (
        $(#[$meta:meta])*
        pub struct $name:ident {
            $( $(#[$fmeta:meta])* pub $field:ident: $ty:ty => $column:literal $($added_later:ident)?, )*
        }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, PartialEq, Default)]
        pub struct $name {
            $( $(#[$fmeta])* pub $field: $ty, )*
        }

        impl TableRow for $name {
            fn schema() -> Schema {
                Schema::new(vec![$(
                    Field::new($column, <$ty as Cell>::data_type(), <$ty as Cell>::nullable()),
                )*])
            }

            fn to_batch(rows: &[Self]) -> RecordBatch {
                $( let mut $field = <$ty as Cell>::builder(); )*
                for row in rows {
                    $( <$ty as Cell>::append(&mut $field, &row.$field); )*
                }
                let arrays: Vec<ArrayRef> = vec![$( ArrayBuilder::finish(&mut $field), )*];
                RecordBatch::try_new(Arc::new(Self::schema()), arrays)
                    .expect("the columns are built from the schema's types")
            }

            fn from_batch(batch: &RecordBatch) -> Result<Vec<Self>, String> {
                $(
                    let $field = match batch.column_by_name($column) {
                        None if is_added_later!($($added_later)?) => None,
                        _ => Some(super::columns::typed_column::<<$ty as Cell>::Array>(
                            batch, $column,
                        )?),
                    };
                )*
                Ok((0..batch.num_rows())
                    .map(|i| Self {
                        $( $field: $field.map_or_else(Default::default, |a| <$ty as Cell>::value(a, i)), )*
                    })
                    .collect())
            }
        }
    };
}

table_row! {
    /// `combinations` (schemas/combinations.md): per (model, split, truth combination).
    pub struct CombinationRow {
        pub model: String => "model",
        pub split: String => "split",
        pub combination: Vec<u8> => "combination",
        pub name: String => "name",
        pub polyphony: u8 => "polyphony",
        pub frames: u64 => "frames",
        pub exact: u64 => "exact",
        pub added: u64 => "added",
        pub omitted: u64 => "omitted",
        pub exact_ratio: f64 => "exact_ratio",
        pub added_ratio: f64 => "added_ratio",
        pub omitted_ratio: f64 => "omitted_ratio",
        /// NULL without training labels.
        pub train_frames: Option<u64> => "train_frames",
        /// NULL without training labels.
        pub shared: Option<bool> => "shared",
        /// The time base the frames were counted on (schemas/combinations.md).
        pub time_base: String => "time_base" added_later,
    }
}

table_row! {
    /// `additions` / `omissions` (schemas/additions.md): which pitch, in how many of the
    /// combination's frames.
    pub struct PitchErrorRow {
        pub model: String => "model",
        pub split: String => "split",
        pub combination: Vec<u8> => "combination",
        pub name: String => "name",
        pub pitch: u8 => "pitch",
        pub note: String => "note",
        pub frames: u64 => "frames",
        pub ratio: f64 => "ratio",
        /// The time base the frames were counted on (schemas/combinations.md).
        pub time_base: String => "time_base" added_later,
    }
}

table_row! {
    /// `frame_metrics` (schemas/frame_metrics.md): per shard.
    pub struct FrameMetricsRow {
        pub model: String => "model",
        pub split: String => "split",
        pub shard: String => "shard",
        pub frames: u64 => "frames",
        pub tp: u64 => "tp",
        pub fp: u64 => "fp",
        pub fn_: u64 => "fn",
        pub precision: f64 => "precision",
        pub recall: f64 => "recall",
        pub f1: f64 => "f1",
        pub accuracy: f64 => "accuracy",
        pub e_sub: f64 => "e_sub",
        pub e_miss: f64 => "e_miss",
        pub e_fa: f64 => "e_fa",
        pub e_tot: f64 => "e_tot",
        /// The time base the frames were counted on (schemas/combinations.md).
        pub time_base: String => "time_base" added_later,
    }
}

table_row! {
    /// `split_metrics` (schemas/frame_metrics.md): per (model, split), the mean over shards
    /// of every shard metric, and the micro P/R/F over all frames.
    pub struct SplitMetricsRow {
        pub model: String => "model",
        pub split: String => "split",
        pub shards: u32 => "shards",
        pub frames: u64 => "frames",
        pub precision: f64 => "precision",
        pub recall: f64 => "recall",
        pub f1: f64 => "f1",
        pub accuracy: f64 => "accuracy",
        pub e_sub: f64 => "e_sub",
        pub e_miss: f64 => "e_miss",
        pub e_fa: f64 => "e_fa",
        pub e_tot: f64 => "e_tot",
        pub micro_precision: f64 => "micro_precision",
        pub micro_recall: f64 => "micro_recall",
        pub micro_f1: f64 => "micro_f1",
        /// The time base the frames were counted on (schemas/combinations.md).
        pub time_base: String => "time_base" added_later,
    }
}

table_row! {
    /// `positions` (schemas/positions.md): per (model, split, position), the pitch-frames
    /// that fall there.
    pub struct PositionRow {
        pub model: String => "model",
        pub split: String => "split",
        pub position: String => "position",
        pub exact: u64 => "exact",
        pub added: u64 => "added",
        pub omitted: u64 => "omitted",
        pub k_frames: u32 => "k_frames",
        pub release_frames: u32 => "release_frames",
        pub time_base: String => "time_base" added_later,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_survive_a_batch_round_trip_with_nulls() {
        let rows = vec![
            CombinationRow {
                model: "m".into(),
                split: "test".into(),
                combination: vec![60, 64],
                name: "C4 E4".into(),
                polyphony: 2,
                frames: 10,
                exact: 4,
                added: 3,
                omitted: 3,
                exact_ratio: 0.4,
                added_ratio: 0.3,
                omitted_ratio: 0.3,
                train_frames: None,
                shared: None,
                time_base: "even grid, 100 fps".into(),
            },
            CombinationRow {
                combination: vec![],
                polyphony: 0,
                train_frames: Some(7),
                shared: Some(true),
                ..Default::default()
            },
        ];
        let batch = CombinationRow::to_batch(&rows);
        assert_eq!(batch.schema().field(13).name(), "shared");
        assert!(batch.schema().field(13).is_nullable());
        assert!(!batch.schema().field(2).is_nullable());
        assert_eq!(CombinationRow::from_batch(&batch).unwrap(), rows);
        let narrower = batch.project(&[0, 1]).unwrap();
        let err = CombinationRow::from_batch(&narrower).unwrap_err();
        assert!(err.contains("combination"), "{err}");
        // A table from before `time_base` existed reads, with the time base unknown.
        let older = batch.project(&(0..14).collect::<Vec<_>>()).unwrap();
        let read = CombinationRow::from_batch(&older).unwrap();
        assert_eq!(read[0].time_base, "");
        assert_eq!(read[0].combination, vec![60, 64]);
    }
}
