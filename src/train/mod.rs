//! The companion training stage (cargo feature `train`): the paper's networks as tch
//! (libtorch) computations, built from the same layer lists as the ONNX graphs.

pub mod data;
pub mod fit;
pub mod net;

pub use data::{FrameData, InputLayout};
pub use fit::{EpochRecord, TrainConfig, TrainError, fit};
pub use net::TchNet;
