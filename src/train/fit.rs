//! The training loop of Kelz et al. (2016), for the frame networks (ConvNet, SmallConvNet:
//! examples are frames with context) and AUNet (examples are 256-frame segments):
//! BCE on logits, SGD with Nesterov momentum and weight decay (written out here, in torch's
//! formulation, so its momentum buffers can be checkpointed), epochs of a fixed number of
//! steps drawn without replacement, the learning rate halved when the validation loss has not
//! improved for `patience` epochs, and per epoch: validation loss and framewise F, a
//! checkpoint, an ONNX export, and `best.onnx` for the best validation F so far.
//!
//! Every random choice of epoch `e` is seeded from `(seed, e)`, so a run resumed from the
//! checkpoint of epoch `e - 1` continues exactly as the uninterrupted run would have.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Instant;

use indicatif::{ProgressBar, ProgressStyle};
use tch::{Device, Kind, Reduction, Tensor};

use super::data::{FrameData, InputLayout};
use super::net::TchNet;
use crate::analysis::FrameCounts;
use crate::model::layers::Shape;
use crate::model::weights::{Role, parameter_specs};
use crate::model::{Architecture, Weights, export_onnx};
use crate::pitchset::PitchSet;
use crate::sink::write_atomically;

/// Training hyper-parameters; defaults are the paper's (Kelz et al. 2016).
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TrainConfig {
    pub learning_rate: f64,
    pub momentum: f64,
    pub weight_decay: f64,
    pub batch_size: usize,
    pub steps_per_epoch: usize,
    pub epochs: usize,
    /// Epochs without a better validation loss before the learning rate is halved.
    pub patience: usize,
    pub seed: u64,
}

impl Default for TrainConfig {
    fn default() -> Self {
        Self {
            learning_rate: 0.25,
            momentum: 0.9,
            weight_decay: 1e-6,
            batch_size: 32,
            steps_per_epoch: 8192,
            epochs: 100,
            patience: 20,
            seed: 0,
        }
    }
}

/// What one epoch measured.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct EpochRecord {
    pub epoch: usize,
    pub learning_rate: f64,
    pub train_loss: f64,
    pub validation_loss: f64,
    pub validation_f1: f64,
    pub seconds: f64,
}

/// Everything besides tensors that a resumed run needs.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
struct RunState {
    epoch: usize,
    learning_rate: f64,
    best_validation_loss: f64,
    epochs_since_improvement: usize,
    best_validation_f1: f64,
    history: Vec<EpochRecord>,
}

#[derive(Debug, thiserror::Error)]
pub enum TrainError {
    #[error("{0}")]
    Data(String),
    #[error(
        "the training loss became NaN in epoch {epoch}, step {step}; the last good checkpoint is {checkpoint}"
    )]
    NanLoss {
        epoch: usize,
        step: usize,
        checkpoint: String,
    },
    #[error("{path}: {reason}")]
    Checkpoint { path: PathBuf, reason: String },
    #[error(transparent)]
    Export(#[from] crate::model::ExportError),
    #[error(transparent)]
    Model(#[from] crate::model::ModelError),
}

/// A xorshift64* stream; training's only source of randomness besides libtorch's (dropout),
/// which is seeded per epoch too.
struct Rng(u64);

impl Rng {
    fn new(seed: u64, epoch: usize, stream: u64) -> Self {
        let mut x = seed
            ^ (epoch as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15)
            ^ stream.wrapping_mul(0xD1B5_4A32_D192_ED03);
        x = (x ^ (x >> 31)).wrapping_mul(0xBF58_476D_1CE4_E5B9) | 1;
        Self(x)
    }

    fn below(&mut self, n: usize) -> usize {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        (self.0.wrapping_mul(0x2545_F491_4F6C_DD1D) % n as u64) as usize
    }

    fn shuffle<T>(&mut self, items: &mut [T]) {
        for i in (1..items.len()).rev() {
            items.swap(i, self.below(i + 1));
        }
    }
}

fn checkpoint_paths(run_dir: &Path, epoch: usize) -> (PathBuf, PathBuf) {
    (
        run_dir.join(format!("checkpoint-{epoch:04}.safetensors")),
        run_dir.join(format!("state-{epoch:04}.json")),
    )
}

/// The last epoch whose checkpoint is complete (its state file is written last).
pub fn last_checkpoint(run_dir: &Path) -> Option<usize> {
    std::fs::read_dir(run_dir)
        .ok()?
        .filter_map(|e| e.ok())
        .filter_map(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            name.strip_prefix("state-")?
                .strip_suffix(".json")?
                .parse()
                .ok()
        })
        .max()
}

