//! `entangle analyze` and `entangle watch`: argument parsing for the analysis dataflow.

use std::path::PathBuf;
use std::time::Duration;

use clap::Args;
use entangle::analysis::positions::PositionWindows;
use entangle::dataflow::units::EvaluationOptions;
use entangle::dataflow::{
    AnalysisOptions, AnalysisSummary, ClusterOptions, TruthSource, WatchOptions,
};
use entangle::infer::{Device, InferenceOptions};
use entangle::sink::labels_table::MissingFrames;

/// Ground truth, outputs, evaluation and cluster options shared by `analyze` and `watch`.
#[derive(Args, Debug)]
pub struct AnalysisArgs {
    /// Labels table(s) of the analysed split(s), as SPLIT=PATH (a bare PATH is split `test`).
    #[arg(
        long,
        value_name = "[SPLIT=]PATH",
        required_unless_present = "manifest"
    )]
    labels: Vec<String>,
    /// Labels table of the training split: gives `train_frames` and `shared`.
    #[arg(long, value_name = "PATH")]
    train_labels: Option<PathBuf>,
    /// Corpus manifest instead of labels tables: the truth of `--split`, the audio networks
    /// run on, and (unless --train-labels) the training split's labels.
    #[arg(long, conflicts_with = "labels")]
    manifest: Option<PathBuf>,
    /// A third-party system's description (e.g. systems/basic-pitch.toml): frame the
    /// manifest's labels at its own frames, and (with `analyze`) run it on every shard, on the
    /// workers like a network. No training labels unless given (`shared` is NULL).
    #[arg(long, requires = "manifest", value_name = "SYSTEM.toml")]
    system: Option<PathBuf>,
    /// The system's ONNX file (default: the systems cache scripts/fetch-systems.sh fills).
    #[arg(long, requires = "system", value_name = "PATH")]
    system_onnx: Option<PathBuf>,
    /// Split(s) of the manifest to analyse.
    #[arg(long, default_value = "test", value_delimiter = ',')]
    split: Vec<String>,
    /// The manifest's training split (for `shared`); a split the manifest lacks is an error.
    /// Default: `train` when the manifest has one; without training labels `shared` is NULL.
    #[arg(long, value_name = "SPLIT")]
    train_split: Option<String>,
    /// Frame rate: of the labels computed from a manifest (default 100), and of predictions
    /// tables without `entangle.fps` metadata (which are refused without it). Tables and
    /// labels at another rate are refused.
    #[arg(long)]
    fps: Option<f64>,
    /// Output directory for the tables.
    #[arg(long)]
    out: PathBuf,
    /// MIDI pitch of a network's first output, for ONNX files that do not record it
    /// (entangle's exports do; a file that records another pitch is an error).
    #[arg(long)]
    lowest_pitch: Option<u8>,
    /// Fail on predictions for shards or frames the labels lack (instead of counting and
    /// reporting them as skipped), and on a model that predicts fewer shards of a split than
    /// the labels hold (instead of warning and counting the missing ones as predicted empty).
    #[arg(long)]
    strict: bool,
    /// Derive the pitch sets from `probs` (tables) or the network outputs at these
    /// thresholds; each gives its own model, named `MODEL[t=T]`. Default: the tables'
    /// `pitches`, networks at 0.5.
    #[arg(long, num_args = 1.., value_name = "T")]
    threshold: Vec<f32>,
    /// Model name of the MIDI transcriptions and networks analysed (default: the
    /// transcriptions' directory name, the network's file stem).
    #[arg(long)]
    name: Option<String>,
    /// Execution provider for networks.
    #[arg(long, value_enum, default_value_t = Device::Cpu)]
    device: Device,
    /// ONNX Runtime threads per worker.
    #[arg(long, default_value_t = 1)]
    intra_threads: usize,
    /// Frames per ONNX Runtime call.
    #[arg(long, default_value_t = 256)]
    batch_size: usize,
    /// Worker threads per process.
    #[arg(short, long, default_value_t = 1)]
    workers: usize,
    /// Number of processes (each started with the same arguments and its own --process).
    #[arg(long, default_value_t = 1)]
    processes: usize,
    /// This process's index among --processes.
    #[arg(long, default_value_t = 0)]
    process: usize,
    /// Addresses (host:port per line) of the processes; default localhost:2101, 2102, ...
    #[arg(long)]
    hostfile: Option<PathBuf>,
    /// Seconds to wait for the other processes before giving up.
    #[arg(long, default_value_t = 60.0, value_parser = seconds)]
    peer_timeout: f64,
    /// Take frames a labels table has no row for as silence (by default a gap is an error).
    #[arg(long)]
    missing_frames_are_silence: bool,
    /// `positions` table: frames either side of a labelled onset or offset that count as
    /// at it.
    #[arg(long, default_value_t = PositionWindows::default().k)]
    position_k: usize,
    /// `positions` table: seconds after a labelled offset (before an onset) that count as
    /// its release (before its onset).
    #[arg(long, default_value_t = PositionWindows::default().release_seconds, value_parser = seconds)]
    release_seconds: f64,
}

