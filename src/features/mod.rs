//! Features: the madmom-identical log-filtered spectrogram and the context windows the
//! networks read.

mod band_fft;
pub mod context;
pub mod filterbank;
pub mod spectrogram;

pub use context::{PAPER_CONTEXT_RADIUS, context_window, context_windows};
pub use filterbank::Filterbank;
pub use spectrogram::{ParamsError, Spectrogram, SpectrogramComputer, SpectrogramParams};