/// Trains `arch` on `train`, validating on `validation`, writing into `run_dir`. With
/// `resume`, continues after the last complete checkpoint in `run_dir`.
#[allow(clippy::too_many_arguments)]
pub fn fit(
    arch: &Architecture,
    train: &FrameData,
    validation: &FrameData,
    config: &TrainConfig,
    run_dir: &Path,
    resume: bool,
    device: Device,
    progress: bool,
) -> Result<Vec<EpochRecord>, TrainError> {
    let checkpoint_error = |path: &Path, reason: String| TrainError::Checkpoint {
        path: path.to_path_buf(),
        reason,
    };
    std::fs::create_dir_all(run_dir).map_err(|e| checkpoint_error(run_dir, e.to_string()))?;
    if train.index.is_empty() {
        return Err(TrainError::Data("the training split has no frames".into()));
    }
    let layout = match arch.input {
        Shape::Map(1, frames, bins) if bins == train.bands() && frames % 2 == 1 => {
            InputLayout::Context {
                radius: (frames - 1) / 2,
            }
        }
        Shape::Map(1, frames, bins) if bins >= train.bands() && frames > 1 => {
            InputLayout::Segment { frames, bins }
        }
        other => {
            return Err(TrainError::Data(format!(
                "{} takes input {other}, the features have {} bands",
                arch.name,
                train.bands()
            )));
        }
    };
    // Units per frame: a dense layer's width, or the width of AUNet's last feature map.
    let outputs = match crate::model::summarize(arch)?.last().map(|r| r.output) {
        Some(Shape::Vector(n)) => n,
        Some(Shape::Map(_, _, w)) => w,
        None => 0,
    };
    if outputs != train.outputs {
        return Err(TrainError::Data(format!(
            "{} has {outputs} outputs, the labels {}",
            arch.name, train.outputs
        )));
    }

    let mut net = TchNet::new(arch.clone(), device)?;
    let trainable: Vec<String> = parameter_specs(arch)?
        .into_iter()
        .filter(|(_, _, role)| !matches!(role, Role::RunningMean | Role::RunningVar))
        .map(|(name, _, _)| name)
        .collect();
    let mut momentum: BTreeMap<String, Tensor> = BTreeMap::new();
    let mut state = RunState {
        epoch: 0,
        learning_rate: config.learning_rate,
        best_validation_loss: f64::INFINITY,
        epochs_since_improvement: 0,
        best_validation_f1: -1.0,
        history: Vec::new(),
    };
    match last_checkpoint(run_dir).filter(|_| resume) {
        Some(epoch) => {
            let (tensors_path, state_path) = checkpoint_paths(run_dir, epoch);
            let text = std::fs::read_to_string(&state_path)
                .map_err(|e| checkpoint_error(&state_path, e.to_string()))?;
            state = serde_json::from_str(&text)
                .map_err(|e| checkpoint_error(&state_path, e.to_string()))?;
            let tensors = Tensor::read_safetensors(&tensors_path)
                .map_err(|e| checkpoint_error(&tensors_path, e.to_string()))?;
            let mut weights = Weights::default();
            for (name, t) in tensors {
                if let Some(param) = name.strip_prefix("momentum/") {
                    momentum.insert(param.to_string(), t.to_device(device));
                } else {
                    let shape = t.size().iter().map(|&d| d as usize).collect();
                    let data = Vec::<f32>::try_from(t.flatten(0, -1))
                        .map_err(|e| checkpoint_error(&tensors_path, e.to_string()))?;
                    weights
                        .tensors
                        .insert(name, crate::model::Tensor { shape, data });
                }
            }
            net.load_weights(&weights)
                .map_err(|e| checkpoint_error(&tensors_path, e))?;
            tracing::info!(epoch, "resuming from {}", tensors_path.display());
        }
        None => {
            let weights = Weights::random(arch, config.seed)?;
            net.load_weights(&weights).map_err(TrainError::Data)?;
        }
    }
    for name in &trainable {
        let _ = net.param_mut(name).set_requires_grad(true);
    }

    let mut buffers = Buffers::default();
    let examples = layout.training_examples(train);
    while state.epoch < config.epochs {
        let epoch = state.epoch + 1;
        let started = Instant::now();
        tch::manual_seed((config.seed ^ epoch as u64) as i64);
        let bar = if progress {
            ProgressBar::new(config.steps_per_epoch as u64).with_style(
                ProgressStyle::with_template(
                    "epoch {prefix} {wide_bar} {pos}/{len} loss {msg} [{elapsed} < {eta}]",
                )
                .expect("valid template"),
            )
        } else {
            ProgressBar::hidden()
        };
        bar.set_prefix(epoch.to_string());
        let mut order: Vec<(u32, u32)> = Vec::new();
        let mut cursor = 0;
        let mut reshuffles = 0;
        let mut loss_sum = 0.0;
        for step in 0..config.steps_per_epoch {
            let mut ids = Vec::with_capacity(config.batch_size);
            while ids.len() < config.batch_size {
                if cursor == order.len() {
                    order = examples.clone();
                    Rng::new(config.seed, epoch, reshuffles).shuffle(&mut order);
                    reshuffles += 1;
                    cursor = 0;
                }
                let take = (config.batch_size - ids.len()).min(order.len() - cursor);
                ids.extend_from_slice(&order[cursor..cursor + take]);
                cursor += take;
            }
            let (x, y, m) = batch_tensors(train, &ids, layout, &mut buffers, device);
            // Mean over real (unpadded) frames and outputs.
            let loss = net
                .forward_logits(&x, true)
                .binary_cross_entropy_with_logits(&y, Some(&m), None::<&Tensor>, Reduction::Sum)
                / m.sum(Kind::Float).clamp_min(1.0);
            let value = loss.double_value(&[]);
            if !value.is_finite() {
                let checkpoint = last_checkpoint(run_dir)
                    .map(|e| checkpoint_paths(run_dir, e).0.display().to_string())
                    .unwrap_or_else(|| "none (no epoch finished)".into());
                return Err(TrainError::NanLoss {
                    epoch,
                    step,
                    checkpoint,
                });
            }
            loss_sum += value;
            loss.backward();
            sgd_step(
                &mut net,
                &trainable,
                &mut momentum,
                state.learning_rate,
                config,
            );
            if step % 16 == 0 {
                bar.set_message(format!("{:.4}", loss_sum / (step + 1) as f64));
            }
            bar.inc(1);
        }
        bar.finish_and_clear();
        let (validation_loss, validation_f1) = evaluate(&net, validation, layout, device);
        let record = EpochRecord {
            epoch,
            learning_rate: state.learning_rate,
            train_loss: loss_sum / config.steps_per_epoch as f64,
            validation_loss,
            validation_f1,
            seconds: started.elapsed().as_secs_f64(),
        };
        tracing::info!(
            epoch,
            train_loss = format!("{:.4}", record.train_loss),
            validation_loss = format!("{:.4}", validation_loss),
            validation_f1 = format!("{:.4}", validation_f1),
            lr = state.learning_rate,
            "epoch done"
        );
        // Plateau schedule on the validation loss.
        if validation_loss < state.best_validation_loss {
            state.best_validation_loss = validation_loss;
            state.epochs_since_improvement = 0;
        } else {
            state.epochs_since_improvement += 1;
            if state.epochs_since_improvement >= config.patience {
                state.learning_rate /= 2.0;
                state.epochs_since_improvement = 0;
                tracing::info!(
                    lr = state.learning_rate,
                    "validation loss plateaued: halving the learning rate"
                );
            }
        }
        let weights = net.to_weights();
        export_onnx(
            arch,
            &weights,
            &run_dir.join(format!("epoch-{epoch:04}.onnx")),
        )?;
        if validation_f1 > state.best_validation_f1 {
            state.best_validation_f1 = validation_f1;
            export_onnx(arch, &weights, &run_dir.join("best.onnx"))?;
        }
        state.epoch = epoch;
        state.history.push(record);
        save_checkpoint(run_dir, &state, &weights, &momentum)?;
    }
    Ok(state.history)
}

