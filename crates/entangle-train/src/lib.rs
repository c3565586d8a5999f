//! `entangle-train`: the companion training stage, the paper's networks as tch (libtorch)
//! computations built from the same layer lists as the ONNX graphs. Its own crate (and
//! binary), so that the `entangle` crate and binary never link libtorch: `entangle train` and
//! the pipeline hand this binary a [`entangle::protocol::TrainJob`].

pub mod chord_mixer;
pub mod data;
pub mod fit;
pub mod job;
pub mod mixture;
pub mod net;
pub mod optim;

pub use data::{FrameData, InputLayout};
pub use entangle::protocol::{Optimizer, OutputBias, Selection};
pub use fit::{EpochRecord, FitOptions, Start, TrainConfig, TrainError, fit};
pub use job::run_job;
pub use net::TchNet;
pub use optim::OptimizerState;

/// The libtorch device for a request: CPU, CUDA (an error when libtorch sees no GPU), or
/// `None` for CUDA when available, else CPU.
pub fn torch_device(requested: Option<entangle::infer::Device>) -> Result<tch::Device, TrainError> {
    match requested {
        Some(entangle::infer::Device::Cpu) => Ok(tch::Device::Cpu),
        Some(entangle::infer::Device::Cuda) if tch::Cuda::is_available() => {
            Ok(tch::Device::Cuda(0))
        }
        Some(entangle::infer::Device::Cuda) => Err(TrainError::NoCuda),
        None => Ok(tch::Device::cuda_if_available()),
    }
}
