//! Throughput of the analysis dataflow, as ratios against references run by the same program:
//!
//! 1. **Batch aggregation** of 10 million frames (100 prediction files of 100,000 frames, one
//!    model, 100 labelled shards) from Parquet into all five tables, 1 and 2 workers:
//!    frames/s (target >= 5 M/s on 2 cores).
//! 2. **Incremental update**: `watch` over the same files, replacing one file (1 % of the
//!    frames) per round; the mean round time against the batch run (target >= 50x faster)
//!    and against DuckDB recomputing the same per-combination GROUP BY from the Parquet files
//!    (`scripts/duckdb_combinations.py`, target >= 10x faster).
//! 3. **End-to-end inference**: WAV -> spectrogram -> ConvNet through `ort` inside the graph
//!    (FLUID-ISOL test split, 2 workers x 1 ONNX Runtime thread, and 1 worker x 2 threads),
//!    against `ort` alone on the same input batches with 2 threads (target: the graph adds
//!    < 10 %).
//!
//! Not criterion: each measurement is a whole run (or a sequence of rounds) whose state
//! changes between iterations. Data is generated once into target/bench-analysis/.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

use entangle::dataflow::units::EvaluationOptions;
use entangle::dataflow::{AnalysisOptions, ClusterOptions, TruthSource, WatchOptions};
use entangle::features::{SpectrogramComputer, SpectrogramParams, context_window};
use entangle::infer::{InferenceOptions, OnnxModel};
use entangle::labels::PianoRoll;
use entangle::pitchset::PitchSet;
use entangle::sink::predictions_table::{PredictionRow, write_predictions};

/// How much data: the measured size, or a smoke-test size for `cargo test --all-targets`
/// (which runs this binary without `--bench`).
#[derive(Clone, Copy)]
struct Scale {
    files: usize,
    frames_per_file: usize,
}

const MEASURED: Scale = Scale {
    files: 100,
    frames_per_file: 100_000,
};
const SMOKE: Scale = Scale {
    files: 4,
    frames_per_file: 2_000,
};

struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
}

/// A music-like roll: chords from a pool of 400 combinations held for 5-40 frames.
fn roll(rng: &mut Rng, pool: &[PitchSet], length: usize) -> Vec<PitchSet> {
    let mut frames = Vec::with_capacity(length);
    while frames.len() < length {
        let set = pool[(rng.next() % pool.len() as u64) as usize];
        let hold = 5 + rng.next() % 36;
        frames.extend(std::iter::repeat_n(set, hold as usize));
    }
    frames.truncate(length);
    frames
}

fn predicted(rng: &mut Rng, truth: PitchSet, variant: u64) -> PitchSet {
    let mut p = truth;
    match (rng.next() + variant) % 8 {
        0 => {
            if let Some(x) = truth.iter().next() {
                p = p.minus([x].into_iter().collect());
            }
        }
        1 => p.insert(40 + (rng.next() % 40) as u8),
        _ => {}
    }
    p
}

fn prediction_file(path: &Path, shard: &str, truth: &[PitchSet], variant: u64) {
    let mut rng = Rng(variant * 7919 + shard.len() as u64);
    let rows: Vec<PredictionRow> = truth
        .iter()
        .enumerate()
        .map(|(f, &t)| PredictionRow {
            model: "convnet".into(),
            shard: shard.into(),
            frame: f as u32,
            pitches: predicted(&mut rng, t, variant),
            probs: None,
        })
        .collect();
    write_predictions(path, &rows, 100.0).unwrap();
}

fn generate(dir: &Path, scale: Scale) -> Vec<(String, Vec<PitchSet>)> {
    let mut rng = Rng(42);
    let pool: Vec<PitchSet> = (0..400)
        .map(|_| {
            let n = 1 + rng.next() % 4;
            (0..n).map(|_| 36 + (rng.next() % 48) as u8).collect()
        })
        .collect();
    let rolls: Vec<(String, Vec<PitchSet>)> = (0..scale.files)
        .map(|i| {
            (
                format!("piece{i:03}"),
                roll(&mut rng, &pool, scale.frames_per_file),
            )
        })
        .collect();
    let labels = dir.join("labels.parquet");
    if !labels.exists() {
        eprintln!("generating labels and predictions in {}", dir.display());
        std::fs::create_dir_all(dir.join("predictions")).unwrap();
        for (shard, truth) in &rolls {
            prediction_file(
                &dir.join(format!("predictions/{shard}.parquet")),
                shard,
                truth,
                0,
            );
        }
        let tables: Vec<(String, PianoRoll)> = rolls
            .iter()
            .map(|(s, f)| {
                (
                    s.clone(),
                    PianoRoll {
                        fps: 100.0,
                        frames: f.clone(),
                    },
                )
            })
            .collect();
        entangle::sink::labels_table::write_labels_table(&labels, &tables).unwrap();
    }
    rolls
}

