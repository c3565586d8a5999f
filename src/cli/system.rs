//! `entangle system`: third-party transcription systems (`systems/*.toml`) run as they are
//! over a corpus split, giving a `predictions` table and the `labels` table at the system's
//! own frames, for `entangle analyze`.

use std::path::PathBuf;

use clap::Subcommand;
use entangle::infer::{Device, InferenceOptions};
use entangle::systems::{System, SystemSpec, predict_split};

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
        /// ONNX Runtime threads inside one operator.
        #[arg(long, default_value_t = 1)]
        intra_threads: usize,
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
            intra_threads,
            device,
            out,
        } => {
            let spec = SystemSpec::load(&system)?;
            let onnx = onnx.unwrap_or_else(|| spec.onnx_path(std::path::Path::new(".")));
            let options = InferenceOptions {
                device,
                intra_threads,
                ..Default::default()
            };
            let mut loaded = System::load(spec, &onnx, options)?;
            let result = predict_split(&mut loaded, &manifest, &split)?;
            std::fs::create_dir_all(&out)
                .map_err(|e| anyhow::anyhow!("{}: cannot create: {e}", out.display()))?;
            let labels = out.join("labels.parquet");
            let predictions = out.join("predictions.parquet");
            entangle::sink::labels_table::write_labels_table(&labels, &result.labels)?;
            entangle::sink::predictions_table::write_predictions(
                &predictions,
                &result.predictions,
                result.fps,
            )?;
            tracing::info!(
                system = %loaded.spec().name,
                frames = result.predictions.len(),
                fps = result.fps,
                time_base = %loaded.spec().frame_times.describe(),
                "wrote {} and {}",
                labels.display(),
                predictions.display()
            );
        }
    }
    Ok(())
}
