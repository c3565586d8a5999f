//! The `entangle` command line: argument parsing only; the work is in the library.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::{Parser, Subcommand};
use entangle::features::{SpectrogramComputer, SpectrogramParams};
use entangle::labels::{PianoRoll, ReadOptions, read_notes};
use entangle::sink::labels_table::write_labels_table;
use entangle::sink::npy::write_spectrogram_npy;

mod cli;

// The analysis decodes Parquet batch after batch; glibc's allocator hands the freed pages back
// to the kernel and faults them in again (a fifth of the scan), mimalloc keeps them.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(
    name = "entangle",
    version,
    about = "Measure how framewise music-transcription networks fail"
)]
struct Cli {
    /// More log output (-v: debug, -vv: trace); RUST_LOG overrides.
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    verbose: u8,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Log-filtered spectrogram (madmom-identical, 229 bands) of a WAV file, as float32 .npy.
    Spectrogram {
        /// Input WAV (any bit depth, channels and sample rate).
        input: PathBuf,
        /// Output .npy of shape [frames, 229].
        #[arg(short, long)]
        output: PathBuf,
        /// Frames per second (hop = 44100 / fps samples).
        #[arg(long, default_value_t = 100.0)]
        fps: f64,
    },
    /// Frame labels of MIDI or MAPS .txt note lists, as a `labels` Parquet table.
    Labels {
        /// Note lists (.mid, .midi or MAPS .txt); each becomes a shard named by its file stem.
        #[arg(required = true)]
        inputs: Vec<PathBuf>,
        /// Output Parquet file.
        #[arg(short, long)]
        output: PathBuf,
        /// Frames per second of the labels (the spectrogram's frame rate).
        #[arg(long, default_value_t = 100.0)]
        fps: f64,
        /// Extend MIDI notes while the sustain pedal is down.
        #[arg(long)]
        sustain_pedal: bool,
        /// Require every shard's audio (and fail naming the file without it). Whenever the
        /// audio is found a shard has as many frames as its spectrogram: the WAV beside the
        /// note file, `audio/STEM.wav` beside a `labels/` directory, or the --manifest row.
        #[arg(long)]
        frames_from_audio: bool,
        /// Corpus manifest to find each note file's audio through.
        #[arg(long)]
        manifest: Option<PathBuf>,
    },
    /// Render corpora through SoundFonts.
    #[command(subcommand)]
    Synth(SynthCommand),
    /// Configuration-II manifest of a real MAPS directory (train on 6 synthesized pianos,
    /// validate on the 7th, test on the Disklavier recordings).
    Maps {
        /// The MAPS root (holding AkPnBcht/, ..., ENSTDkCl/).
        #[arg(long)]
        root: PathBuf,
        /// Output manifest (Parquet).
        #[arg(long)]
        out: PathBuf,
        /// The synthesized piano held out for validation.
        #[arg(long, default_value = entangle::corpus::maps::DEFAULT_VALIDATION_PIANO)]
        validation_instrument: String,
    },
    /// Manifest of your own corpus of recordings and note lists (a directory of pairs, or
    /// MAESTRO's CSV), to train on or analyse.
    #[command(subcommand)]
    Corpus(cli::corpus::CorpusCommand),
    /// The paper's networks.
    #[command(subcommand)]
    Model(ModelCommand),
    /// Frame predictions of an ONNX network on a corpus split, as a `predictions` table.
    Predict {
        /// The network (.onnx): a frame-context network (input [batch, 1, context, 229]) or a
        /// segment network like AUNet (input [batch, 1, frames, bins]).
        #[arg(long)]
        model: PathBuf,
        /// Corpus manifest.
        #[arg(long)]
        manifest: PathBuf,
        /// The manifest's split to predict.
        #[arg(long, default_value = "test")]
        split: String,
        /// MIDI pitch of the network's first output, for a model file that does not record
        /// it (entangle's exports do): 21 for piano nets, 49 for FLUID nets.
        #[arg(long)]
        lowest_pitch: Option<u8>,
        /// Model name in the table (default: the model file's stem).
        #[arg(long)]
        name: Option<String>,
        /// ONNX Runtime threads inside one operator.
        #[arg(long, default_value_t = 2)]
        intra_threads: usize,
        /// Execution provider (cuda needs the `cuda` feature).
        #[arg(long, value_enum, default_value_t = entangle::infer::Device::Cpu)]
        device: entangle::infer::Device,
        /// Output Parquet file.
        #[arg(short, long)]
        output: PathBuf,
    },
    /// Run a pipeline spec (pipelines/*.toml): corpus, training with per-epoch evaluation,
    /// model selection, test analysis, figures and report; unchanged stages are skipped.
    Run {
        /// The spec (TOML).
        spec: PathBuf,
        /// Print which stages would run, and stop.
        #[arg(long)]
        dry_run: bool,
    },
    /// Per-combination error analysis of predictions against labels (batch): writes the
    /// combinations, additions, omissions, frame_metrics and split_metrics tables.
    Analyze(cli::analysis::AnalyzeArgs),
    /// Incremental analysis: keeps the dataflow alive over a directory and updates the
    /// tables (and appends to changes.jsonl) whenever a file appears, changes or goes.
    Watch(cli::analysis::WatchArgs),
    /// The NMF baseline: learns a dictionary on a manifest's train split, picks the threshold
    /// on validation, writes `predictions` tables of validation and test for `analyze`.
    Nmf(cli::nmf::NmfArgs),
    /// Figures and report.md for the tables of any analysis directory (the --out of
    /// `analyze` or `watch`): drawn into DIR/figures/, the report written to DIR/report.md.
    Report {
        /// The analysis directory (holds combinations.parquet, split_metrics.parquet, ...).
        dir: PathBuf,
        /// The split the figures show (default: test when the tables have it, else their
        /// only split).
        #[arg(long)]
        split: Option<String>,
        /// Figure formats: svg, png or both.
        #[arg(long, value_delimiter = ',', default_value = "svg,png")]
        formats: Vec<String>,
        /// Bars per ranked figure (best intervals, most common combinations).
        #[arg(long, default_value_t = 20)]
        top: usize,
    },
    /// Train a network on a corpus manifest (feature `train`): checkpoints, per-epoch ONNX
    /// and best.onnx in the run directory.
    #[cfg(feature = "train")]
    Train(TrainArgs),
    /// Render a piano chord, compute its spectrogram and labels, and summarise them.
    Demo {
        /// Output directory.
        #[arg(long, default_value = "demo-out")]
        out: PathBuf,
        /// SoundFont: a known name (FluidR3_GM, TimGM6mb, MuseScore_General, sf_GMbank) or a path.
        #[arg(long, default_value = "FluidR3_GM")]
        soundfont: String,
    },
}