fn seconds(text: &str) -> Result<f64, String> {
    match text.parse::<f64>() {
        Ok(s) if s.is_finite() && s >= 0.0 => Ok(s),
        _ => Err(format!("{text:?} is not a number of seconds")),
    }
}

impl AnalysisArgs {
    pub fn options(&self) -> anyhow::Result<AnalysisOptions> {
        let (truth, train) = self.truth_sources()?;
        if let Some(t) = self.threshold.iter().find(|t| !(0.0..=1.0).contains(*t)) {
            anyhow::bail!("--threshold {t} is not a probability in [0, 1]");
        }
        if let Some(fps) = self.fps {
            anyhow::ensure!(
                fps.is_finite() && fps > 0.0,
                "--fps {fps} is not a frame rate"
            );
        }
        Ok(AnalysisOptions {
            truth,
            train,
            fps: self.fps.unwrap_or(100.0),
            evaluation: self.evaluation(),
            out: self.out.clone(),
            cluster: ClusterOptions {
                workers: self.workers,
                processes: self.processes,
                process: self.process,
                hostfile: self.hostfile.clone(),
                peer_timeout: Some(Duration::from_secs_f64(self.peer_timeout)),
            },
        })
    }

    /// The labels to analyse against and the training labels (for `shared`): a manifest's
    /// splits, or labels tables given as `SPLIT=PATH`.
    fn truth_sources(&self) -> anyhow::Result<(TruthSource, Option<TruthSource>)> {
        let Some(manifest) = &self.manifest else {
            let tables = self
                .labels
                .iter()
                .map(|spec| match spec.split_once('=') {
                    Some((split, path)) if !split.is_empty() => {
                        (split.to_string(), PathBuf::from(path))
                    }
                    _ => ("test".to_string(), PathBuf::from(spec)),
                })
                .collect();
            let train = self
                .train_labels
                .as_ref()
                .map(|p| TruthSource::Labels(vec![("train".into(), p.clone())]));
            return Ok((TruthSource::Labels(tables), train));
        };
        if let Some(split) = &self.train_split {
            let rows = entangle::corpus::manifest::read_manifest(manifest)?;
            let splits: std::collections::BTreeSet<&str> =
                rows.iter().map(|r| r.split.as_str()).collect();
            anyhow::ensure!(
                splits.contains(split.as_str()),
                "--train-split {split}: {} has no such split; it has {}",
                manifest.display(),
                splits.into_iter().collect::<Vec<_>>().join(", ")
            );
        }
        let truth = match &self.system {
            Some(system) => TruthSource::AtSystem {
                path: manifest.clone(),
                splits: self.split.clone(),
                system: system.clone(),
            },
            None => TruthSource::Manifest {
                path: manifest.clone(),
                splits: self.split.clone(),
            },
        };
        let train = match (&self.train_labels, &self.train_split) {
            // A third-party system was not trained on this corpus.
            (None, None) if self.system.is_some() => None,
            (Some(path), _) => Some(TruthSource::Labels(vec![("train".into(), path.clone())])),
            (None, Some(split)) => Some(TruthSource::Manifest {
                path: manifest.clone(),
                splits: vec![split.clone()],
            }),
            (None, None) => default_train_split(manifest)?,
        };
        Ok((truth, train))
    }

    fn evaluation(&self) -> EvaluationOptions {
        EvaluationOptions {
            inference: InferenceOptions {
                device: self.device,
                intra_threads: self.intra_threads,
                batch_size: self.batch_size,
            },
            lowest_pitch: self.lowest_pitch,
            strict: self.strict,
            assumed_fps: self.fps,
            thresholds: self.threshold.clone(),
            name: self.name.clone(),
            missing_frames: match self.missing_frames_are_silence {
                true => MissingFrames::Silence,
                false => MissingFrames::Error,
            },
            positions: PositionWindows {
                k: self.position_k,
                release_seconds: self.release_seconds,
            },
            system_onnx: self.system_onnx.clone(),
        }
    }
}

