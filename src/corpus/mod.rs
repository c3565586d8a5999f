//! Corpora: rendering note lists through real SoundFonts (rustysynth).

pub mod render;
pub mod soundfonts;

pub use render::{RenderError, RenderSettings, render_notes, write_wav_stereo16};
pub use soundfonts::{KnownSoundFont, load_soundfont};
