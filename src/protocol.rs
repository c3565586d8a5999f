//! Training-protocol choices that a pipeline spec or `entangle train` names and the trainer
//! (crate and binary `entangle-train`) carries out; here, in the crate without libtorch, so
//! that specs parse and validate, and jobs are described, without it.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::infer::Device;
use crate::model::Arch;

/// Which update rule a run uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Optimizer {
    /// torch.optim.SGD with Nesterov momentum: the Kelz et al. (2016) protocol.
    #[default]
    Sgd,
    /// torch.optim.Adam with its default betas (0.9, 0.999) and epsilon (1e-8).
    Adam,
}

/// The start value of the output layer's bias.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum OutputBias {
    /// Like every other parameter (small random values).
    #[default]
    Random,
    /// The logit of each output's frequency in the training labels, so the untrained network
    /// already predicts the label prior instead of 0.5 everywhere (shortens the phase in which
    /// a sparse-output network learns to predict nothing).
    Prior,
}

/// What "the best epoch" means.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Selection {
    /// The highest validation F (the 2016 protocol).
    #[default]
    ValidationF1,
    /// The lowest validation loss.
    ValidationLoss,
}

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
    /// The update rule: the paper's Nesterov SGD, or Adam.
    pub optimizer: Optimizer,
    /// Steps over which the learning rate rises linearly from 0 (0: none).
    pub warmup_steps: usize,
    /// How the output layer's bias starts.
    pub output_bias: OutputBias,
    /// Which epoch `best.onnx` holds.
    pub select_by: Selection,
    /// Weight of the mixture (disentanglement) penalty on unlabelled mixtures of two
    /// training examples (`entangle_train::mixture`); 0: none, the paper's protocol.
    #[serde(skip_serializing_if = "is_zero")]
    pub mixture_penalty: f64,
    /// Take the mixture penalty in training mode (dropout, batch statistics) rather than in
    /// inference mode.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub mixture_in_training_mode: bool,
    /// Random chords mixed into the training examples (`entangle_train::chord_mixer`); none:
    /// the paper's protocol.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub chords: Option<crate::corpus::chords::ChordMixing>,
}

fn is_zero(v: &f64) -> bool {
    *v == 0.0
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
            optimizer: Optimizer::Sgd,
            warmup_steps: 0,
            output_bias: OutputBias::Random,
            select_by: Selection::ValidationF1,
            mixture_penalty: 0.0,
            mixture_in_training_mode: false,
            chords: None,
        }
    }
}

/// How `fit` treats a run directory that already holds checkpoints.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Start {
    /// Refuse a directory with checkpoints (they would be silently overwritten).
    Fresh,
    /// Continue after the last complete checkpoint.
    Resume,
    /// Delete the old checkpoints, exports and history, then start from scratch.
    Overwrite,
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

/// One training run, as `entangle train` and the pipeline hand it to the `entangle-train`
/// process (serialised as JSON), so that only that process loads libtorch.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrainJob {
    /// Corpus manifest: its `train` and `validation` splits are used.
    pub manifest: PathBuf,
    pub arch: Arch,
    /// Output units.
    pub outputs: usize,
    /// MIDI pitch of the first output unit.
    pub lowest_pitch: u8,
    /// Run directory (checkpoints, per-epoch ONNX, best.onnx, history.json).
    pub out: PathBuf,
    pub config: TrainConfig,
    pub start: Start,
    /// `None`: CUDA when libtorch sees a GPU, else the CPU.
    pub device: Option<Device>,
    /// Progress bars.
    pub progress: bool,
}
