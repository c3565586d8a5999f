//! The training loop of Kelz et al. (2016), for the frame networks (ConvNet, SmallConvNet:
//! examples are frames with context) and AUNet (examples are 256-frame segments):
//! BCE on logits, SGD with Nesterov momentum and weight decay (or Adam, see `optim`), epochs
//! of a fixed number of steps drawn without replacement, an optional linear learning-rate
//! warm-up, the learning rate halved when the validation loss has not improved for
//! `patience` epochs, and per epoch: validation loss and micro F, a checkpoint, an ONNX
//! export, and `best.onnx` for the best epoch so far (by validation F or loss).
//!
//! Every random choice of epoch `e` is seeded from `(seed, e)`, so a run resumed from the
//! checkpoint of epoch `e - 1` continues exactly as the uninterrupted run would have.

use std::path::{Path, PathBuf};
use std::time::Instant;

use indicatif::{ProgressBar, ProgressStyle};
use tch::{Device, Kind, Reduction, Tensor};

use super::data::{FrameData, InputLayout};
use super::net::TchNet;
use super::optim::OptimizerState;
use entangle::analysis::FrameCounts;
use entangle::model::layers::Shape;
use entangle::model::weights::{Role, parameter_specs};
use entangle::model::{Architecture, Weights, export_onnx};
use entangle::pitchset::PitchSet;
use entangle::protocol::{OutputBias, Selection};
pub use entangle::protocol::{Start, TrainConfig, last_checkpoint};
use entangle::sink::write_atomically;

fn is_zero(v: &f64) -> bool {
    *v == 0.0
}

/// How a training run is carried out (as opposed to what it trains: [`TrainConfig`]).
#[derive(Debug, Clone, Copy)]
pub struct FitOptions {
    pub start: Start,
    pub device: Device,
    /// Show a progress bar per epoch.
    pub progress: bool,
}

/// What one epoch measured.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct EpochRecord {
    pub epoch: usize,
    pub learning_rate: f64,
    pub train_loss: f64,
    pub validation_loss: f64,
    /// Micro F over all validation frames (the analysis tables' `validation F` is the mean
    /// over shards of each shard's micro F; the pipeline selects by the tables').
    #[serde(alias = "validation_f1")]
    pub validation_micro_f1: f64,
    pub seconds: f64,
    /// Mean mixture penalty over the epoch's steps (unweighted; 0 when it is off).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub mixture_penalty: f64,
}

/// Everything besides tensors that a resumed run needs.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
struct RunState {
    epoch: usize,
    learning_rate: f64,
    best_validation_loss: f64,
    epochs_since_improvement: usize,
    best_validation_f1: f64,
    /// Optimizer updates so far (warm-up and Adam's bias correction count them).
    #[serde(default)]
    steps: u64,
    history: Vec<EpochRecord>,
}