#[cfg(feature = "train")]
#[derive(clap::Args)]
struct TrainArgs {
    /// Corpus manifest (train and validation splits are used).
    #[arg(long)]
    manifest: PathBuf,
    /// convnet, smallconvnet or aunet.
    #[arg(long)]
    arch: String,
    /// Output units: 88 (piano, from MIDI 21) or 23 (FLUID, from MIDI 49).
    #[arg(long, default_value_t = 88)]
    outputs: usize,
    /// MIDI pitch of the first output unit.
    #[arg(long, default_value_t = 21)]
    lowest_pitch: u8,
    /// Run directory.
    #[arg(long)]
    out: PathBuf,
    /// Epochs to train (with --resume: in total).
    #[arg(long, default_value_t = 100)]
    epochs: usize,
    /// Batches per epoch, drawn without replacement.
    #[arg(long, default_value_t = 8192)]
    steps_per_epoch: usize,
    /// Examples per batch (frames; 256-frame segments for AUNet).
    #[arg(long, default_value_t = 32)]
    batch_size: usize,
    /// SGD learning rate (Nesterov momentum 0.9).
    #[arg(long, default_value_t = 0.25)]
    learning_rate: f64,
    /// Epochs without a better validation loss before the learning rate is halved.
    #[arg(long, default_value_t = 20)]
    patience: usize,
    /// Seed of every random choice (initial weights, batches, dropout).
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Default: cuda when available, else cpu.
    #[arg(long)]
    device: Option<entangle::infer::Device>,
    /// The update rule: sgd (Nesterov, the paper's) or adam.
    #[arg(long, value_enum, default_value_t = CliOptimizer::Sgd)]
    optimizer: CliOptimizer,
    /// Updates over which the learning rate rises linearly from 0.
    #[arg(long, default_value_t = 0)]
    warmup_steps: usize,
    /// Start the output bias at the logit of the training labels' prior (else random).
    #[arg(long)]
    prior_output_bias: bool,
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

#[cfg(feature = "train")]
#[derive(Clone, Copy, clap::ValueEnum)]
enum CliOptimizer {
    Sgd,
    Adam,
}

#[cfg(feature = "train")]
fn run_train(args: TrainArgs) -> anyhow::Result<()> {
    use entangle::train::{
        FitOptions, FrameData, Optimizer, OutputBias, Selection, Start, TrainConfig, fit,
    };
    let arch = entangle::model::by_name(&args.arch, args.outputs)
        .with_context(|| format!("unknown architecture {:?}", args.arch))?;
    let device = entangle::train::torch_device(args.device).map_err(anyhow::Error::msg)?;
    let train = FrameData::load(&args.manifest, "train", args.lowest_pitch, args.outputs)
        .map_err(anyhow::Error::msg)?;
    // The exported epochs record what their outputs mean and the frame rate they were
    // trained at, so predict / analyze / watch need not be told.
    let arch = arch.trained_on(args.lowest_pitch, train.shards[0].0.fps);
    let validation = FrameData::load(
        &args.manifest,
        "validation",
        args.lowest_pitch,
        args.outputs,
    )
    .map_err(anyhow::Error::msg)?;
    let config = TrainConfig {
        learning_rate: args.learning_rate,
        batch_size: args.batch_size,
        steps_per_epoch: args.steps_per_epoch,
        epochs: args.epochs,
        patience: args.patience,
        seed: args.seed,
        optimizer: match args.optimizer {
            CliOptimizer::Sgd => Optimizer::Sgd,
            CliOptimizer::Adam => Optimizer::Adam,
        },
        warmup_steps: args.warmup_steps,
        output_bias: if args.prior_output_bias {
            OutputBias::Prior
        } else {
            OutputBias::Random
        },
        select_by: if args.select_by_loss {
            Selection::ValidationLoss
        } else {
            Selection::ValidationF1
        },
        ..Default::default()
    };
    let start = match (args.resume, args.overwrite) {
        (true, _) => Start::Resume,
        (_, true) => Start::Overwrite,
        _ => Start::Fresh,
    };
    let options = FitOptions {
        start,
        device,
        progress: true,
    };
    let history = fit(&arch, &train, &validation, &config, &args.out, options)?;
    if let Some(best) = history
        .iter()
        .max_by(|a, b| a.validation_micro_f1.total_cmp(&b.validation_micro_f1))
    {
        tracing::info!(
            epoch = best.epoch,
            validation_micro_f1 = best.validation_micro_f1,
            "best epoch by validation micro F"
        );
    }
    Ok(())
}

#[derive(Subcommand)]
enum ModelCommand {
    /// Export a network as ONNX (opset 17, inference mode), with trained weights from a
    /// training checkpoint (--weights) or deterministic random ones (for tests and
    /// benchmarks). The file records its architecture, outputs, lowest pitch and frame rate.
    Export {
        /// convnet, smallconvnet or aunet.
        name: String,
        /// Output units (default: the paper's, 88 for ConvNet and AUNet, 23 for SmallConvNet).
        #[arg(long)]
        outputs: Option<usize>,
        /// Output file (.onnx).
        #[arg(short, long)]
        output: PathBuf,
        /// Trained weights: a `checkpoint-NNNN.safetensors` of a training run directory.
        #[arg(long, value_name = "CHECKPOINT")]
        weights: Option<PathBuf>,
        /// Seed of the random weights (without --weights).
        #[arg(long, default_value_t = 0, conflicts_with = "weights")]
        seed: u64,
        /// MIDI pitch of the first output (default 21 with 88 outputs; needed otherwise,
        /// e.g. 49 for the FLUID networks).
        #[arg(long)]
        lowest_pitch: Option<u8>,
        /// Frame rate of the spectrograms the network reads.
        #[arg(long, default_value_t = 100.0)]
        fps: f64,
    },
    /// Layer table (output shapes, parameters, total) like the paper's appendix.
    Summary {
        /// convnet, smallconvnet or aunet.
        name: String,
        /// Output units (default: the paper's table, 88 for ConvNet and AUNet, 23 for
        /// SmallConvNet); 88 for piano, 23 for the FLUID sets.
        #[arg(long)]
        outputs: Option<usize>,
        /// Print the layer list as JSON instead (the architecture as data).
        #[arg(long)]
        json: bool,
    },
}

#[derive(Subcommand)]
enum SynthCommand {
    /// FLUID-COMBI and FLUID-ISOL (paper section 3.1): 23 notes, 253 intervals, FluidR3_GM.
    Fluid {
        /// Output directory: audio/, labels/ and one manifest per dataset.
        #[arg(long)]
        out: PathBuf,
        /// SoundFont: a known name (FluidR3_GM, TimGM6mb, MuseScore_General, sf_GMbank) or a path.
        #[arg(long, default_value = "FluidR3_GM")]
        soundfont: String,
        /// MIDI velocities of the training examples (each example once per velocity).
        #[arg(long, value_delimiter = ',', default_value = "64,96")]
        train_velocities: Vec<u8>,
        /// MIDI velocities of the validation examples.
        #[arg(long, value_delimiter = ',', default_value = "80")]
        validation_velocities: Vec<u8>,
        /// MIDI velocities of the test examples.
        #[arg(long, value_delimiter = ',', default_value = "80")]
        test_velocities: Vec<u8>,
        /// Seconds from onset to offset of every example.
        #[arg(long, default_value_t = 1.0)]
        note_seconds: f64,
        /// Render with the SoundFont's reverb and chorus.
        #[arg(long)]
        reverb: bool,
    },
    /// A MAPS-like corpus: MIDI pieces rendered through 10 SoundFont renderers (6 train,
    /// 1 validation, 3 test); piece lists of the splits are disjoint.
    MapsLike {
        /// Directory of .mid files (e.g. from scripts/export_music21_midi.py).
        #[arg(long)]
        midi_dir: PathBuf,
        /// Output directory: the rendered audio, labels and synth-mus.manifest.parquet.
        #[arg(long)]
        out: PathBuf,
        /// Cut every piece after this many seconds.
        #[arg(long)]
        max_seconds_per_piece: Option<f64>,
    },
    /// List the presets (bank, program, name) of a SoundFont.
    Presets {
        /// SoundFont: a known name (FluidR3_GM, TimGM6mb, MuseScore_General, sf_GMbank) or a path.
        #[arg(long, default_value = "FluidR3_GM")]
        soundfont: String,
    },
    /// Render one MIDI file or MAPS .txt note list to a 16-bit stereo 44.1 kHz WAV.
    Render {
        /// The notes: a MIDI file (.mid, .midi) or a MAPS .txt note list.
        input: PathBuf,
        /// Output WAV file.
        #[arg(short, long)]
        output: PathBuf,
        /// SoundFont: a known name (FluidR3_GM, TimGM6mb, MuseScore_General, sf_GMbank) or a path.
        #[arg(long, default_value = "FluidR3_GM")]
        soundfont: String,
        /// Preset bank (see `synth presets`).
        #[arg(long, default_value_t = 0)]
        bank: u16,
        /// Preset program (0: acoustic grand piano in General MIDI fonts).
        #[arg(long, default_value_t = 0)]
        program: u8,
        /// Play every note at this velocity (default: the file's velocities).
        #[arg(long)]
        velocity: Option<u8>,
        /// Render with the SoundFont's reverb and chorus.
        #[arg(long)]
        reverb: bool,
    },
}

fn run_synth(command: SynthCommand) -> anyhow::Result<()> {
    use entangle::corpus::{RenderSettings, fluid, resolve_soundfont};
    match command {
        SynthCommand::Fluid {
            out,
            soundfont,
            train_velocities,
            validation_velocities,
            test_velocities,
            note_seconds,
            reverb,
        } => {
            let params = fluid::FluidParams {
                train_velocities,
                validation_velocities,
                test_velocities,
                note_seconds,
                reverb,
                ..Default::default()
            };
            let start = std::time::Instant::now();
            let n = fluid::build_fluid(&out, &resolve_soundfont(&soundfont), &params, true)?;
            tracing::info!(
                examples = n,
                seconds = format!("{:.1}", start.elapsed().as_secs_f64()),
                "wrote FLUID-COMBI and FLUID-ISOL to {}",
                out.display()
            );
        }
        SynthCommand::MapsLike {
            midi_dir,
            out,
            max_seconds_per_piece,
        } => {
            use entangle::corpus::maps_like;
            let params = maps_like::MapsLikeParams {
                max_seconds_per_piece,
                ..Default::default()
            };
            let rows = maps_like::build_maps_like(&midi_dir, &out, &params, true)?;
            let minutes = |split: &str| maps_like::split_minutes(&rows, split);
            tracing::info!(
                recordings = rows.len(),
                train_minutes = format!("{:.1}", minutes("train")),
                validation_minutes = format!("{:.1}", minutes("validation")),
                test_minutes = format!("{:.1}", minutes("test")),
                "wrote {}",
                out.join(maps_like::MANIFEST).display()
            );
        }
        SynthCommand::Presets { soundfont } => {
            let font = entangle::corpus::load_soundfont(&resolve_soundfont(&soundfont))?;
            let mut presets: Vec<_> = font
                .get_presets()
                .iter()
                .map(|p| {
                    (
                        p.get_bank_number(),
                        p.get_patch_number(),
                        p.get_name().to_string(),
                    )
                })
                .collect();
            presets.sort();
            let mut listing = String::new();
            for (bank, program, name) in presets {
                listing.push_str(&format!("{bank:5} {program:3}  {name}\n"));
            }
            print_stdout(&listing)?;
        }
        SynthCommand::Render {
            input,
            output,
            soundfont,
            bank,
            program,
            velocity,
            reverb,
        } => {
            let mut notes = read_notes(&input, ReadOptions::default())?;
            if let Some(v) = velocity {
                notes.iter_mut().for_each(|n| n.velocity = v);
            }
            let path = resolve_soundfont(&soundfont);
            let font = entangle::corpus::load_soundfont(&path)?;
            let settings = RenderSettings {
                bank,
                program,
                reverb_and_chorus: reverb,
                ..Default::default()
            };
            let (left, right) =
                entangle::corpus::render_notes(&font, &soundfont, &notes, &settings)?;
            entangle::corpus::write_wav_stereo16(&output, &left, &right)?;
            tracing::info!(notes = notes.len(), "wrote {}", output.display());
        }
    }
    Ok(())
}

fn init_logging(verbose: u8) {
    let default = match verbose {
        0 => "info",
        1 => "debug",
        _ => "trace",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(false)
        // Colour codes only for a person at a terminal: CI logs and files stay plain text.
        .with_ansi(
            std::io::IsTerminal::is_terminal(&std::io::stderr())
                && std::env::var_os("NO_COLOR").is_none(),
        )
        .init();
}

fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Spectrogram { input, output, fps } => {
            let params = SpectrogramParams {
                fps,
                ..Default::default()
            };
            let computer = SpectrogramComputer::new(params)?;
            let spec = computer.compute_wav(&input)?;
            write_spectrogram_npy(&output, &spec)?;
            tracing::info!(
                frames = spec.frames,
                bands = spec.bands,
                "wrote {}",
                output.display()
            );
        }
        Command::Labels {
            inputs,
            output,
            fps,
            sustain_pedal,
            frames_from_audio,
            manifest,
        } => {
            let params = SpectrogramParams {
                fps,
                ..Default::default()
            };
            params.validate()?;
            let options = ReadOptions { sustain_pedal };
            let audio_index = match manifest {
                Some(m) => entangle::labels::audio::AudioIndex::new(
                    &entangle::corpus::manifest::read_manifest(&m).map_err(anyhow::Error::msg)?,
                ),
                None => Default::default(),
            };
            let mut shards = Vec::with_capacity(inputs.len());
            let mut by_audio = 0;
            for input in &inputs {
                let notes = read_notes(input, options)?;
                let audio = audio_index.find(input);
                let frames = match audio {
                    Some(wav) => {
                        by_audio += 1;
                        Some(params.num_frames_of_wav(&wav).with_context(|| {
                            format!("{}: its audio {}", input.display(), wav.display())
                        })?)
                    }
                    None if frames_from_audio => anyhow::bail!(
                        "{}: --frames-from-audio found no audio (looked for {}, audio/ beside                          labels/, and the --manifest)",
                        input.display(),
                        input.with_extension("wav").display()
                    ),
                    None => None,
                };
                let shard = input
                    .file_stem()
                    .map(|s| s.to_string_lossy().into_owned())
                    .unwrap_or_default();
                shards.push((shard, PianoRoll::from_notes(&notes, fps, frames)));
            }
            write_labels_table(&output, &shards)?;
            tracing::info!(
                shards = shards.len(),
                framed_by_audio = by_audio,
                framed_by_last_note = shards.len() - by_audio,
                "wrote {}",
                output.display()
            );
        }
        Command::Synth(command) => run_synth(command)?,
        Command::Corpus(command) => cli::corpus::run_corpus(command)?,
        Command::Predict {
            model,
            manifest,
            split,
            lowest_pitch,
            name,
            intra_threads,
            device,
            output,
        } => {
            let name = name.unwrap_or_else(|| {
                model
                    .file_stem()
                    .map(|s| s.to_string_lossy().into_owned())
                    .unwrap_or_default()
            });
            let options = entangle::infer::InferenceOptions {
                device,
                intra_threads,
                ..Default::default()
            };
            let (rows, fps) = entangle::predict::predict_split(
                &model,
                &name,
                &manifest,
                &split,
                lowest_pitch,
                options,
            )?;
            entangle::sink::predictions_table::write_predictions(&output, &rows, fps)?;
            tracing::info!(frames = rows.len(), "wrote {}", output.display());
        }
        Command::Run { spec, dry_run } => {
            let options = entangle::pipeline::RunOptions {
                dry_run,
                progress: std::io::IsTerminal::is_terminal(&std::io::stderr()),
            };
            if let Some(record) = entangle::pipeline::run_pipeline(&spec, options)? {
                for stage in &record.stages {
                    eprintln!(
                        "{:>9} {:>8.1} s  {}",
                        stage.status, stage.seconds, stage.stage
                    );
                }
                eprintln!(
                    "done in {:.1} s: {}",
                    record.seconds,
                    record.spec.out.join("report.md").display()
                );
            }
        }
        Command::Analyze(args) => cli::analysis::run_analyze(args)?,
        Command::Watch(args) => cli::analysis::run_watch(args)?,
        Command::Nmf(args) => cli::nmf::run(args)?,
        Command::Report {
            dir,
            split,
            formats,
            top,
        } => {
            if let Some(bad) = formats
                .iter()
                .find(|f| !matches!(f.as_str(), "svg" | "png"))
            {
                anyhow::bail!("--formats: {bad:?} is not svg or png");
            }
            let report = entangle::pipeline::report::report_analysis_dir(
                &dir,
                split.as_deref(),
                &formats,
                top,
            )?;
            tracing::info!(
                "wrote {} and {}",
                report.display(),
                dir.join("figures").display()
            );
        }
        #[cfg(feature = "train")]
        Command::Train(args) => run_train(args)?,
        Command::Model(ModelCommand::Export {
            name,
            outputs,
            output,
            weights,
            seed,
            lowest_pitch,
            fps,
        }) => {
            let outputs = outputs
                .or_else(|| entangle::model::paper_outputs(&name))
                .unwrap_or(88);
            let arch = entangle::model::by_name(&name, outputs).with_context(|| {
                format!("unknown architecture {name:?} (convnet, smallconvnet, aunet)")
            })?;
            let lowest_pitch = match lowest_pitch {
                Some(p) => p,
                None if outputs == entangle::pitchset::PIANO_KEYS => entangle::pitchset::PIANO_MIN,
                None => anyhow::bail!(
                    "{name} with {outputs} outputs: pass --lowest-pitch, the MIDI pitch of the \
                     first output (49 for the FLUID networks)"
                ),
            };
            anyhow::ensure!(
                fps.is_finite() && fps > 0.0,
                "--fps {fps} is not a frame rate"
            );
            let arch = arch.trained_on(lowest_pitch, fps);
            let weights = match weights {
                Some(path) => entangle::model::Weights::read_checkpoint(&arch, &path)?,
                None => entangle::model::Weights::random(&arch, seed)?,
            };
            entangle::model::export_onnx(&arch, &weights, &output)?;
            tracing::info!(
                parameters = weights.parameter_count(),
                "wrote {}",
                output.display()
            );
        }
        Command::Model(ModelCommand::Summary {
            name,
            outputs,
            json,
        }) => {
            let outputs = outputs
                .or_else(|| entangle::model::paper_outputs(&name))
                .unwrap_or(88);
            let arch = entangle::model::by_name(&name, outputs).with_context(|| {
                format!("unknown architecture {name:?} (convnet, smallconvnet, aunet)")
            })?;
            if json {
                print_stdout(&format!("{}\n", serde_json::to_string_pretty(&arch)?))?;
            } else {
                print_stdout(&entangle::model::render_table(&arch)?)?;
            }
        }
        Command::Maps {
            root,
            out,
            validation_instrument,
        } => {
            let rows = entangle::corpus::maps::maps_manifest(&root, &validation_instrument)?;
            entangle::corpus::manifest::write_manifest(&out, &rows)?;
            tracing::info!(recordings = rows.len(), "wrote {}", out.display());
        }
        Command::Demo { out, soundfont } => {
            print_stdout(&entangle::demo::run(&out, &soundfont)?)?;
        }
    }
    Ok(())
}

