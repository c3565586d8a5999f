//! Named parameter tensors of an architecture, laid out as PyTorch / tch lay them out
//! (`nn.Sequential` state-dict names: `"{layer}.weight"`, `"{layer}.bias"`,
//! `"{layer}.running_mean"`, `"{layer}.running_var"`; conv weights `[out, in, kh, kw]`,
//! dense weights `[out, in]`), so a trained tch model and the ONNX graph share one naming.

use std::collections::BTreeMap;

use super::architecture::Architecture;
use super::layers::Layer;
use super::summary::{ModelError, summarize};

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

    pub fn parameter_count(&self) -> usize {
        self.tensors.values().map(|t| t.data.len()).sum()
    }
}
