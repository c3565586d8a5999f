//! The paper's networks as data: one layer list per architecture, from which shapes,
//! parameter counts and the summary table are derived (and, with the training and inference
//! stages, the tch modules and the ONNX graph).

pub mod architecture;
pub mod layers;
pub mod metadata;
pub mod onnx;
pub mod summary;
pub mod weights;

pub use architecture::{Arch, Architecture, aunet, convnet, small_convnet};
pub use metadata::ModelMetadata;
pub use onnx::{ExportError, export_onnx};
pub use summary::{ModelError, parameter_count, render_table, summarize};
pub use weights::{Tensor, Weights};
