//! `entangle synth`: corpora and single files rendered through SoundFonts.

use std::path::PathBuf;

use clap::Subcommand;
use entangle::corpus::{RenderSettings, fluid, maps_like, resolve_soundfont};
use entangle::labels::{ReadOptions, read_notes};

use entangle::console::print_stdout;

#[derive(Subcommand)]
pub enum SynthCommand {
    /// FLUID-COMBI and FLUID-ISOL (paper section 3.1): 23 notes, 253 intervals, FluidR3_GM.
    Fluid(FluidArgs),
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
    Render(RenderArgs),
}

#[derive(clap::Args)]
pub struct FluidArgs {
    /// Output directory: audio/, labels/ and one manifest per dataset.
    #[arg(long)]
    out: PathBuf,
    /// SoundFont: a known name (FluidR3_GM, TimGM6mb, MuseScore_General, sf_GMbank) or a path.
    #[arg(long, default_value = "FluidR3_GM")]
    soundfont: String,
    /// MIDI velocities of the training examples (each example once per velocity).
    #[arg(long, value_delimiter = ',', default_values_t = fluid::FluidParams::default().train_velocities)]
    train_velocities: Vec<u8>,
    /// MIDI velocities of the validation examples.
    #[arg(long, value_delimiter = ',', default_values_t = fluid::FluidParams::default().validation_velocities)]
    validation_velocities: Vec<u8>,
    /// MIDI velocities of the test examples.
    #[arg(long, value_delimiter = ',', default_values_t = fluid::FluidParams::default().test_velocities)]
    test_velocities: Vec<u8>,
    /// Seconds from onset to offset of every example.
    #[arg(long, default_value_t = fluid::FluidParams::default().note_seconds)]
    note_seconds: f64,
    /// Render with the SoundFont's reverb and chorus.
    #[arg(long)]
    reverb: bool,
}

#[derive(clap::Args)]
pub struct RenderArgs {
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
}

impl FluidArgs {
    fn into_params(self) -> fluid::FluidParams {
        fluid::FluidParams {
            train_velocities: self.train_velocities,
            validation_velocities: self.validation_velocities,
            test_velocities: self.test_velocities,
            note_seconds: self.note_seconds,
            reverb: self.reverb,
            ..Default::default()
        }
    }
}

pub fn run(command: SynthCommand) -> anyhow::Result<()> {
    match command {
        SynthCommand::Fluid(args) => {
            let (out, soundfont) = (args.out.clone(), args.soundfont.clone());
            let params = args.into_params();
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
        SynthCommand::Presets { soundfont } => print_stdout(&presets(&soundfont)?)?,
        SynthCommand::Render(args) => render(args)?,
    }
    Ok(())
}

/// The SoundFont's presets, one `bank program  name` line each, sorted.
fn presets(soundfont: &str) -> anyhow::Result<String> {
    let font = entangle::corpus::load_soundfont(&resolve_soundfont(soundfont))?;
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
    Ok(presets
        .into_iter()
        .map(|(bank, program, name)| format!("{bank:5} {program:3}  {name}\n"))
        .collect())
}

fn render(args: RenderArgs) -> anyhow::Result<()> {
    let mut notes = read_notes(&args.input, ReadOptions::default())?;
    if let Some(v) = args.velocity {
        notes.iter_mut().for_each(|n| n.velocity = v);
    }
    let font = entangle::corpus::load_soundfont(&resolve_soundfont(&args.soundfont))?;
    let settings = RenderSettings {
        bank: args.bank,
        program: args.program,
        reverb_and_chorus: args.reverb,
        ..Default::default()
    };
    let (left, right) = entangle::corpus::render_notes(&font, &args.soundfont, &notes, &settings)?;
    entangle::corpus::write_wav_stereo16(&args.output, &left, &right)?;
    tracing::info!(notes = notes.len(), "wrote {}", args.output.display());
    Ok(())
}
