//! Analysis as pure functions, no I/O: the per-frame error classes of the paper, framewise
//! counts and metrics (micro P/R/F and mir_eval's multipitch scores), where in a note's life a
//! pitch-frame falls, and the batch per-combination aggregation that the incremental dataflow
//! must reproduce.

pub mod aggregate;
pub mod classes;
pub mod metrics;
pub mod positions;

pub use aggregate::{CombinationCounts, CombinationTables, aggregate};
pub use classes::{FrameClass, classify};
pub use metrics::{FrameCounts, FrameMetrics};
