//! `entangle run SPEC`: corpus -> training (with every epoch's ONNX evaluated on the
//! validation split by the analysis dataflow as it appears) -> model selection by validation
//! F -> test-split analysis -> figures and report. Each stage lives in its own directory under
//! the spec's `out` and is skipped when its key (parameters + input hashes) is unchanged; a
//! killed training stage resumes from its last checkpoint.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::Context;

use super::layout::{Layout, manifest_path};
use super::selection::best_epoch;
use super::spec::{CorpusSpec, NetworkSpec, PipelineSpec};
use super::stages::{
    RunRecord, StageRecord, StageStatus, finished, hash_file, hash_tree, mark_finished, stage_key,
};
use crate::dataflow::units::EvaluationOptions;
use crate::dataflow::{AnalysisOptions, ClusterOptions, TruthSource};
use crate::infer::InferenceOptions;
use crate::sink::write_atomically;

#[derive(Debug, Clone, Copy, Default)]
pub struct RunOptions {
    /// Print the plan (which stages would run) and stop.
    pub dry_run: bool,
    /// Progress bars.
    pub progress: bool,
}

/// Runs (or with `dry_run`, plans) the pipeline of the spec at `spec_path`.
pub fn run_pipeline(spec_path: &Path, options: RunOptions) -> anyhow::Result<Option<RunRecord>> {
    if let Some(suite) = super::suite::Suite::load_if_suite(spec_path)? {
        return super::suite::run_suite(spec_path, &suite, options);
    }
    let spec = PipelineSpec::load(spec_path)?;
    if spec.sweep.is_some() {
        return super::sweep::run_sweep(spec_path, &spec, options);
    }
    run_spec(spec_path, spec, options)
}

/// Runs (or plans) one loaded spec.
pub fn run_spec(
    spec_path: &Path,
    spec: PipelineSpec,
    options: RunOptions,
) -> anyhow::Result<Option<RunRecord>> {
    let started = Instant::now();
    let layout = Layout {
        out: spec.out.clone(),
    };
    let corpus_inputs = corpus_inputs(&spec.corpus)?;
    let corpus_key = stage_key("corpus", &(&spec.corpus, spec.features.fps), &corpus_inputs);
    if options.dry_run {
        print_plan(spec_path, &spec, &layout, &corpus_key)?;
        return Ok(None);
    }
    let manifest = manifest_path(&spec, &layout);
    let mut stages = vec![run_stage(
        &layout.corpus(),
        "corpus",
        &corpus_key,
        corpus_inputs,
        || build_corpus(&spec, &layout, options.progress),
    )?];
    for network in &spec.networks {
        let keys = TrainKeys::new(&spec, network, &corpus_key);
        stages.push(run_stage(
            &layout.training(&network.name),
            &format!("train {}", network.name),
            &keys.key,
            keys.inputs.clone(),
            || {
                let progress = options.progress;
                train_network(&spec, network, &layout, &manifest, &keys.resume, progress)
            },
        )?);
        select_model(&layout, network)?;
    }
    stages.push(analysis_stage(&spec, &layout, &manifest, &corpus_key)?);
    stages.extend(super::systems_stage::run_systems(
        &spec,
        &layout,
        &manifest,
        &corpus_key,
    )?);
    stages.push(figures_and_report(&spec, &layout)?);
    Ok(Some(RunRecord::write(spec_path, &spec, stages, started)?))
}

/// The keys of a network's training stage: `key` decides whether the stage is up to date,
/// `resume` whether its checkpoints may be continued.
struct TrainKeys {
    inputs: BTreeMap<String, String>,
    key: String,
    resume: String,
}