#[derive(Debug, thiserror::Error)]
pub enum TrainError {
    #[error("{0}")]
    Data(String),
    #[error(transparent)]
    Manifest(#[from] entangle::corpus::manifest::ManifestError),
    #[error("{}: the {split} split is empty", manifest.display())]
    EmptySplit { manifest: PathBuf, split: String },
    #[error(transparent)]
    Audio(#[from] entangle::audio::AudioError),
    #[error(transparent)]
    Labels(#[from] entangle::labels::LabelError),
    #[error(transparent)]
    Spectrogram(#[from] entangle::features::ParamsError),
    #[error("{labels}: pitch {pitch} does not fit {outputs} outputs starting at {lowest_pitch}")]
    PitchOutsideOutputs {
        labels: String,
        pitch: u8,
        outputs: usize,
        lowest_pitch: u8,
    },
    #[error("device cuda: libtorch sees no CUDA device")]
    NoCuda,
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
    Export(#[from] entangle::model::ExportError),
    #[error(transparent)]
    Model(#[from] entangle::model::ModelError),
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

/// The names of the files a run directory holds, which `Start::Overwrite` removes.
fn is_run_file(name: &str) -> bool {
    (name.starts_with("checkpoint-") && name.contains(".safetensors"))
        || (name.starts_with("state-") && name.ends_with(".json"))
        || (name.starts_with("epoch-") && name.ends_with(".onnx"))
        || name == "best.onnx"
        || name == "history.json"
}

/// Trains `arch` on `train`, validating on `validation`, writing into `run_dir`.
pub fn fit(
    arch: &Architecture,
    train: &FrameData,
    validation: &FrameData,
    config: &TrainConfig,
    run_dir: &Path,
    options: FitOptions,
) -> Result<Vec<EpochRecord>, TrainError> {
    prepare_run_dir(run_dir, options.start)?;
    if train.index.is_empty() {
        return Err(TrainError::Data("the training split has no frames".into()));
    }
    let layout = input_layout(arch, train)?;
    let device = options.device;
    let mut net = TchNet::new(arch.clone(), device)?;
    let trainable = trainable_names(arch)?;
    let mut optimizer = OptimizerState::new(config.optimizer, config.momentum, config.weight_decay);
    let resume_from = last_checkpoint(run_dir).filter(|_| options.start == Start::Resume);
    let mut state = match resume_from {
        Some(epoch) => restore_checkpoint(run_dir, epoch, &mut net, &mut optimizer, device)?,
        None => initialise(arch, train, config, &mut net)?,
    };
    for name in &trainable {
        let _ = net.param_mut(name).set_requires_grad(true);
    }

    let mut buffers = Buffers::default();
    let examples = layout.training_examples(train);
    let chords = config
        .chords
        .map(|options| super::chord_mixer::ChordMixer::new(train, options))
        .transpose()
        .map_err(TrainError::Data)?;
    while state.epoch < config.epochs {
        let epoch = state.epoch + 1;
        let started = Instant::now();
        tch::manual_seed((config.seed ^ epoch as u64) as i64);
        let run = EpochRun {
            config,
            epoch,
            train,
            layout,
            examples: &examples,
            trainable: &trainable,
            device,
            run_dir,
            chords: chords.as_ref(),
        };
        let (train_loss, mixture_penalty) = run.train(
            &mut net,
            &mut optimizer,
            &mut state,
            &mut buffers,
            options.progress,
        )?;
        let (validation_loss, validation_micro_f1) = evaluate(&net, validation, layout, device);
        let record = EpochRecord {
            epoch,
            learning_rate: state.learning_rate,
            train_loss,
            validation_loss,
            validation_micro_f1,
            seconds: started.elapsed().as_secs_f64(),
            mixture_penalty,
        };
        log_epoch(&record);
        finish_epoch(arch, config, run_dir, &net, &optimizer, &mut state, record)?;
    }
    Ok(state.history)
}

/// The parameters the optimiser updates: all but batch norm's running statistics.
fn trainable_names(arch: &Architecture) -> Result<Vec<String>, TrainError> {
    Ok(parameter_specs(arch)?
        .into_iter()
        .filter(|(_, _, role)| !matches!(role, Role::RunningMean | Role::RunningVar))
        .map(|(name, _, _)| name)
        .collect())
}

fn log_epoch(record: &EpochRecord) {
    tracing::info!(
        epoch = record.epoch,
        train_loss = format!("{:.4}", record.train_loss),
        validation_loss = format!("{:.4}", record.validation_loss),
        validation_micro_f1 = format!("{:.4}", record.validation_micro_f1),
        lr = record.learning_rate,
        "epoch done"
    );
}

/// Creates `run_dir`, refusing (`Fresh`) or clearing (`Overwrite`) earlier checkpoints.
fn prepare_run_dir(run_dir: &Path, start: Start) -> Result<(), TrainError> {
    let checkpoint_error = |path: &Path, reason: String| TrainError::Checkpoint {
        path: path.to_path_buf(),
        reason,
    };
    std::fs::create_dir_all(run_dir).map_err(|e| checkpoint_error(run_dir, e.to_string()))?;
    match (start, last_checkpoint(run_dir)) {
        (Start::Fresh, Some(epoch)) => Err(checkpoint_error(
            run_dir,
            format!(
                "holds the checkpoints of an earlier run (up to epoch {epoch}); \
                 pass --resume to continue it or --overwrite to replace it"
            ),
        )),
        (Start::Overwrite, _) => {
            let entries =
                std::fs::read_dir(run_dir).map_err(|e| checkpoint_error(run_dir, e.to_string()))?;
            for entry in entries.filter_map(|e| e.ok()) {
                if is_run_file(&entry.file_name().to_string_lossy()) {
                    std::fs::remove_file(entry.path())
                        .map_err(|e| checkpoint_error(&entry.path(), e.to_string()))?;
                }
            }
            Ok(())
        }
        _ => Ok(()),
    }
}

/// Context frames (ConvNet, SmallConvNet) or segments (AUNet), from the input shape; and a
/// check that the network's outputs match the labels'.
fn input_layout(arch: &Architecture, train: &FrameData) -> Result<InputLayout, TrainError> {
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
    let outputs = match entangle::model::summarize(arch)?.last().map(|r| r.output) {
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
    Ok(layout)
}

/// Fresh weights from the seed, with the output bias as the config asks.
fn initialise(
    arch: &Architecture,
    train: &FrameData,
    config: &TrainConfig,
    net: &mut TchNet,
) -> Result<RunState, TrainError> {
    let mut weights = Weights::random(arch, config.seed)?;
    if config.output_bias == OutputBias::Prior {
        set_prior_bias(arch, train, &mut weights)?;
    }
    net.load_weights(&weights).map_err(TrainError::Data)?;
    Ok(RunState {
        epoch: 0,
        learning_rate: config.learning_rate,
        best_validation_loss: f64::INFINITY,
        epochs_since_improvement: 0,
        best_validation_f1: -1.0,
        steps: 0,
        history: Vec::new(),
    })
}

/// Sets the last bias of `arch` to the logit of the label prior: per output for a dense head,
/// the mean over outputs for a shared bias (AUNet's single-channel last convolution).
fn set_prior_bias(
    arch: &Architecture,
    train: &FrameData,
    weights: &mut Weights,
) -> Result<(), TrainError> {
    let priors = train.label_priors();
    let Some((name, shape, _)) = parameter_specs(arch)?
        .into_iter()
        .rfind(|(_, _, role)| *role == Role::Bias)
    else {
        return Err(TrainError::Data(format!(
            "{} has no output bias to initialise",
            arch.name
        )));
    };
    let logit = |p: f64| {
        let p = p.clamp(1e-4, 1.0 - 1e-4);
        (p / (1.0 - p)).ln() as f32
    };
    let data = if shape == [priors.len()] {
        priors.iter().map(|&p| logit(p)).collect()
    } else {
        let mean = priors.iter().sum::<f64>() / priors.len().max(1) as f64;
        vec![logit(mean); shape.iter().product()]
    };
    weights
        .tensors
        .insert(name, entangle::model::Tensor { shape, data });
    Ok(())
}

/// Loads the weights, optimizer buffers and run state of `epoch`'s checkpoint.
fn restore_checkpoint(
    run_dir: &Path,
    epoch: usize,
    net: &mut TchNet,
    optimizer: &mut OptimizerState,
    device: Device,
) -> Result<RunState, TrainError> {
    let checkpoint_error = |path: &Path, reason: String| TrainError::Checkpoint {
        path: path.to_path_buf(),
        reason,
    };
    let (tensors_path, state_path) = checkpoint_paths(run_dir, epoch);
    let text = std::fs::read_to_string(&state_path)
        .map_err(|e| checkpoint_error(&state_path, e.to_string()))?;
    let state: RunState =
        serde_json::from_str(&text).map_err(|e| checkpoint_error(&state_path, e.to_string()))?;
    let tensors = Tensor::read_safetensors(&tensors_path)
        .map_err(|e| checkpoint_error(&tensors_path, e.to_string()))?;
    let mut weights = Weights::default();
    for (name, t) in tensors {
        let Some(t) = optimizer.restore(&name, t) else {
            continue;
        };
        let shape = t.size().iter().map(|&d| d as usize).collect();
        let data = Vec::<f32>::try_from(t.flatten(0, -1))
            .map_err(|e| checkpoint_error(&tensors_path, e.to_string()))?;
        weights
            .tensors
            .insert(name, entangle::model::Tensor { shape, data });
    }
    optimizer.to_device(device);
    optimizer.steps = state.steps;
    net.load_weights(&weights)
        .map_err(|e| checkpoint_error(&tensors_path, e))?;
    tracing::info!(epoch, "resuming from {}", tensors_path.display());
    Ok(state)
}

/// The order in which an epoch draws its examples: without replacement, reshuffled (seeded
/// from seed, epoch and the number of reshuffles) each time the examples run out.
struct BatchOrder<'a> {
    examples: &'a [(u32, u32)],
    seed: u64,
    epoch: usize,
    order: Vec<(u32, u32)>,
    cursor: usize,
    reshuffles: u64,
}

impl<'a> BatchOrder<'a> {
    fn new(examples: &'a [(u32, u32)], seed: u64, epoch: usize) -> Self {
        Self {
            examples,
            seed,
            epoch,
            order: Vec::new(),
            cursor: 0,
            reshuffles: 0,
        }
    }

    fn next_batch(&mut self, batch_size: usize) -> Vec<(u32, u32)> {
        let mut ids = Vec::with_capacity(batch_size);
        while ids.len() < batch_size {
            if self.cursor == self.order.len() {
                self.order = self.examples.to_vec();
                Rng::new(self.seed, self.epoch, self.reshuffles).shuffle(&mut self.order);
                self.reshuffles += 1;
                self.cursor = 0;
            }
            let take = (batch_size - ids.len()).min(self.order.len() - self.cursor);
            ids.extend_from_slice(&self.order[self.cursor..self.cursor + take]);
            self.cursor += take;
        }
        ids
    }
}

/// What one epoch of training works on.
struct EpochRun<'a> {
    config: &'a TrainConfig,
    epoch: usize,
    train: &'a FrameData,
    layout: InputLayout,
    examples: &'a [(u32, u32)],
    trainable: &'a [String],
    device: Device,
    run_dir: &'a Path,
    chords: Option<&'a super::chord_mixer::ChordMixer>,
}

impl EpochRun<'_> {
    /// `steps_per_epoch` updates on batches drawn without replacement (reshuffled when the
    /// examples run out); the mean training loss (labelled) and mean mixture penalty.
    fn train(
        &self,
        net: &mut TchNet,
        optimizer: &mut OptimizerState,
        state: &mut RunState,
        buffers: &mut Buffers,
        progress: bool,
    ) -> Result<(f64, f64), TrainError> {
        let config = self.config;
        let bar = epoch_bar(config.steps_per_epoch, self.epoch, progress);
        let mut order = BatchOrder::new(self.examples, config.seed, self.epoch);
        let mut loss_sum = 0.0;
        let mut penalty_sum = 0.0;
        for step in 0..config.steps_per_epoch {
            let ids = order.next_batch(config.batch_size);
            let (x, y, m) = match self.chords {
                None => batch_tensors(self.train, &ids, self.layout, buffers, self.device),
                Some(mixer) => {
                    // Chords of step `step` are seeded from (seed, epoch, step).
                    let mut rng = Rng::new(config.seed, self.epoch, (2 << 40) | step as u64);
                    let mut below = |n: usize| rng.below(n);
                    mixed_batch_tensors(self, mixer, &ids, buffers, &mut below)
                }
            };
            // Mean over real (unpadded) frames and outputs.
            let loss = net
                .forward_logits(&x, true)
                .binary_cross_entropy_with_logits(&y, Some(&m), None::<&Tensor>, Reduction::Sum)
                / m.sum(Kind::Float).clamp_min(1.0);
            let value = loss.double_value(&[]);
            if !value.is_finite() {
                return Err(self.nan_loss(step));
            }
            loss_sum += value;
            let loss = if config.mixture_penalty > 0.0 {
                let (a, b, mix) = self.mixture_batch(step);
                let penalty = super::mixture::mixture_penalty(
                    net,
                    &a,
                    &b,
                    &mix,
                    config.mixture_in_training_mode,
                );
                penalty_sum += penalty.double_value(&[]);
                loss + penalty * config.mixture_penalty
            } else {
                loss
            };
            loss.backward();
            let rate = warmed_up_rate(state.learning_rate, state.steps, config.warmup_steps);
            optimizer.step(net, self.trainable, rate);
            state.steps = optimizer.steps;
            if step % 16 == 0 {
                bar.set_message(format!("{:.4}", loss_sum / (step + 1) as f64));
            }
            bar.inc(1);
        }
        bar.finish_and_clear();
        let steps = config.steps_per_epoch as f64;
        Ok((loss_sum / steps, penalty_sum / steps))
    }

    /// The error for a loss that stopped being finite, naming the checkpoint to go back to.
    fn nan_loss(&self, step: usize) -> TrainError {
        let checkpoint = last_checkpoint(self.run_dir)
            .map(|e| checkpoint_paths(self.run_dir, e).0.display().to_string())
            .unwrap_or_else(|| "none (no epoch finished)".into());
        TrainError::NanLoss {
            epoch: self.epoch,
            step,
            checkpoint,
        }
    }

    /// Inputs of `batch_size` random pairs of training examples and of their mixtures
    /// (magnitudes added under the log, [`super::mixture::mix_log_magnitudes`]); the pairs
    /// of step `step` are seeded from (seed, epoch, step), so resuming repeats them.
    fn mixture_batch(&self, step: usize) -> (Tensor, Tensor, Tensor) {
        // Streams apart from the reshuffles' (0, 1, ...).
        let mut rng = Rng::new(self.config.seed, self.epoch, (1 << 40) | step as u64);
        let n = self.config.batch_size;
        let mut draw = || -> Vec<(u32, u32)> {
            (0..n)
                .map(|_| self.examples[rng.below(self.examples.len())])
                .collect()
        };
        let (ids_a, ids_b) = (draw(), draw());
        let (mut targets, mut mask) = (Vec::new(), Vec::new());
        let (mut a, mut b) = (Vec::new(), Vec::new());
        self.train
            .batch(&ids_a, self.layout, &mut a, &mut targets, &mut mask);
        self.train
            .batch(&ids_b, self.layout, &mut b, &mut targets, &mut mask);
        let mut mix = vec![0.0; a.len()];
        super::mixture::mix_log_magnitudes(&a, &b, &mut mix);
        let dims = self.layout.input_dims(n, self.train.bands());
        let tensor = |v: &[f32]| Tensor::from_slice(v).reshape(dims).to_device(self.device);
        (tensor(&a), tensor(&b), tensor(&mix))
    }
}

/// The learning rate of update `step` (0-based): linear warm-up over `warmup` updates.
pub fn warmed_up_rate(rate: f64, step: u64, warmup: usize) -> f64 {
    if (step as usize) < warmup {
        rate * (step + 1) as f64 / warmup as f64
    } else {
        rate
    }
}

fn epoch_bar(steps: usize, epoch: usize, progress: bool) -> ProgressBar {
    if !progress {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new(steps as u64).with_style(
        ProgressStyle::with_template(
            "epoch {prefix} {wide_bar} {pos}/{len} loss {msg} [{elapsed} < {eta}]",
        )
        .expect("valid template"),
    );
    bar.set_prefix(epoch.to_string());
    bar
}

/// The plateau schedule, the epoch's ONNX export, `best.onnx`, and the checkpoint.
fn finish_epoch(
    arch: &Architecture,
    config: &TrainConfig,
    run_dir: &Path,
    net: &TchNet,
    optimizer: &OptimizerState,
    state: &mut RunState,
    record: EpochRecord,
) -> Result<(), TrainError> {
    let improved_loss = record.validation_loss < state.best_validation_loss;
    if improved_loss {
        state.best_validation_loss = record.validation_loss;
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
    let epoch = record.epoch;
    export_onnx(
        arch,
        &weights,
        &run_dir.join(format!("epoch-{epoch:04}.onnx")),
    )?;
    let best = match config.select_by {
        Selection::ValidationF1 => record.validation_micro_f1 > state.best_validation_f1,
        Selection::ValidationLoss => improved_loss,
    };
    if record.validation_micro_f1 > state.best_validation_f1 {
        state.best_validation_f1 = record.validation_micro_f1;
    }
    if best {
        export_onnx(arch, &weights, &run_dir.join("best.onnx"))?;
    }
    state.epoch = epoch;
    state.history.push(record);
    save_checkpoint(run_dir, state, &weights, optimizer)
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

/// [`batch_tensors`] with random chords mixed in.
fn mixed_batch_tensors(
    run: &EpochRun,
    mixer: &super::chord_mixer::ChordMixer,
    ids: &[(u32, u32)],
    buffers: &mut Buffers,
    below: &mut impl FnMut(usize) -> usize,
) -> (Tensor, Tensor, Tensor) {
    let data = run.train;
    data.batch(
        ids,
        run.layout,
        &mut buffers.inputs,
        &mut buffers.targets,
        &mut buffers.mask,
    );
    mixer.mix(
        data,
        ids,
        run.layout,
        super::chord_mixer::BatchMut {
            inputs: &mut buffers.inputs,
            targets: &mut buffers.targets,
            mask: &buffers.mask,
        },
        below,
    );
    let n = ids.len();
    let target_dims = run.layout.target_dims(n, data.outputs);
    let tensor = |values: &[f32], dims: &[i64]| {
        Tensor::from_slice(values)
            .reshape(dims)
            .to_device(run.device)
    };
    (
        tensor(&buffers.inputs, &run.layout.input_dims(n, data.bands())),
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
    optimizer: &OptimizerState,
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
    named.extend(optimizer.checkpoint_tensors());
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

#[cfg(test)]
mod tests {
    use super::*;

    /// Batches are drawn without replacement: every pass over the examples takes each one
    /// once, in the pass's own seeded order; a batch that runs past the end continues in the
    /// next pass, and the same (seed, epoch) gives the same batches.
    #[test]
    fn batches_take_every_example_once_per_pass_and_repeat_with_the_seed() {
        let examples: Vec<(u32, u32)> = (0..10).map(|i| (i, 0)).collect();
        let draw = |seed, epoch| {
            let mut order = BatchOrder::new(&examples, seed, epoch);
            (0..5).flat_map(|_| order.next_batch(4)).collect::<Vec<_>>()
        };
        let drawn = draw(7, 3);
        assert_eq!(drawn.len(), 20);
        for pass in drawn.chunks(10) {
            let mut sorted = pass.to_vec();
            sorted.sort();
            assert_eq!(sorted, examples, "one pass, each example once");
        }
        assert_ne!(drawn[..10], drawn[10..], "each pass reshuffled");
        assert_eq!(drawn, draw(7, 3));
        assert_ne!(drawn, draw(7, 4));
        // The first pass is the (seed, epoch, stream 0) shuffle of the examples.
        let mut first = examples.clone();
        Rng::new(7, 3, 0).shuffle(&mut first);
        assert_eq!(drawn[..10], first[..]);
    }
}