/// One update of torch.optim.SGD(momentum, dampening = 0, nesterov = True, weight_decay) on
/// the parameters named in `trainable`, whose gradients are then zeroed.
pub fn sgd_step(
    net: &mut TchNet,
    trainable: &[String],
    momentum: &mut BTreeMap<String, Tensor>,
    learning_rate: f64,
    config: &TrainConfig,
) {
    tch::no_grad(|| {
        for name in trainable {
            let param = net.param_mut(name);
            let grad = param.grad();
            let d = &grad + &*param * config.weight_decay;
            let buf = match momentum.get_mut(name) {
                Some(buf) => {
                    let _ = buf.g_mul_scalar_(config.momentum).g_add_(&d);
                    buf.shallow_clone()
                }
                None => {
                    let buf = d.copy();
                    momentum.insert(name.clone(), buf.shallow_clone());
                    buf
                }
            };
            let step = d + buf * config.momentum;
            let _ = param.g_sub_(&(step * learning_rate));
            let _ = param.grad().zero_();
        }
    });
}

/// Host-side batch buffers, reused across steps.
#[derive(Default)]
struct Buffers {
    inputs: Vec<f32>,
    targets: Vec<f32>,
    mask: Vec<f32>,
}

/// The examples `ids` as device tensors: inputs, targets, and the mask of real frames.
fn batch_tensors(
    data: &FrameData,
    ids: &[(u32, u32)],
    layout: InputLayout,
    buffers: &mut Buffers,
    device: Device,
) -> (Tensor, Tensor, Tensor) {
    data.batch(
        ids,
        layout,
        &mut buffers.inputs,
        &mut buffers.targets,
        &mut buffers.mask,
    );
    let n = ids.len();
    let target_dims = layout.target_dims(n, data.outputs);
    let tensor =
        |values: &[f32], dims: &[i64]| Tensor::from_slice(values).reshape(dims).to_device(device);
    (
        tensor(&buffers.inputs, &layout.input_dims(n, data.bands())),
        tensor(&buffers.targets, &target_dims),
        tensor(&buffers.mask, &target_dims),
    )
}

