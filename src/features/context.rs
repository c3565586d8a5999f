//! Context windows: the `2 r + 1` spectrogram frames centred on a target frame, zero-padded at
//! the edges, that ConvNet and SmallConvNet take as input (r = 2 in the paper: 5 frames).

use super::spectrogram::Spectrogram;

/// The paper's context: 2 frames either side of the target.
pub const PAPER_CONTEXT_RADIUS: usize = 2;

/// Writes the window centred on `frame` into `out`, row-major `[2 radius + 1, bands]`.
/// Rows before the first or after the last frame are zeros.
pub fn context_window(spec: &Spectrogram, frame: usize, radius: usize, out: &mut [f32]) {
    let bands = spec.bands;
    assert_eq!(out.len(), (2 * radius + 1) * bands, "output buffer size");
    for (row, dst) in out.chunks_exact_mut(bands).enumerate() {
        let source = (frame + row)
            .checked_sub(radius)
            .filter(|&f| f < spec.frames);
        match source {
            Some(f) => dst.copy_from_slice(spec.row(f)),
            None => dst.fill(0.0),
        }
    }
}

/// All context windows of a spectrogram as one `[frames, 2 radius + 1, bands]` array.
pub fn context_windows(spec: &Spectrogram, radius: usize) -> ndarray::Array3<f32> {
    let width = 2 * radius + 1;
    let mut windows = ndarray::Array3::zeros((spec.frames, width, spec.bands));
    for (frame, mut slot) in windows.outer_iter_mut().enumerate() {
        let out = slot.as_slice_mut().expect("standard layout");
        context_window(spec, frame, radius, out);
    }
    windows
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ramp(frames: usize, bands: usize) -> Spectrogram {
        Spectrogram {
            frames,
            bands,
            fps: 100.0,
            data: (0..frames * bands).map(|x| x as f32 + 1.0).collect(),
        }
    }

    #[test]
    fn windows_are_centred_and_zero_padded() {
        let spec = ramp(4, 3);
        let w = context_windows(&spec, 2);
        assert_eq!(w.shape(), &[4, 5, 3]);
        // Frame 0: two zero rows, then frames 0, 1, 2.
        assert_eq!(w.slice(ndarray::s![0, 0..2, ..]).sum(), 0.0);
        assert_eq!(w.slice(ndarray::s![0, 2, ..]).to_vec(), spec.row(0));
        assert_eq!(w.slice(ndarray::s![0, 4, ..]).to_vec(), spec.row(2));
        // Frame 3 (last): frames 1, 2, 3, then two zero rows.
        assert_eq!(w.slice(ndarray::s![3, 0, ..]).to_vec(), spec.row(1));
        assert_eq!(w.slice(ndarray::s![3, 3..5, ..]).sum(), 0.0);
    }

    #[test]
    fn a_single_frame_spectrogram_has_only_its_own_row() {
        let spec = ramp(1, 2);
        let mut out = vec![9.0; 10];
        context_window(&spec, 0, 2, &mut out);
        assert_eq!(out, vec![0.0, 0.0, 0.0, 0.0, 1.0, 2.0, 0.0, 0.0, 0.0, 0.0]);
    }
}
