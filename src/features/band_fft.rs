//! FFT magnitudes of a real frame for one band of bins only, bit for bit what `realfft`
//! followed by `sqrt(re² + im²)` gives for those bins.
//!
//! Why not `realfft` itself: a real FFT of even length `n` is a complex FFT of length `n / 2`
//! followed by a post-processing pass that turns its output into the `n / 2 + 1` bins. That
//! pass is scalar in `realfft` and cost as much as the complex FFT. The log filterbank reads
//! only the bins between 30 Hz and 8 kHz (about a third of them), so here the pass is done for
//! those bins alone, with the magnitude fused in, in a loop the compiler vectorises. The
//! arithmetic is `realfft`'s own, operation by operation (same twiddles, same order, no fused
//! multiply-add), so the magnitudes are identical to the bit; the test below checks it.
//! Odd lengths, which `realfft` handles differently, go through `realfft` as before.

use std::ops::Range;
use std::sync::Arc;

use realfft::num_complex::Complex32;
use realfft::{RealFftPlanner, RealToComplex};
use rustfft::{Fft, FftPlanner};

/// Plans one FFT length and one band of bins; shared by every thread.
pub(crate) struct BandFft {
    len: usize,
    bins: Range<usize>,
    kind: Kind,
}

enum Kind {
    /// Even length: the complex FFT of half the length, and `realfft`'s twiddles
    /// (`exp(-2 pi i k / len) / 2` for `k` in `1..pairs`).
    Even {
        fft: Arc<dyn Fft<f32>>,
        twiddles: Vec<Complex32>,
    },
    Odd(Arc<dyn RealToComplex<f32>>),
}

/// Per-thread buffers for [`BandFft::magnitudes`].
pub(crate) struct BandFftScratch {
    /// The real frame, filled by the caller (`len` samples).
    pub input: Vec<f32>,
    spectrum: Vec<Complex32>,
    fft_scratch: Vec<Complex32>,
}

impl BandFft {
    /// An FFT of `len` real samples whose magnitudes are wanted for `bins` (within the
    /// `len / 2` bins below Nyquist).
    pub fn new(len: usize, bins: Range<usize>) -> Self {
        assert!(bins.end <= len / 2, "bins {bins:?} beyond {}", len / 2);
        let kind = if len % 2 == 0 {
            // realfft's RealToComplexEven::new: pairs (k, len/2 - k) for k in 1..pairs.
            let pairs = len / 4 + usize::from(len % 4 != 0);
            let twiddles = (1..pairs)
                .map(|k| {
                    let angle = -2f64 * std::f64::consts::PI / len as f64 * k as f64;
                    Complex32::new(angle.cos() as f32, angle.sin() as f32) * 0.5
                })
                .collect();
            Kind::Even {
                fft: FftPlanner::<f32>::new().plan_fft_forward(len / 2),
                twiddles,
            }
        } else {
            Kind::Odd(RealFftPlanner::<f32>::new().plan_fft_forward(len))
        };
        Self { len, bins, kind }
    }

    pub fn scratch(&self) -> BandFftScratch {
        let (spectrum, scratch) = match &self.kind {
            Kind::Even { fft, .. } => (self.len / 2, fft.get_outofplace_scratch_len()),
            Kind::Odd(fft) => (fft.complex_len(), fft.get_scratch_len()),
        };
        BandFftScratch {
            input: vec![0.0; self.len],
            spectrum: vec![Complex32::default(); spectrum],
            fft_scratch: vec![Complex32::default(); scratch],
        }
    }

    /// `magnitudes[k] = |X[k]|` for `k` in the band, `X` the FFT of `s.input` (which it
    /// overwrites); other entries are left alone.
    #[inline(always)]
    pub fn magnitudes(&self, s: &mut BandFftScratch, magnitudes: &mut [f32]) {
        match &self.kind {
            Kind::Even { fft, twiddles } => {
                // realfft reads the real frame as len/2 complex numbers (re, im) = (x[2j], x[2j + 1]).
                let packed: &mut [Complex32] = as_complex(&mut s.input);
                fft.process_outofplace_with_scratch(packed, &mut s.spectrum, &mut s.fft_scratch);
                even_magnitudes(&s.spectrum, twiddles, self.bins.clone(), magnitudes);
            }
            Kind::Odd(fft) => {
                fft.process_with_scratch(&mut s.input, &mut s.spectrum, &mut s.fft_scratch)
                    .expect("buffer sizes come from the plan");
                for k in self.bins.clone() {
                    let c = s.spectrum[k];
                    magnitudes[k] = (c.re * c.re + c.im * c.im).sqrt();
                }
            }
        }
    }
}