impl TrainKeys {
    fn new(spec: &PipelineSpec, network: &NetworkSpec, corpus_key: &str) -> Self {
        let inputs = BTreeMap::from([("corpus".to_string(), corpus_key.to_string())]);
        let key = stage_key("train", &(network, spec.features.fps), &inputs);
        // Checkpoints stay usable when only the number of epochs changes: every epoch is
        // seeded from (seed, epoch), so a longer run continues the shorter one exactly.
        let resumable = NetworkSpec {
            epochs: 0,
            ..network.clone()
        };
        let resume = stage_key(
            "train-checkpoints",
            &(&resumable, spec.features.fps),
            &inputs,
        );
        Self {
            inputs,
            key,
            resume,
        }
    }
}

/// Prints which stages would run; the analysis keys depend on models not chosen yet.
fn print_plan(
    spec_path: &Path,
    spec: &PipelineSpec,
    layout: &Layout,
    corpus_key: &str,
) -> anyhow::Result<()> {
    say(format_args!(
        "plan for {} ({}):",
        spec.name,
        spec_path.display()
    ))?;
    plan_line("corpus", &layout.corpus(), corpus_key)?;
    for network in &spec.networks {
        let keys = TrainKeys::new(spec, network, corpus_key);
        let dir = layout.training(&network.name);
        plan_line(&format!("train {}", network.name), &dir, &keys.key)?;
    }
    say(format_args!(
        "  select: the best epoch per network (its select_by) -> {}",
        layout.models().display()
    ))?;
    say(format_args!(
        "  analysis, figures, report: after training (keys depend on the chosen models) -> {}",
        layout.analysis().display()
    ))?;
    super::systems_stage::plan(spec, layout, corpus_key)
}

/// Test-split analysis of the selected models; its key covers the corpus and every model.
fn analysis_stage(
    spec: &PipelineSpec,
    layout: &Layout,
    manifest: &Path,
    corpus_key: &str,
) -> anyhow::Result<StageRecord> {
    let mut inputs = BTreeMap::from([("corpus".to_string(), corpus_key.to_string())]);
    for network in &spec.networks {
        let model = layout.models().join(format!("{}.onnx", network.name));
        inputs.insert(format!("model {}", network.name), hash_file(&model)?);
    }
    let key = stage_key("analysis", &(&spec.analysis, spec.features.fps), &inputs);
    run_stage(&layout.analysis(), "analysis", &key, inputs, || {
        analyze_test_split(spec, layout, manifest)
    })
}

/// Figures and report: cheap, always redrawn from the tables.
fn figures_and_report(spec: &PipelineSpec, layout: &Layout) -> anyhow::Result<StageRecord> {
    let started = Instant::now();
    std::fs::create_dir_all(layout.figures())?;
    let mut findings = super::figures::draw_all(spec, layout)?;
    super::systems_figures::draw_run(spec, layout, &mut findings)?;
    super::report::write_report(spec, layout, &findings)?;
    Ok(StageRecord::always_ran("figures and report", started))
}

/// A line of the plan on stdout; a reader that went away (`| head`) is an I/O error the
/// caller passes up (the command line ends quietly on it), not a panic.
fn say(line: std::fmt::Arguments) -> std::io::Result<()> {
    use std::io::Write;
    writeln!(std::io::stdout().lock(), "{line}")
}

pub(super) fn plan_line(stage: &str, dir: &Path, key: &str) -> std::io::Result<()> {
    let state = if finished(dir, key).is_some() {
        "skip (up to date)"
    } else {
        "run"
    };
    say(format_args!("  {stage}: {state} -> {}", dir.display()))
}

/// Runs `work` unless the stage in `dir` finished with `key`; then marks it finished.
pub(super) fn run_stage<F>(
    dir: &Path,
    stage: &str,
    key: &str,
    inputs: BTreeMap<String, String>,
    work: F,
) -> anyhow::Result<StageRecord>
where
    F: FnOnce() -> anyhow::Result<()>,
{
    if let Some(mut record) = finished(dir, key) {
        tracing::info!(stage, "up to date: skipped");
        record.status = StageStatus::Skipped;
        record.seconds = 0.0;
        return Ok(record);
    }
    tracing::info!(stage, "running");
    let started = Instant::now();
    std::fs::create_dir_all(dir).with_context(|| format!("{}: cannot create", dir.display()))?;
    work().with_context(|| format!("stage {stage}"))?;
    let record = StageRecord {
        stage: stage.to_string(),
        key: key.to_string(),
        status: StageStatus::Ran,
        seconds: started.elapsed().as_secs_f64(),
        inputs,
    };
    mark_finished(dir, &record)?;
    Ok(record)
}

