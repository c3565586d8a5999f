//! `entangle system`: third-party transcription systems (`systems/*.toml`) run as they are
//! over a corpus split, giving a `predictions` table and the `labels` table at the system's
//! own frames, for `entangle analyze`.

use std::path::{Path, PathBuf};

use clap::Subcommand;
use entangle::infer::Device;
use entangle::systems::{PredictOptions, SystemSpec, predict_split, write_tables};

#[derive(Subcommand, Debug)]
pub enum SystemCommand {
    /// Runs a system over a corpus split: `predictions.parquet` (one row per native frame,
    /// the system's own threshold, probabilities kept) and `labels.parquet` (the label rule
    /// at the same frame centres) in --out. Analyse them with
    /// `entangle analyze --labels OUT/labels.parquet --predictions OUT/predictions.parquet`.
    Predict {
        /// The system description (e.g. systems/basic-pitch.toml).
        #[arg(long)]
        system: PathBuf,
        /// Corpus manifest.
        #[arg(long)]
        manifest: PathBuf,
        /// Split to run (train, validation, test).
        #[arg(long, default_value = "test")]
        split: String,
        /// The ONNX file; default: the systems cache (.cache/systems, or
        /// $ENTANGLE_SYSTEMS_CACHE) that scripts/fetch-systems.sh fills.
        #[arg(long)]
        onnx: Option<PathBuf>,
        /// Files run side by side, each on its own single-threaded ONNX Runtime session
        /// (the tables are byte-identical whatever the number).
        #[arg(long, default_value_t = 1)]
        workers: usize,
        /// Execution provider.
        #[arg(long, value_enum, default_value_t = Device::Cpu)]
        device: Device,
        /// Output directory (created).
        #[arg(long)]
        out: PathBuf,
    },
}

pub fn run_system(command: SystemCommand) -> anyhow::Result<()> {
    match command {
        SystemCommand::Predict {
            system,
            manifest,
            split,
            onnx,
            workers,
            device,
            out,
        } => {
            let options = PredictOptions {
                onnx,
                device,
                workers,
            };
            predict(&system, &manifest, &split, &options, &out)
        }
    }
}

/// `entangle system predict`.
fn predict(
    system: &Path,
    manifest: &Path,
    split: &str,
    options: &PredictOptions,
    out: &Path,
) -> anyhow::Result<()> {
    let spec = SystemSpec::load(system)?;
    let result = predict_split(&spec, manifest, split, options)?;
    let (labels, predictions) = write_tables(out, &result)?;
    tracing::info!(
        system = %spec.name,
        frames = result.predictions.len(),
        fps = result.fps,
        time_base = %result.time_base,
        "wrote {} and {}",
        labels.display(),
        predictions.display()
    );
    Ok(())
}
