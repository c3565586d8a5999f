//! Corpora: rendering note lists through real SoundFonts (rustysynth), the FLUID sets, the
//! MAPS-like multi-synthesizer corpus, real MAPS, manifests of any corpus of recordings and note
//! lists (a directory, MAESTRO), and corpus manifests.

pub mod build;
pub mod chords;
pub mod fluid;
pub mod ingest;
pub mod interval_subsets;
pub mod manifest;
pub mod maps;
pub mod maps_like;
pub mod render;
pub mod soundfonts;

pub use render::{RenderError, RenderSettings, render_notes, write_wav_stereo16};
pub use soundfonts::{KnownSoundFont, load_soundfont, resolve_soundfont};