fn corpus_inputs(corpus: &CorpusSpec) -> anyhow::Result<BTreeMap<String, String>> {
    let mut inputs = BTreeMap::new();
    match corpus {
        CorpusSpec::Fluid { soundfont, .. } => {
            let path = crate::corpus::resolve_soundfont(soundfont);
            inputs.insert(path.display().to_string(), hash_file(&path)?);
        }
        CorpusSpec::MapsLike { midi_dir, .. } => {
            inputs.insert(midi_dir.display().to_string(), hash_tree(midi_dir)?);
            for r in crate::corpus::maps_like::RENDERERS {
                let path = crate::corpus::resolve_soundfont(r.soundfont);
                if let Ok(hash) = hash_file(&path) {
                    inputs.insert(path.display().to_string(), hash);
                }
            }
        }
        CorpusSpec::Maps { root, .. } => {
            // Hashing gigabytes of MAPS audio every run would cost minutes: the listing
            // (names and sizes) stands for it.
            let mut listing = Vec::new();
            for entry in walk(root)? {
                let size = std::fs::metadata(&entry).map(|m| m.len()).unwrap_or(0);
                listing.push(format!("{} {size}", entry.display()));
            }
            listing.sort();
            inputs.insert(
                root.display().to_string(),
                super::stages::stage_key("listing", &listing, &BTreeMap::new()),
            );
        }
        // The manifest holds the SHA-256 of every audio file: its hash stands for the corpus.
        CorpusSpec::Manifest { path } => {
            inputs.insert(path.display().to_string(), hash_file(path)?);
        }
    }
    Ok(inputs)
}

fn walk(dir: &Path) -> anyhow::Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        if path.is_dir() {
            out.extend(walk(&path)?);
        } else {
            out.push(path);
        }
    }
    Ok(out)
}

fn build_corpus(spec: &PipelineSpec, layout: &Layout, progress: bool) -> anyhow::Result<()> {
    let dir = layout.corpus();
    match &spec.corpus {
        CorpusSpec::Fluid {
            soundfont,
            train_velocities,
            validation_velocities,
            test_velocities,
            note_seconds,
            reverb,
            subsets,
            ..
        } => {
            let params = crate::corpus::fluid::FluidParams {
                train_velocities: train_velocities.clone(),
                validation_velocities: validation_velocities.clone(),
                test_velocities: test_velocities.clone(),
                note_seconds: *note_seconds,
                reverb: *reverb,
                subsets: subsets.clone(),
                ..Default::default()
            };
            let font = crate::corpus::resolve_soundfont(soundfont);
            crate::corpus::fluid::build_fluid(&dir, &font, &params, progress)?;
        }
        CorpusSpec::MapsLike {
            midi_dir,
            max_seconds_per_piece,
        } => {
            let params = crate::corpus::maps_like::MapsLikeParams {
                max_seconds_per_piece: *max_seconds_per_piece,
                ..Default::default()
            };
            crate::corpus::maps_like::build_maps_like(midi_dir, &dir, &params, progress)?;
        }
        CorpusSpec::Maps {
            root,
            validation_instrument,
        } => {
            let rows = crate::corpus::maps::maps_manifest(root, validation_instrument)?;
            crate::corpus::manifest::write_manifest(&manifest_path(spec, layout), &rows)?;
        }
        // Used where it is.
        CorpusSpec::Manifest { .. } => {}
    }
    Ok(())
}

fn cluster(spec: &PipelineSpec) -> ClusterOptions {
    ClusterOptions {
        workers: spec.analysis.workers,
        ..Default::default()
    }
}

