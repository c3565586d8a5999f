//! The analysis dataflow (timely + differential-dataflow): source units (prediction tables,
//! MIDI transcriptions, ONNX networks on audio shards) are evaluated on the workers they hash
//! to, the per-frame outcomes are aggregated by differential dataflow into the per-combination
//! tables of DESIGN.md section 4, and worker 0 writes them as Parquet. `analyze` runs one
//! round over fixed inputs; `watch` runs a round per directory scan, so a new, replaced or
//! removed file costs what that file costs.

pub mod changelog;
pub mod cluster;
pub mod coverage;
pub mod driver;
pub mod graph;
pub mod keys;
mod round_sums;
pub mod sources;
pub mod state;
pub mod tables;
pub mod truth;
pub mod units;

pub use driver::{
    AnalysisOptions, AnalysisSummary, ClusterOptions, Sources, TruthSource, WatchOptions, analyze,
    watch,
};
