//! NumPy `.npy` output (ndarray-npy): the format numpy, tch and every analytics stack read.

use std::path::Path;

use ndarray_npy::WriteNpyExt;

use super::{PendingFile, SinkError, write_pending};
use crate::features::Spectrogram;

/// Writes a spectrogram as a little-endian float32 `.npy` of shape `[frames, bands]`.
pub fn write_spectrogram_npy(path: &Path, spectrogram: &Spectrogram) -> Result<(), SinkError> {
    write_spectrogram_npy_pending(path, spectrogram)?.commit()
}

/// [`write_spectrogram_npy`] up to the flush: the caller commits the file (see
/// [`PendingFile`]).
pub fn write_spectrogram_npy_pending(
    path: &Path,
    spectrogram: &Spectrogram,
) -> Result<PendingFile, SinkError> {
    write_pending(path, |w| spectrogram.view().write_npy(w))
}