fn evaluation(spec: &PipelineSpec) -> EvaluationOptions {
    EvaluationOptions {
        inference: InferenceOptions {
            device: spec.analysis.device,
            intra_threads: spec.analysis.intra_threads,
            ..Default::default()
        },
        lowest_pitch: Some(spec.output_range().1),
        strict: true,
        ..Default::default()
    }
}

fn analysis_options(
    spec: &PipelineSpec,
    manifest: &Path,
    split: &str,
    out: PathBuf,
) -> AnalysisOptions {
    AnalysisOptions {
        truth: TruthSource::Manifest {
            path: manifest.to_path_buf(),
            splits: vec![split.to_string()],
        },
        train: Some(TruthSource::Manifest {
            path: manifest.to_path_buf(),
            splits: vec!["train".into()],
        }),
        fps: spec.features.fps,
        evaluation: evaluation(spec),
        out,
        cluster: cluster(spec),
    }
}

/// Trains one network epoch by epoch inside `watch` rounds: before round `r` the hook has
/// the `entangle-train` process train epoch `r` (resuming from the last checkpoint), and the
/// round's scan hands the new `epoch-NNNN.onnx` to the dataflow, which evaluates it on the
/// validation split.
fn train_network(
    spec: &PipelineSpec,
    network: &NetworkSpec,
    layout: &Layout,
    manifest: &Path,
    key: &str,
    progress: bool,
) -> anyhow::Result<()> {
    use std::sync::{Arc, Mutex};

    // Fails early, before the dataflow starts, when the trainer is not built.
    crate::trainer::train_binary()?;
    let run_dir = layout.training(&network.name);
    let validation_dir = layout.validation(&network.name);
    let done = prepare_checkpoints(network, &run_dir, &validation_dir, key)?;
    let job = train_job(spec, network, manifest, &run_dir, progress);
    let remaining = network.epochs.saturating_sub(done) as u64;
    let failure: Arc<Mutex<Option<String>>> = Arc::default();
    let hook_failure = failure.clone();
    let hook = Arc::new(move |round: u64| {
        if round == 0 || hook_failure.lock().unwrap().is_some() {
            return;
        }
        let mut epoch = job.clone();
        epoch.config.epochs = done + round as usize;
        if let Err(e) = crate::trainer::run_in_child(&epoch) {
            *hook_failure.lock().unwrap() = Some(crate::console::error_message(&e));
        }
    });
    let options = analysis_options(spec, manifest, "validation", validation_dir);
    let watch = crate::dataflow::WatchOptions {
        rounds: Some(remaining + 1),
        before_scan: Some(hook),
        ignore: vec!["best.onnx".into()],
        ..Default::default()
    };
    crate::dataflow::watch(&options, run_dir.clone(), watch)?;
    if let Some(e) = failure.lock().unwrap().take() {
        anyhow::bail!(e);
    }
    check_every_epoch_evaluated(&run_dir, &layout.validation(&network.name))
}

/// A training stage is finished only when the validation split holds every trained epoch.
/// The dataflow quarantines an epoch it cannot evaluate (ONNX Runtime missing, a broken
/// export) and goes on; the stage must not then be marked done, or reruns would skip it and
/// the model selection would have nothing to choose from.
fn check_every_epoch_evaluated(run_dir: &Path, validation_dir: &Path) -> anyhow::Result<()> {
    let trained = crate::protocol::last_checkpoint(run_dir).unwrap_or(0);
    let metrics = validation_dir.join(crate::dataflow::tables::SPLIT_METRICS);
    let evaluated: std::collections::BTreeSet<usize> = if metrics.exists() {
        super::selection::validation_curve(&metrics)?
            .into_iter()
            .map(|(epoch, _)| epoch)
            .collect()
    } else {
        Default::default()
    };
    let missing: Vec<usize> = (1..=trained).filter(|e| !evaluated.contains(e)).collect();
    anyhow::ensure!(
        missing.is_empty(),
        "{}: epochs {missing:?} of the {trained} trained were not evaluated on the validation \
         split (the warnings above say why); the training stage stays unfinished",
        metrics.display()
    );
    Ok(())
}

