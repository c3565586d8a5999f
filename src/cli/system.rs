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
    /// Where in a note's life the errors fall: exact / added / omitted pitch-frames by
    /// position relative to the nearest labelled note of the same pitch (before onset, onset
    /// ± k, sustain, offset ± k, release, silence, during other notes), per model, as
    /// a `positions` table (schemas/positions.md). Any labels + predictions pair at one
    /// frame rate; recomputed in batch (not incremental).
    Positions {
        /// Labels table.
        #[arg(long)]
        labels: PathBuf,
        /// Predictions table (at the labels' frame rate).
        #[arg(long)]
        predictions: PathBuf,
        /// Frames on either side of a labelled onset or offset counted as at it.
        #[arg(long, default_value_t = 1)]
        k: usize,
        /// Seconds after an offset (and before an onset) counted as release (before onset).
        #[arg(long, default_value_t = 0.5)]
        release_seconds: f64,
        /// Output table (Parquet).
        #[arg(long)]
        out: PathBuf,
    },
}

pub fn run_system(command: SystemCommand) -> anyhow::Result<()> {
    match command {
        SystemCommand::Positions {
            labels,
            predictions,
            k,
            release_seconds,
            out,
        } => {
            use entangle::sink::predictions_table::{FrameRate, scan_predictions};
            use entangle::systems::positions::{Windows, count, write_positions};
            let truth = entangle::sink::labels_table::read_labels_table(&labels)
                .map_err(anyhow::Error::msg)?;
            let fps = truth.first().map_or(0.0, |(_, r)| r.fps);
            anyhow::ensure!(
                release_seconds.is_finite() && release_seconds >= 0.0,
                "--release-seconds must be a non-negative number of seconds"
            );
            let rate = FrameRate {
                expected: Some(fps),
                assumed: None,
            };
            let mut predicted = std::collections::BTreeMap::<
                String,
                std::collections::BTreeMap<String, Vec<entangle::pitchset::PitchSet>>,
            >::new();
            scan_predictions(&predictions, rate, |r| {
                let frames = predicted
                    .entry(r.model.to_string())
                    .or_default()
                    .entry(r.shard.to_string())
                    .or_default();
                let f = r.frame as usize;
                if frames.len() <= f {
                    frames.resize(f + 1, Default::default());
                }
                frames[f] = r.pitches;
                Ok(())
            })
            .map_err(anyhow::Error::msg)?;
            let windows = Windows {
                k,
                release: (release_seconds * fps).round() as usize,
            };
            let rows = count(&truth, &predicted, windows);
            write_positions(&out, &rows, windows)?;
            tracing::info!(rows = rows.len(), "wrote {}", out.display());
        }
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
