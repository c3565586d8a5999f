//! An [`Architecture`] run by libtorch. Parameters live in a tch `VarStore` under the names
//! of [`entangle::model::weights`] (`"{layer}.weight"`, ...), so [`Weights`] move between tch,
//! checkpoints and the ONNX exporter without a mapping table. The forward pass interprets the
//! layer list with libtorch's functional ops, the same list the ONNX graph is built from.

use std::collections::{BTreeMap, HashMap};

use tch::{Device, Kind, Tensor, nn};

use entangle::model::layers::{Activation, BATCH_NORM_EPSILON, Layer};
use entangle::model::summary::ModelError;
use entangle::model::weights::{Role, Tensor as WeightTensor, Weights, parameter_specs};
use entangle::model::{Architecture, summary::output_activation};

/// Momentum of the batch-norm running statistics (torch's default).
const BATCH_NORM_MOMENTUM: f64 = 0.1;

/// A network and its parameters on one device.
pub struct TchNet {
    pub arch: Architecture,
    pub vs: nn::VarStore,
    params: BTreeMap<String, Tensor>,
}

impl TchNet {
    /// Creates the parameters (zeros; load weights or initialise before use).
    pub fn new(arch: Architecture, device: Device) -> Result<Self, ModelError> {
        let vs = nn::VarStore::new(device);
        let mut params = BTreeMap::new();
        for (name, shape, role) in parameter_specs(&arch)? {
            let (layer, field) = name.split_once('.').expect("names are layer.field");
            let path = vs.root() / layer;
            let dims: Vec<i64> = shape.iter().map(|&d| d as i64).collect();
            let tensor = match role {
                Role::RunningMean => path.zeros_no_train(field, &dims),
                Role::RunningVar => path.ones_no_train(field, &dims),
                _ => path.zeros(field, &dims),
            };
            params.insert(name, tensor);
        }
        Ok(Self { arch, vs, params })
    }

    /// Copies `weights` into the parameters (names and shapes must match).
    pub fn load_weights(&mut self, weights: &Weights) -> Result<(), String> {
        tch::no_grad(|| {
            for (name, param) in &mut self.params {
                let w = weights
                    .tensors
                    .get(name)
                    .ok_or_else(|| format!("weight {name} is missing"))?;
                let dims: Vec<i64> = w.shape.iter().map(|&d| d as i64).collect();
                if param.size() != dims {
                    return Err(format!(
                        "weight {name} has shape {:?}, expected {:?}",
                        w.shape,
                        param.size()
                    ));
                }
                let source = Tensor::from_slice(&w.data)
                    .reshape(&dims)
                    .to_device(param.device());
                param.copy_(&source);
            }
            Ok(())
        })
    }

    /// The parameters as [`Weights`] (on the CPU).
    pub fn to_weights(&self) -> Weights {
        let tensors = self
            .params
            .iter()
            .map(|(name, t)| {
                let shape: Vec<usize> = t.size().iter().map(|&d| d as usize).collect();
                let flat = t.to_device(Device::Cpu).to_kind(Kind::Float).flatten(0, -1);
                let data = Vec::<f32>::try_from(&flat).expect("float tensor");
                (name.clone(), WeightTensor { shape, data })
            })
            .collect();
        Weights { tensors }
    }

    /// The parameter named `name` (e.g. `"0.weight"`).
    pub fn param_mut(&mut self, name: &str) -> &mut Tensor {
        self.params
            .get_mut(name)
            .expect("parameter names come from parameter_specs")
    }

    fn param(&self, layer: usize, field: &str) -> &Tensor {
        &self.params[&format!("{layer}.{field}")]
    }

    /// The network's output before its final sigmoid (what BCE-with-logits trains on).
    /// `train` switches dropout on and batch norm to batch statistics (updating the running
    /// ones).
    pub fn forward_logits(&self, input: &Tensor, train: bool) -> Tensor {
        self.forward_hidden_and_logits(input, train).1
    }