/// The manifest's `train` split when it has one; otherwise no training labels (a test-only
/// corpus), said in the log, and `shared` is NULL.
fn default_train_split(manifest: &std::path::Path) -> anyhow::Result<Option<TruthSource>> {
    let rows = entangle::corpus::manifest::read_manifest(manifest)?;
    if rows.iter().any(|r| r.split == "train") {
        return Ok(Some(TruthSource::Manifest {
            path: manifest.to_path_buf(),
            splits: vec!["train".into()],
        }));
    }
    tracing::warn!(
        "{}: no train split, so `shared` is NULL (unknown); name one with --train-split",
        manifest.display()
    );
    Ok(None)
}

/// `entangle analyze`.
#[derive(Args, Debug)]
pub struct AnalyzeArgs {
    /// Predictions: `predictions` tables (.parquet), MIDI transcriptions (.mid, in a directory
    /// named after the system), ONNX networks (.onnx, with --manifest), system descriptions
    /// (.toml, with --system), or directories of them.
    #[arg(long = "predictions", required_unless_present = "system", num_args = 1..)]
    sources: Vec<PathBuf>,
    #[command(flatten)]
    analysis: AnalysisArgs,
}

/// `entangle watch`.
#[derive(Args, Debug)]
pub struct WatchArgs {
    /// Directory to watch for predictions tables, transcriptions and networks (e.g. a
    /// training run directory, where every epoch drops an ONNX file).
    dir: PathBuf,
    /// Seconds between scans.
    #[arg(long, default_value_t = 2.0)]
    poll: f64,
    /// Stop after this many scans (default: run until killed; killing is safe).
    #[arg(long)]
    rounds: Option<u64>,
    /// Seconds a changed file must be left alone before it is read (a writer that writes in
    /// place is never read half-way; 0: read at once).
    #[arg(long, default_value_t = 1.0, value_parser = seconds)]
    settle: f64,
    #[command(flatten)]
    analysis: AnalysisArgs,
}

fn report(summary: Option<AnalysisSummary>, out: &std::path::Path) {
    if let Some(s) = summary {
        let skipped: i64 = s.skipped.iter().map(|k| k.frames).sum();
        eprintln!(
            "analysed {} source(s) ({} units) against {} labelled frames in {} shards with {} worker(s) in {:.2} s; {} frame(s) skipped; {} unpredicted shard(s) counted as predicted empty; tables in {}",
            s.sources,
            s.units,
            s.labelled_frames,
            s.shards,
            s.workers,
            s.seconds,
            skipped,
            s.missing_shards.len(),
            out.display()
        );
    }
}

pub fn run_analyze(args: AnalyzeArgs) -> anyhow::Result<()> {
    anyhow::ensure!(
        args.analysis.name.is_none()
            || args.sources.len() + usize::from(args.analysis.system.is_some()) == 1,
        "--name names one system: give one --predictions source with it"
    );
    let options = args.analysis.options()?;
    let mut sources = args.sources;
    // The system the labels are framed for runs on them.
    sources.extend(args.analysis.system.clone());
    let summary = entangle::dataflow::analyze(&options, sources)?;
    report(summary, &options.out);
    Ok(())
}

pub fn run_watch(args: WatchArgs) -> anyhow::Result<()> {
    let options = args.analysis.options()?;
    anyhow::ensure!(args.dir.is_dir(), "{}: not a directory", args.dir.display());
    anyhow::ensure!(
        !options.out.starts_with(&args.dir),
        "--out {} is inside the watched directory {}; put the tables elsewhere",
        options.out.display(),
        args.dir.display()
    );
    anyhow::ensure!(
        args.poll.is_finite() && args.poll >= 0.0,
        "--poll {} is not a number of seconds",
        args.poll
    );
    let watch = WatchOptions {
        poll: Duration::from_secs_f64(args.poll),
        rounds: args.rounds,
        settle: Duration::from_secs_f64(args.settle),
        ..Default::default()
    };
    let summary = entangle::dataflow::watch(&options, args.dir, watch)?;
    report(summary, &options.out);
    Ok(())
}
