//! Third-party transcription systems analysed as they are: basic-pitch, madmom's ADSR piano
//! CNN, or any system described by a `systems/NAME.toml` whose front end is one we have.
//!
//! A system runs over a corpus split with its own front end at its own frames
//! ([`run`]; audio resampled as its own Python does, [`resample`]); the labels are framed at
//! those same frames ([`frames`]); both go out as the
//! usual `labels` and `predictions` tables, which `entangle analyze` turns into the usual
//! tables. No training set is known for these systems, so their `shared` column is NULL.

pub mod frames;
pub mod resample;
pub mod run;
pub mod spec;

use std::path::{Path, PathBuf};

use anyhow::Context;

use crate::corpus::manifest::read_manifest_split;
use crate::infer::{Device, InferenceOptions};
use crate::labels::{PianoRoll, ReadOptions, read_notes};
use crate::pitchset::{PIANO_KEYS, PIANO_MIN, PitchSet};
use crate::sink::predictions_table::PredictionRow;

pub use run::{Posteriorgram, System};
pub use spec::{FrameTimes, FrontEnd, SystemSpec};

/// What [`predict_split`] gives: prediction rows and the labels at the same frames.
pub struct SplitPredictions {
    pub predictions: Vec<PredictionRow>,
    pub labels: Vec<(String, PianoRoll)>,
    /// The nominal frame rate both tables record (`entangle.fps`).
    pub fps: f64,
    /// The frames' time base both tables record (`entangle.time_base`).
    pub time_base: String,
}

/// How a system runs over a split.
#[derive(Debug, Clone)]
pub struct PredictOptions {
    /// The ONNX file (default: the systems cache, [`SystemSpec::onnx_path`] under `.`).
    pub onnx: Option<PathBuf>,
    pub device: Device,
    /// Files run in parallel, each worker with its own session.
    pub workers: usize,
}

impl Default for PredictOptions {
    fn default() -> Self {
        Self {
            onnx: None,
            device: Device::Cpu,
            workers: 1,
        }
    }
}

/// Every session runs its operators on one thread: ONNX Runtime's multi-threaded kernels
/// split sums differently with the thread count (basic-pitch's probabilities moved by up to
/// 4.2e-3 with 2 threads against 1), and the tables must not depend on how many workers or
/// threads made them. Parallelism comes from running files side by side instead.
const INTRA_THREADS: usize = 1;

/// Loads the system described at `system_toml` (its ONNX file checked against the spec).
pub fn load_system(spec: &SystemSpec, options: &PredictOptions) -> anyhow::Result<System> {
    let onnx = options
        .onnx
        .clone()
        .unwrap_or_else(|| spec.onnx_path(Path::new(".")));
    let inference = InferenceOptions {
        device: options.device,
        intra_threads: INTRA_THREADS,
        ..Default::default()
    };
    System::load(spec.clone(), &onnx, inference)
}

/// Runs the system of `spec` over the `split` rows of `manifest`: one prediction row per
/// native frame (thresholded at the system's own default, probabilities kept), and every
/// shard's labels framed at the system's frame times, as long as its predictions. Files run
/// on `options.workers` threads; the result is in manifest order whatever their number.
pub fn predict_split(
    spec: &SystemSpec,
    manifest: &Path,
    split: &str,
    options: &PredictOptions,
) -> anyhow::Result<SplitPredictions> {
    // Loaded first, so a missing or foreign ONNX file fails before anything else.
    let mut systems = vec![load_system(spec, options)?];
    let rows = read_manifest_split(manifest, split)?;
    let workers = options.workers.clamp(1, rows.len().max(1));
    for _ in 1..workers {
        systems.push(load_system(spec, options)?);
    }
    let next = std::sync::atomic::AtomicUsize::new(0);
    let results: Vec<Slot> = rows.iter().map(|_| Default::default()).collect();
    std::thread::scope(|scope| {
        for mut system in systems {
            let (next, results, rows) = (&next, &results, &rows);
            scope.spawn(move || {
                loop {
                    let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    let Some(row) = rows.get(i) else { break };
                    let result = predict_shard(&mut system, manifest, row);
                    let failed = result.is_err();
                    *results[i].lock().expect("not poisoned") = Some(result);
                    if failed {
                        // The others stop at their next file.
                        next.store(rows.len(), std::sync::atomic::Ordering::Relaxed);
                    }
                }
            });
        }
    });
    let mut out = SplitPredictions {
        predictions: Vec::new(),
        labels: Vec::new(),
        fps: spec.frame_times.nominal_fps(),
        time_base: spec.frame_times.describe(),
    };
    for result in results {
        let Some(result) = result.into_inner().expect("not poisoned") else {
            continue;
        };
        let (labels, predictions) = result?;
        out.labels.push(labels);
        out.predictions.extend(predictions);
    }
    Ok(out)
}

