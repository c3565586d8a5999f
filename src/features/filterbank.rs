//! madmom's logarithmic triangular filterbank (`madmom.audio.filters.LogarithmicFilterbank`).
//!
//! Built in `f64` exactly as madmom builds it (log-spaced centre frequencies, mapped to the
//! nearest FFT bins, duplicates removed, triangles normalised to unit area), then stored
//! sparsely in `f32` as madmom's `FILTER_DTYPE`: each band is a short run of weights starting
//! at some bin, which makes applying it a few thousand multiply-adds per frame.

/// One band of the filterbank: weights for FFT bins `start .. start + weights.len()`.
#[derive(Debug, Clone, PartialEq)]
pub struct Band {
    pub start: usize,
    pub weights: Vec<f32>,
    /// Frequency (Hz) of the bin at the triangle's peak.
    pub center_hz: f64,
}

/// A sparse filterbank mapping `num_bins` FFT magnitudes to `bands.len()` band energies.
#[derive(Debug, Clone, PartialEq)]
pub struct Filterbank {
    pub num_bins: usize,
    pub bands: Vec<Band>,
}

/// Centre frequencies of the FFT bins madmom uses: `np.fft.fftfreq(2 n, 1 / sr)[:n]`,
/// evaluated in numpy's order of operations (`k * (1 / (2 n * (1 / sr)))`).
pub fn fft_frequencies(num_bins: usize, sample_rate: f64) -> Vec<f64> {
    let step = 1.0 / ((2 * num_bins) as f64 * (1.0 / sample_rate));
    (0..num_bins).map(|k| k as f64 * step).collect()
}

/// Log-spaced frequencies, `bands_per_octave` per octave, aligned to `fref`, within
/// `[fmin, fmax]` (madmom's `log_frequencies`).
pub fn log_frequencies(bands_per_octave: u32, fmin: f64, fmax: f64, fref: f64) -> Vec<f64> {
    let bpo = f64::from(bands_per_octave);
    let left = ((fmin / fref).log2() * bpo).floor() as i64;
    let right = ((fmax / fref).log2() * bpo).ceil() as i64;
    (left..right)
        .map(|k| fref * 2f64.powf(k as f64 / bpo))
        // searchsorted(fmin, 'left') drops everything below fmin; searchsorted(fmax,
        // 'right') keeps everything up to and including fmax.
        .filter(|&f| f >= fmin && f <= fmax)
        .collect()
}

/// Maps frequencies to the index of the closest bin (madmom's `frequencies2bins`): ties go to
/// the upper bin, indices are clipped to `1..len` before the comparison, as in madmom.
pub fn frequencies_to_bins(
    frequencies: &[f64],
    bin_frequencies: &[f64],
    unique: bool,
) -> Vec<usize> {
    let n = bin_frequencies.len();
    let mut bins: Vec<usize> = frequencies
        .iter()
        .map(|&f| {
            let idx = bin_frequencies.partition_point(|&b| b < f).clamp(1, n - 1);
            let (left, right) = (bin_frequencies[idx - 1], bin_frequencies[idx]);
            if f - left < right - f { idx - 1 } else { idx }
        })
        .collect();
    if unique {
        bins.sort_unstable();
        bins.dedup();
    }
    bins
}

/// Overlapping triangular filters between consecutive triples of bins (madmom's
/// `TriangularFilter.filters(bins, norm, overlap=True)`).
fn triangular_bands(bins: &[usize], bin_frequencies: &[f64], normalize: bool) -> Vec<Band> {
    bins.windows(3)
        .map(|w| {
            let (start, mut center, mut stop) = (w[0], w[1], w[2]);
            // Too narrow to be a triangle: madmom makes it a single-bin filter.
            if stop - start < 2 {
                center = start;
                stop = start + 1;
            }
            let rise = center - start;
            let fall = stop - center;
            let mut data: Vec<f64> = (0..rise)
                .map(|j| j as f64 / rise as f64)
                .chain((0..fall).map(|j| 1.0 - j as f64 / fall as f64))
                .collect();
            if normalize {
                let sum: f64 = data.iter().sum();
                data.iter_mut().for_each(|x| *x /= sum);
            }
            Band {
                start,
                weights: data.into_iter().map(|x| x as f32).collect(),
                center_hz: bin_frequencies[center],
            }
        })
        .collect()
}