    /// The last hidden representation (what the last weighted layer reads, before any
    /// dropout in front of it) and the logits, from one pass (the mixture penalty's input).
    pub fn forward_hidden_and_logits(&self, input: &Tensor, train: bool) -> (Tensor, Tensor) {
        let last_sigmoid = output_activation(&self.arch) == Activation::Sigmoid;
        let last_weighted = self
            .arch
            .layers
            .iter()
            .rposition(|l| matches!(l, Layer::Conv { .. } | Layer::Dense { .. }));
        let mut x = input.shallow_clone();
        let mut hidden = input.shallow_clone();
        let mut taps: HashMap<&str, Tensor> = HashMap::new();
        for (i, layer) in self.arch.layers.iter().enumerate() {
            let skip_sigmoid = last_sigmoid && Some(i) == last_weighted;
            x = match *layer {
                Layer::Conv { activation, .. } => {
                    let y = self.convolve(i, layer, &x);
                    if skip_sigmoid {
                        y
                    } else {
                        activate(y, activation)
                    }
                }
                Layer::BatchNorm => x.batch_norm(
                    Some(self.param(i, "weight")),
                    Some(self.param(i, "bias")),
                    Some(self.param(i, "running_mean")),
                    Some(self.param(i, "running_var")),
                    train,
                    BATCH_NORM_MOMENTUM,
                    f64::from(BATCH_NORM_EPSILON),
                    true,
                ),
                Layer::Activation(a) => activate(x, a),
                Layer::MaxPool { kernel: (kh, kw) } => {
                    let k = [kh as i64, kw as i64];
                    x.max_pool2d(k, k, [0, 0], [1, 1], false)
                }
                Layer::Dropout { p } => x.dropout(f64::from(p), train),
                Layer::Dense {
                    bias, activation, ..
                } => {
                    let flat = if x.dim() > 2 { x.flatten(1, -1) } else { x };
                    let b = bias.then(|| self.param(i, "bias"));
                    let y = flat.linear(self.param(i, "weight"), b);
                    if skip_sigmoid {
                        y
                    } else {
                        activate(y, activation)
                    }
                }
                Layer::Upscale { factor: (fh, fw) } => {
                    let size = x.size();
                    let out = [size[2] * fh as i64, size[3] * fw as i64];
                    x.upsample_nearest2d(out, fh as f64, fw as f64)
                }
                Layer::Tap(name) => {
                    taps.insert(name, x.shallow_clone());
                    x
                }
                Layer::Concat(name) => Tensor::cat(&[&x, &taps[name]], 1),
            };
            // The hidden representation skips the dropout in front of the last weighted layer.
            if last_weighted.is_some_and(|last| i < last) && !matches!(layer, Layer::Dropout { .. })
            {
                hidden = x.shallow_clone();
            }
        }
        (hidden, x)
    }

    /// Layer `i`, a convolution, applied to `x` (before its activation).
    fn convolve(&self, i: usize, layer: &Layer, x: &Tensor) -> Tensor {
        let Layer::Conv {
            kernel: (kh, kw),
            stride: (sh, sw),
            padding,
            bias,
            ..
        } = *layer
        else {
            unreachable!("convolve is called on Conv layers")
        };
        let (ph, pw) = padding.amounts((kh, kw));
        let b = bias.then(|| self.param(i, "bias"));
        x.conv2d(
            self.param(i, "weight"),
            b,
            [sh as i64, sw as i64],
            [ph as i64, pw as i64],
            [1, 1],
            1,
        )
    }

    /// Probabilities in inference mode (what the ONNX graph computes).
    pub fn predict(&self, input: &Tensor) -> Tensor {
        tch::no_grad(|| {
            let logits = self.forward_logits(input, false);
            if output_activation(&self.arch) == Activation::Sigmoid {
                logits.sigmoid()
            } else {
                logits
            }
        })
    }
}

fn activate(x: Tensor, activation: Activation) -> Tensor {
    match activation {
        Activation::Identity => x,
        Activation::Relu => x.relu(),
        Activation::Elu => x.elu(),
        Activation::Sigmoid => x.sigmoid(),
    }
}
