//! Named parameter tensors of an architecture, laid out as PyTorch / tch lay them out
//! (`nn.Sequential` state-dict names: `"{layer}.weight"`, `"{layer}.bias"`,
//! `"{layer}.running_mean"`, `"{layer}.running_var"`; conv weights `[out, in, kh, kw]`,
//! dense weights `[out, in]`), so a trained tch model and the ONNX graph share one naming.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use super::architecture::Architecture;
use super::layers::Layer;
use super::summary::{ModelError, summarize};

/// A checkpoint that does not hold the weights of an architecture.
#[derive(Debug, thiserror::Error)]
#[error("{path}: {reason}")]
pub struct WeightsError {
    pub path: PathBuf,
    pub reason: String,
}

/// A dense `f32` tensor, row-major.
#[derive(Debug, Clone, PartialEq)]
pub struct Tensor {
    pub shape: Vec<usize>,
    pub data: Vec<f32>,
}

/// What a parameter is for, which decides how it is initialised.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    Weight { fan_in: usize },
    Bias,
    Scale,
    Shift,
    RunningMean,
    RunningVar,
}

/// Every parameter of `arch`: name, shape, role, in layer order.
pub fn parameter_specs(arch: &Architecture) -> Result<Vec<(String, Vec<usize>, Role)>, ModelError> {
    let mut specs = Vec::new();
    for row in summarize(arch)? {
        let Some(index) = row.layer else { continue };
        let name = |suffix: &str| format!("{index}.{suffix}");
        match arch.layers[index] {
            Layer::Conv {
                out_channels,
                kernel: (kh, kw),
                bias,
                ..
            } => {
                let c = row.input.channels();
                specs.push((
                    name("weight"),
                    vec![out_channels, c, kh, kw],
                    Role::Weight {
                        fan_in: c * kh * kw,
                    },
                ));
                if bias {
                    specs.push((name("bias"), vec![out_channels], Role::Bias));
                }
            }
            Layer::Dense { units, bias, .. } => {
                let n = row.input.numel();
                specs.push((name("weight"), vec![units, n], Role::Weight { fan_in: n }));
                if bias {
                    specs.push((name("bias"), vec![units], Role::Bias));
                }
            }
            Layer::BatchNorm => {
                let c = row.input.channels();
                specs.push((name("weight"), vec![c], Role::Scale));
                specs.push((name("bias"), vec![c], Role::Shift));
                specs.push((name("running_mean"), vec![c], Role::RunningMean));
                specs.push((name("running_var"), vec![c], Role::RunningVar));
            }
            _ => {}
        }
    }
    Ok(specs)
}

/// The parameters of one network.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Weights {
    pub tensors: BTreeMap<String, Tensor>,
}

impl Weights {
    /// Deterministic random parameters (He-uniform weights; batch-norm statistics away from
    /// their identity values, so an exported graph exercises every term). For tests and
    /// untrained exports; training replaces them.
    pub fn random(arch: &Architecture, seed: u64) -> Result<Self, ModelError> {
        let mut state = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
        let mut uniform = move |lo: f32, hi: f32| {
            // xorshift64*
            state ^= state >> 12;
            state ^= state << 25;
            state ^= state >> 27;
            let x = (state.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 40) as f32 / (1u64 << 24) as f32;
            lo + (hi - lo) * x
        };
        let mut tensors = BTreeMap::new();
        for (name, shape, role) in parameter_specs(arch)? {
            let n: usize = shape.iter().product();
            let (lo, hi) = match role {
                Role::Weight { fan_in } => {
                    let bound = (6.0 / fan_in as f32).sqrt();
                    (-bound, bound)
                }
                Role::Bias | Role::Shift | Role::RunningMean => (-0.1, 0.1),
                Role::Scale | Role::RunningVar => (0.5, 1.5),
            };
            let data = (0..n).map(|_| uniform(lo, hi)).collect();
            tensors.insert(name, Tensor { shape, data });
        }
        Ok(Self { tensors })
    }

    /// The parameters of `arch` from a training checkpoint (`checkpoint-NNNN.safetensors`
    /// of a run directory: f32 tensors under the names above, plus `momentum/...` buffers,
    /// which are not weights). Every parameter must be there with its shape.
    pub fn read_checkpoint(arch: &Architecture, path: &Path) -> Result<Self, WeightsError> {
        let fail = |reason: String| WeightsError {
            path: path.to_path_buf(),
            reason,
        };
        let bytes = std::fs::read(path).map_err(|e| fail(e.to_string()))?;
        let file = safetensors::SafeTensors::deserialize(&bytes)
            .map_err(|e| fail(format!("not a safetensors checkpoint: {e}")))?;
        let mut tensors = BTreeMap::new();
        for (name, shape, _) in parameter_specs(arch).map_err(|e| fail(e.to_string()))? {
            let view = file.tensor(&name).map_err(|_| {
                fail(format!(
                    "no tensor {name:?}: not a checkpoint of {} with these outputs",
                    arch.name
                ))
            })?;
            if view.shape() != shape.as_slice() {
                return Err(fail(format!(
                    "tensor {name:?} has shape {:?}, {} needs {shape:?} (another --outputs?)",
                    view.shape(),
                    arch.name
                )));
            }
            if view.dtype() != safetensors::Dtype::F32 {
                return Err(fail(format!(
                    "tensor {name:?} is {:?}, not f32",
                    view.dtype()
                )));
            }
            let data = view
                .data()
                .chunks_exact(4)
                .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
                .collect();
            tensors.insert(name, Tensor { shape, data });
        }
        Ok(Self { tensors })
    }

    pub fn parameter_count(&self) -> usize {
        self.tensors.values().map(|t| t.data.len()).sum()
    }
}
