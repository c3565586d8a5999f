//! The companion training stage (cargo feature `train`): the paper's networks as tch
//! (libtorch) computations, built from the same layer lists as the ONNX graphs.

pub mod net;

pub use net::TchNet;