/// Keeps the checkpoints in `run_dir` when they were trained under `key` and are not past
/// the spec's epochs, else clears them (and their validation tables); returns the number of
/// epochs already trained.
fn prepare_checkpoints(
    network: &NetworkSpec,
    run_dir: &Path,
    validation_dir: &Path,
    key: &str,
) -> anyhow::Result<usize> {
    use crate::protocol::last_checkpoint;

    let key_file = run_dir.join("key.txt");
    let trained = last_checkpoint(run_dir).unwrap_or(0);
    if std::fs::read_to_string(&key_file).ok().as_deref() != Some(key) || trained > network.epochs {
        let _ = std::fs::remove_dir_all(run_dir);
        let _ = std::fs::remove_dir_all(validation_dir);
        std::fs::create_dir_all(run_dir)?;
        std::fs::write(&key_file, key)?;
    }
    let done = last_checkpoint(run_dir).unwrap_or(0);
    if done > 0 {
        tracing::info!(
            network = %network.name,
            epochs = done,
            "resuming from the checkpoints in {}",
            run_dir.display()
        );
    }
    Ok(done)
}

/// The trainer's job for a network of the spec, resuming from its last checkpoint.
fn train_job(
    spec: &PipelineSpec,
    network: &NetworkSpec,
    manifest: &Path,
    run_dir: &Path,
    progress: bool,
) -> crate::protocol::TrainJob {
    use crate::protocol::{Start, TrainConfig, TrainJob};

    let (outputs, lowest_pitch) = spec.output_range();
    TrainJob {
        manifest: manifest.to_path_buf(),
        arch: network.arch,
        outputs,
        lowest_pitch,
        out: run_dir.to_path_buf(),
        config: TrainConfig {
            learning_rate: network.learning_rate,
            batch_size: network.batch_size,
            steps_per_epoch: network.steps_per_epoch,
            epochs: network.epochs,
            patience: network.patience,
            seed: network.seed,
            optimizer: network.optimizer,
            warmup_steps: network.warmup_steps,
            output_bias: network.output_bias,
            select_by: network.select_by,
            mixture_penalty: network.mixture_penalty,
            mixture_in_training_mode: network.mixture_in_training_mode,
            chords: network.chords,
            ..Default::default()
        },
        start: Start::Resume,
        device: network.device.request(),
        progress,
    }
}

/// Copies the best epoch (by the validation F of the dataflow's `split_metrics`, the mean
/// over shards, or by the trainer's validation loss, as the spec says) to
/// `models/NAME.onnx`, so the test analysis names it after the network.
fn select_model(layout: &Layout, network: &NetworkSpec) -> anyhow::Result<()> {
    let metrics = layout
        .validation(&network.name)
        .join(crate::dataflow::tables::SPLIT_METRICS);
    let history = layout.training(&network.name).join("history.json");
    let selected = best_epoch(&metrics, &history, network.select_by)?;
    let network = network.name.as_str();
    let source = layout
        .training(network)
        .join(format!("{}.onnx", selected.model));
    let target = layout.models().join(format!("{network}.onnx"));
    std::fs::create_dir_all(layout.models())?;
    let same = target.exists() && hash_file(&target)? == hash_file(&source)?;
    if !same {
        let bytes = std::fs::read(&source)?;
        write_atomically(&target, |w| std::io::Write::write_all(w, &bytes))?;
    }
    tracing::info!(network, epoch = selected.epoch, "selected by {selected}");
    Ok(())
}

fn analyze_test_split(spec: &PipelineSpec, layout: &Layout, manifest: &Path) -> anyhow::Result<()> {
    let options = analysis_options(spec, manifest, "test", layout.analysis());
    let models = spec
        .networks
        .iter()
        .map(|n| layout.models().join(format!("{}.onnx", n.name)))
        .collect();
    crate::dataflow::analyze(&options, models)?;
    Ok(())
}