fn options(dir: &Path, out: &str, workers: usize) -> AnalysisOptions {
    AnalysisOptions {
        truth: TruthSource::Labels(vec![("test".into(), dir.join("labels.parquet"))]),
        train: None,
        fps: 100.0,
        evaluation: EvaluationOptions::default(),
        out: dir.join(out),
        cluster: ClusterOptions {
            workers,
            ..Default::default()
        },
    }
}

fn median(mut xs: Vec<f64>) -> f64 {
    xs.sort_by(f64::total_cmp);
    xs[xs.len() / 2]
}

fn batch_seconds(dir: &Path, workers: usize) -> f64 {
    let times: Vec<f64> = (0..5)
        .map(|_| {
            let t = Instant::now();
            entangle::dataflow::analyze(
                &options(dir, "batch", workers),
                vec![dir.join("predictions")],
            )
            .unwrap();
            t.elapsed().as_secs_f64()
        })
        .collect();
    median(times)
}

/// Mean seconds per round of `watch` when each round replaces one 1 % file. The replacement
/// files are written beforehand and renamed in, so the rounds time the analysis only.
fn incremental_seconds(dir: &Path, rolls: &[(String, Vec<PitchSet>)], workers: usize) -> f64 {
    const UPDATES: usize = 10;
    let staged = dir.join("staged");
    std::fs::create_dir_all(&staged).unwrap();
    for round in 1..=UPDATES {
        let (shard, truth) = &rolls[round % rolls.len()];
        prediction_file(
            &staged.join(format!("{round}.parquet")),
            shard,
            truth,
            round as u64,
        );
    }
    // (start, end) of each round, taken around the file replacement.
    let marks = Arc::new(Mutex::new(Vec::<(Instant, Instant)>::new()));
    let (hook_marks, hook_dir, names) = (
        marks.clone(),
        dir.to_path_buf(),
        rolls.iter().map(|(s, _)| s.clone()).collect::<Vec<_>>(),
    );
    let hook = Arc::new(move |round: u64| {
        if round > 0 {
            let end_of_previous = Instant::now();
            let shard = &names[round as usize % names.len()];
            std::fs::rename(
                hook_dir.join(format!("staged/{round}.parquet")),
                hook_dir.join(format!("predictions/{shard}.parquet")),
            )
            .unwrap();
            hook_marks
                .lock()
                .unwrap()
                .push((end_of_previous, Instant::now()));
        }
    });
    let watch = WatchOptions {
        poll: Duration::ZERO,
        rounds: Some(UPDATES as u64 + 1),
        before_scan: Some(hook),
        ..Default::default()
    };
    let summary = entangle::dataflow::watch(
        &options(dir, "watch", workers),
        dir.join("predictions"),
        watch,
    )
    .unwrap()
    .unwrap();
    let marks = marks.lock().unwrap();
    let mut rounds: Vec<f64> = marks
        .windows(2)
        .map(|w| (w[1].0 - w[0].1).as_secs_f64())
        .collect();
    rounds.push(summary.last_round_seconds);
    // Put the replaced files back, so every measurement sees the same corpus.
    for round in 1..=UPDATES {
        let (shard, truth) = &rolls[round % rolls.len()];
        prediction_file(
            &dir.join(format!("predictions/{shard}.parquet")),
            shard,
            truth,
            0,
        );
    }
    rounds.iter().sum::<f64>() / rounds.len() as f64
}

