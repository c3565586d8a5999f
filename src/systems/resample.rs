//! Resampling as basic-pitch's own front end does it. `basic_pitch.inference` loads audio with
//! `librosa.load(path, sr=22050, mono=True)`, whose default `res_type="soxr_hq"` hands the
//! float32 samples to python-soxr's `soxr.resample(x, from, to, quality="HQ")`: libsoxr at
//! its 20-bit "high quality" recipe, the input fed in chunks of `max(1000, 48000 * from / to)`
//! samples and flushed. librosa then pads or trims the result to `ceil(n * to / from)`
//! samples (`librosa.util.fix_length`). Doing the same with the same library (Debian's
//! libsoxr, through the `soxr` crate) gives basic-pitch the audio its Python gets; rubato,
//! used for the spectrogram's rare resampling, differs from soxr at about -59 dB, enough to
//! move basic-pitch's posteriorgram by 0.03.

use std::path::Path;

use soxr::Soxr;
use soxr::format::Mono;
use soxr::params::{QualityRecipe, QualitySpec, RuntimeSpec};

use crate::audio::AudioError;

/// `samples` (mono, at `from` Hz) at `to` Hz, as `librosa.resample(..., res_type="soxr_hq")`
/// gives them. `path` names the file in errors.
pub fn resample_like_librosa(
    samples: &[f32],
    from: u32,
    to: u32,
    path: &Path,
) -> Result<Vec<f32>, AudioError> {
    let fail = |e: soxr::Error| AudioError::Resample {
        path: path.to_path_buf(),
        from,
        to,
        reason: e.as_str().to_string(),
    };
    let (from_hz, to_hz) = (f64::from(from), f64::from(to));
    let mut soxr = Soxr::<Mono<f32>>::new_with_params(
        from_hz,
        to_hz,
        QualitySpec::new(QualityRecipe::high()),
        RuntimeSpec::default(),
    )
    .map_err(fail)?;
    // python-soxr's buffer and chunk sizes (`csoxr_split_ch`): the chunking is reproduced
    // because where soxr is handed input can change the rounding of its output.
    let capacity = (samples.len() as f64 * to_hz / from_hz) as usize + 1;
    let chunk = (48_000.0 * from_hz / to_hz).max(1000.0) as usize;
    let mut out = vec![0.0f32; capacity];
    let mut done = 0;
    for block in samples.chunks(chunk) {
        let processed = soxr.process(block, &mut out[done..]).map_err(fail)?;
        done += processed.output_frames;
    }
    done += soxr.drain(&mut out[done..]).map_err(fail)?;
    // librosa.util.fix_length: zeros past the end, or the tail cut.
    let wanted = (samples.len() as f64 * to_hz / from_hz).ceil() as usize;
    out.truncate(done);
    out.resize(wanted, 0.0);
    Ok(out)
}
