//! `entangle demo`: one chord rendered, its spectrogram and labels summarised.

use std::path::PathBuf;

#[derive(clap::Args)]
pub struct DemoArgs {
    /// Output directory.
    #[arg(long, default_value = "demo-out")]
    pub out: PathBuf,
    /// SoundFont: a known name (FluidR3_GM, TimGM6mb, MuseScore_General, sf_GMbank) or a path.
    #[arg(long, default_value = "FluidR3_GM")]
    pub soundfont: String,
}
