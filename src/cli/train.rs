//! `entangle train`: one network on a corpus manifest, in the `entangle-train` process.

use std::path::PathBuf;

use entangle::corpus::chords::ChordMixing;
use entangle::infer::Device;
use entangle::model::Arch;
use entangle::protocol::{
    Optimizer, OutputBias, Selection, Start, TrainConfig, TrainJob, last_checkpoint,
};

fn defaults() -> TrainConfig {
    TrainConfig::default()
}

/// The spec's defaults for the chords' rendering (`chords = {}`).
fn chord_defaults() -> ChordMixing {
    toml::from_str("").expect("every ChordMixing field has a default")
}

#[derive(clap::Args)]
pub struct TrainArgs {
    /// Corpus manifest (train and validation splits are used).
    #[arg(long)]
    manifest: PathBuf,
    /// The architecture.
    #[arg(long, value_enum, ignore_case = true)]
    arch: Arch,
    /// Output units: 88 (piano, from MIDI 21) or 23 (FLUID, from MIDI 49).
    #[arg(long, default_value_t = entangle::pitchset::PIANO_KEYS)]
    outputs: usize,
    /// MIDI pitch of the first output unit.
    #[arg(long, default_value_t = entangle::pitchset::PIANO_MIN)]
    lowest_pitch: u8,
    /// Run directory.
    #[arg(long)]
    out: PathBuf,
    /// Epochs to train (with --resume: in total).
    #[arg(long, default_value_t = defaults().epochs)]
    epochs: usize,
    /// Batches per epoch, drawn without replacement.
    #[arg(long, default_value_t = defaults().steps_per_epoch)]
    steps_per_epoch: usize,
    /// Examples per batch (frames; 256-frame segments for AUNet).
    #[arg(long, default_value_t = defaults().batch_size)]
    batch_size: usize,
    /// Learning rate (SGD: Nesterov momentum 0.9).
    #[arg(long, default_value_t = defaults().learning_rate)]
    learning_rate: f64,
    /// Epochs without a better validation loss before the learning rate is halved.
    #[arg(long, default_value_t = defaults().patience)]
    patience: usize,
    /// Seed of every random choice (initial weights, batches, dropout).
    #[arg(long, default_value_t = defaults().seed)]
    seed: u64,
    /// Default: cuda when available, else cpu.
    #[arg(long)]
    device: Option<Device>,
    /// The update rule: sgd (Nesterov, the paper's) or adam.
    #[arg(long, value_enum, default_value_t = CliOptimizer::Sgd)]
    optimizer: CliOptimizer,
    /// Updates over which the learning rate rises linearly from 0.
    #[arg(long, default_value_t = defaults().warmup_steps)]
    warmup_steps: usize,
    /// Start the output bias at the logit of the training labels' prior (else random).
    #[arg(long)]
    prior_output_bias: bool,
    /// Weight of the mixture (disentanglement) penalty on unlabelled mixtures of two training
    /// examples (0: none, the paper's protocol; README "Beyond the paper").
    #[arg(long, default_value_t = defaults().mixture_penalty)]
    mixture_penalty: f64,
    /// Take the mixture penalty in training mode (dropout, batch statistics) rather than in
    /// inference mode.
    #[arg(long)]
    mixture_in_training_mode: bool,
    /// Mix random chords of the output keys, rendered once per training renderer, into this
    /// share of the training examples (README "Beyond the paper"; default: none).
    #[arg(long, value_name = "PROBABILITY")]
    chords: Option<f64>,
    /// With --chords: chords have 1 to this many notes.
    #[arg(long, requires = "chords", default_value_t = 6)]
    chord_max_polyphony: usize,
    /// Keep as best.onnx the epoch with the lowest validation loss (default: highest F).
    #[arg(long)]
    select_by_loss: bool,
    /// Continue after the last complete checkpoint in the run directory.
    #[arg(long, conflicts_with = "overwrite")]
    resume: bool,
    /// Replace the checkpoints of an earlier run in the run directory.
    #[arg(long)]
    overwrite: bool,
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum CliOptimizer {
    Sgd,
    Adam,
}

impl TrainArgs {
    /// The job the trainer process carries out.
    pub fn into_job(self) -> TrainJob {
        let config = TrainConfig {
            learning_rate: self.learning_rate,
            batch_size: self.batch_size,
            steps_per_epoch: self.steps_per_epoch,
            epochs: self.epochs,
            patience: self.patience,
            seed: self.seed,
            optimizer: match self.optimizer {
                CliOptimizer::Sgd => Optimizer::Sgd,
                CliOptimizer::Adam => Optimizer::Adam,
            },
            warmup_steps: self.warmup_steps,
            output_bias: if self.prior_output_bias {
                OutputBias::Prior
            } else {
                OutputBias::Random
            },
            select_by: if self.select_by_loss {
                Selection::ValidationLoss
            } else {
                Selection::ValidationF1
            },
            mixture_penalty: self.mixture_penalty,
            mixture_in_training_mode: self.mixture_in_training_mode,
            chords: self.chords.map(|probability| ChordMixing {
                probability,
                max_polyphony: self.chord_max_polyphony,
                ..chord_defaults()
            }),
            ..defaults()
        };
        let start = match (self.resume, self.overwrite) {
            (true, _) => Start::Resume,
            (_, true) => Start::Overwrite,
            _ => Start::Fresh,
        };
        TrainJob {
            manifest: self.manifest,
            arch: self.arch,
            outputs: self.outputs,
            lowest_pitch: self.lowest_pitch,
            out: self.out,
            config,
            start,
            device: self.device,
            progress: std::io::IsTerminal::is_terminal(&std::io::stderr()),
        }
    }
}

pub fn run(args: TrainArgs) -> anyhow::Result<()> {
    let job = args.into_job();
    entangle::trainer::run_in_child(&job)?;
    let epochs = last_checkpoint(&job.out).unwrap_or(0);
    tracing::info!(epochs, "trained {} in {}", job.arch, job.out.display());
    Ok(())
}