/// The real frame as `len / 2` complex numbers, in place.
fn as_complex(input: &mut [f32]) -> &mut [Complex32] {
    // SAFETY: `Complex32` is `#[repr(C)]` { re: f32, im: f32 }: two f32s, align of f32; the
    // slice has an even length here.
    unsafe { std::slice::from_raw_parts_mut(input.as_mut_ptr().cast(), input.len() / 2) }
}

/// realfft's post-processing of the half-length complex FFT `z`, for the bins in `bins`
/// alone, then the magnitudes. Bin `k` pairs with `half - k`: the lower one of a pair uses
/// the sum formula, the upper one the difference formula, with the lower one's twiddle; the
/// middle bin (`half` divisible by 2) is `z`'s own, conjugated; bin 0 is `re + im`.
#[inline(always)]
fn even_magnitudes(z: &[Complex32], twiddles: &[Complex32], bins: Range<usize>, out: &mut [f32]) {
    let half = z.len();
    let pairs = twiddles.len() + 1;
    let lower = bins.start.max(1)..bins.end.min(pairs);
    let upper = bins.start.max(half + 1 - pairs)..bins.end;
    if bins.contains(&0) {
        // realfft's bin 0 is (re + im, 0).
        let re = z[0].re + z[0].im;
        out[0] = (re * re + 0.0 * 0.0).sqrt();
    }
    for k in lower {
        let (x, y, t) = (z[k], z[half - k], twiddles[k - 1]);
        let (re, im) = pair(x, y, t);
        out[k] = (re.0 * re.0 + im.0 * im.0).sqrt();
    }
    let middle = half / 2;
    if half % 2 == 0 && middle >= pairs && bins.contains(&middle) {
        let c = z[middle];
        out[middle] = (c.re * c.re + c.im * c.im).sqrt();
    }
    for k in upper {
        let j = half - k;
        let (x, y, t) = (z[j], z[k], twiddles[j - 1]);
        let (re, im) = pair(x, y, t);
        out[k] = (re.1 * re.1 + im.1 * im.1).sqrt();
    }
}

/// realfft's twiddle step for the pair (`x` = bin k, `y` = bin half - k): the real and the
/// imaginary parts of bins k and half - k, as (lower, upper).
#[inline(always)]
fn pair(x: Complex32, y: Complex32, t: Complex32) -> ((f32, f32), (f32, f32)) {
    let (sum_re, sum_im) = (x.re + y.re, x.im + y.im);
    let (diff_re, diff_im) = (x.re - y.re, x.im - y.im);
    let half_sum_re = 0.5 * sum_re;
    let half_diff_im = 0.5 * diff_im;
    let twiddled_re = sum_im * t.re + diff_re * t.im;
    let twiddled_im = sum_im * t.im - diff_re * t.re;
    (
        (half_sum_re + twiddled_re, half_sum_re - twiddled_re),
        (half_diff_im + twiddled_im, twiddled_im - half_diff_im),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every bin of several lengths (divisible by 4, even only, odd), on noise and a tone,
    /// equals realfft's magnitude to the bit.
    #[test]
    fn magnitudes_equal_realffts_bit_for_bit() {
        let mut state = 0x2545_f491_4f6c_dd1du64;
        let mut noise = || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state >> 40) as f32 / (1u64 << 23) as f32 - 1.0
        };
        for len in [4096, 4094, 1024, 30, 4, 2, 4095, 7] {
            let signals: [Vec<f32>; 2] = [
                (0..len).map(|_| noise()).collect(),
                (0..len).map(|i| (i as f32 * 0.37).sin() * 0.25).collect(),
            ];
            for signal in signals {
                let reference = RealFftPlanner::<f32>::new().plan_fft_forward(len);
                let mut input = signal.clone();
                let mut spectrum = reference.make_output_vec();
                reference.process(&mut input, &mut spectrum).unwrap();
                let expected: Vec<f32> = spectrum[..len / 2]
                    .iter()
                    .map(|c| (c.re * c.re + c.im * c.im).sqrt())
                    .collect();
                for bins in [0..len / 2, (len / 8)..(len / 3).max(len / 8)] {
                    let fft = BandFft::new(len, bins.clone());
                    let mut scratch = fft.scratch();
                    scratch.input.copy_from_slice(&signal);
                    let mut got = vec![f32::NAN; len / 2];
                    fft.magnitudes(&mut scratch, &mut got);
                    for k in bins {
                        assert_eq!(
                            got[k].to_bits(),
                            expected[k].to_bits(),
                            "len {len}, bin {k}: {} vs {}",
                            got[k],
                            expected[k]
                        );
                    }
                }
            }
        }
    }
}
