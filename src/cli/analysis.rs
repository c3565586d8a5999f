//! `entangle analyze` and `entangle watch`: argument parsing for the analysis dataflow.

use std::path::PathBuf;
use std::time::Duration;

use clap::Args;
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
    /// Split(s) of the manifest to analyse.
    #[arg(long, default_value = "test", value_delimiter = ',')]
    split: Vec<String>,
    /// The manifest's training split (for `shared`).
    #[arg(long, default_value = "train")]
    train_split: String,
    /// Frame rate of the labels when they come from a manifest.
    #[arg(long, default_value_t = 100.0)]
    fps: f64,
    /// Output directory for the tables.
    #[arg(long)]
    out: PathBuf,
    /// MIDI pitch of a network's first output (default: 21 when it has 88 outputs).
    #[arg(long)]
    lowest_pitch: Option<u8>,
    /// Fail on predictions for shards or frames the labels lack, instead of counting and
    /// reporting them as skipped.
    #[arg(long)]
    strict: bool,
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
}

fn seconds(text: &str) -> Result<f64, String> {
    match text.parse::<f64>() {
        Ok(s) if s.is_finite() && s >= 0.0 => Ok(s),
        _ => Err(format!("{text:?} is not a number of seconds")),
    }
}

impl AnalysisArgs {
    pub fn options(&self) -> anyhow::Result<AnalysisOptions> {
        let (truth, train) = match &self.manifest {
            Some(manifest) => (
                TruthSource::Manifest {
                    path: manifest.clone(),
                    splits: self.split.clone(),
                },
                Some(match &self.train_labels {
                    Some(path) => TruthSource::Labels(vec![("train".into(), path.clone())]),
                    None => TruthSource::Manifest {
                        path: manifest.clone(),
                        splits: vec![self.train_split.clone()],
                    },
                }),
            ),
            None => {
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
                (TruthSource::Labels(tables), train)
            }
        };
        Ok(AnalysisOptions {
            truth,
            train,
            fps: self.fps,
            evaluation: EvaluationOptions {
                inference: InferenceOptions {
                    device: self.device,
                    intra_threads: self.intra_threads,
                    batch_size: self.batch_size,
                },
                lowest_pitch: self.lowest_pitch,
                strict: self.strict,
                missing_frames: match self.missing_frames_are_silence {
                    true => MissingFrames::Silence,
                    false => MissingFrames::Error,
                },
            },
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
}

/// `entangle analyze`.
#[derive(Args, Debug)]
pub struct AnalyzeArgs {
    /// Predictions: `predictions` tables (.parquet), MIDI transcriptions (.mid, in a directory
    /// named after the system), ONNX networks (.onnx, with --manifest), or directories of them.
    #[arg(long = "predictions", required = true)]
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
            "analysed {} source(s) ({} units) against {} labelled frames in {} shards with {} worker(s) in {:.2} s; {} frame(s) skipped; tables in {}",
            s.sources,
            s.units,
            s.labelled_frames,
            s.shards,
            s.workers,
            s.seconds,
            skipped,
            out.display()
        );
    }
}

pub fn run_analyze(args: AnalyzeArgs) -> anyhow::Result<()> {
    let options = args.analysis.options()?;
    let summary = entangle::dataflow::analyze(&options, args.sources)?;
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