/// Mean BCE and micro framewise F of `data` in inference mode, over real frames only.
fn evaluate(net: &TchNet, data: &FrameData, layout: InputLayout, device: Device) -> (f64, f64) {
    let mut buffers = Buffers::default();
    let mut counts = FrameCounts::default();
    let mut loss_sum = 0.0;
    let mut weight_sum = 0.0;
    let chunk = match layout {
        InputLayout::Context { .. } => 1024,
        InputLayout::Segment { .. } => 4,
    };
    for ids in layout.evaluation_examples(data).chunks(chunk) {
        let (x, y, m) = batch_tensors(data, ids, layout, &mut buffers, device);
        let (targets, mask) = (&buffers.targets, &buffers.mask);
        let (loss, probs) = tch::no_grad(|| {
            let logits = net.forward_logits(&x, false);
            let loss = logits.binary_cross_entropy_with_logits(
                &y,
                Some(&m),
                None::<&Tensor>,
                Reduction::Sum,
            );
            (
                loss.double_value(&[]),
                logits.sigmoid().to_device(Device::Cpu).to_kind(Kind::Float),
            )
        });
        loss_sum += loss;
        weight_sum += mask.iter().map(|&w| f64::from(w)).sum::<f64>();
        let probs = Vec::<f32>::try_from(probs.flatten(0, -1)).expect("float tensor");
        let rows = probs
            .chunks_exact(data.outputs)
            .zip(targets.chunks_exact(data.outputs))
            .zip(mask.chunks_exact(data.outputs));
        for ((row, truth), real) in rows {
            if real[0] == 0.0 {
                continue;
            }
            let to_set = |values: &[f32]| -> PitchSet {
                values
                    .iter()
                    .enumerate()
                    .filter(|(_, v)| **v >= 0.5)
                    .map(|(i, _)| data.lowest_pitch + i as u8)
                    .collect()
            };
            counts.add(&FrameCounts::of_frame(to_set(truth), to_set(row)));
        }
    }
    (loss_sum / weight_sum.max(1.0), counts.metrics().f1)
}

fn save_checkpoint(
    run_dir: &Path,
    state: &RunState,
    weights: &Weights,
    momentum: &BTreeMap<String, Tensor>,
) -> Result<(), TrainError> {
    let (tensors_path, state_path) = checkpoint_paths(run_dir, state.epoch);
    let mut named: Vec<(String, Tensor)> = weights
        .tensors
        .iter()
        .map(|(name, t)| {
            let dims: Vec<i64> = t.shape.iter().map(|&d| d as i64).collect();
            (name.clone(), Tensor::from_slice(&t.data).reshape(&dims))
        })
        .collect();
    named.extend(
        momentum
            .iter()
            .map(|(name, t)| (format!("momentum/{name}"), t.to_device(Device::Cpu))),
    );
    // safetensors via a temporary name, then the state file: a checkpoint counts once its
    // state file exists, so a kill -9 between the two leaves the previous one in charge.
    let partial = tensors_path.with_extension("safetensors.partial");
    Tensor::write_safetensors(&named, &partial).map_err(|e| TrainError::Checkpoint {
        path: tensors_path.clone(),
        reason: e.to_string(),
    })?;
    std::fs::rename(&partial, &tensors_path).map_err(|e| TrainError::Checkpoint {
        path: tensors_path.clone(),
        reason: e.to_string(),
    })?;
    let json = serde_json::to_vec_pretty(state).expect("state serialises");
    write_atomically(&state_path, |w| std::io::Write::write_all(w, &json)).map_err(|e| {
        TrainError::Checkpoint {
            path: state_path.clone(),
            reason: e.to_string(),
        }
    })?;
    let history = serde_json::to_vec_pretty(&state.history).expect("history serialises");
    write_atomically(&run_dir.join("history.json"), |w| {
        std::io::Write::write_all(w, &history)
    })
    .map_err(|e| TrainError::Checkpoint {
        path: run_dir.join("history.json"),
        reason: e.to_string(),
    })?;
    Ok(())
}