fn duckdb_seconds(dir: &Path) -> Option<f64> {
    let python = std::env::var_os("ENTANGLE_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(".venv/bin/python"));
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/duckdb_combinations.py");
    let out = std::process::Command::new(python)
        .arg(script)
        .arg(dir)
        .output()
        .ok()?;
    if !out.status.success() {
        eprintln!("duckdb: {}", String::from_utf8_lossy(&out.stderr));
        return None;
    }
    let text = String::from_utf8_lossy(&out.stdout);
    print!("{text}");
    text.lines()
        .find_map(|l| l.strip_prefix("duckdb_seconds "))
        .and_then(|s| s.trim().parse().ok())
}

fn inference(dir: &Path) {
    let corpus = dir.join("fluid");
    let manifest = corpus.join("fluid-isol.manifest.parquet");
    if !manifest.exists() {
        let font = entangle::corpus::resolve_soundfont("FluidR3_GM");
        entangle::corpus::fluid::build_fluid(&corpus, &font, &Default::default(), false).unwrap();
    }
    let arch = entangle::model::convnet(23);
    let model = dir.join("convnet23.onnx");
    entangle::model::export_onnx(
        &arch,
        &entangle::model::Weights::random(&arch, 0).unwrap(),
        &model,
    )
    .unwrap();
    let rows: Vec<_> = entangle::corpus::manifest::read_manifest(&manifest)
        .unwrap()
        .into_iter()
        .filter(|r| r.split == "test")
        .collect();

    // ort alone, on the batches the graph runs (256 context windows, built beforehand).
    let computer = SpectrogramComputer::new(SpectrogramParams::default()).unwrap();
    let t = Instant::now();
    for r in &rows {
        std::hint::black_box(computer.compute_wav(Path::new(&r.path)).unwrap());
    }
    let spectrogram_seconds = t.elapsed().as_secs_f64();
    let batches: Vec<(Vec<f32>, usize)> = rows
        .iter()
        .flat_map(|r| {
            let spec = computer.compute_wav(Path::new(&r.path)).unwrap();
            let window = 5 * spec.bands;
            (0..spec.frames)
                .step_by(256)
                .map(|start| {
                    let end = (start + 256).min(spec.frames);
                    let mut batch = vec![0.0; (end - start) * window];
                    for (f, slot) in (start..end).zip(batch.chunks_exact_mut(window)) {
                        context_window(&spec, f, 2, slot);
                    }
                    (batch, end - start)
                })
                .collect::<Vec<_>>()
        })
        .collect();
    let frames: usize = batches.iter().map(|(_, n)| n).sum();
    let mut ort = OnnxModel::load(
        &model,
        InferenceOptions {
            intra_threads: 2,
            ..Default::default()
        },
    )
    .unwrap();
    let t = Instant::now();
    for (batch, n) in &batches {
        std::hint::black_box(ort.run_batch(batch, *n).unwrap());
    }
    let ort_seconds = t.elapsed().as_secs_f64();
    println!(
        "ort only (2 threads): {frames} frames in {ort_seconds:.2} s = {:.0} frames/s; \
         the spectrograms alone (1 thread): {spectrogram_seconds:.2} s",
        frames as f64 / ort_seconds
    );
    for (workers, threads) in [(1, 2), (2, 1)] {
        let mut options = options(dir, "e2e", workers);
        options.truth = TruthSource::Manifest {
            path: manifest.clone(),
            splits: vec!["test".into()],
        };
        options.evaluation.lowest_pitch = Some(49);
        options.evaluation.inference.intra_threads = threads;
        let t = Instant::now();
        entangle::dataflow::analyze(&options, vec![model.clone()]).unwrap();
        let seconds = t.elapsed().as_secs_f64();
        println!(
            "graph, WAV -> tables ({workers} worker(s) x {threads} ort thread(s)): {:.2} s = {:.0} frames/s, \
             {:+.1} % vs ort only, {:+.1} % vs ort + spectrograms on the same cores",
            seconds,
            frames as f64 / seconds,
            (seconds / ort_seconds - 1.0) * 100.0,
            (seconds / (ort_seconds + spectrogram_seconds / 2.0f64.min(workers as f64)) - 1.0)
                * 100.0
        );
    }
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return; // `cargo test --benches` asks for a list
    }
    let measuring = std::env::args().any(|a| a == "--bench");
    let scale = if measuring { MEASURED } else { SMOKE };
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join(if measuring {
        "target/bench-analysis"
    } else {
        "target/bench-analysis-smoke"
    });
    std::fs::create_dir_all(&dir).unwrap();
    let rolls = generate(&dir, scale);
    let frames = (scale.files * scale.frames_per_file) as f64;
    let mut batch2 = 0.0;
    for workers in [1, 2] {
        let s = batch_seconds(&dir, workers);
        println!(
            "batch, {workers} worker(s): {:.1} M frames in {s:.3} s = {:.2} M frames/s",
            frames / 1e6,
            frames / s / 1e6
        );
        batch2 = s;
    }
    let incremental = incremental_seconds(&dir, &rolls, 2);
    println!(
        "incremental, 2 workers, replace one file ({} frames): {:.1} ms per round = {:.0}x faster than batch",
        scale.frames_per_file,
        incremental * 1e3,
        batch2 / incremental
    );
    if !measuring {
        return; // the smoke test stops here: no DuckDB, no corpus, no network
    }
    if let Some(duck) = duckdb_seconds(&dir) {
        println!(
            "DuckDB recomputing the GROUP BY: {duck:.3} s; incremental is {:.0}x faster",
            duck / incremental
        );
    }
    inference(&dir);
}
