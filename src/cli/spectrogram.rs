//! `entangle spectrogram`: the madmom-identical log-filtered spectrogram of a WAV file.

use std::path::PathBuf;

use entangle::features::{SpectrogramComputer, SpectrogramParams};
use entangle::sink::npy::write_spectrogram_npy;

#[derive(clap::Args)]
pub struct SpectrogramArgs {
    /// Input WAV (any bit depth, channels and sample rate).
    input: PathBuf,
    /// Output .npy of shape [frames, 229].
    #[arg(short, long)]
    output: PathBuf,
    /// Frames per second (hop = 44100 / fps samples).
    #[arg(long, default_value_t = SpectrogramParams::default().fps)]
    fps: f64,
}

pub fn run(args: SpectrogramArgs) -> anyhow::Result<()> {
    let params = SpectrogramParams {
        fps: args.fps,
        ..Default::default()
    };
    let computer = SpectrogramComputer::new(params)?;
    let spec = computer.compute_wav(&args.input)?;
    write_spectrogram_npy(&args.output, &spec)?;
    tracing::info!(
        frames = spec.frames,
        bands = spec.bands,
        "wrote {}",
        args.output.display()
    );
    Ok(())
}