/// Writes `text` to stdout; a reader that stopped reading (`| head`) shows up as a
/// `BrokenPipe` error, which `main` treats as a normal end.
fn print_stdout(text: &str) -> anyhow::Result<()> {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    out.write_all(text.as_bytes())?;
    out.flush()?;
    Ok(())
}

/// Whether the reader of our output went away: a normal way to stop, not an error.
fn is_broken_pipe(err: &anyhow::Error) -> bool {
    err.chain().any(|cause| {
        cause
            .downcast_ref::<std::io::Error>()
            .is_some_and(|e| e.kind() == std::io::ErrorKind::BrokenPipe)
    })
}

/// The error and its causes, each said once: a cause whose text its parent already
/// includes (`{path}: {source}` and the source itself) is left out.
fn error_message(err: &anyhow::Error) -> String {
    let mut message = String::new();
    for cause in err.chain() {
        let text = cause.to_string();
        if message.contains(&text) {
            continue;
        }
        if !message.is_empty() {
            message.push_str(": ");
        }
        message.push_str(&text);
    }
    message
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logging(cli.verbose);
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) if is_broken_pipe(&err) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {}", error_message(&err));
            ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_cause_is_printed_once() {
        let io = std::io::Error::from(std::io::ErrorKind::NotFound);
        let text = io.to_string();
        let err = anyhow::Error::new(io).context(format!("x.wav: {text}"));
        assert_eq!(error_message(&err), format!("x.wav: {text}"));
        let err = anyhow::anyhow!("inner").context("outer");
        assert_eq!(error_message(&err), "outer: inner");
    }

    #[test]
    fn a_closed_pipe_is_recognised_through_context() {
        let err = anyhow::Error::new(std::io::Error::from(std::io::ErrorKind::BrokenPipe))
            .context("printing presets");
        assert!(is_broken_pipe(&err));
        assert!(!is_broken_pipe(&anyhow::anyhow!("other")));
    }

    /// Every option and argument says what it is for in `--help`.
    #[test]
    fn every_option_has_help() {
        use clap::CommandFactory;
        fn walk(cmd: &clap::Command, path: &str, missing: &mut Vec<String>) {
            for arg in cmd.get_arguments() {
                let id = arg.get_id().as_str();
                if id == "help" || id == "version" {
                    continue;
                }
                if arg.get_help().is_none() && arg.get_long_help().is_none() {
                    missing.push(format!("{path} {id}"));
                }
            }
            for sub in cmd.get_subcommands() {
                walk(sub, &format!("{path} {}", sub.get_name()), missing);
            }
        }
        let mut missing = Vec::new();
        walk(&Cli::command(), "entangle", &mut missing);
        assert!(missing.is_empty(), "options without help: {missing:#?}");
    }
}