/// One shard's labels and prediction rows.
type ShardResult = ((String, PianoRoll), Vec<PredictionRow>);

/// Where a worker leaves one shard's result (`None`: not run, after another shard failed).
type Slot = std::sync::Mutex<Option<anyhow::Result<ShardResult>>>;

fn predict_shard(
    system: &mut System,
    manifest: &Path,
    row: &crate::corpus::manifest::ManifestRow,
) -> anyhow::Result<ShardResult> {
    let spec = system.spec().clone();
    let gram = system
        .run_wav(Path::new(&row.path))
        .with_context(|| format!("system {:?} on shard {}", spec.name, row.shard))?;
    let notes = read_notes(Path::new(&row.labels_path), ReadOptions::default())
        .with_context(|| format!("{}: shard {}", manifest.display(), row.shard))?;
    let labels = (
        row.shard.clone(),
        frames::roll_at(&notes, &spec.frame_times, gram.probs.len()),
    );
    Ok((labels, rows_of(&gram, &spec, &row.shard)))
}

/// The two tables `entangle system predict` writes into a directory.
pub const LABELS_FILE: &str = "labels.parquet";
pub const PREDICTIONS_FILE: &str = "predictions.parquet";

/// Writes `result` as `labels.parquet` and `predictions.parquet` into `out` (created), both
/// recording the frame rate and time base; returns the two paths.
pub fn write_tables(out: &Path, result: &SplitPredictions) -> anyhow::Result<(PathBuf, PathBuf)> {
    std::fs::create_dir_all(out)
        .map_err(|e| anyhow::anyhow!("{}: cannot create: {e}", out.display()))?;
    let labels = out.join(LABELS_FILE);
    let predictions = out.join(PREDICTIONS_FILE);
    let base = Some(result.time_base.as_str());
    crate::sink::labels_table::write_labels_table_on(&labels, &result.labels, base)?;
    crate::sink::predictions_table::write_predictions_on(
        &predictions,
        &result.predictions,
        result.fps,
        base,
    )?;
    Ok((labels, predictions))
}

/// One `predictions` row per frame of a posteriorgram.
pub fn rows_of(gram: &Posteriorgram, spec: &SystemSpec, shard: &str) -> Vec<PredictionRow> {
    let offset = usize::from(gram.lowest_pitch - PIANO_MIN);
    gram.probs
        .iter()
        .enumerate()
        .map(|(frame, row)| {
            let mut probs = vec![0.0f32; PIANO_KEYS];
            probs[offset..offset + row.len()].copy_from_slice(row);
            let mut pitches = PitchSet::EMPTY;
            for (k, &p) in row.iter().enumerate() {
                if p >= spec.output.threshold {
                    pitches.insert(gram.lowest_pitch + k as u8);
                }
            }
            PredictionRow {
                model: spec.name.clone(),
                shard: shard.to_string(),
                frame: frame as u32,
                pitches,
                probs: Some(probs),
            }
        })
        .collect()
}
