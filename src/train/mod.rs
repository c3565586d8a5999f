//! The companion training stage (cargo feature `train`): the paper's networks as tch
//! (libtorch) computations, built from the same layer lists as the ONNX graphs.

pub mod chord_mixer;
pub mod data;
pub mod fit;
pub mod mixture;
pub mod net;
pub mod optim;

pub use crate::protocol::{Optimizer, OutputBias, Selection};
pub use data::{FrameData, InputLayout};
pub use fit::{EpochRecord, FitOptions, Start, TrainConfig, TrainError, fit};
pub use net::TchNet;
pub use optim::OptimizerState;

/// The libtorch device for a request: CPU, CUDA (an error when libtorch sees no GPU), or
/// `None` for CUDA when available, else CPU.
pub fn torch_device(requested: Option<crate::infer::Device>) -> Result<tch::Device, String> {
    match requested {
        Some(crate::infer::Device::Cpu) => Ok(tch::Device::Cpu),
        Some(crate::infer::Device::Cuda) if tch::Cuda::is_available() => Ok(tch::Device::Cuda(0)),
        Some(crate::infer::Device::Cuda) => Err("device cuda: libtorch sees no CUDA device".into()),
        None => Ok(tch::Device::cuda_if_available()),
    }
}
