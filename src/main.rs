//! The `entangle` command line: argument parsing only; the work is in the library.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::{Parser, Subcommand};
use entangle::features::{SpectrogramComputer, SpectrogramParams};
use entangle::labels::{PianoRoll, ReadOptions, read_notes};
use entangle::sink::labels_table::write_labels_table;
use entangle::sink::npy::write_spectrogram_npy;

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
        #[arg(long, default_value_t = 100.0)]
        fps: f64,
        /// Extend MIDI notes while the sustain pedal is down.
        #[arg(long)]
        sustain_pedal: bool,
        /// Take each shard's frame count from the WAV of the same name beside it.
        #[arg(long)]
        frames_from_audio: bool,
    },
    /// Render a piano chord, compute its spectrogram and labels, and summarise them.
    Demo {
        /// Output directory.
        #[arg(long, default_value = "demo-out")]
        out: PathBuf,
        /// SoundFont (.sf2) to render with.
        #[arg(long, default_value = "/usr/share/sounds/sf2/FluidR3_GM.sf2")]
        soundfont: PathBuf,
    },
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
        } => {
            let params = SpectrogramParams {
                fps,
                ..Default::default()
            };
            params.validate()?;
            let options = ReadOptions { sustain_pedal };
            let mut shards = Vec::with_capacity(inputs.len());
            for input in &inputs {
                let notes = read_notes(input, options)?;
                let frames = if frames_from_audio {
                    let wav = input.with_extension("wav");
                    let reader = entangle::audio::WavMonoReader::open(&wav).with_context(|| {
                        format!("{}: --frames-from-audio needs its WAV", input.display())
                    })?;
                    let info = reader.info();
                    let at_target = (info.frames as f64
                        * f64::from(entangle::audio::TARGET_SAMPLE_RATE)
                        / f64::from(info.sample_rate))
                    .ceil() as u64;
                    Some(params.num_frames(at_target))
                } else {
                    None
                };
                let shard = input
                    .file_stem()
                    .map(|s| s.to_string_lossy().into_owned())
                    .unwrap_or_default();
                shards.push((shard, PianoRoll::from_notes(&notes, fps, frames)));
            }
            write_labels_table(&output, &shards)?;
            tracing::info!(shards = shards.len(), "wrote {}", output.display());
        }
        Command::Demo { out, soundfont } => {
            print!("{}", entangle::demo::run(&out, &soundfont)?);
        }
    }
    Ok(())
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logging(cli.verbose);
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::FAILURE
        }
    }
}