impl Filterbank {
    /// madmom's `LogarithmicFilterbank(bin_frequencies, num_bands=bands_per_octave, fmin, fmax,
    /// fref, norm_filters, unique_filters)`.
    pub fn logarithmic(
        bin_frequencies: &[f64],
        bands_per_octave: u32,
        fmin: f64,
        fmax: f64,
        fref: f64,
        normalize: bool,
        unique_filters: bool,
    ) -> Self {
        let frequencies = log_frequencies(bands_per_octave, fmin, fmax, fref);
        let bins = frequencies_to_bins(&frequencies, bin_frequencies, unique_filters);
        Self {
            num_bins: bin_frequencies.len(),
            bands: triangular_bands(&bins, bin_frequencies, normalize),
        }
    }

    pub fn num_bands(&self) -> usize {
        self.bands.len()
    }

    /// The range of FFT bins any band reads; magnitudes outside it are never needed.
    pub fn bin_range(&self) -> std::ops::Range<usize> {
        let lo = self.bands.iter().map(|b| b.start).min().unwrap_or(0);
        let hi = self
            .bands
            .iter()
            .map(|b| b.start + b.weights.len())
            .max()
            .unwrap_or(0);
        lo..hi
    }

    /// `out[b] = sum_k magnitudes[k] * filter_b[k]`.
    #[inline]
    pub fn apply(&self, magnitudes: &[f32], out: &mut [f32]) {
        for (o, band) in out.iter_mut().zip(&self.bands) {
            let bins = &magnitudes[band.start..band.start + band.weights.len()];
            *o = dot(bins, &band.weights);
        }
    }
}

/// Dot product with eight independent accumulators: a plain `sum()` is one serial chain of
/// float additions (the compiler may not reorder them), eight chains vectorise.
#[inline(always)]
fn dot(a: &[f32], b: &[f32]) -> f32 {
    let mut acc = [0.0f32; 8];
    let (a8, b8) = (a.chunks_exact(8), b.chunks_exact(8));
    let tail: f32 = a8
        .remainder()
        .iter()
        .zip(b8.remainder())
        .map(|(x, y)| x * y)
        .sum();
    for (x, y) in a8.zip(b8) {
        for i in 0..8 {
            acc[i] += x[i] * y[i];
        }
    }
    acc.iter().sum::<f32>() + tail
}

#[cfg(test)]
mod tests {
    use super::*;

    fn paper_filterbank() -> Filterbank {
        let bins = fft_frequencies(2048, 44_100.0);
        Filterbank::logarithmic(&bins, 48, 30.0, 8000.0, 440.0, true, true)
    }

    #[test]
    fn paper_parameters_give_229_bands() {
        assert_eq!(paper_filterbank().num_bands(), 229);
    }

    #[test]
    fn normalised_bands_have_unit_area() {
        for band in &paper_filterbank().bands {
            let area: f32 = band.weights.iter().sum();
            assert!((area - 1.0).abs() < 1e-5, "area {area}");
        }
    }

    #[test]
    fn log_frequencies_are_aligned_to_the_reference() {
        let f = log_frequencies(12, 400.0, 500.0, 440.0);
        assert!(f.iter().any(|&x| (x - 440.0).abs() < 1e-9));
        assert!(f.iter().all(|&x| (400.0..=500.0).contains(&x)));
    }

    #[test]
    fn bins_round_to_the_nearest_and_ties_go_up() {
        let bins = [0.0, 10.0, 20.0, 30.0];
        assert_eq!(
            frequencies_to_bins(&[4.0, 5.0, 6.0, 29.0, 99.0], &bins, false),
            vec![0, 1, 1, 3, 3]
        );
        assert_eq!(frequencies_to_bins(&[11.0, 12.0], &bins, true), vec![1]);
    }
}
