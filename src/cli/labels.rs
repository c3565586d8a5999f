//! `entangle labels`: frame labels of note lists, as a `labels` table.

use std::path::PathBuf;

use anyhow::Context;
use entangle::features::SpectrogramParams;
use entangle::labels::audio::AudioIndex;
use entangle::labels::{PianoRoll, ReadOptions, read_notes};
use entangle::sink::labels_table::write_labels_table;

use entangle::console::file_stem;

#[derive(clap::Args)]
pub struct LabelsArgs {
    /// Note lists (.mid, .midi or MAPS .txt); each becomes a shard named by its file stem.
    #[arg(required = true)]
    inputs: Vec<PathBuf>,
    /// Output Parquet file.
    #[arg(short, long)]
    output: PathBuf,
    /// Frames per second of the labels (the spectrogram's frame rate).
    #[arg(long, default_value_t = SpectrogramParams::default().fps)]
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
}

pub fn run(args: LabelsArgs) -> anyhow::Result<()> {
    let params = SpectrogramParams {
        fps: args.fps,
        ..Default::default()
    };
    params.validate()?;
    let audio_index = match &args.manifest {
        Some(m) => AudioIndex::new(&entangle::corpus::manifest::read_manifest(m)?),
        None => AudioIndex::default(),
    };
    let options = ReadOptions {
        sustain_pedal: args.sustain_pedal,
    };
    let mut shards = Vec::with_capacity(args.inputs.len());
    let mut by_audio = 0;
    for input in &args.inputs {
        let notes = read_notes(input, options)?;
        let frames =
            match audio_index.find(input) {
                Some(wav) => {
                    by_audio += 1;
                    Some(params.num_frames_of_wav(&wav).with_context(|| {
                        format!("{}: its audio {}", input.display(), wav.display())
                    })?)
                }
                None if args.frames_from_audio => anyhow::bail!(
                    "{}: --frames-from-audio found no audio (looked for {}, audio/ beside labels/, \
                 and the --manifest)",
                    input.display(),
                    input.with_extension("wav").display()
                ),
                None => None,
            };
        shards.push((
            file_stem(input),
            PianoRoll::from_notes(&notes, args.fps, frames),
        ));
    }
    write_labels_table(&args.output, &shards)?;
    tracing::info!(
        shards = shards.len(),
        framed_by_audio = by_audio,
        framed_by_last_note = shards.len() - by_audio,
        "wrote {}",
        args.output.display()
    );
    Ok(())
}
